using System;
using System.Buffers.Binary;
using System.Collections.Generic;
using System.Globalization;
using System.Numerics;
using System.Text;

namespace CheckpointGen.Format;

/// <summary>A storage a pickle names through its persistent id: <c>('storage', torch.FloatStorage, key, location, count)</c>.</summary>
internal sealed record StorageClaim(string Key, string TypeName, int ElementSize, long Count)
{
    public long ByteLength => Count * ElementSize;
}

/// <summary>A tensor a pickle builds on a storage (<c>torch._utils._rebuild_tensor_v2</c>): its shape, strides and offset.</summary>
internal sealed record TensorClaim(StorageClaim Storage, long Offset, long[] Shape, long[] Stride)
{
    public long Count { get; init; }

    public long ByteLength => Count * Storage.ElementSize;
}

/// <summary>What a state dict's pickle asks for, read without building anything it describes.</summary>
internal sealed record PickleClaims(IReadOnlyList<StorageClaim> Storages, IReadOnlyList<TensorClaim> Tensors);

/// <summary>
/// Walks a PyTorch pickle (<c>data.pkl</c>) opcode by opcode, the way an unpickler would, without building anything: every
/// length it claims (strings, bytes, big integers) is checked against the bytes that remain, every value it would
/// create is counted, every Python name it refers to must be one a state dict of tensors uses, and every tensor is checked
/// against the storage it is built on. TorchSharp.PyBridge's unpickler (Razorvine.Pickle) allocates a buffer of whatever
/// length an opcode claims, and a tensor of whatever shape a pickle claims, before reading a byte of it: a pickle is
/// handed to it only after this walk found it bounded by its own size.
/// </summary>
internal static class TorchPickle
{
    /// <summary>Values (stack pushes, memo entries, container items) a pickle may create: far more than a state dict needs (about 25 per tensor).</summary>
    public const int MaxValues = 1 << 22;

    /// <summary>Dimensions of a tensor at most (as in safetensors).</summary>
    public const int MaxDimensions = 64;

    private static readonly Dictionary<string, int> ElementSizes = new(StringComparer.Ordinal)
    {
        ["DoubleStorage"] = 8, ["FloatStorage"] = 4, ["HalfStorage"] = 2, ["LongStorage"] = 8, ["IntStorage"] = 4,
        ["ShortStorage"] = 2, ["CharStorage"] = 1, ["ByteStorage"] = 1, ["BoolStorage"] = 1, ["BFloat16Storage"] = 2,
        ["ComplexDoubleStorage"] = 16, ["ComplexFloatStorage"] = 8,
    };

    private sealed record Global(string Module, string Name)
    {
        public override string ToString() => $"{Module}.{Name}";
    }

    private sealed record PyTuple(object?[] Items);

    private sealed class Container(string kind)
    {
        public string Kind { get; } = kind;
    }

    private sealed record Bytes(long Length);

    private sealed class BigNumber
    {
        public static readonly BigNumber Instance = new();
    }

    private sealed class Mark
    {
        public static readonly Mark Instance = new();
    }

    private sealed class Walker(byte[] pickle, string source)
    {
        private readonly List<object?> stack = [];
        private readonly Dictionary<long, object?> memo = [];
        private readonly Dictionary<string, StorageClaim> storages = new(StringComparer.Ordinal);
        private readonly List<TensorClaim> tensors = [];
        private int at;
        private long values;

        public PickleClaims Walk()
        {
            while (true)
            {
                var opcodeAt = at;
                var opcode = Byte();
                if (opcode == (byte)'.')
                {
                    return new PickleClaims([.. storages.Values], tensors);
                }
                try
                {
                    Step(opcode);
                }
                catch (CheckpointFormatException)
                {
                    throw;
                }
                catch (Exception e) when (e is InvalidCastException or ArgumentException or FormatException or OverflowException)
                {
                    throw Refuse($"its pickle is malformed at byte {opcodeAt} (opcode 0x{opcode:x2}).");
                }
            }
        }

