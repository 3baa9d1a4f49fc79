using System.Reflection;
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using System.Text;
using Serving.Workers.Engine;

namespace Serving.Workers.Native;

/// <summary>
/// Loads the prebuilt llama.cpp libraries once per process, in the order this GGML_BACKEND_DL build needs
/// (llama-native-notes §1): base → ggml → llama by full path, import-name resolver, log hook, CPU backends from
/// the library folder, backend init. Then checks that the structs we copied match the binary.
/// </summary>
public static unsafe class LlamaNative
{
    /// <summary>The libraries we load, in load order; the CPU backend variants (libggml-cpu-*.so) come along by folder.</summary>
    public static readonly IReadOnlyList<string> RequiredFiles = ["libggml-base.so", "libggml.v0.5.0.so", "libllama.v0.5.0.so"];

    private static readonly Lock InitLock = new();
    private static readonly Dictionary<string, nint> Handles = new(StringComparer.Ordinal);
    private static string? _loadedFrom;

    /// <summary>Warnings and errors from llama.cpp; INFO/DEBUG chatter is dropped. Defaults to stderr.</summary>
    public static Action<string> LogSink { get; set; } = line => Console.Error.WriteLine(line);

    /// <summary>The folder the libraries were loaded from, once initialized.</summary>
    public static string? LoadedFrom => _loadedFrom;

    /// <summary>Initializes llama.cpp for this process; later calls are no-ops (the folder of the first call wins).</summary>
    /// <exception cref="EngineLoadException">A library is missing, fails to load, or does not match our struct layouts.</exception>
    public static void Initialize(string? nativeDir = null)
    {
        lock (InitLock)
        {
            if (_loadedFrom is not null)
            {
                return;
            }

            var dir = Probe(nativeDir);
            foreach (var file in RequiredFiles)
            {
                var path = Path.Combine(dir, file);
                try
                {
                    Handles[ImportNameOf(file)] = NativeLibrary.Load(path);
                }
                catch (Exception e) when (e is DllNotFoundException or BadImageFormatException)
                {
                    throw new EngineLoadException($"cannot load native library {path}: {e.Message}", e);
                }
            }

            NativeLibrary.SetDllImportResolver(typeof(LlamaNative).Assembly, Resolve);
            LlamaApi.llama_log_set(&OnLog, null);
            LlamaApi.ggml_backend_load_all_from_path(dir);
            if (LlamaApi.ggml_backend_dev_count() == 0)
            {
                throw new EngineLoadException($"no ggml backend could be loaded from {dir} (expected libggml-cpu-*.so there)");
            }

            LlamaApi.llama_backend_init();
            VerifyLayouts();
            _loadedFrom = dir;
        }
    }

    /// <summary>
    /// Finds the library folder without loading anything: the argument, then SERVING_NATIVE_DIR, then the nearest
    /// <c>.peer/native</c> (llama.cpp built for this CPU by scripts/build-peer.sh: on this AVX-512 machine about 1.6×
    /// the prebuilt variant's prefill), then the nearest <c>.native/linux-x64</c> (the prebuilt npm libraries) above the
    /// application folder. Throws when a required file is missing.
    /// </summary>
    public static string Probe(string? nativeDir = null)
    {
        var dir = nativeDir ?? Environment.GetEnvironmentVariable("SERVING_NATIVE_DIR") ?? FindUpwards(AppContext.BaseDirectory);
        if (dir is null)
        {
            throw new EngineLoadException(
                "llama.cpp libraries not found: no .native/linux-x64 folder above " + AppContext.BaseDirectory +
                " and SERVING_NATIVE_DIR is not set. Run scripts/setup.sh to install them.");
        }

        foreach (var file in RequiredFiles)
        {
            if (!File.Exists(Path.Combine(dir, file)))
            {
                throw new EngineLoadException(
                    $"llama.cpp library missing: {Path.Combine(dir, file)}. Run scripts/setup.sh to install the libraries.");
            }
        }

        return Path.GetFullPath(dir);
    }

    /// <summary>Checks the struct sizes and a few default values: a canary against a mismatched libllama build.</summary>
    internal static void VerifyLayouts()
    {
        var errors = new List<string>();
        void Expect(string what, long actual, long expected)
        {
            if (actual != expected)
            {
                errors.Add($"{what} is {actual}, expected {expected}");
            }
        }

        Expect("sizeof(llama_model_params)", sizeof(LlamaModelParams), 80);
        Expect("sizeof(llama_context_params)", sizeof(LlamaContextParams), 160);
        Expect("sizeof(llama_batch)", sizeof(LlamaBatch), 56);
        var c = LlamaApi.llama_context_default_params();
        Expect("default n_batch", c.NBatch, 2048);
        Expect("default n_ubatch", c.NUbatch, 512);
        Expect("default flash_attn_type", c.FlashAttnType, -1);
        Expect("default type_k", c.TypeK, 1);
        Expect("default n_outputs_max_per_seq", c.NOutputsMaxPerSeq, 1);
        var m = LlamaApi.llama_model_default_params();
        Expect("default model use_extra_bufts", m.UseExtraBufts, 1);
        if (errors.Count > 0)
        {
            throw new EngineLoadException(
                "the llama.cpp library does not match this binding (expected @node-llama-cpp/linux-x64@3.22.1): " +
                string.Join("; ", errors));
        }
    }

    /// <summary>The native build when there is a complete one, else the prebuilt libraries.</summary>
    private static string? FindUpwards(string start)
    {
        for (var dir = new DirectoryInfo(start); dir is not null; dir = dir.Parent)
        {
            var native = Path.Combine(dir.FullName, ".peer", "native");
            if (RequiredFiles.All(f => File.Exists(Path.Combine(native, f))))
            {
                return native;
            }

            var prebuilt = Path.Combine(dir.FullName, ".native", "linux-x64");
            if (Directory.Exists(prebuilt))
            {
                return prebuilt;
            }
        }

        return null;
    }

    private static string ImportNameOf(string file) => file switch
    {
        "libggml-base.so" => "ggml-base",
        "libggml.v0.5.0.so" => "ggml",
        _ => "llama",
    };

    private static nint Resolve(string name, Assembly assembly, DllImportSearchPath? path) =>
        Handles.TryGetValue(name, out var handle) ? handle : 0;

    [ThreadStatic]
    private static List<string>? _capturedErrors;

    /// <summary>Runs <paramref name="call"/> and returns it with the errors llama.cpp logged on this thread meanwhile (a parser's message).</summary>
    public static (T Result, string? Errors) CapturingErrors<T>(Func<T> call)
    {
        _capturedErrors = [];
        try
        {
            var result = call();
            return (result, _capturedErrors.Count == 0 ? null : string.Join(" ", _capturedErrors));
        }
        finally
        {
            _capturedErrors = null;
        }
    }

    [UnmanagedCallersOnly]
    private static void OnLog(int level, byte* text, void* userData)
    {
        // ggml levels: 1 debug, 2 info, 3 warn, 4 error, 5 continuation. Only warnings and errors reach the log.
        if (level is 3 or 4 && text is not null)
        {
            var line = Encoding.UTF8.GetString(MemoryMarshal.CreateReadOnlySpanFromNullTerminated(text)).TrimEnd();
            if (line.Length > 0 && _capturedErrors is { } captured)
            {
                captured.Add(line);
            }
            else if (line.Length > 0)
            {
                LogSink($"llama.cpp: {line}");
            }
        }
    }
}
