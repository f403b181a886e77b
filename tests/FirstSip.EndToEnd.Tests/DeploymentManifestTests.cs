using System.Text.RegularExpressions;
using FirstSip.EndToEnd.Tests.Infrastructure;
using FirstSip.Samples.Briefings;
using FirstSip.Streams;
using Microsoft.Extensions.Configuration;

namespace FirstSip.EndToEnd.Tests;

/// <summary>
/// The deployment files agree with each other and with the code: names, ports, probe paths, stream and
/// group names, secret keys. (The probe paths are also requested from the running hosts in
/// <see cref="WebHostTests"/> and <see cref="SidecarTests"/>.)
/// </summary>
public sealed partial class DeploymentManifestTests
{
    private static readonly string Base = Path.Combine(Repository.Deploy, "k8s", "base");

    public static TheoryData<string> ManifestFiles()
    {
        var data = new TheoryData<string>();
        foreach (var file in Directory.EnumerateFiles(Path.Combine(Repository.Deploy, "k8s"), "*.yaml", SearchOption.AllDirectories).Order())
        {
            data.Add(Path.GetRelativePath(Repository.Deploy, file));
        }

        data.Add("docker-compose.yml");
        return data;
    }

    [Theory]
    [MemberData(nameof(ManifestFiles))]
    public void Manifest_Parses_AndNamesItsKind(string file)
    {
        var documents = Yaml.LoadAll(Path.Combine(Repository.Deploy, file));

        Assert.NotEmpty(documents);
        if (file.StartsWith("k8s", StringComparison.Ordinal) && !file.EndsWith("kustomization.yaml", StringComparison.Ordinal))
        {
            Assert.All(documents, d =>
            {
                Assert.False(string.IsNullOrEmpty(d.Text("kind")), $"{file}: a document without kind");
                Assert.False(string.IsNullOrEmpty(d.Text("metadata.name")), $"{file}: a document without metadata.name");
            });
        }
    }

    [Fact]
    public void Kustomizations_ListFilesThatExist()
    {
        foreach (var kustomization in Directory.EnumerateFiles(Path.Combine(Repository.Deploy, "k8s"), "kustomization.yaml", SearchOption.AllDirectories))
        {
            var folder = Path.GetDirectoryName(kustomization)!;
            foreach (var resource in Yaml.LoadAll(kustomization).Single().At("resources") as List<object> ?? [])
            {
                var path = Path.Combine(folder, resource.ToString()!);
                Assert.True(File.Exists(path) || Directory.Exists(path), $"{kustomization} lists {resource}, which does not exist");
            }
        }
    }

    [Fact]
    public void SidecarDeployment_PortProbesAndServiceAgree()
    {
        var deployment = Find("sidecar.yaml", "Deployment");
        var service = Find("sidecar.yaml", "Service");
        var container = deployment.At("spec.template.spec.containers.0");

        Assert.Equal("8000", Port(container, "http"));
        Assert.Equal("8000", Env(container, "SIDECAR_PORT"));
        Assert.Equal(SidecarDefaultPort(), Env(container, "SIDECAR_PORT"));
        Assert.Equal("/health/live", container.Text("livenessProbe.httpGet.path"));
        Assert.Equal("/health/ready", container.Text("readinessProbe.httpGet.path"));
        Assert.Equal("http", container.Text("livenessProbe.httpGet.port"));
        Assert.Equal("http", service.Text("spec.ports.0.targetPort"));
        Assert.Equal(Label(deployment.At("spec.selector.matchLabels")), Label(service.At("spec.selector")));
        Assert.Equal(Label(deployment.At("spec.selector.matchLabels")), Label(deployment.At("spec.template.metadata.labels")));

        // A pod being scaled in drains its running crews before Kubernetes kills it.
        var grace = int.Parse(deployment.Text("spec.template.spec.terminationGracePeriodSeconds")!);
        var drain = int.Parse(Find("configmap.yaml", "ConfigMap").Text("data.SIDECAR_SHUTDOWN_GRACE_SECONDS")!);
        Assert.True(grace > drain, $"terminationGracePeriodSeconds {grace} must exceed the drain {drain}");
    }

    [Fact]
    public void WebDeployment_PortProbesAndServiceAgree()
    {
        var deployment = Find("web.yaml", "Deployment");
        var service = Find("web.yaml", "Service");
        var container = deployment.At("spec.template.spec.containers.0");

        Assert.Equal(Env(container, "ASPNETCORE_HTTP_PORTS"), Port(container, "http"));
        Assert.Equal("/health/live", container.Text("livenessProbe.httpGet.path"));
        Assert.Equal("/health/ready", container.Text("readinessProbe.httpGet.path"));
        Assert.Equal("http", service.Text("spec.ports.0.targetPort"));
        Assert.Equal(Label(deployment.At("spec.selector.matchLabels")), Label(service.At("spec.selector")));
    }

