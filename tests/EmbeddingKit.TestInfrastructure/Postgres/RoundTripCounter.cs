using System.Buffers.Binary;
using System.Net;
using System.Net.Sockets;
using Npgsql;

namespace EmbeddingKit.TestInfrastructure.Postgres;

/// <summary>
/// A loopback proxy in front of a PostgreSQL server that counts, from the wire, the round trips clients make: a round
/// trip is a client message sent after the client received the server's latest <c>ReadyForQuery</c>, so messages a
/// client pipelines together (BEGIN, settings, queries and COMMIT in one batch) count once. Connection start-ups are
/// counted apart (<see cref="Connections"/>). Only plain (non-TLS) connections are understood; TLS is refused.
/// </summary>
/// <remarks>
/// "Sent after it received" is decided by byte offsets, not by when the proxy happens to read: just before a
/// <c>ReadyForQuery</c> is forwarded, the proxy notes how many bytes the client has sent so far (read, plus waiting in
/// the socket: on loopback a send lands in the receiver's buffer within the call). A message that starts at or past that
/// mark was sent after the client could see the answer. Counting by read order instead miscounted under load: the server
/// could answer a batch's first Sync before the proxy had read the batch's rest, which then counted as a round trip.
/// </remarks>
public sealed class RoundTripCounter : IAsyncDisposable
{
    private const int SslRequest = 80877103;
    private const int GssEncRequest = 80877104;
    private readonly TcpListener _listener;
    private readonly string _host;
    private readonly int _port;
    private readonly CancellationTokenSource _stop = new();
    private readonly Task _accepting;
    private long _roundTrips;
    private long _connections;

    private readonly TimeSpan _clientReadDelay;

    private RoundTripCounter(string connectionString, TimeSpan clientReadDelay)
    {
        _clientReadDelay = clientReadDelay;
        var target = new NpgsqlConnectionStringBuilder(connectionString);
        _host = target.Host ?? "127.0.0.1";
        _port = target.Port;
        _listener = new TcpListener(IPAddress.Loopback, 0);
        _listener.Start();
        target.Host = "127.0.0.1";
        target.Port = ((IPEndPoint)_listener.LocalEndpoint).Port;
        target.SslMode = SslMode.Disable;
        ConnectionString = target.ConnectionString;
        _accepting = Task.Run(AcceptAsync);
    }

    /// <summary>Gets a connection string that reaches the server through the counter.</summary>
    public string ConnectionString { get; }

    /// <summary>Gets the round trips counted so far.</summary>
    public long RoundTrips => Interlocked.Read(ref _roundTrips);

    /// <summary>Gets the connections opened through the counter so far.</summary>
    public long Connections => Interlocked.Read(ref _connections);

    /// <summary>Starts a counter in front of the server a connection string points at (TCP only).</summary>
    /// <param name="connectionString">The server to relay to.</param>
    /// <param name="clientReadDelay">How long the proxy waits, once a client's bytes have arrived, before it takes them: a
    /// proxy starved of CPU, made repeatable (a test of the counter itself); zero by default.</param>
    public static RoundTripCounter Start(string connectionString, TimeSpan clientReadDelay = default) => new(connectionString, clientReadDelay);

    /// <inheritdoc />
    public async ValueTask DisposeAsync()
    {
        await _stop.CancelAsync().ConfigureAwait(false);
        _listener.Stop();
        try
        {
            await _accepting.ConfigureAwait(false);
        }
        catch (Exception e) when (e is OperationCanceledException or SocketException or ObjectDisposedException)
        {
        }

        _stop.Dispose();
    }

    private async Task AcceptAsync()
    {
        while (!_stop.IsCancellationRequested)
        {
            var client = await _listener.AcceptTcpClientAsync(_stop.Token).ConfigureAwait(false);
            _ = Task.Run(() => RelayAsync(client));
        }
    }

    private async Task RelayAsync(TcpClient client)
    {
        using var _ = client;
        using var server = new TcpClient();
        try
        {
            await server.ConnectAsync(_host, _port, _stop.Token).ConfigureAwait(false);
            Interlocked.Increment(ref _connections);
            var state = new ConnectionState();
            await StartUpAsync(client.GetStream(), server.GetStream()).ConfigureAwait(false);
            var up = PumpClientAsync(client.Client, server.GetStream(), state);
            var down = PumpServerAsync(server.GetStream(), client.GetStream(), client.Client, state);
            await Task.WhenAny(up, down).ConfigureAwait(false);
        }
        catch (Exception e) when (e is IOException or SocketException or OperationCanceledException or ObjectDisposedException)
        {
        }
    }

