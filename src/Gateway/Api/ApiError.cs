namespace Serving.Gateway.Api;

/// <summary>
/// An error answer in OpenAI's envelope <c>{"error":{"message","type","param","code"}}</c>. The code is a string,
/// as OpenAI's is: the official SDKs print it in their exception text (an integer code renders empty).
/// </summary>
public sealed record ApiError(int Status, string Code, string Message, string? Param = null)
{
    public string Type => Status switch
    {
        400 or 413 => "invalid_request_error",
        401 => "authentication_error",
        404 => "not_found_error",
        409 => "conflict_error",
        503 => "server_busy",
        _ => "server_error",
    };

    public object Body => new { error = new { message = Message, type = Type, param = Param, code = Code } };

    public Task WriteAsync(HttpContext http, int? retryAfterSeconds = null)
    {
        if (retryAfterSeconds is { } seconds)
        {
            http.Response.Headers.RetryAfter = seconds.ToString(System.Globalization.CultureInfo.InvariantCulture);
        }

        return Results.Json(Body, statusCode: Status).ExecuteAsync(http);
    }

    public static ApiError Invalid(string message, string? param, string code = "invalid_value") => new(400, code, message, param);
}
