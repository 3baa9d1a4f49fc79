namespace Serving.Gateway.Api;

/// <summary>Reads a request body up to a limit: larger bodies get 413 without being read to the end.</summary>
public static class RequestBody
{
    public static async Task<(byte[] Body, ApiError? Error)> ReadAsync(HttpContext http, long limit)
    {
        var tooLarge = new ApiError(413, "request_too_large", $"The request body exceeds the limit of {limit} bytes.");
        if (http.Request.ContentLength > limit)
        {
            return ([], tooLarge);
        }

        using var buffer = new MemoryStream();
        var chunk = new byte[81920];
        int read;
        while ((read = await http.Request.Body.ReadAsync(chunk, http.RequestAborted)) > 0)
        {
            if (buffer.Length + read > limit)
            {
                return ([], tooLarge);
            }

            buffer.Write(chunk, 0, read);
        }

        return (buffer.ToArray(), null);
    }
}
