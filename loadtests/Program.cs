using System.CommandLine;
using Serving.LoadTests;

// Load tests for agent workloads: generate a workload, replay it against a running server, compare configurations
// end to end (each started fresh), or simulate many workers on the scheduler alone.
var root = new RootCommand("Serving load tests: agent workload generator, replay harness, comparisons and simulation");
root.Subcommands.Add(Commands.Generate());
root.Subcommands.Add(Commands.Replay());
root.Subcommands.Add(Serving.LoadTests.Compare.CompareCommand.Create());
root.Subcommands.Add(Commands.Soak());
root.Subcommands.Add(Commands.Probe());
root.Subcommands.Add(Commands.PromptTokens());
root.Subcommands.Add(Commands.Simulate());
root.Subcommands.Add(Commands.BenchScheduler());
return await root.Parse(args).InvokeAsync();
