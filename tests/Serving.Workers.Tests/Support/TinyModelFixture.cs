using Serving.Workers.Engine;
using Serving.Workers.Models;

namespace Serving.Workers.Tests.Support;

/// <summary>Generates the tiny random-weight model once per test class into a temp folder.</summary>
public sealed class TinyModelFixture : IDisposable
{
    private readonly string _folder = Directory.CreateTempSubdirectory("serving-tiny-").FullName;

    public TinyModelFixture()
    {
        ModelPath = ModelGenerator.Generate(ModelKind.Tiny, Path.Combine(_folder, "tiny.gguf")).Path;
    }

    public string ModelPath { get; }

    public LlamaEngine Load(int slots = 8, int contextPerSlot = 512, int threads = 2) =>
        LlamaEngine.Load(new LlamaEngineOptions { ModelPath = ModelPath, SlotCount = slots, ContextPerSlot = contextPerSlot, Threads = threads });

    public void Dispose() => Directory.Delete(_folder, recursive: true);
}
