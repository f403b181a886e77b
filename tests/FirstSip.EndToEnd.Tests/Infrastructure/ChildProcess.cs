using System.Diagnostics;
using System.Text;

namespace FirstSip.EndToEnd.Tests.Infrastructure;

/// <summary>
/// A process the tests start (a sidecar, a host), with its output kept for failure messages and a log file.
/// Disposing stops it: SIGTERM first, then a kill of the whole tree.
/// </summary>
internal sealed class ChildProcess : IAsyncDisposable
{
    private readonly Process _process;
    private readonly StringBuilder _output = new();
    private readonly StreamWriter _log;
    private readonly TaskCompletionSource _exited = new(TaskCreationOptions.RunContinuationsAsynchronously);

    private ChildProcess(string name, Process process, string logPath)
    {
        Name = name;
        _process = process;
        _log = new StreamWriter(logPath, append: false) { AutoFlush = true };
        LogPath = logPath;
    }

    public string Name { get; }

    public string LogPath { get; }

    public int Id => _process.Id;

    public bool HasExited => _process.HasExited;

    /// <summary>Gets the exit code, once <see cref="Exited"/> has completed.</summary>
    public int ExitCode => _process.ExitCode;

    public Task Exited => _exited.Task;

    public string Output
    {
        get
        {
            lock (_output)
            {
                return _output.ToString();
            }
        }
    }

    /// <summary>
    /// Restores the default handling of SIGINT and SIGQUIT, then executes the program in the same process (same pid).
    /// A test run started as a background job (`./run test &amp;`, some CI runners) inherits those signals ignored, and a
    /// program that finds SIGINT ignored at start keeps ignoring it, as it should; a person's terminal never does that.
    /// </summary>
    private const string DefaultSignals =
        "import os, signal, sys; signal.signal(signal.SIGINT, signal.SIG_DFL); signal.signal(signal.SIGQUIT, signal.SIG_DFL); os.execvp(sys.argv[1], sys.argv[1:])";

    public static ChildProcess Start(string name, string fileName, IEnumerable<string> arguments, IReadOnlyDictionary<string, string?> environment, string? workingDirectory = null)
    {
        var info = new ProcessStartInfo("/usr/bin/python3")
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            RedirectStandardInput = true,
            UseShellExecute = false,
            WorkingDirectory = workingDirectory ?? Repository.Root,
        };
        info.ArgumentList.Add("-c");
        info.ArgumentList.Add(DefaultSignals);
        info.ArgumentList.Add(fileName);
        foreach (var argument in arguments)
        {
            info.ArgumentList.Add(argument);
        }

        foreach (var (key, value) in environment)
        {
            // A null value leaves the variable out (for example a stream name the process should take by default).
            if (value is null)
            {
                info.Environment.Remove(key);
            }
            else
            {
                info.Environment[key] = value;
            }
        }

        var process = new Process { StartInfo = info, EnableRaisingEvents = true };
        var logPath = Path.Combine(Repository.TestOutput, $"{name}-{DateTime.UtcNow:HHmmss.fff}.log");
        var child = new ChildProcess(name, process, logPath);
        process.OutputDataReceived += (_, e) => child.Append(e.Data);
        process.ErrorDataReceived += (_, e) => child.Append(e.Data);
        process.Exited += (_, _) => child._exited.TrySetResult();
        if (!process.Start())
        {
            throw new InvalidOperationException($"could not start {fileName}");
        }

        process.BeginOutputReadLine();
        process.BeginErrorReadLine();
        return child;
    }

    /// <summary>Waits until the process has printed <paramref name="text"/> (or ended, or the time is up).</summary>
    public async Task WaitForOutputAsync(string text, TimeSpan timeout)
    {
        var deadline = DateTime.UtcNow + timeout;
        while (!Output.Contains(text, StringComparison.Ordinal))
        {
            if (_process.HasExited || DateTime.UtcNow > deadline)
            {
                throw new TimeoutException($"{Name} did not print '{text}'{(_process.HasExited ? " before it ended" : $" within {timeout}")}. Its output:\n{Output}");
            }

            await Task.Delay(50);
        }
    }

    /// <summary>Sends a signal to the process (SIGINT = 2, SIGTERM = 15, SIGKILL = 9).</summary>
    public void Signal(int signal)
    {
        if (!_process.HasExited)
        {
            _ = NativeMethods.Kill(_process.Id, signal);
        }
    }

    /// <summary>Kills the process at once, as a crash would.</summary>
    public async Task KillAsync()
    {
        Signal(9);
        await _exited.Task.WaitAsync(TimeSpan.FromSeconds(10));
    }

    public async ValueTask DisposeAsync()
    {
        if (!_process.HasExited)
        {
            Signal(15);
            if (await Task.WhenAny(_exited.Task, Task.Delay(TimeSpan.FromSeconds(10))) != _exited.Task)
            {
                _process.Kill(entireProcessTree: true);
                await _exited.Task.WaitAsync(TimeSpan.FromSeconds(10));
            }
        }

        // Let the output readers drain before the log is closed.
        _process.WaitForExit();
        _process.Dispose();
        await _log.DisposeAsync();
    }

    private void Append(string? line)
    {
        if (line is null)
        {
            return;
        }

        lock (_output)
        {
            _output.AppendLine(line);
            _log.WriteLine(line);
        }
    }

    private static class NativeMethods
    {
        [System.Runtime.InteropServices.DllImport("libc", EntryPoint = "kill", SetLastError = true)]
        public static extern int Kill(int pid, int signal);
    }
}
