using Serving.Workers.Engine;
using Serving.Workers.Native;

namespace Serving.Workers.Tests.Engine;

public sealed class NativeLibraryTests
{
    [Fact]
    public void Probe_FolderWithoutLibraries_ThrowsNamingTheMissingFileAndTheFix()
    {
        var empty = Directory.CreateTempSubdirectory("no-native-").FullName;
        try
        {
            var e = Assert.Throws<EngineLoadException>(() => LlamaNative.Probe(empty));
            Assert.Contains(Path.Combine(empty, "libggml-base.so"), e.Message);
            Assert.Contains("scripts/setup.sh", e.Message);
        }
        finally
        {
            Directory.Delete(empty);
        }
    }

    [Fact]
    public void Initialize_ShippedLibraries_PassesTheStructLayoutSelfCheck()
    {
        LlamaNative.Initialize();
        LlamaNative.VerifyLayouts();
        Assert.NotNull(LlamaNative.LoadedFrom);
    }

    [Fact]
    public void NativeBuffer_Grow_KeepsCapacityAndSpanBounds()
    {
        using var buffer = new NativeBuffer(1024);
        buffer.Span(1024).Fill(7);
        buffer.EnsureCapacity(4096);
        Assert.Equal(4096, buffer.Capacity);
        Assert.Throws<ArgumentOutOfRangeException>(() => buffer.Span(4097));
    }
}
