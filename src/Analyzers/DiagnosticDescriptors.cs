using Microsoft.CodeAnalysis;

namespace CheckpointGen.Analyzers;

/// <summary>Every CheckpointGen diagnostic. The ids are public contract: never renumber.</summary>
internal static class DiagnosticDescriptors
{
    private const string Usage = "Usage";
    private const string Reliability = "Reliability";
    private const string HelpLinkBase = RepositoryInfo.Url + "/blob/main/docs/diagnostics/";

    public static readonly DiagnosticDescriptor NotPartial = Create(
        "CKPT001", Usage, DiagnosticSeverity.Error,
        "A type with [Pretrained] fields must be partial",
        "Make '{0}' partial so that CheckpointGen can add the checkpoint methods of '{1}'");

    public static readonly DiagnosticDescriptor NotAModule = Create(
        "CKPT002", Usage, DiagnosticSeverity.Error,
        "A type with [Pretrained] fields must derive from torch.nn.Module",
        "'{0}' has [Pretrained] fields but does not derive from torch.nn.Module: derive it from nn.Module or remove [Pretrained]");

    public static readonly DiagnosticDescriptor InvalidField = Create(
        "CKPT003", Usage, DiagnosticSeverity.Error,
        "A [Pretrained] field must be an instance field of a module type",
        "[Pretrained] field '{0}' {1}: mark only instance fields whose type derives from torch.nn.Module");

    public static readonly DiagnosticDescriptor PretrainedInDerivedModel = Create(
        "CKPT004", Usage, DiagnosticSeverity.Error,
        "[Pretrained] fields in a type deriving from another model with [Pretrained] fields",
        "'{0}' derives from '{1}', which already has [Pretrained] fields: declare every [Pretrained] field in one type of the hierarchy");

    public static readonly DiagnosticDescriptor FileLocal = Create(
        "CKPT005", Usage, DiagnosticSeverity.Error,
        "A type with [Pretrained] fields must not be file-local",
        "'{0}' is file-local, so the generated checkpoint methods of '{1}', which live in another file, cannot be added to it: remove the 'file' modifier");

    public static readonly DiagnosticDescriptor NoPolicy = Create(
        "CKPT006", Usage, DiagnosticSeverity.Error,
        "A type implementing ICheckpointable must have a checkpoint policy",
        "'{0}' implements ICheckpointable but has no checkpoint policy, so its first save, load or freeze throws: declare its pretrained modules with [Pretrained] in a partial type, or implement ICheckpointable.CheckpointPolicy");

    public static readonly DiagnosticDescriptor NeverFrozen = Create(
        "CKPT010", Reliability, DiagnosticSeverity.Warning,
        "Pretrained modules are never frozen",
        "No constructor of '{0}' freezes its pretrained modules, directly or through a method it calls, and no factory of it does: {1} so that they do not train");

    public static readonly DiagnosticDescriptor RequiresGradEnabled = Create(
        "CKPT011", Reliability, DiagnosticSeverity.Warning,
        "Gradients turned back on for a pretrained module",
        "This turns requires_grad back on for parameters of pretrained field '{0}', whose changes are never checkpointed: leave them frozen (TrainableParameters() holds the others), or remove [Pretrained] to fine-tune '{0}'");

    public static readonly DiagnosticDescriptor RequiresGradEnabledInCall = Create(
        "CKPT011", Reliability, DiagnosticSeverity.Warning,
        "Gradients turned back on for a pretrained module",
        "'{1}' turns requires_grad back on for the parameters of what this passes it, which include those of pretrained field '{0}', whose changes are never checkpointed: pass it only trainable parts, or remove [Pretrained] to fine-tune '{0}'");

    public static readonly DiagnosticDescriptor PretrainedParametersOptimized = Create(
        "CKPT012", Reliability, DiagnosticSeverity.Warning,
        "Pretrained parameters handed to an optimizer",
        "Parameters of pretrained field '{0}' go to an optimizer, but what they learn never reaches a checkpoint: give the optimizer {1} instead");

    public static readonly DiagnosticDescriptor PretrainedParametersOptimizedInCall = Create(
        "CKPT012", Reliability, DiagnosticSeverity.Warning,
        "Pretrained parameters handed to an optimizer",
        "'{1}' hands the parameters of what this passes it to an optimizer, and they include those of pretrained field '{0}', whose training never reaches a checkpoint: pass it only trainable parts ({2})");

    public static readonly DiagnosticDescriptor StrictLoad = Create(
        "CKPT020", Reliability, DiagnosticSeverity.Warning,
        "Strict TorchSharp load on a model with pretrained fields",
        "'{0}' with strict loading throws on a checkpoint without the pretrained weights of '{1}': use {2}");

    public static readonly DiagnosticDescriptor StrictLoadInCall = Create(
        "CKPT020", Reliability, DiagnosticSeverity.Warning,
        "Strict TorchSharp load on a model with pretrained fields",
        "'{0}' in '{2}' loads the model this passes it strictly, which throws on a checkpoint without the pretrained weights of '{1}': load it with {3} instead");

    public static readonly DiagnosticDescriptor FullSave = Create(
        "CKPT021", Reliability, DiagnosticSeverity.Warning,
        "TorchSharp save writes the pretrained weights too",
        "'save' writes the pretrained weights of '{0}' into every checkpoint: use {1}");

    public static readonly DiagnosticDescriptor FullSaveInCall = Create(
        "CKPT021", Reliability, DiagnosticSeverity.Warning,
        "TorchSharp save writes the pretrained weights too",
        "'save' in '{1}' writes the pretrained weights of '{0}' of the model this passes it into every checkpoint: save it with {2} instead");

    public static readonly DiagnosticDescriptor InvalidAdapter = Create(
        "CKPT030", Usage, DiagnosticSeverity.Error,
        "An [Adapter] field must be an instance field of a module type, in a module type",
        "[Adapter] field '{0}' {1}: mark only instance fields of a torch.nn.Module whose type derives from torch.nn.Module");

    /// <summary>Reported at the end of a compilation, which tells which types the pretrained parts can hold.</summary>
    public static readonly DiagnosticDescriptor AdapterOutsidePretrained = new(
        "CKPT031", "An [Adapter] field outside any pretrained part",
        "[Adapter] field '{0}' is not inside any pretrained part, since {1}; outside one a module trains and is checkpointed anyway: remove [Adapter], or declare the field in a module type that a [Pretrained] field holds",
        Reliability, DiagnosticSeverity.Warning, isEnabledByDefault: true, helpLinkUri: HelpLinkBase + "CKPT031.md", customTags: WellKnownDiagnosticTags.CompilationEnd);

    private static DiagnosticDescriptor Create(string id, string category, DiagnosticSeverity severity, string title, string message)
        => new(id, title, message, category, severity, isEnabledByDefault: true, helpLinkUri: HelpLinkBase + id + ".md");
}
