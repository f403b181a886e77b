// <snippet:minimal-app>
using FirstSip.Plugins;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;

var builder = Host.CreateApplicationBuilder(args);
builder.Services.AddPluginStreams(o => o.ConnectionString = builder.Configuration["FIRSTSIP_REDIS"] ?? "redis://localhost:6379");
builder.Services.AddPluginRunStore(o =>
{
    o.UseSqlite("Data Source=runs.db");
    o.PluginDirectory = "plugins"; // the folder of plugin.yaml files the sidecar reads too
});

using var host = builder.Build();
await host.Services.MigratePluginRunStoreAsync();
await host.StartAsync(); // its hosted services publish runs to Redis and apply their results

await using (var scope = host.Services.CreateAsyncScope()) // IPluginRunner is scoped, like a DbContext
{
    var runner = scope.ServiceProvider.GetRequiredService<IPluginRunner>();
    var run = await runner.StartAsync(new() { PluginName = "feed-digest", UserId = "42" });
    var finished = await runner.WaitAsync(run.RunId, TimeSpan.FromMinutes(2));
    Console.WriteLine($"{finished.Status}: {finished.Output}"); // Output is the briefing's JSON
}

await host.StopAsync();
// </snippet:minimal-app>
