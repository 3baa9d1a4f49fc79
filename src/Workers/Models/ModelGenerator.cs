using System.Diagnostics;
using System.Runtime.InteropServices;

namespace Serving.Workers.Models;

public enum ModelKind { Tiny, Base125M }

/// <summary>What <see cref="ModelGenerator.Generate"/> wrote.</summary>
/// <summary>A real tokenizer for a generated model: a GGUF with <c>tokenizer.*</c> keys (llama.cpp's ggml-vocab files) and a chat template.</summary>
public sealed record TokenizerSource(string VocabFile, string? ChatTemplate);

public sealed record GeneratedModel(ModelKind Kind, string Path, long Parameters, int Tensors, long Bytes, TimeSpan Elapsed);

/// <summary>
/// Generates random-weight Llama models in GGUF, deterministic from a seed: no weights can be downloaded here, and
/// the serving machinery (batching, park/restore, scheduling) behaves the same on random weights. Shapes and the
/// tokenizer follow llama-native-notes §2; the vocabulary adds ChatML control tokens and a ChatML template so
/// chat requests render the way real instruction-tuned models expect.
/// </summary>
public static class ModelGenerator
{
    private sealed record Shape(int Vocab, int Embd, int Layers, int Heads, int KvHeads, int FeedForward, int TrainContext, bool Half);

    private const string ChatMlTemplate =
        "{% for message in messages %}{{'<|im_start|>' + message['role'] + '\\n' + message['content'] + '<|im_end|>' + '\\n'}}" +
        "{% endfor %}{% if add_generation_prompt %}{{ '<|im_start|>assistant\\n' }}{% endif %}";

    public static ModelKind ParseKind(string text) => text.ToLowerInvariant() switch
    {
        "tiny" => ModelKind.Tiny,
        "base125m" or "125m" => ModelKind.Base125M,
        _ => throw new ArgumentException($"unknown model kind '{text}' (expected tiny or base125m)"),
    };

    /// <summary>Generates the model unless the file already exists; returns the path.</summary>
    public static string EnsureModel(ModelKind kind, string path, int seed = 42, TokenizerSource? tokenizer = null)
    {
        if (!File.Exists(path))
        {
            Generate(kind, path, seed, tokenizer);
        }

        return path;
    }

    /// <summary>
    /// Writes the model atomically (temp file, then rename) so a crash never leaves a truncated model. With a
    /// <paramref name="tokenizer"/>, the model gets that real tokenizer (every <c>tokenizer.*</c> key of the vocab file,
    /// copied byte for byte), its vocabulary size, tied input/output embeddings as small real models have, and the
    /// given chat template.
    /// </summary>
    public static GeneratedModel Generate(ModelKind kind, string path, int seed = 42, TokenizerSource? tokenizer = null)
    {
        var stopwatch = Stopwatch.StartNew();
        var shape = kind == ModelKind.Tiny
            ? new Shape(512, 128, 2, 4, 2, 512, 2048, Half: false)
            : new Shape(32000, 768, 12, 12, 4, 2048, 4096, Half: true);
        var copied = tokenizer is null ? null : GgufMetadata.Read(tokenizer.VocabFile)
            .Where(e => e.Key.StartsWith("tokenizer.", StringComparison.Ordinal) && e.Key != "tokenizer.chat_template").ToList();
        if (copied is not null)
        {
            var tokens = copied.FirstOrDefault(e => e.Key == "tokenizer.ggml.tokens")
                ?? throw new InvalidDataException($"{tokenizer!.VocabFile} has no tokenizer.ggml.tokens");
            shape = shape with { Vocab = checked((int)GgufMetadata.ArrayLength(tokens)) };
        }

        var writer = Build(kind, shape, seed, copied, tokenizer?.ChatTemplate);
        var full = System.IO.Path.GetFullPath(path);
        Directory.CreateDirectory(System.IO.Path.GetDirectoryName(full)!);
        var temp = full + ".tmp" + Environment.ProcessId;
        using (var file = new FileStream(temp, FileMode.Create, FileAccess.Write, FileShare.None, 1 << 20))
        {
            writer.WriteTo(file);
        }

        File.Move(temp, full, overwrite: true);
        return new GeneratedModel(kind, full, writer.ParameterCount, writer.TensorCount, new FileInfo(full).Length, stopwatch.Elapsed);
    }