    [Fact]
    public void Autoscalers_TargetTheSidecar_OnItsStreamAndGroup()
    {
        var defaults = new PluginStreamsOptions();
        var sidecar = Find("sidecar.yaml", "Deployment").Text("metadata.name");
        var keda = Yaml.LoadAll(Path.Combine(Repository.Deploy, "k8s", "autoscaling-keda", "scaledobject.yaml"));
        var scaledObject = keda.Single(d => d.Text("kind") == "ScaledObject");
        var authentication = keda.Single(d => d.Text("kind") == "TriggerAuthentication");
        var hpa = Yaml.LoadAll(Path.Combine(Repository.Deploy, "k8s", "autoscaling-cpu", "hpa.yaml")).Single();

        Assert.Equal(sidecar, scaledObject.Text("spec.scaleTargetRef.name"));
        Assert.Equal(defaults.RequestsStream, scaledObject.Text("spec.triggers.0.metadata.stream"));
        Assert.Equal(defaults.WorkerGroup, scaledObject.Text("spec.triggers.0.metadata.consumerGroup"));
        Assert.NotNull(scaledObject.Text("spec.triggers.0.metadata.lagCount"));
        Assert.Equal(authentication.Text("metadata.name"), scaledObject.Text("spec.triggers.0.authenticationRef.name"));
        Assert.Equal(sidecar, hpa.Text("spec.scaleTargetRef.name"));
        Assert.Equal("Deployment", hpa.Text("spec.scaleTargetRef.kind"));
    }

    [Fact]
    public void SecretReferences_UseTheDocumentedSecretAndKeys()
    {
        var documented = DocumentedSecretKeys().Matches(File.ReadAllText(Path.Combine(Repository.Root, "docs", "deploy.md")))
            .Select(m => m.Groups[1].Value).ToHashSet();
        Assert.NotEmpty(documented);

        var references = Directory.EnumerateFiles(Path.Combine(Repository.Deploy, "k8s"), "*.yaml", SearchOption.AllDirectories)
            .SelectMany(Yaml.LoadAll)
            .SelectMany(SecretReferences)
            .ToList();

        Assert.NotEmpty(references);
        Assert.All(references, r =>
        {
            Assert.Equal("firstsip-secrets", r.Name);
            Assert.Contains(r.Key, documented);
        });
    }

    [Fact]
    public void Compose_ConfiguresTheHostsWithTheSettingsTheyRead()
    {
        var compose = Yaml.LoadAll(Path.Combine(Repository.Deploy, "docker-compose.yml")).Single();
        var webEnvironment = (Dictionary<object, object>)compose.At("services.web.environment")!;
        var configuration = new ConfigurationBuilder()
            .AddInMemoryCollection(webEnvironment.ToDictionary(e => e.Key.ToString()!, e => e.Value?.ToString()))
            .Build();

        var settings = SampleSettings.From(configuration);

        Assert.Equal("redis:6379", settings.Redis);
        Assert.True(settings.UsesPostgres);
        Assert.Equal("/app/plugins", settings.Plugins);
        Assert.False(string.IsNullOrEmpty(settings.SealKey));
        Assert.Contains($"{webEnvironment["ASPNETCORE_HTTP_PORTS"]}:", compose.Text("services.web.ports.0"));
        Assert.Contains($":{compose.Text("services.sidecar.environment.SIDECAR_PORT")}/health/ready", string.Join(' ', (List<object>)compose.At("services.sidecar.healthcheck.test")!));
        Assert.Equal("redis://redis:6379", compose.Text("services.sidecar.environment.REDIS_URL"));
    }

    private static Dictionary<object, object> Find(string file, string kind) =>
        Yaml.LoadAll(Path.Combine(Base, file)).Single(d => d.Text("kind") == kind);

    private static string? Port(object? container, string name) =>
        container.Items("ports").SingleOrDefault(p => p.Text("name") == name).Text("containerPort");

    private static string? Env(object? container, string name) =>
        container.Items("env").SingleOrDefault(e => e.Text("name") == name).Text("value");

    private static string Label(object? labels) =>
        labels is Dictionary<object, object> map && map.TryGetValue("app.kubernetes.io/name", out var value) ? value.ToString()! : "";

    private static IEnumerable<(string Name, string Key)> SecretReferences(object? node)
    {
        switch (node)
        {
            case Dictionary<object, object> map:
                if (map.TryGetValue("secretKeyRef", out var reference))
                {
                    yield return (reference.Text("name")!, reference.Text("key")!);
                }

                if (map.TryGetValue("secretTargetRef", out var targets) && targets is List<object> list)
                {
                    foreach (var target in list)
                    {
                        yield return (target.Text("name")!, target.Text("key")!);
                    }
                }

                foreach (var child in map.Values.SelectMany(SecretReferences))
                {
                    yield return child;
                }

                break;
            case List<object> items:
                foreach (var child in items.SelectMany(SecretReferences))
                {
                    yield return child;
                }

                break;
        }
    }

    private static string SidecarDefaultPort() => Sidecar.DefaultSetting("port");

    [GeneratedRegex(@"--from-literal=([a-z0-9-]+)=")]
    private static partial Regex DocumentedSecretKeys();
}
