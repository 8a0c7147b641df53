using CheckpointGen.Shared;
using Microsoft.CodeAnalysis;

namespace CheckpointGen.Analyzers.Flow;

/// <summary>How a value relates to where it comes from.</summary>
internal enum Shape
{
    /// <summary>The thing itself: the pretrained module, the model, the method's argument.</summary>
    Self,

    /// <summary>A module inside it (<c>vae.stem</c>, an element of <c>vae.children()</c>).</summary>
    Submodule,

    /// <summary>Its parameters, one or a sequence of them (<c>vae.parameters()</c>, <c>vae.weight</c>, an element of either).</summary>
    Parameters,
}

/// <summary>Where a value comes from.</summary>
internal abstract class Root
{
    /// <summary>The symbol that identifies the root, for telling values apart.</summary>
    public abstract ISymbol Symbol { get; }
}

/// <summary>The module of a <c>[Pretrained]</c> member.</summary>
internal sealed class PretrainedRoot(IFieldSymbol member) : Root
{
    public IFieldSymbol Member { get; } = member;

    public override ISymbol Symbol => Member;
}

/// <summary>An instance of a model with pretrained parts (its static type says so, or the value it was assigned).</summary>
internal sealed class ModelRoot(ITypeSymbol type, ModelFacts facts) : Root
{
    public ITypeSymbol Type { get; } = type;

    public ModelFacts Facts { get; } = facts;

    public override ISymbol Symbol => Type;
}

/// <summary>A parameter of the method being summarized: what its callers pass decides what the value is.</summary>
internal sealed class ParameterRoot(IParameterSymbol parameter) : Root
{
    public IParameterSymbol Parameter { get; } = parameter;

    public override ISymbol Symbol => Parameter;
}

/// <summary>
/// What an expression may hold, as far as the analyzers care: a shape of a root, and the expression the model is reached
/// through (the instance a pretrained member is read on, or the model expression itself), which a code fix may reuse.
/// </summary>
internal sealed class FlowValue(Shape shape, Root root, IOperation? owner)
{
    public Shape Shape { get; } = shape;

    public Root Root { get; } = root;

    /// <summary>The expression the model is reached through, or <see langword="null"/> when it is not known.</summary>
    public IOperation? Owner { get; } = owner;

    /// <summary>Parameters of a pretrained module, or of a model with pretrained parts (which include them).</summary>
    public bool IsPretrainedParameters => Shape == Shape.Parameters && Root is PretrainedRoot or ModelRoot;

    /// <summary>A model with pretrained parts itself.</summary>
    public bool IsModel => Shape == Shape.Self && Root is ModelRoot;

    /// <summary>The pretrained part messages name: the member, or a model's first part (<c>decoder.text_encoder</c> for an enclosing model).</summary>
    public string PartName => Root switch
    {
        PretrainedRoot pretrained => PretrainedDeclarationRules.MemberName(pretrained.Member),
        ModelRoot model => model.Facts.First.Path,
        _ => Root.Symbol.Name,
    };

    /// <summary>A module inside this value, or <see langword="null"/> when that says nothing (a module inside a model need not be pretrained).</summary>
    public FlowValue? Submodule() => (Shape, Root) switch
    {
        (Shape.Parameters, _) or (_, ModelRoot) => null,
        _ => new FlowValue(Shape.Submodule, Root, Owner),
    };

    /// <summary>
    /// The parameters of this value: of a pretrained module, of a model, of a method's argument. A submodule of a model
    /// only arises from enumerating all of them (<c>model.modules()</c>), whose parameters include the pretrained ones.
    /// </summary>
    public FlowValue? Parameters() => Shape == Shape.Parameters ? this : new FlowValue(Shape.Parameters, Root, Owner);

    /// <summary>
    /// A parameter read as a member of this value (<c>vae.weight</c>): one of its parameters, unless this is a model, whose
    /// own parameters need not be pretrained (only all of them, <c>parameters()</c>, include the pretrained ones).
    /// </summary>
    public FlowValue? MemberParameters() => (Shape, Root) switch
    {
        (Shape.Parameters, _) => this,
        (_, ModelRoot) => null,
        _ => new FlowValue(Shape.Parameters, Root, Owner),
    };

    /// <summary>Every module inside this value (<c>modules()</c>, <c>children()</c>): for a model, its pretrained modules among them.</summary>
    public FlowValue? AllSubmodules() => Shape == Shape.Parameters ? null : new FlowValue(Shape.Submodule, Root, Owner);

    /// <summary>
    /// What this value of a summarized method (rooted in one of its parameters) is at a call site where that parameter
    /// holds <paramref name="argument"/>.
    /// </summary>
    public FlowValue? Substitute(FlowValue argument) => Shape switch
    {
        Shape.Self => argument,
        Shape.Submodule => argument.Submodule(),
        _ => argument.Parameters(),
    };

    public FlowValue WithOwner(IOperation? owner) => new(Shape, Root, owner);

    public bool SameAs(FlowValue other) => Shape == other.Shape && SymbolEqualityComparer.Default.Equals(Root.Symbol, other.Root.Symbol);
}
