using System.Diagnostics;
using System.Net.Http.Json;
using System.Text.Json;
using System.Text.Json.Nodes;

using Serving.LoadTests.Replay;

namespace Serving.LoadTests.Compare;

/// <summary>
/// Do we build the same prompt as llama-server for a real model family? For each real tokenizer (llama.cpp's
/// ggml-vocab files) a tiny random-weight model is generated with that tokenizer and its family's chat template; the
/// same tool conversation goes to our service and to llama-server <c>--jinja</c> on the same GGUF, and the prompt
/// token counts they report (<c>usage.prompt_tokens</c>) are compared. llama-server's rendered prompt
/// (<c>/apply-template</c>) is saved next to the report for diffs.
/// </summary>
internal static class PromptTokensCheck
{
    public static readonly string[] DefaultVocabularies = ["qwen2", "llama-bpe", "qwen35", "gemma-4", "deepseek-llm", "phi-3", "gpt-2"];

    /// <summary>
    /// Families whose template knows nothing of tools: we add tool instructions (Hermes style) and keep the calls and
    /// results; llama-server drops them from the prompt. Their tool conversation differs by design.
    /// </summary>
    private static readonly string[] WithoutToolTemplates = ["phi-3", "gpt-2", "llama-spm"];

    /// <summary>Both servers: one slot of 4,096 tokens, two threads (only the prompt is measured).</summary>
    private static readonly ServiceShape Shape = new(Slots: 1, ContextPerSlot: 4096, Threads: 2);

    public static async Task<int> RunAsync(RepoPaths paths, IReadOnlyList<string> vocabularies, string outputDir, CancellationToken ct)
    {
        Directory.CreateDirectory(outputDir);
        Console.WriteLine("| tokenizer | template | conversation | ours | llama-server | equal |");
        Console.WriteLine("|---|---|---|---|---|---|");
        var mismatches = 0;
        foreach (var vocab in vocabularies)
        {
            var model = Path.Combine(paths.Root, ".models", $"tiny-{vocab}.gguf");
            if (!File.Exists(model) && !Generate(paths, vocab, model))
            {
                Console.WriteLine($"| {vocab} | - | - | - | - | model not generated |");
                mismatches++;
                continue;
            }

            int?[] ours, theirs;
            await using (var service = await ServiceProcess.StartAsync(paths.GatewayDll, paths.WorkerDll, model, "mlfq", "adaptive", Shape.GatewayArgs, TimeSpan.FromMinutes(2)))
            {
                using var http = ReplayHarness.CreateClient(service.Url, TimeSpan.FromMinutes(2));
                ours = await CountAllAsync(http, ct);
            }

            await using (var peer = await ServiceProcess.StartPeerAsync(paths.LlamaServer!, model, Shape.Slots, Shape.ContextPerSlot, Shape.Threads, TimeSpan.FromMinutes(2), jinja: true))
            {
                using var http = ReplayHarness.CreateClient(peer.Url, TimeSpan.FromMinutes(2));
                theirs = await CountAllAsync(http, ct);
                for (var i = 0; i < Conversations.Length; i++)
                {
                    using var response = await http.PostAsJsonAsync("/apply-template", Conversations[i].Body, ct);
                    await File.WriteAllTextAsync(Path.Combine(outputDir, $"llama-server-{vocab}-{Conversations[i].Name}.txt"),
                        response.IsSuccessStatusCode ? (await response.Content.ReadFromJsonAsync<JsonElement>(ct)).GetProperty("prompt").GetString() : "", ct);
                }
            }

            var template = TemplateName(model);
            for (var i = 0; i < Conversations.Length; i++)
            {
                var (a, b) = (ours[i], theirs[i]);
                var equal = a is not null && a == b;
                var byDesign = !equal && a > b && Conversations[i].Name == "tools" && WithoutToolTemplates.Contains(vocab);
                mismatches += equal || byDesign ? 0 : 1;
                var verdict = equal ? "yes" : byDesign ? "no: the template has no tool support; we add the tools, llama-server drops them" : "NO";
                Console.WriteLine($"| {vocab} | {template} | {Conversations[i].Name} | {a?.ToString() ?? "error"} | {b?.ToString() ?? "error"} | {verdict} |");
            }
        }

        Console.WriteLine();
        Console.WriteLine(mismatches == 0 ? "every prompt has llama-server's token count (apart from tools on templates without tool support, by design)"
            : $"{mismatches} prompt(s) differ (llama-server's prompts: {outputDir})");
        return mismatches == 0 ? 0 : 1;
    }

