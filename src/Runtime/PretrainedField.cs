using TorchSharp;

namespace CheckpointGen;

/// <summary>A <see cref="PretrainedAttribute"/> member with its current value, as <see cref="CheckpointPolicy"/> holds it.</summary>
/// <param name="Name">The field's name, for messages.</param>
/// <param name="Module">The field's current value.</param>
/// <param name="Source">The attribute's <see cref="PretrainedAttribute.Source"/>.</param>
/// <param name="KeyPrefix">The attribute's <see cref="PretrainedAttribute.KeyPrefix"/>.</param>
public readonly record struct PretrainedField(string Name, torch.nn.Module? Module, string? Source = null, string? KeyPrefix = null);
