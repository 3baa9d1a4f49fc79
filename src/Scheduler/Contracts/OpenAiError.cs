namespace Serving.Scheduler.Contracts;

/// <summary>
/// An error answer in OpenAI's envelope <c>{"error":{"message","type","param","code"}}</c>, shared by the gateway
/// and the workers (whose errors the gateway passes through), so both speak one vocabulary. The code is a string,
/// as OpenAI's is: the official SDKs print it in their exception text (an integer code renders empty).
/// </summary>
public sealed record OpenAiError(int Status, string Code, string Message, string? Param = null)
{
    public string Type => Status switch
    {
        400 or 413 => "invalid_request_error",
        401 => "authentication_error",
        404 => "not_found_error",
        409 => "conflict_error",
        429 => "requests", // OpenAI's type for request-rate limits (code rate_limit_exceeded)
        503 => "server_busy",
        _ => "server_error",
    };

    public object Body => new { error = new { message = Message, type = Type, param = Param, code = Code } };

    public static OpenAiError Invalid(string message, string? param, string code = "invalid_value") => new(400, code, message, param);
}
