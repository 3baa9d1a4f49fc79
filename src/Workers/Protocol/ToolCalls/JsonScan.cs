namespace Serving.Workers.Protocol.ToolCalls;

/// <summary>JSON in generated text: where a value ends while the text still grows, and call objects once complete.</summary>
internal static class JsonScan
{
    /// <summary>
    /// The index just past the JSON object or array that starts at <paramref name="start"/>, or -1 when the text ends
    /// before it closes. Strings and escapes are respected; validity is checked later by a real parser.
    /// </summary>
    public static int EndOfContainer(string text, int start)
    {
        var depth = 0;
        var inString = false;
        for (var i = start; i < text.Length; i++)
        {
            var c = text[i];
            if (inString)
            {
                if (c == '\\')
                {
                    i++;
                }
                else if (c == '"')
                {
                    inString = false;
                }

                continue;
            }

            switch (c)
            {
                case '"':
                    inString = true;
                    break;
                case '{' or '[':
                    depth++;
                    break;
                case '}' or ']':
                    if (--depth == 0)
                    {
                        return i + 1;
                    }

                    break;
            }
        }

        return -1;
    }

    /// <summary>A complete call object: a string "name" and an object of arguments (empty when left out).</summary>
    public static PartialToolCall? Call(string json, params string[] argumentKeys)
    {
        try
        {
            using var document = System.Text.Json.JsonDocument.Parse(json);
            var root = document.RootElement;
            if (root.ValueKind != System.Text.Json.JsonValueKind.Object
                || !root.TryGetProperty("name", out var name) || name.ValueKind != System.Text.Json.JsonValueKind.String)
            {
                return null;
            }

            foreach (var key in argumentKeys)
            {
                if (root.TryGetProperty(key, out var arguments))
                {
                    return arguments.ValueKind == System.Text.Json.JsonValueKind.Object
                        ? new PartialToolCall(name.GetString()!, arguments.GetRawText(), true)
                        : null;
                }
            }

            return new PartialToolCall(name.GetString()!, "{}", true);
        }
        catch (System.Text.Json.JsonException)
        {
            return null;
        }
    }

    /// <summary>Whether <paramref name="json"/> is one valid JSON value.</summary>
    public static bool IsValid(string json)
    {
        try
        {
            using var _ = System.Text.Json.JsonDocument.Parse(json);
            return true;
        }
        catch (System.Text.Json.JsonException)
        {
            return false;
        }
    }

    /// <summary>Skips white space from <paramref name="i"/>.</summary>
    public static int SkipSpace(string text, int i)
    {
        while (i < text.Length && char.IsWhiteSpace(text[i]))
        {
            i++;
        }

        return i;
    }

    /// <summary>Whether the text from <paramref name="i"/> may still grow into <paramref name="marker"/> (a proper prefix, or nothing yet).</summary>
    public static bool IsGrowingPrefix(string text, int i, string marker) =>
        i >= text.Length || (text.Length - i < marker.Length && marker.AsSpan().StartsWith(text.AsSpan(i)));
}
