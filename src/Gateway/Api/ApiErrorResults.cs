namespace Serving.Gateway.Api;

/// <summary>Writes the shared OpenAI error envelope (<c>ApiError</c> is the gateway's alias of <see cref="Serving.Scheduler.Contracts.OpenAiError"/>).</summary>
public static class ApiErrorResults
{
    public static Task WriteAsync(this ApiError error, HttpContext http, int? retryAfterSeconds = null)
    {
        if (retryAfterSeconds is { } seconds)
        {
            http.Response.Headers.RetryAfter = seconds.ToString(System.Globalization.CultureInfo.InvariantCulture);
        }

        return Results.Json(error.Body, statusCode: error.Status).ExecuteAsync(http);
    }
}