    private static GgufWriter Build(ModelKind kind, Shape s, int seed, List<GgufMetadata.Entry>? tokenizer, string? chatTemplate)
    {
        var headDim = s.Embd / s.Heads;
        var kvDim = headDim * s.KvHeads;
        var g = new GgufWriter();
        g.Add("general.architecture", "llama");
        g.Add("general.name", (kind == ModelKind.Tiny ? "serving-tiny" : "serving-base125m") + (tokenizer is null ? "" : "-real-vocab"));
        g.Add("general.file_type", s.Half ? 1u : 0u);
        g.Add("llama.context_length", (uint)s.TrainContext);
        g.Add("llama.embedding_length", (uint)s.Embd);
        g.Add("llama.block_count", (uint)s.Layers);
        g.Add("llama.feed_forward_length", (uint)s.FeedForward);
        g.Add("llama.attention.head_count", (uint)s.Heads);
        g.Add("llama.attention.head_count_kv", (uint)s.KvHeads);
        g.Add("llama.attention.layer_norm_rms_epsilon", 1e-5f);
        g.Add("llama.rope.freq_base", 10000f);
        g.Add("llama.rope.dimension_count", (uint)headDim);
        g.Add("llama.vocab_size", (uint)s.Vocab);
        if (tokenizer is null)
        {
            var vocab = TokenizerVocabulary.Build(s.Vocab);
            g.Add("tokenizer.ggml.model", "llama");
            g.Add("tokenizer.ggml.tokens", vocab.Tokens);
            g.Add("tokenizer.ggml.scores", vocab.Scores);
            g.Add("tokenizer.ggml.token_type", vocab.Types);
            g.Add("tokenizer.ggml.bos_token_id", (uint)TokenizerVocabulary.Bos);
            g.Add("tokenizer.ggml.eos_token_id", (uint)TokenizerVocabulary.ImEnd);
            g.Add("tokenizer.ggml.unknown_token_id", (uint)TokenizerVocabulary.Unknown);
            g.Add("tokenizer.ggml.add_bos_token", true);
            g.Add("tokenizer.ggml.add_eos_token", false);
        }
        else
        {
            tokenizer.ForEach(e => g.AddRaw(e.Key, e.Raw));
        }

        g.Add("tokenizer.chat_template", chatTemplate ?? ChatMlTemplate);

        var weightType = s.Half ? GgufWriter.GgmlType.F16 : GgufWriter.GgmlType.F32;
        var index = 0;
        void Matrix(string name, int inner, int outer) => g.AddTensor(new(name, [inner, outer], weightType, Random(seed, index++, weightType)));
        void Norm(string name) => g.AddTensor(new(name, [s.Embd], GgufWriter.GgmlType.F32, Ones));

        Matrix("token_embd.weight", s.Embd, s.Vocab);
        Norm("output_norm.weight");
        if (tokenizer is null)
        {
            Matrix("output.weight", s.Embd, s.Vocab); // a real vocabulary ties the output to the embeddings instead
        }
        for (var layer = 0; layer < s.Layers; layer++)
        {
            var p = $"blk.{layer}.";
            Norm(p + "attn_norm.weight");
            Matrix(p + "attn_q.weight", s.Embd, s.Heads * headDim);
            Matrix(p + "attn_k.weight", s.Embd, kvDim);
            Matrix(p + "attn_v.weight", s.Embd, kvDim);
            Matrix(p + "attn_output.weight", s.Heads * headDim, s.Embd);
            Norm(p + "ffn_norm.weight");
            Matrix(p + "ffn_gate.weight", s.Embd, s.FeedForward);
            Matrix(p + "ffn_up.weight", s.Embd, s.FeedForward);
            Matrix(p + "ffn_down.weight", s.FeedForward, s.Embd);
        }

        return g;
    }

    private static void Ones(Stream stream, long elements)
    {
        var buffer = new float[elements];
        Array.Fill(buffer, 1f);
        stream.Write(MemoryMarshal.AsBytes(buffer.AsSpan()));
    }

    /// <summary>Uniform weights with standard deviation 0.02 from a per-tensor xorshift stream (fast and seed-stable).</summary>
    private static Action<Stream, long> Random(int seed, int tensorIndex, GgufWriter.GgmlType type) => (stream, elements) =>
    {
        const int chunk = 1 << 16;
        var state = (ulong)(uint)seed * 0x9E3779B97F4A7C15UL ^ ((ulong)tensorIndex + 1) * 0xBF58476D1CE4E5B9UL;
        state = state == 0 ? 1 : state;
        var range = 0.02f * MathF.Sqrt(3f); // uniform on [-a, a] has std a/sqrt(3)
        var floats = new float[chunk];
        var halves = new Half[chunk];
        for (long done = 0; done < elements; done += chunk)
        {
            var n = (int)Math.Min(chunk, elements - done);
            for (var i = 0; i < n; i++)
            {
                state ^= state << 13;
                state ^= state >> 7;
                state ^= state << 17;
                floats[i] = ((state >> 40) * (1f / (1 << 24)) * 2f - 1f) * range;
            }

            if (type == GgufWriter.GgmlType.F16)
            {
                for (var i = 0; i < n; i++)
                {
                    halves[i] = (Half)floats[i];
                }

                stream.Write(MemoryMarshal.AsBytes(halves.AsSpan(0, n)));
            }
            else
            {
                stream.Write(MemoryMarshal.AsBytes(floats.AsSpan(0, n)));
            }
        }
    };
}
