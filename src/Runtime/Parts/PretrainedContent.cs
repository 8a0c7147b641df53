using System.Runtime.CompilerServices;
using TorchSharp;

namespace CheckpointGen;

/// <summary>
/// The content fingerprint of each pretrained module's weights as <c>LoadPretrained()</c> read them, kept beside the
/// module for as long as it lives: computed once per load, so saving never reads the pretrained weights again.
/// </summary>
internal static class PretrainedContent
{
    private static readonly ConditionalWeakTable<torch.nn.Module, string> Fingerprints = new();

    public static void Record(torch.nn.Module module, string fingerprint) => Fingerprints.AddOrUpdate(module, fingerprint);

    public static string? Of(torch.nn.Module module) => Fingerprints.TryGetValue(module, out var fingerprint) ? fingerprint : null;
}
