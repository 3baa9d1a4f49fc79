using System.Text;

namespace Serving.Workers.Models;

/// <summary>
/// Writes GGUF v3 files: header, key/values, tensor infos, then tensor data aligned to 32 bytes. Tensor data is
/// streamed through a callback so a 240 MB model never sits in memory at once.
/// </summary>
internal sealed class GgufWriter
{
    private const int Alignment = 32;

    private readonly List<(string Key, Action<BinaryWriter> WriteValue)> _metadata = [];
    private readonly List<TensorSpec> _tensors = [];

    /// <summary>A tensor: its shape lists ne0 (the inner dimension) first, as GGUF does.</summary>
    public sealed record TensorSpec(string Name, long[] Shape, GgmlType Type, Action<Stream, long> WriteData)
    {
        public long Elements => Shape.Aggregate(1L, (a, b) => a * b);

        public long Bytes => Elements * (Type == GgmlType.F16 ? 2 : 4);
    }

    public enum GgmlType : uint { F32 = 0, F16 = 1 }

    private enum ValueType : uint { UInt32 = 4, Int32 = 5, Float32 = 6, Bool = 7, String = 8, Array = 9 }

    public void Add(string key, string value) => _metadata.Add((key, w => { w.Write((uint)ValueType.String); WriteString(w, value); }));

    public void Add(string key, uint value) => _metadata.Add((key, w => { w.Write((uint)ValueType.UInt32); w.Write(value); }));

    public void Add(string key, float value) => _metadata.Add((key, w => { w.Write((uint)ValueType.Float32); w.Write(value); }));

    public void Add(string key, bool value) => _metadata.Add((key, w => { w.Write((uint)ValueType.Bool); w.Write((byte)(value ? 1 : 0)); }));

    public void Add(string key, IReadOnlyList<string> values) => AddArray(key, ValueType.String, values, WriteString);

    public void Add(string key, IReadOnlyList<float> values) => AddArray(key, ValueType.Float32, values, (w, v) => w.Write(v));

    public void Add(string key, IReadOnlyList<int> values) => AddArray(key, ValueType.Int32, values, (w, v) => w.Write(v));

    private void AddArray<T>(string key, ValueType elementType, IReadOnlyList<T> values, Action<BinaryWriter, T> write) => _metadata.Add((key, w =>
    {
        w.Write((uint)ValueType.Array);
        w.Write((uint)elementType);
        w.Write((ulong)values.Count);
        foreach (var v in values)
        {
            write(w, v);
        }
    }));

    /// <summary>A value copied as it was read (<see cref="GgufMetadata"/>): its type tag and payload bytes.</summary>
    public void AddRaw(string key, byte[] typeAndValue) => _metadata.Add((key, w => w.Write(typeAndValue)));

    public void AddTensor(TensorSpec tensor) => _tensors.Add(tensor);

    public long ParameterCount => _tensors.Sum(t => t.Elements);

    public int TensorCount => _tensors.Count;

    public void WriteTo(Stream stream)
    {
        using var w = new BinaryWriter(stream, Encoding.UTF8, leaveOpen: true);
        w.Write("GGUF"u8);
        w.Write(3u);
        w.Write((ulong)_tensors.Count);
        w.Write((ulong)_metadata.Count);
        foreach (var (key, writeValue) in _metadata)
        {
            WriteString(w, key);
            writeValue(w);
        }

        // gguf.cpp requires each offset to be the running sum of the padded sizes, in info order.
        ulong offset = 0;
        foreach (var t in _tensors)
        {
            WriteString(w, t.Name);
            w.Write((uint)t.Shape.Length);
            foreach (var n in t.Shape)
            {
                w.Write((ulong)n);
            }

            w.Write((uint)t.Type);
            w.Write(offset);
            offset += (ulong)Pad(t.Bytes);
        }

        w.Flush();
        WritePadding(stream);
        foreach (var t in _tensors)
        {
            var start = stream.Position;
            t.WriteData(stream, t.Elements);
            if (stream.Position - start != t.Bytes)
            {
                throw new InvalidOperationException($"tensor {t.Name} wrote {stream.Position - start} bytes, expected {t.Bytes}");
            }

            WritePadding(stream);
        }
    }

    private static long Pad(long n) => (n + Alignment - 1) / Alignment * Alignment;

    private static void WritePadding(Stream stream)
    {
        var padding = Pad(stream.Position) - stream.Position;
        for (var i = 0; i < padding; i++)
        {
            stream.WriteByte(0);
        }
    }

    private static void WriteString(BinaryWriter w, string s)
    {
        var bytes = Encoding.UTF8.GetBytes(s);
        w.Write((ulong)bytes.Length);
        w.Write(bytes);
    }
}
