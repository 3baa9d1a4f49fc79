using System.Text.Json;
using Serving.Scheduler.Contracts;

namespace Serving.Workers.Api;

/// <summary>The shared OpenAI error envelope as an HTTP result, or as an SSE event once a stream has begun.</summary>
internal static class OpenAiErrors
{
    public static IResult Result(int status, string code, string message, string? param = null) =>
        Results.Json(new OpenAiError(status, code, message, param).Body, statusCode: status);

    public static string SseEvent(int status, string code, string message) =>
        "data: " + JsonSerializer.Serialize(new OpenAiError(status, code, message).Body) + "\n\n";
}
