using System.Diagnostics;
using System.Text.Json;
using System.Text.Json.Nodes;

namespace FirstSip.EndToEnd.Tests.Infrastructure;

/// <summary>Runs the console host (<c>dotnet FirstSip.Samples.Console.dll …</c>) as a user does.</summary>
internal sealed class ConsoleHost(Lane lane, string database)
{
    public static string Assembly => Path.Combine(AppContext.BaseDirectory, "FirstSip.Samples.Console.dll");

    public string Database => database;

    public async Task<ConsoleResult> RunAsync(params string[] arguments) => await RunAsync(TimeSpan.FromSeconds(90), arguments);

    /// <summary>Runs a command with some variables of its own (a null value leaves the variable out).</summary>
    public Task<ConsoleResult> RunWithAsync(IReadOnlyDictionary<string, string?> variables, params string[] arguments) =>
        RunAsync(TimeSpan.FromSeconds(90), arguments, variables);

    public Task<ConsoleResult> RunAsync(TimeSpan timeout, params string[] arguments) => RunAsync(timeout, arguments, null);

    private async Task<ConsoleResult> RunAsync(TimeSpan timeout, string[] arguments, IReadOnlyDictionary<string, string?>? variables)
    {
        var info = new ProcessStartInfo("dotnet")
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
            WorkingDirectory = Repository.Root,
        };
        info.ArgumentList.Add(Assembly);
        foreach (var argument in arguments)
        {
            info.ArgumentList.Add(argument);
        }

        foreach (var (key, value) in lane.HostVariables(database))
        {
            info.Environment[key] = value;
        }

        info.Environment["COLUMNS"] = "160";
        foreach (var (key, value) in variables ?? new Dictionary<string, string?>())
        {
            info.Environment[key] = value;
        }

        using var process = Process.Start(info)!;
        var output = process.StandardOutput.ReadToEndAsync();
        var error = process.StandardError.ReadToEndAsync();
        using var cancel = new CancellationTokenSource(timeout);
        try
        {
            await process.WaitForExitAsync(cancel.Token);
        }
        catch (OperationCanceledException)
        {
            process.Kill(entireProcessTree: true);
            throw new TimeoutException($"console {string.Join(' ', arguments)} did not end within {timeout}: {await output}\n{await error}");
        }

        return new ConsoleResult(process.ExitCode, await output, await error);
    }

    /// <summary>Starts the console host as a long-running process (for example <c>run … --wait</c> that is cancelled).</summary>
    public ChildProcess Start(string name, params string[] arguments) =>
        ChildProcess.Start(name, "dotnet", [Assembly, .. arguments], lane.HostVariables(database));
}

/// <summary>What a console command printed and its exit code.</summary>
internal sealed record ConsoleResult(int ExitCode, string Output, string Error)
{
    public JsonNode Json() =>
        JsonNode.Parse(Output) ?? throw new JsonException($"no JSON in the output: {this}");

    public override string ToString() => $"exit code {ExitCode}\nstdout:\n{Output}\nstderr:\n{Error}";
}