    private static bool Generate(RepoPaths paths, string vocab, string model)
    {
        using var process = Process.Start("dotnet", [paths.WorkerDll, "model", "--kind", "tiny", "--vocab", vocab, "--out", model])!;
        process.WaitForExit();
        return process.ExitCode == 0;
    }

    private static string TemplateName(string model) => Path.GetFileNameWithoutExtension(model).Replace("tiny-", "") switch
    {
        "qwen2" => "Qwen2.5", "llama-bpe" => "Llama 3.1", "phi-3" => "Phi-3.5", "deepseek-llm" => "DeepSeek V3.1", "qwen35" => "Qwen3.5",
        "gemma-4" => "Gemma 4", "command-r" => "Command R7B", _ => "ChatML (ours)",
    };

    private static async Task<int?[]> CountAllAsync(HttpClient http, CancellationToken ct)
    {
        var counts = new int?[Conversations.Length];
        for (var i = 0; i < Conversations.Length; i++)
        {
            var body = Conversations[i].Body.DeepClone().AsObject();
            body["model"] = "m";
            body["max_tokens"] = 1;
            body["temperature"] = 0;
            using var response = await http.PostAsJsonAsync("/v1/chat/completions", body, ct);
            var json = await response.Content.ReadFromJsonAsync<JsonElement>(ct);
            counts[i] = response.IsSuccessStatusCode ? json.GetProperty("usage").GetProperty("prompt_tokens").GetInt32() : null;
            if (!response.IsSuccessStatusCode)
            {
                Console.Error.WriteLine($"  {Conversations[i].Name}: {(int)response.StatusCode} {json}");
            }
        }

        return counts;
    }

    private static readonly JsonNode Tools = JsonNode.Parse("""
        [{"type": "function", "function": {"name": "get_weather", "description": "Current weather for a city",
           "parameters": {"type": "object", "properties": {"city": {"type": "string", "description": "City name"}}, "required": ["city"]}}},
         {"type": "function", "function": {"name": "read_file", "description": "Read a file",
           "parameters": {"type": "object", "properties": {"path": {"type": "string"}}, "required": ["path"]}}}]
        """)!;

    private static readonly (string Name, JsonObject Body)[] Conversations =
    [
        ("chat", new JsonObject
        {
            ["messages"] = JsonNode.Parse("""
                [{"role": "system", "content": "You are a helpful assistant."},
                 {"role": "user", "content": "Hello! Can you explain what a KV cache is, in two sentences?"}]
                """),
        }),
        ("tools", new JsonObject
        {
            ["tools"] = Tools.DeepClone(),
            ["messages"] = JsonNode.Parse("""
                [{"role": "system", "content": "You are a coding agent."},
                 {"role": "user", "content": "What is the weather in Paris, and what does README.md say?"},
                 {"role": "assistant", "content": null, "tool_calls": [
                   {"id": "call0abcd", "type": "function", "function": {"name": "get_weather", "arguments": "{\"city\": \"Paris\"}"}}]},
                 {"role": "tool", "tool_call_id": "call0abcd", "content": "{\"temperature\": 18, \"sky\": \"cloudy\"}"},
                 {"role": "user", "content": "Thanks. Now read the file."}]
                """),
        }),
    ];
}
