using Serving.Gateway.Configuration;
using Serving.Scheduler.Contracts;

namespace Serving.Gateway.Tenancy;

/// <summary>
/// The accepted API keys, held only as SHA-256 digests (<see cref="SecretDigest"/>): <c>Gateway:ApiKeys</c> plus, when
/// set, the keys in <c>Gateway:ApiKeysFile</c> (one per line; blank lines and <c>#</c> comments ignored), read again
/// whenever the file changes, so keys can be added and revoked without a restart. A file that cannot be read or
/// holds no key leaves the previous keys in force and is logged: the server never falls open by accident. Write the
/// file atomically (write a temporary file, then rename it over the old one) so a half-written key is never read.
/// </summary>
public sealed class ApiKeyStore : IDisposable
{
    private readonly byte[][] _configured;
    private readonly string? _file;
    private readonly ILogger<ApiKeyStore> _log;
    private readonly FileSystemWatcher? _watcher;
    private readonly Lock _reloading = new();
    private volatile byte[][] _digests;

    public ApiKeyStore(GatewayOptions options, ILogger<ApiKeyStore> log)
    {
        _log = log;
        _configured = options.ApiKeys.Select(SecretDigest.Of).ToArray();
        _digests = _configured;
        if (options.ApiKeysFile is not { Length: > 0 } file)
        {
            return;
        }

        _file = Path.GetFullPath(file);
        Reload();
        _watcher = new FileSystemWatcher(Path.GetDirectoryName(_file)!, Path.GetFileName(_file))
        {
            NotifyFilter = NotifyFilters.LastWrite | NotifyFilters.FileName | NotifyFilters.Size | NotifyFilters.CreationTime,
        };
        _watcher.Changed += (_, _) => Reload();
        _watcher.Created += (_, _) => Reload();
        _watcher.Renamed += (_, _) => Reload();
        _watcher.EnableRaisingEvents = true;
    }

    /// <summary>Raised after every reading of the keys file: how many keys it held, or why it was not taken.</summary>
    public event Action<ApiKeyReload>? Reloaded;

    /// <summary>Digests of every accepted key; empty only when no key is configured at all (an open, local server).</summary>
    public byte[][] Digests => _digests;

    /// <summary>Reads the keys file now (the watcher calls this on every change).</summary>
    public ApiKeyReload Reload()
    {
        lock (_reloading)
        {
            var (keys, error) = ReadKeysFile(_file!);
            if (error is null && keys!.Count == 0)
            {
                error = "it holds no key";
            }

            if (error is not null)
            {
                _log.LogError("API keys file {File} not taken ({Error}); the previous {Count} keys stay in force", _file, error, _digests.Length);
            }
            else
            {
                _digests = [.. _configured, .. keys!.Select(SecretDigest.Of)];
                _log.LogInformation("API keys file {File} read: {Count} keys", _file, keys!.Count);
            }

            var result = new ApiKeyReload(error is null ? keys!.Count : 0, error);
            Reloaded?.Invoke(result);
            return result;
        }
    }

    /// <summary>The keys in a keys file, or why it cannot be read (configuration checks it at start, too).</summary>
    public static (List<string>? Keys, string? Error) ReadKeysFile(string path)
    {
        try
        {
            var keys = File.ReadAllLines(path).Select(l => l.Trim()).Where(l => l.Length > 0 && !l.StartsWith('#')).ToList();
            return (keys, null);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            return (null, e.Message);
        }
    }

    public void Dispose() => _watcher?.Dispose();
}

/// <param name="Keys">Keys read from the file (0 when it was not taken).</param>
/// <param name="Error">Why the file was not taken; null when its keys are now in force.</param>
public sealed record ApiKeyReload(int Keys, string? Error);
