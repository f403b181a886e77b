using Microsoft.EntityFrameworkCore;
using Microsoft.EntityFrameworkCore.Storage.ValueConversion;

namespace FirstSip.Plugins.Internal.Storage;

/// <summary>How finely the run store's database keeps a run's timestamps.</summary>
internal static class StoredTime
{
    /// <summary>
    /// The resolution in ticks: 0.1 ms on SQLite (timestamps are stored through <see cref="DateTimeOffsetToBinaryConverter"/>),
    /// 1 µs on PostgreSQL (<c>timestamptz</c>), a tick elsewhere.
    /// </summary>
    public static long Resolution(DbContext context)
    {
        var createdAt = context.Model.FindEntityType(typeof(PluginRun))?.FindProperty(nameof(PluginRun.CreatedAt));
        if (createdAt?.GetValueConverter() is DateTimeOffsetToBinaryConverter)
        {
            return BinaryConverterTicks;
        }

        return context.Database.IsNpgsql() ? TimeSpan.TicksPerMicrosecond : 1;
    }

    /// <summary>The converter keeps ticks / 1000 (it packs the offset into the low bits).</summary>
    private const long BinaryConverterTicks = 1000;
}
