using System.Collections.Generic;
using System.Collections.Immutable;
using System.Linq;

namespace CheckpointGen.Generator.Models;

/// <summary>A type that encloses the model type, as its partial declaration is written.</summary>
/// <param name="Keyword">"class", "struct", "record", "record struct" or "interface".</param>
/// <param name="Name">The name with its type parameters: <c>Outer&lt;T&gt;</c>.</param>
internal sealed record ContainingType(string Keyword, string Name);

/// <summary>Where a model type is declared and what the generator must know of it, its fields aside.</summary>
/// <param name="HintName">The generated file's name.</param>
/// <param name="Namespace">The namespace, or <see langword="null"/> for the global one.</param>
/// <param name="ContainingTypes">Enclosing types, outermost first.</param>
/// <param name="Name">The name with its type parameters.</param>
/// <param name="DeclaresTrain">The type already declares <c>train(bool)</c>: no override is generated.</param>
internal sealed record ModelTypeDeclaration(
    string HintName,
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

/// <summary>Everything the emitter needs to write one model type's file.</summary>
internal sealed record ModelType(ModelTypeDeclaration Declaration, EquatableArray<PretrainedFieldInfo> Fields)
{
    public static IEnumerable<ModelType> Group(ImmutableArray<PretrainedFieldTarget> targets)
        => targets
            .GroupBy(t => t.Type)
            .Select(g => new ModelType(g.Key, g.Select(t => t.Field).ToEquatableArray()));
}