        private void Step(byte opcode)
        {
            switch (opcode)
            {
                case 0x80: // PROTO
                    if (Byte() > 5)
                    {
                        throw Refuse("its pickle has a protocol newer than 5.");
                    }
                    break;
                case 0x95: // FRAME: an 8-byte frame length, a hint only
                    Take(8);
                    break;
                case (byte)'(': Push(Mark.Instance); break;
                case (byte)'0': Pop(); break;
                case (byte)'1': PopToMark(); break;
                case (byte)'2': Push(Peek()); break;
                case (byte)'N': Push(null); break;
                case 0x88: Push(true); break;
                case 0x89: Push(false); break;
                case (byte)'I': Push(Number() switch { "00" => false, "01" => true, var text => long.Parse(text, NumberStyles.AllowLeadingSign, CultureInfo.InvariantCulture) }); break;
                case (byte)'L': Push(long.Parse(Number().TrimEnd('L'), NumberStyles.AllowLeadingSign, CultureInfo.InvariantCulture)); break;
                case (byte)'F': Push(double.Parse(Number(), CultureInfo.InvariantCulture)); break;
                case (byte)'J': Push((long)BinaryPrimitives.ReadInt32LittleEndian(Take(4))); break;
                case (byte)'K': Push((long)Byte()); break;
                case (byte)'M': Push((long)BinaryPrimitives.ReadUInt16LittleEndian(Take(2))); break;
                case (byte)'G': Push(BinaryPrimitives.ReadDoubleBigEndian(Take(8))); break;
                case 0x8a: Push(Long(Take(Length(Byte(), "an integer")))); break; // LONG1
                case 0x8b: Push(Long(Take(Length(BinaryPrimitives.ReadInt32LittleEndian(Take(4)), "an integer")))); break; // LONG4
                case (byte)'S': Push(Line()); break; // STRING
                case (byte)'V': Push(Line()); break; // UNICODE
                case (byte)'U': Push(Latin1(Take(Length(Byte(), "a string")))); break; // SHORT_BINSTRING
                case (byte)'T': Push(Latin1(Take(Length(BinaryPrimitives.ReadInt32LittleEndian(Take(4)), "a string")))); break; // BINSTRING
                case 0x8c: Push(Utf8(Take(Length(Byte(), "a string")))); break; // SHORT_BINUNICODE
                case (byte)'X': Push(Utf8(Take(Length(BinaryPrimitives.ReadInt32LittleEndian(Take(4)), "a string")))); break; // BINUNICODE
                case 0x8d: Push(Utf8(Take(Length(BinaryPrimitives.ReadInt64LittleEndian(Take(8)), "a string")))); break; // BINUNICODE8
                case (byte)'C': Push(new Bytes(Take(Length(Byte(), "a bytes object")).Length)); break; // SHORT_BINBYTES
                case (byte)'B': Push(new Bytes(Take(Length(BinaryPrimitives.ReadInt32LittleEndian(Take(4)), "a bytes object")).Length)); break; // BINBYTES
                case 0x8e or 0x96: Push(new Bytes(Take(Length(BinaryPrimitives.ReadInt64LittleEndian(Take(8)), "a bytes object")).Length)); break; // BINBYTES8, BYTEARRAY8
                case 0x98: break; // READONLY_BUFFER
                case (byte)')': Push(new PyTuple([])); break;
                case 0x85: Push(new PyTuple([Pop()])); break;
                case 0x86: { var b = Pop(); Push(new PyTuple([Pop(), b])); break; }
                case 0x87: { var c = Pop(); var b = Pop(); Push(new PyTuple([Pop(), b, c])); break; }
                case (byte)'t': Push(new PyTuple([.. PopToMark()])); break;
                case (byte)']': Push(new Container("list")); break;
                case (byte)'}': Push(new Container("dict")); break;
                case 0x8f: Push(new Container("set")); break;
                case (byte)'l': Count(PopToMark().Count); Push(new Container("list")); break;
                case (byte)'d': Count(PopToMark().Count); Push(new Container("dict")); break;
                case 0x91: Count(PopToMark().Count); Push(new Container("set")); break;
                case (byte)'a': Pop(); Into("list"); break; // APPEND
                case (byte)'e': Count(PopToMark().Count); Into("list"); break; // APPENDS
                case 0x90: Count(PopToMark().Count); Into("set"); break; // ADDITEMS
                case (byte)'s': Pop(); Pop(); Into("dict"); break; // SETITEM
                case (byte)'u': Count(PopToMark().Count); Into("dict"); break; // SETITEMS
                case (byte)'b': Pop(); Peek(); break; // BUILD: state applied to the object below
                case (byte)'c': { var module = Line(); Push(Resolve(module, Line())); break; } // GLOBAL
                case 0x93: { var name = Pop(); Push(Resolve(Pop() as string ?? "?", name as string ?? "?")); break; } // STACK_GLOBAL
                case (byte)'R' or 0x81: { var arguments = Pop(); Push(Call(Pop(), arguments)); break; } // REDUCE, NEWOBJ
                case (byte)'Q': Push(Storage(Pop())); break; // BINPERSID
                case (byte)'q': Remember(Byte()); break; // BINPUT
                case (byte)'r': Remember(BinaryPrimitives.ReadInt32LittleEndian(Take(4))); break; // LONG_BINPUT
                case (byte)'p': Remember(long.Parse(Number(), CultureInfo.InvariantCulture)); break; // PUT
                case 0x94: Remember(memo.Count); break; // MEMOIZE
                case (byte)'h': Recall(Byte()); break; // BINGET
                case (byte)'j': Recall(BinaryPrimitives.ReadInt32LittleEndian(Take(4))); break; // LONG_BINGET
                case (byte)'g': Recall(long.Parse(Number(), CultureInfo.InvariantCulture)); break; // GET
                default:
                    // PERSID (a text persistent id), INST, OBJ, NEWOBJ_EX, EXT1/2/4, NEXT_BUFFER, and bytes that are no opcode.
                    throw Refuse($"its pickle uses opcode 0x{opcode:x2} at byte {at - 1}, which a PyTorch state dict does not.");
            }
        }

