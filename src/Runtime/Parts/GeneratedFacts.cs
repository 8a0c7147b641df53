using System;
using System.Linq;
using System.Reflection;
using System.Runtime.CompilerServices;
using static TorchSharp.torch;

namespace CheckpointGen.Parts;

/// <summary>
/// The policy of a model from the facts the generator wrote on its type (<see cref="PretrainedMemberAttribute"/>), each
/// member read as the model holds it now. The facts are read from the type once; a type without them (a type deriving
/// from a model type has its base's) is refused with the likely cause.
/// </summary>
internal static class GeneratedFacts
{
    private static readonly ConditionalWeakTable<Type, Member[]> MembersOfTypes = new();

    /// <summary>A member named by the facts, with the way to read its value.</summary>
    private sealed record Member(PretrainedMemberAttribute Fact, Func<object, object?> Read);

    public static CheckpointPolicy Policy(ICheckpointable model)
    {
        var module = model as nn.Module
            ?? throw new InvalidOperationException($"'{CheckpointPolicy.DisplayName(model.GetType())}' implements ICheckpointable but is not a torch.nn.Module, so it has no policy to build: implement ICheckpointable.CheckpointPolicy.");
        var members = MembersOfTypes.GetValue(model.GetType(), Members);
        var fields = new PretrainedField[members.Length];
        for (var i = 0; i < members.Length; i++)
        {
            var fact = members[i].Fact;
            fields[i] = new PretrainedField(fact.Name, (nn.Module?)members[i].Read(module), fact.Source, fact.KeyPrefix);
        }
        return new CheckpointPolicy(module, fields);
    }

    private static Member[] Members(Type modelType)
    {
        for (var type = modelType; type is not null; type = type.BaseType)
        {
            var facts = type.GetCustomAttributes<PretrainedMemberAttribute>(inherit: false).ToArray();
            if (facts.Length > 0)
            {
                return [.. facts.Select(fact => new Member(fact, Reader(type, fact.Name)))];
            }
        }
        throw new InvalidOperationException(
            $"'{CheckpointPolicy.DisplayName(modelType)}' implements ICheckpointable, but neither it nor a type it derives from has the facts the "
            + "CheckpointGen generator writes for [Pretrained] members: make the model type partial, with its [Pretrained] members, in a "
            + "project that references CheckpointGen, or implement ICheckpointable.CheckpointPolicy.");
    }

    /// <summary>The member's value as the type's own code reads it: the field, or the property through its getter.</summary>
    private static Func<object, object?> Reader(Type type, string name)
    {
        const BindingFlags Declared = BindingFlags.Instance | BindingFlags.Public | BindingFlags.NonPublic | BindingFlags.DeclaredOnly;
        if (type.GetField(name, Declared) is { } field)
        {
            return field.GetValue;
        }
        if (type.GetProperty(name, Declared) is { } property)
        {
            return property.GetValue;
        }
        throw new InvalidOperationException($"'{CheckpointPolicy.DisplayName(type)}' has no field or property '{name}', which its generated facts name: rebuild it with this version of CheckpointGen.");
    }
}
