using System;
using System.Collections.Generic;
using System.Collections.Immutable;
using System.Linq;

namespace CheckpointGen.Generator.Models;

/// <summary>A type that encloses the model type, as its partial declaration is written.</summary>
/// <param name="Keyword">"class", "struct", "record", "record struct" or "interface".</param>
/// <param name="Name">The name with its type parameters: <c>Outer&lt;T&gt;</c>.</param>
internal sealed record ContainingType(string Keyword, string Name);

/// <summary>Where a model type is declared and what the generator must know of it, its fields aside.</summary>
/// <param name="Key">Unique per type (<c>Samples.Outer`1+Inner</c>): what <see cref="MemberCall"/>s find their type by, and the order types are written in.</param>
/// <param name="Namespace">The namespace, or <see langword="null"/> for the global one.</param>
/// <param name="ContainingTypes">Enclosing types, outermost first.</param>
/// <param name="Name">The name with its type parameters.</param>
/// <param name="DeclaresTrain">The type already declares <c>train(bool)</c>: no override is generated.</param>
internal sealed record ModelTypeDeclaration(
    string Key,
    string? Namespace,
    EquatableArray<ContainingType> ContainingTypes,
    string Name,
    bool DeclaresTrain);

/// <summary>One <c>[Pretrained]</c> member: a field, or a property whose backing field is marked <c>[field: Pretrained]</c>.</summary>
/// <param name="Name">The name generated code reads the member by, as written in C# (escaped with @ where it is a keyword).</param>
/// <param name="Source">The weights file, or <see langword="null"/>.</param>
/// <param name="KeyPrefix">The prefix of the field's keys inside the file, or <see langword="null"/>.</param>
internal sealed record PretrainedFieldInfo(string Name, string? Source, string? KeyPrefix);

/// <summary>What the parser makes of one <c>[Pretrained]</c> member of a valid model type.</summary>
internal sealed record PretrainedFieldTarget(ModelTypeDeclaration Type, PretrainedFieldInfo Field);

/// <summary>
/// The methods written into a model type only when its own code (or that of a type deriving from it) calls them without
/// <c>this.</c>: everywhere else <c>model.FreezePretrained()</c> is the runtime's extension method of that name.
/// </summary>
[Flags]
internal enum CalledMembers
{
    None = 0,
    FreezePretrained = 1,
    TrainableParameters = 2,
    LoadPretrained = 4,
}

/// <summary>A simple name (<c>FreezePretrained()</c>, not <c>x.FreezePretrained()</c>) that only a generated member can satisfy.</summary>
/// <param name="TypeKey">The <see cref="ModelTypeDeclaration.Key"/> of the model type the name must find the member in.</param>
/// <param name="Member">The member it names.</param>
internal sealed record MemberCall(string TypeKey, CalledMembers Member);

/// <summary>Everything the emitter needs to write one model type.</summary>
/// <param name="Declaration">Where the type is declared.</param>
/// <param name="Fields">Its <c>[Pretrained]</c> members, in declaration order.</param>
/// <param name="Called">The members written because code calls them without <c>this.</c>.</param>
internal sealed record ModelType(ModelTypeDeclaration Declaration, EquatableArray<PretrainedFieldInfo> Fields, CalledMembers Called)
{
    public static IEnumerable<ModelType> Group(ImmutableArray<PretrainedFieldTarget> targets, ImmutableArray<MemberCall> calls)
    {
        var called = new Dictionary<string, CalledMembers>(StringComparer.Ordinal);
        foreach (var call in calls)
        {
            called[call.TypeKey] = (called.TryGetValue(call.TypeKey, out var members) ? members : CalledMembers.None) | call.Member;
        }
        return targets
            .GroupBy(t => t.Type)
            .Select(g => new ModelType(
                g.Key,
                g.Select(t => t.Field).ToEquatableArray(),
                called.TryGetValue(g.Key.Key, out var members) ? members : CalledMembers.None));
    }
}