        private Global Resolve(string module, string name)
        {
            var global = new Global(module, name);
            var allowed = (module, name) switch
            {
                ("collections", "OrderedDict") => true,
                ("torch._utils", "_rebuild_tensor" or "_rebuild_tensor_v2" or "_rebuild_parameter") => true,
                ("torch", _) => name.EndsWith("Storage", StringComparison.Ordinal),
                _ => false,
            };
            return allowed ? global : throw Refuse($"its pickle refers to the Python name {Fragment.Quote(global.ToString())}, which a state dict of tensors does not use.");
        }

        private object Call(object? callable, object? arguments)
        {
            if (callable is not Global global || arguments is not PyTuple tuple)
            {
                throw Refuse("its pickle calls something that is not a known Python name.");
            }
            return global switch
            {
                { Module: "collections", Name: "OrderedDict" } => new Container("dict"),
                { Name: "_rebuild_tensor" or "_rebuild_tensor_v2" } => Tensor(tuple.Items),
                { Name: "_rebuild_parameter" } => throw Refuse("it holds a whole model (nn.Parameter objects), not a state dict: save model.state_dict() instead."),
                _ => throw Refuse($"its pickle calls {Fragment.Quote(global.ToString())}, which a state dict of tensors does not."),
            };
        }

        private StorageClaim Storage(object? id)
        {
            if (id is not PyTuple { Items: ["storage", Global { Module: "torch" } type, string key, _, long count] })
            {
                throw Refuse("its pickle has a persistent id that is not a tensor storage ('storage', type, key, location, size).");
            }
            if (!ElementSizes.TryGetValue(type.Name, out var size))
            {
                throw Refuse($"its pickle has a storage of type {Fragment.Quote(type.ToString())}, which cannot be read.");
            }
            if (count < 0 || count > long.MaxValue / size)
            {
                throw Refuse($"its storage {Fragment.Quote(key)} claims {count:N0} elements.");
            }
            var claim = new StorageClaim(key, type.Name, size, count);
            if (storages.TryGetValue(key, out var earlier) && earlier != claim)
            {
                throw Refuse($"its storage {Fragment.Quote(key)} is named twice, as {earlier.Count:N0} x {earlier.TypeName} and {count:N0} x {type.Name}.");
            }
            storages[key] = claim;
            return claim;
        }

        /// <summary>A tensor on a storage: every element it reaches must be inside the storage, which bounds what it allocates.</summary>
        private TensorClaim Tensor(object?[] arguments)
        {
            if (arguments is not [StorageClaim storage, long offset, PyTuple shape, PyTuple stride, ..] || shape.Items.Length != stride.Items.Length || shape.Items.Length > MaxDimensions)
            {
                throw Refuse("its pickle rebuilds a tensor from arguments other than (storage, offset, shape, stride, ...).");
            }
            var sizes = Dimensions(shape, "shape");
            var steps = Dimensions(stride, "stride");
            if (offset < 0 || offset > int.MaxValue)
            {
                throw Refuse($"a tensor on storage {Fragment.Quote(storage.Key)} has storage offset {offset:N0}.");
            }
            long count = 1, last = offset;
            try
            {
                for (var i = 0; i < sizes.Length; i++)
                {
                    count = checked(count * sizes[i]);
                    last = sizes[i] == 0 ? last : checked(last + ((sizes[i] - 1) * steps[i]));
                }
            }
            catch (OverflowException)
            {
                throw Refuse($"a tensor on storage {Fragment.Quote(storage.Key)} has a shape ({string.Join(", ", sizes)}) whose size overflows.");
            }
            if (count > 0 && (last >= storage.Count || count > storage.Count))
            {
                throw Refuse($"a tensor of shape ({string.Join(", ", sizes)}) needs {Math.Max(last + 1, count):N0} elements of its storage {Fragment.Quote(storage.Key)}, which has {storage.Count:N0}.");
            }
            var claim = new TensorClaim(storage, offset, sizes, steps) { Count = count };
            tensors.Add(claim);
            return claim;
        }

