using System.Collections.Generic;
using static TorchSharp.torch;

namespace CheckpointGen.Format;

/// <summary>The element types a checkpoint can hold, with their safetensors names and sizes.</summary>
internal static class Dtypes
{
    private static readonly Dictionary<ScalarType, string> SafetensorsNames = new()
    {
        [ScalarType.Bool] = "BOOL",
        [ScalarType.Byte] = "U8",
        [ScalarType.Int8] = "I8",
        [ScalarType.Int16] = "I16",
        [ScalarType.Int32] = "I32",
        [ScalarType.Int64] = "I64",
        [ScalarType.Float16] = "F16",
        [ScalarType.BFloat16] = "BF16",
        [ScalarType.Float32] = "F32",
        [ScalarType.Float64] = "F64",
        [ScalarType.ComplexFloat32] = "C64",
    };

    private static readonly Dictionary<string, ScalarType> BySafetensorsName = Invert(SafetensorsNames);

    public static string SafetensorsName(ScalarType dtype) => SafetensorsNames[dtype];

    public static bool TryGetSafetensorsName(ScalarType dtype, out string name) => SafetensorsNames.TryGetValue(dtype, out name!);

    public static bool TryParseSafetensorsName(string name, out ScalarType dtype) => BySafetensorsName.TryGetValue(name, out dtype);

    /// <summary>Bytes per element, or 0 for a type whose raw bytes a file cannot hold (quantized types).</summary>
    public static int SizeOf(ScalarType dtype) => dtype switch
    {
        ScalarType.Bool or ScalarType.Byte or ScalarType.Int8 => 1,
        ScalarType.Int16 or ScalarType.Float16 or ScalarType.BFloat16 => 2,
        ScalarType.Int32 or ScalarType.Float32 => 4,
        ScalarType.Int64 or ScalarType.Float64 or ScalarType.ComplexFloat32 => 8,
        ScalarType.ComplexFloat64 => 16,
        _ => 0,
    };

    /// <summary>Bytes of a tensor of this shape, or <see langword="null"/> when a dimension is negative or the product overflows.</summary>
    public static long? ByteLength(ScalarType dtype, long[] shape)
    {
        try
        {
            long bytes = SizeOf(dtype);
            foreach (var dimension in shape)
            {
                if (dimension < 0)
                {
                    return null;
                }
                bytes = checked(bytes * dimension);
            }
            return bytes;
        }
        catch (System.OverflowException)
        {
            return null;
        }
    }

    private static Dictionary<string, ScalarType> Invert(Dictionary<ScalarType, string> names)
    {
        var inverted = new Dictionary<string, ScalarType>();
        foreach (var (dtype, name) in names)
        {
            inverted[name] = dtype;
        }
        return inverted;
    }
}
