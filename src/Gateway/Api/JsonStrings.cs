using System.Text.Json;

namespace Serving.Gateway.Api;

/// <summary>
/// JSON accepts escapes such as <c>"\ud800"</c> that decode to an unpaired UTF-16 surrogate, which no .NET string
/// reader will return (it throws). Found by fuzzing: such a string deep in a message was a 500 with an empty body.
/// Every string and property name is decoded once here, so bad text is a 400 before anything reads it.
/// </summary>
public static class JsonStrings
{
    /// <summary>Null when every string decodes; otherwise the error for the first that does not.</summary>
    public static ApiError? FindUndecodable(ReadOnlySpan<byte> json)
    {
        var reader = new Utf8JsonReader(json, new JsonReaderOptions { MaxDepth = 64 });
        try
        {
            while (reader.Read())
            {
                if (reader.TokenType is JsonTokenType.String or JsonTokenType.PropertyName)
                {
                    _ = reader.GetString();
                }
            }
        }
        catch (InvalidOperationException)
        {
            return new ApiError(400, "invalid_value",
                "The request body contains a string that is not valid Unicode (an unpaired UTF-16 surrogate escape such as \"\\ud800\").");
        }

        return null;
    }
}