        private long[] Dimensions(PyTuple tuple, string what)
        {
            var dimensions = new long[tuple.Items.Length];
            for (var i = 0; i < dimensions.Length; i++)
            {
                dimensions[i] = tuple.Items[i] is long value && value is >= 0 and <= int.MaxValue
                    ? value
                    : throw Refuse($"its pickle rebuilds a tensor whose {what} holds {Fragment.Quote(Convert.ToString(tuple.Items[i], CultureInfo.InvariantCulture) ?? "None")}.");
            }
            return dimensions;
        }

        private void Remember(long index)
        {
            memo[index] = Peek();
            Count(1);
        }

        private void Recall(long index) => Push(memo.TryGetValue(index, out var value) ? value : throw Refuse($"its pickle reads memo entry {index}, which it never wrote."));

        private void Into(string kind)
        {
            if (Peek() is not Container container || container.Kind != kind)
            {
                throw Refuse($"its pickle adds items to something that is not a {kind}.");
            }
        }

        private void Push(object? value)
        {
            Count(1);
            stack.Add(value);
        }

        private void Count(long created)
        {
            values += created;
            if (values > MaxValues)
            {
                throw Refuse($"its pickle creates more than {MaxValues:N0} values, far more than a state dict does.");
            }
        }

        private object? Pop()
        {
            if (stack.Count == 0 || stack[^1] is Mark)
            {
                throw Refuse("its pickle takes a value from an empty stack.");
            }
            var value = stack[^1];
            stack.RemoveAt(stack.Count - 1);
            return value;
        }

        private object? Peek() => stack.Count > 0 && stack[^1] is not Mark ? stack[^1] : throw Refuse("its pickle uses a value from an empty stack.");

        private List<object?> PopToMark()
        {
            var mark = stack.FindLastIndex(value => value is Mark);
            if (mark < 0)
            {
                throw Refuse("its pickle closes a mark it never opened.");
            }
            var items = stack.GetRange(mark + 1, stack.Count - mark - 1);
            stack.RemoveRange(mark, stack.Count - mark);
            return items;
        }

        private byte Byte() => Take(1)[0];

        private ReadOnlySpan<byte> Take(int count)
        {
            if (count > pickle.Length - at)
            {
                throw Refuse($"its pickle ends inside an opcode at byte {at}: it is truncated.");
            }
            var span = pickle.AsSpan(at, count);
            at += count;
            return span;
        }

        /// <summary>A claimed length, checked against what remains of the pickle before anything of that length exists.</summary>
        private int Length(long claimed, string what)
            => claimed >= 0 && claimed <= pickle.Length - at
                ? (int)claimed
                : throw Refuse($"its pickle claims {what} of {claimed:N0} bytes at byte {at}, but only {pickle.Length - at:N0} bytes remain.");

        /// <summary>A newline-terminated argument (text opcodes), bounded by the pickle's end.</summary>
        private string Line()
        {
            var end = Array.IndexOf(pickle, (byte)'\n', at);
            if (end < 0)
            {
                throw Refuse($"its pickle ends inside a text argument at byte {at}: it is truncated.");
            }
            var line = Encoding.Latin1.GetString(pickle, at, end - at);
            at = end + 1;
            return line;
        }

        /// <summary>A number in text: short, since parsing a long run of digits takes time quadratic in its length.</summary>
        private string Number()
        {
            var start = at;
            var line = Line();
            return line.Length <= 40 ? line : throw Refuse($"its pickle has a number of {line.Length:N0} digits at byte {start}.");
        }

        /// <summary>A little-endian two's-complement integer (LONG1, LONG4): a long when it fits, as the unpickler makes it; beyond, no size or count.</summary>
        private static object Long(ReadOnlySpan<byte> bytes) => bytes.Length <= 8 ? (long)new BigInteger(bytes, isUnsigned: false) : BigNumber.Instance;

        private static string Latin1(ReadOnlySpan<byte> bytes) => Encoding.Latin1.GetString(bytes);

        private static string Utf8(ReadOnlySpan<byte> bytes) => Encoding.UTF8.GetString(bytes);

        private CheckpointFormatException Refuse(string problem) => TorchZip.Refuse(source, problem);
    }

    /// <summary>Every storage and tensor the pickle claims, each checked; refuses anything else a state dict has no use for.</summary>
    public static PickleClaims Walk(byte[] pickle, string source) => new Walker(pickle, source).Walk();
}
