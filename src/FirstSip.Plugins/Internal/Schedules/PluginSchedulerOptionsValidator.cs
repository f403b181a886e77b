using Microsoft.Extensions.Options;

namespace FirstSip.Plugins.Internal.Schedules;

/// <summary>Checks the data annotations of <see cref="PluginSchedulerOptions"/> (source-generated).</summary>
[OptionsValidator]
internal sealed partial class PluginSchedulerOptionsValidator : IValidateOptions<PluginSchedulerOptions>
{
}
