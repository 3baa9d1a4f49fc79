using System.Text.Json;

namespace Serving.LoadTests.Workload;

/// <summary>A replayable agent workload: sessions arriving over time, each a closed loop of turns and tool pauses.</summary>
public sealed record AgentWorkload(int Seed, string SystemPrompt, IReadOnlyList<AgentSession> Sessions)
{
    private static readonly JsonSerializerOptions Json = new(JsonSerializerDefaults.Web) { WriteIndented = true };

    public void Save(string path) => File.WriteAllText(path, JsonSerializer.Serialize(this, Json));

    /// <exception cref="WorkloadFileException">The file is missing, unreadable or not a workload.</exception>
    public static AgentWorkload Load(string path)
    {
        try
        {
            var workload = JsonSerializer.Deserialize<AgentWorkload>(File.ReadAllText(path), Json);
            if (workload?.Sessions is null || workload.Sessions.Count == 0 || workload.Sessions.Any(s => s.Turns is not { Count: > 0 }))
            {
                throw new WorkloadFileException($"{path} is not a workload: it needs at least one session with at least one turn");
            }

            return workload;
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException or JsonException)
        {
            throw new WorkloadFileException($"cannot read workload file {path}: {e.Message}");
        }
    }

    public int TotalTurns => Sessions.Sum(s => s.Turns.Count);
}

/// <param name="ArrivalSeconds">When the session starts, relative to the start of the run.</param>
public sealed record AgentSession(string Id, double ArrivalSeconds, string Task, IReadOnlyList<AgentTurn> Turns);

/// <param name="ToolResult">The tool output appended before this turn (empty for the first turn).</param>
/// <param name="PauseBeforeSeconds">The tool pause between the previous answer and this turn.</param>
public sealed record AgentTurn(string ToolName, string ToolResult, double PauseBeforeSeconds, int MaxTokens);

public sealed class WorkloadFileException(string message) : Exception(message);
