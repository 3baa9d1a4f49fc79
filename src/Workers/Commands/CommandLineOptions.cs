namespace Serving.Workers.Commands;

/// <summary>
/// Minimal <c>--name value</c> / <c>--name=value</c> parsing for the worker's subcommands. Unknown names and
/// missing values are collected, not thrown, so a command can report every mistake at once.
/// </summary>
internal sealed record CommandLineOptions(Dictionary<string, string> Values, List<string> Errors)
{
    public static CommandLineOptions Parse(string[] args, IReadOnlyCollection<string> known)
    {
        var values = new Dictionary<string, string>(StringComparer.Ordinal);
        var errors = new List<string>();
        for (var i = 0; i < args.Length; i++)
        {
            var arg = args[i];
            if (!arg.StartsWith("--", StringComparison.Ordinal))
            {
                errors.Add($"unexpected argument '{arg}'");
                continue;
            }

            var name = arg[2..];
            string? value = null;
            var eq = name.IndexOf('=');
            if (eq >= 0)
            {
                value = name[(eq + 1)..];
                name = name[..eq];
            }
            else if (i + 1 < args.Length && !args[i + 1].StartsWith("--", StringComparison.Ordinal))
            {
                value = args[++i];
            }

            if (!known.Contains(name))
            {
                errors.Add($"unknown option --{name}");
            }
            else if (value is null)
            {
                errors.Add($"--{name} needs a value");
            }
            else
            {
                values[name] = value;
            }
        }

        return new CommandLineOptions(values, errors);
    }

    public string Get(string name, string fallback) => Values.TryGetValue(name, out var v) ? v : fallback;

    /// <summary>Reads an integer option within bounds, recording an error instead of throwing.</summary>
    public int GetInt(string name, int fallback, int min, int max)
    {
        if (!Values.TryGetValue(name, out var text))
        {
            return fallback;
        }

        if (int.TryParse(text, out var value) && value >= min && value <= max)
        {
            return value;
        }

        Errors.Add($"--{name} must be an integer in {min}..{max} (was '{text}')");
        return fallback;
    }

    /// <summary>Reads an on/off option (also true/false), recording an error instead of throwing.</summary>
    public bool GetSwitch(string name, bool fallback)
    {
        if (!Values.TryGetValue(name, out var text))
        {
            return fallback;
        }

        switch (text)
        {
            case "on" or "true": return true;
            case "off" or "false": return false;
            default:
                Errors.Add($"--{name} must be on or off (was '{text}')");
                return fallback;
        }
    }

    /// <summary>The checkout this program runs from (the folder with Serving.sln), else the current folder.</summary>
    public static string RepoRoot()
    {
        for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir is not null; dir = dir.Parent)
        {
            if (File.Exists(Path.Combine(dir.FullName, "Serving.sln")))
            {
                return dir.FullName;
            }
        }

        return Directory.GetCurrentDirectory();
    }
}
