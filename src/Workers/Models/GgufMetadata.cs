using System.Text;

namespace Serving.Workers.Models;

/// <summary>
/// Reads the key/values of a GGUF file (v2/v3), each kept as its raw type tag and payload so it can be written into
/// another file unchanged: how a generated model takes a real tokenizer from llama.cpp's <c>ggml-vocab-*.gguf</c>.
/// </summary>
internal static class GgufMetadata
{
    public sealed record Entry(string Key, uint Type, byte[] Raw);

    private const uint StringType = 8, ArrayType = 9;

    public static List<Entry> Read(string path)
    {
        using var reader = new BinaryReader(File.OpenRead(path), Encoding.UTF8);
        if (!reader.ReadBytes(4).AsSpan().SequenceEqual("GGUF"u8))
        {
            throw new InvalidDataException($"not a GGUF file: {path}");
        }

        var version = reader.ReadUInt32();
        if (version is < 2 or > 3)
        {
            throw new InvalidDataException($"GGUF version {version} is not supported: {path}");
        }

        reader.ReadUInt64(); // tensor count
        var count = reader.ReadUInt64();
        var entries = new List<Entry>();
        for (ulong i = 0; i < count; i++)
        {
            var key = ReadString(reader);
            var start = reader.BaseStream.Position;
            var type = reader.ReadUInt32();
            SkipValue(reader, type);
            var length = reader.BaseStream.Position - start;
            reader.BaseStream.Position = start;
            entries.Add(new Entry(key, type, reader.ReadBytes((int)length)));
        }

        return entries;
    }

    /// <summary>The number of elements of an array entry.</summary>
    public static long ArrayLength(Entry entry) =>
        entry.Type == ArrayType ? BitConverter.ToInt64(entry.Raw, 8) : throw new InvalidDataException($"{entry.Key} is not an array");

    private static string ReadString(BinaryReader reader) => Encoding.UTF8.GetString(reader.ReadBytes(checked((int)reader.ReadUInt64())));

    private static void SkipValue(BinaryReader reader, uint type)
    {
        switch (type)
        {
            case StringType:
                reader.BaseStream.Seek(checked((long)reader.ReadUInt64()), SeekOrigin.Current);
                break;
            case ArrayType:
                var elementType = reader.ReadUInt32();
                var n = reader.ReadUInt64();
                if (elementType is StringType or ArrayType)
                {
                    for (ulong j = 0; j < n; j++)
                    {
                        SkipValue(reader, elementType);
                    }
                }
                else
                {
                    reader.BaseStream.Seek(checked((long)n * ScalarSize(elementType)), SeekOrigin.Current);
                }

                break;
            default:
                reader.BaseStream.Seek(ScalarSize(type), SeekOrigin.Current);
                break;
        }
    }

    private static int ScalarSize(uint type) => type switch
    {
        0 or 1 or 7 => 1,   // u8, i8, bool
        2 or 3 => 2,        // u16, i16
        4 or 5 or 6 => 4,   // u32, i32, f32
        10 or 11 or 12 => 8, // u64, i64, f64
        _ => throw new InvalidDataException($"unknown GGUF value type {type}"),
    };
}
