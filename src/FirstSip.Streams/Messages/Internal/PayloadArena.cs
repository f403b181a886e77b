using System.Buffers;
using StackExchange.Redis;

namespace FirstSip.Streams.Internal;

/// <summary>
/// Pooled memory for the payloads of one chunk of a bulk publish: payloads are copied into shared segments rented
/// from <see cref="ArrayPool{T}.Shared"/> instead of an array each, and the segments go back to the pool once every
/// command of the chunk has completed (so StackExchange.Redis has written them). A chunk whose commands failed
/// never returns its segments; the garbage collector takes them.
/// </summary>
internal sealed class PayloadArena
{
    private const int SegmentSize = 16 * 1024;

    private readonly List<byte[]> _segments = [];
    private byte[]? _current;
    private int _used;

    /// <summary>Copies a payload into the arena; a payload of more than a quarter segment gets an array of its own.</summary>
    public RedisValue Store(ReadOnlySpan<byte> payload)
    {
        if (payload.Length > SegmentSize / 4)
        {
            return payload.ToArray();
        }

        if (_current is null || _current.Length - _used < payload.Length)
        {
            _current = ArrayPool<byte>.Shared.Rent(SegmentSize);
            _segments.Add(_current);
            _used = 0;
        }

        var memory = new Memory<byte>(_current, _used, payload.Length);
        payload.CopyTo(memory.Span);
        _used += payload.Length;
        return (ReadOnlyMemory<byte>)memory;
    }

    /// <summary>Returns every segment to the pool; nothing stored in the arena may be read afterwards.</summary>
    public void Release()
    {
        foreach (var segment in _segments)
        {
            ArrayPool<byte>.Shared.Return(segment);
        }

        _segments.Clear();
        _current = null;
    }
}

/// <summary>
/// A codec that encodes straight into the array the publisher sends, leaving room for the fields the publisher adds,
/// and can keep the payload in a <see cref="PayloadArena"/>.
/// </summary>
internal interface IEnvelopeEncoder<in T>
{
    /// <summary>Encodes the message's own fields, followed by <paramref name="reserve"/> empty slots.</summary>
    NameValueEntry[] Encode(T message, int reserve, PayloadArena? arena);
}
