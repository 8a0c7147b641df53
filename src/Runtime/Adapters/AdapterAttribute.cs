using System;

namespace CheckpointGen;

/// <summary>
/// Marks a module field as an adapter: a small trainable module inside a <see cref="PretrainedAttribute"/> part (a
/// bottleneck beside a frozen attention block, say). Its parameters are not frozen by <c>FreezePretrained()</c>, are in
/// <c>TrainableParameters()</c>, stay in training mode while the model trains, are written by <c>SaveCheckpoint</c> and
/// required by <c>LoadCheckpoint</c>; they are never expected in the part's pretrained source, and the part's
/// fingerprints leave them out. Put it on the fields of the module types the pretrained part is built from; the field's
/// type must derive from <c>torch.nn.Module</c>, and the module must be registered (<c>RegisterComponents()</c>).
/// The LoRA adapters that <see cref="Lora.Inject"/> adds are adapters too, with no attribute to write.
/// </summary>
[AttributeUsage(AttributeTargets.Field, AllowMultiple = false, Inherited = false)]
public sealed class AdapterAttribute : Attribute
{
}
