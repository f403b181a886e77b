using System.Globalization;
using System.Text;
using BenchmarkDotNet.Configs;
using BenchmarkDotNet.Reports;
using BenchmarkDotNet.Running;

// `schedules [total] [due]` measures the plugin scheduler (ScheduleBenchmark.cs). Otherwise: runs the FirstSip.Streams benchmarks (BenchmarkDotNet arguments pass through, e.g. --filter '*Publish*' --job short),
// then, when FIRSTSIP_BASELINE_FILE names the output of benchmarks/baseline.sh from the same run, prints the ratios
// to the redis-benchmark baselines and writes them to BenchmarkDotNet.Artifacts/ratios.md.
if (args is ["schedules", ..])
{
    return await ScheduleBenchmark.RunAsync(args[1..]);
}

var summaries = BenchmarkSwitcher.FromAssembly(typeof(Program).Assembly).Run(args, DefaultConfig.Instance).ToArray();
var baselineFile = Environment.GetEnvironmentVariable("FIRSTSIP_BASELINE_FILE");
if (summaries.Length > 0 && !string.IsNullOrEmpty(baselineFile) && File.Exists(baselineFile))
{
    var report = Ratios.Build(summaries, Ratios.ReadBaseline(baselineFile));
    Console.WriteLine(report);
    var directory = summaries[0].ResultsDirectoryPath;
    File.WriteAllText(Path.Combine(directory, "ratios.md"), report);
}

return 0;

internal static class Ratios
{
    public static Dictionary<string, double> ReadBaseline(string path)
    {
        var values = new Dictionary<string, double>(StringComparer.Ordinal);
        foreach (var line in File.ReadLines(path))
        {
            var parts = line.Split('=', 2);
            if (parts.Length == 2 && double.TryParse(parts[1], NumberStyles.Float, CultureInfo.InvariantCulture, out var value))
            {
                values[parts[0].Trim()] = value;
            }
        }

        return values;
    }

    public static string Build(IEnumerable<Summary> summaries, Dictionary<string, double> baseline)
    {
        var reports = summaries.SelectMany(s => s.Reports).Where(r => r.ResultStatistics is not null).ToArray();
        BenchmarkReport? Find(string method) => reports.FirstOrDefault(r => r.BenchmarkCase.Descriptor.WorkloadMethod.Name == method);
        double? OpsPerSecond(string method) => Find(method) is { } r ? 1e9 / r.ResultStatistics!.Median : null;
        long? BytesPerOp(string method) => Find(method) is { } r ? r.GcStats.GetBytesAllocatedPerOperation(r.BenchmarkCase) : null;

        var text = new StringBuilder();
        text.AppendLine(CultureInfo.InvariantCulture, $"FirstSip.Streams vs redis-benchmark, {DateTime.UtcNow:yyyy-MM-dd HH:mm} UTC, {Environment.MachineName}, {Environment.ProcessorCount} cores");
        text.AppendLine();
        text.AppendLine("| measure | FirstSip.Streams (median) | redis-benchmark baseline | ratio | target | alloc/op |");
        text.AppendLine("| --- | --- | --- | --- | --- | --- |");
        void Row(string name, string method, string baselineKey, double target)
        {
            var ours = OpsPerSecond(method);
            baseline.TryGetValue(baselineKey, out var theirs);
            var ratio = ours is { } o && theirs > 0 ? o / theirs : (double?)null;
            var verdict = ratio is null ? "n/a" : ratio >= target ? "met" : "missed";
            text.AppendLine(CultureInfo.InvariantCulture,
                $"| {name} | {Format(ours)}/s | {Format(theirs)}/s | {(ratio is { } r ? r.ToString("F2", CultureInfo.InvariantCulture) + "x" : "n/a")} | ≥ {target:F1}x ({verdict}) | {BytesPerOp(method)?.ToString(CultureInfo.InvariantCulture) ?? "n/a"} B |");
        }

        Row("sequential publish", "PublishSequential", "xadd_1_client_ops_per_s", 0.9);
        Row("bulk publish", "PublishBulk", "xadd_50_clients_pipeline_16_ops_per_s", 0.8);
        Row("consume + ack, one consumer", "ConsumeAndAck", "xreadgroup_count_500_msgs_per_s", 0.4);
        if (Find("PublishToHandler") is { } latency)
        {
            var stats = latency.ResultStatistics!;
            text.AppendLine(CultureInfo.InvariantCulture,
                $"| publish-to-handler latency, idle stream | p50 {stats.Median / 1e6:F3} ms, p95 {stats.Percentiles.P95 / 1e6:F3} ms | | | p50 < 0.5 ms ({(stats.Median < 500_000 ? "met" : "missed")}) | {latency.GcStats.GetBytesAllocatedPerOperation(latency.BenchmarkCase)} B |");
        }

        return text.ToString();
    }

    private static string Format(double? value) => value is { } v ? v.ToString("N0", CultureInfo.InvariantCulture) : "n/a";
}
