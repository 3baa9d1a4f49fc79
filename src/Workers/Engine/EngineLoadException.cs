namespace Serving.Workers.Engine;

/// <summary>The engine could not start: a missing or mismatched native library, a missing or corrupt model file.</summary>
public sealed class EngineLoadException(string message, Exception? inner = null) : Exception(message, inner);
