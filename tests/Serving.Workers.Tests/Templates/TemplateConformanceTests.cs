using System.Security.Cryptography;
using System.Text;
using System.Text.Json;
using Microsoft.Extensions.Time.Testing;
using Serving.Workers.Templates;
using Xunit.Abstractions;

namespace Serving.Workers.Tests.Templates;

/// <summary>
/// Every chat template shipped with llama.cpp (models/templates, vendored here), rendered with 12 fixed conversations,
/// compared byte for byte with @huggingface/jinja under node (reference-renders.json; scripts/jinja-reference.sh
/// regenerates it). A render the reference rejects must not crash ours.
/// </summary>
public sealed class TemplateConformanceTests(ITestOutputHelper output)
{
    private static readonly string Folder = Path.Combine(AppContext.BaseDirectory, "Templates");

    [Fact]
    public void EveryTemplateRendersAsTheReferenceDoes()
    {
        using var conversations = JsonDocument.Parse(File.ReadAllText(Path.Combine(Folder, "conversations.json")));
        using var reference = JsonDocument.Parse(File.ReadAllText(Path.Combine(Folder, "reference-renders.json")));
        var clock = new FakeTimeProvider(new DateTimeOffset(2026, 1, 15, 10, 30, 0, TimeSpan.Zero));
        clock.SetLocalTimeZone(TimeZoneInfo.Utc);
        int matched = 0, rejectedByBoth = 0, renderedWhereReferenceRejects = 0;
        var mismatches = new List<string>();
        foreach (var template in reference.RootElement.EnumerateObject())
        {
            var source = File.ReadAllText(Path.Combine(Folder, "llama.cpp", template.Name));
            JinjaTemplate? parsed = null;
            string? parseError = null;
            try
            {
                parsed = JinjaTemplate.Parse(source, clock);
            }
            catch (JinjaException e)
            {
                parseError = e.Message;
            }

            foreach (var expected in template.Value.EnumerateObject())
            {
                string? ours = null, error = parseError;
                if (parsed is not null)
                {
                    try
                    {
                        ours = parsed.Render(Context(conversations.RootElement.GetProperty(expected.Name)));
                    }
                    catch (JinjaException e)
                    {
                        error = e.Message;
                    }
                }

                var label = $"{template.Name} / {expected.Name}";
                if (expected.Value.TryGetProperty("error", out var referenceError))
                {
                    if (ours is null)
                    {
                        rejectedByBoth++;
                    }
                    else
                    {
                        renderedWhereReferenceRejects++;
                        output.WriteLine($"reference rejects, we render: {label} ({referenceError.GetString()})");
                    }
                }
                else if (ours is not null && Sha256(ours) == expected.Value.GetProperty("sha256").GetString())
                {
                    matched++;
                }
                else
                {
                    mismatches.Add(ours is null ? $"{label}: we fail: {error}" : $"{label}: differs (ours {ours.Length} chars, reference {expected.Value.GetProperty("length").GetInt32()})");
                }
            }
        }

        output.WriteLine($"{matched} renders identical to the reference, {rejectedByBoth} rejected by both, " +
                         $"{renderedWhereReferenceRejects} rendered where the reference rejects, {mismatches.Count} mismatches");
        Assert.True(mismatches.Count == 0, string.Join("\n", mismatches));
        Assert.True(matched >= 600, $"only {matched} renders compared");
    }

    private static Dictionary<string, JinjaValue> Context(JsonElement conversation)
    {
        var variables = conversation.EnumerateObject().ToDictionary(p => p.Name, p => JinjaValue.FromJson(p.Value));
        variables["bos_token"] = JinjaValue.From("<s>");
        variables["eos_token"] = JinjaValue.From("</s>");
        return variables;
    }

    private static string Sha256(string text) => Convert.ToHexStringLower(SHA256.HashData(Encoding.UTF8.GetBytes(text)));
}
