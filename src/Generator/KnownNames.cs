namespace CheckpointGen.Generator;

/// <summary>Metadata names of the types the generator recognises.</summary>
internal static class KnownNames
{
    public const string PretrainedAttribute = "CheckpointGen.PretrainedAttribute";
    public const string KeyPrefix = "KeyPrefix";
    public const string Checkpointable = "CheckpointGen.ICheckpointable";
}
