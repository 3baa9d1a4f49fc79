using System.Text.Json;

namespace Serving.Workers.Api;

/// <summary>OpenAI's error envelope with a string code, which the official SDKs render into their exception text.</summary>
internal static class OpenAiErrors
{
    public static object Body(string message, string type, string? code, string? param = null) =>
        new { error = new { message, type, param, code } };

    public static string TypeFor(int status) => status switch
    {
        400 => "invalid_request_error",
        401 => "authentication_error",
        404 => "not_found_error",
        409 => "conflict_error",
        413 => "invalid_request_error",
        503 => "server_error",
        _ => "server_error",
    };

    public static IResult Result(int status, string code, string message, string? param = null) =>
        Results.Json(Body(message, TypeFor(status), code, param), statusCode: status);

    public static string SseEvent(int status, string code, string message) =>
        "data: " + JsonSerializer.Serialize(Body(message, TypeFor(status), code)) + "\n\n";
}
