using Serving.Workers.Models;

namespace Serving.LoadTests.Tests;

/// <summary>The built gateway and worker, and a temporary folder holding the generated tiny model; removed on dispose.</summary>
internal sealed class TinyModelFolder : IDisposable
{
    public TinyModelFolder(string prefix)
    {
        var paths = RepoPaths.Find();
        Assert.True(paths is not null, "the gateway and worker must be built (./test.sh builds the solution first)");
        Paths = paths!;
        Folder = Directory.CreateTempSubdirectory(prefix).FullName;
        Model = ModelGenerator.Generate(ModelKind.Tiny, System.IO.Path.Combine(Folder, "tiny.gguf")).Path;
    }

    public RepoPaths Paths { get; }

    public string Folder { get; }

    public string Model { get; }

    public void Dispose() => Directory.Delete(Folder, recursive: true);
}