    // Untyped start-up messages: length, then a code; an SSL or GSS encryption request is answered with one byte ('N':
    // not supported, the only answer relayed) and followed by another untyped message, the start-up message last.
    private async Task StartUpAsync(Stream client, Stream server)
    {
        var header = new byte[4];
        while (true)
        {
            await client.ReadExactlyAsync(header, _stop.Token).ConfigureAwait(false);
            var body = new byte[BinaryPrimitives.ReadInt32BigEndian(header) - 4];
            await client.ReadExactlyAsync(body, _stop.Token).ConfigureAwait(false);
            await server.WriteAsync(header, _stop.Token).ConfigureAwait(false);
            await server.WriteAsync(body, _stop.Token).ConfigureAwait(false);
            if (BinaryPrimitives.ReadInt32BigEndian(body) is not (SslRequest or GssEncRequest))
            {
                return;
            }

            await server.ReadExactlyAsync(header.AsMemory(0, 1), _stop.Token).ConfigureAwait(false);
            if (header[0] != (byte)'N')
            {
                throw new IOException("the round-trip counter does not relay TLS or GSS encryption");
            }

            await client.WriteAsync(header.AsMemory(0, 1), _stop.Token).ConfigureAwait(false);
        }
    }

    private async Task PumpClientAsync(Socket from, Stream to, ConnectionState state)
    {
        var buffer = new byte[64 * 1024];
        var messages = new MessageBoundaries();
        while (true)
        {
            // Wait until bytes are there without taking them, then take them under the lock the server pump's marks
            // are taken under: every byte has one offset, counted before or after a mark, never in between.
            await from.ReceiveAsync(Memory<byte>.Empty, SocketFlags.None, _stop.Token).ConfigureAwait(false);
            if (_clientReadDelay > TimeSpan.Zero)
            {
                await Task.Delay(_clientReadDelay, _stop.Token).ConfigureAwait(false);
            }

            int read;
            long offset;
            lock (state)
            {
                var available = from.Available;
                if (available == 0)
                {
                    if (!from.Poll(0, SelectMode.SelectRead))
                    {
                        continue; // woken without data
                    }

                    return; // readable with nothing to read: the client closed
                }

                read = from.Receive(buffer, 0, Math.Min(available, buffer.Length), SocketFlags.None);
                offset = state.ClientBytes;
                state.ClientBytes += read;
            }

            foreach (var (start, type) in messages.Starts(buffer.AsSpan(0, read), offset))
            {
                if (type != (byte)'X' && Interlocked.Read(ref state.ReadyMark) is var mark && mark >= 0 && start >= mark
                    && Interlocked.CompareExchange(ref state.ReadyMark, -1, mark) == mark)
                {
                    Interlocked.Increment(ref _roundTrips);
                }
            }

            await to.WriteAsync(buffer.AsMemory(0, read), _stop.Token).ConfigureAwait(false);
        }
    }

    private async Task PumpServerAsync(Stream from, Stream to, Socket client, ConnectionState state)
    {
        var header = new byte[5];
        while (true)
        {
            await from.ReadExactlyAsync(header, _stop.Token).ConfigureAwait(false);
            var body = new byte[BinaryPrimitives.ReadInt32BigEndian(header.AsSpan(1)) - 4];
            await from.ReadExactlyAsync(body, _stop.Token).ConfigureAwait(false);
            if (header[0] == (byte)'Z')
            {
                // Before the client can see it: what the client sent up to now was sent without waiting for it.
                lock (state)
                {
                    Interlocked.Exchange(ref state.ReadyMark, state.ClientBytes + client.Available);
                }
            }

            await to.WriteAsync(header, _stop.Token).ConfigureAwait(false);
            await to.WriteAsync(body, _stop.Token).ConfigureAwait(false);
        }
    }

    /// <summary>Finds where messages of the client's stream (a type byte, a 4-byte length that counts itself) start, across
    /// reads that cut them anywhere.</summary>
    private sealed class MessageBoundaries
    {
        private readonly byte[] _header = new byte[5];
        private int _headerFilled;
        private long _headerStart;
        private long _bodyLeft;

        public List<(long Start, byte Type)> Starts(ReadOnlySpan<byte> chunk, long offset)
        {
            var starts = new List<(long, byte)>();
            var i = 0;
            while (i < chunk.Length)
            {
                if (_bodyLeft > 0)
                {
                    var skip = (int)Math.Min(_bodyLeft, chunk.Length - i);
                    _bodyLeft -= skip;
                    i += skip;
                    continue;
                }

                if (_headerFilled == 0)
                {
                    _headerStart = offset + i;
                }

                _header[_headerFilled++] = chunk[i++];
                if (_headerFilled == _header.Length)
                {
                    starts.Add((_headerStart, _header[0]));
                    _bodyLeft = BinaryPrimitives.ReadInt32BigEndian(_header.AsSpan(1)) - 4;
                    _headerFilled = 0;
                }
            }

            return starts;
        }
    }

    private sealed class ConnectionState
    {
        /// <summary>Bytes of the client's stream taken from its socket so far (after start-up).</summary>
        public long ClientBytes;

        /// <summary>The client offset noted when the latest ReadyForQuery was forwarded; -1 once a round trip was counted
        /// after it.</summary>
        public long ReadyMark = -1;
    }
}
