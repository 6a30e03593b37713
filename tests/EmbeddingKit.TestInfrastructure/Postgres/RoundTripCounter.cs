using System.Buffers.Binary;
using System.Net;
using System.Net.Sockets;
using Npgsql;

namespace EmbeddingKit.TestInfrastructure.Postgres;

/// <summary>
/// A loopback proxy in front of a PostgreSQL server that counts, from the wire, the round trips clients make: a round
/// trip is a client transmission that starts after the server said it was ready (<c>ReadyForQuery</c>), so messages a
/// client pipelines together (BEGIN, settings, queries and COMMIT in one batch) count once. Connection start-ups are
/// counted apart (<see cref="Connections"/>). Only plain (non-TLS) connections are understood; TLS is refused.
/// </summary>
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

    private RoundTripCounter(string connectionString)
    {
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
    public static RoundTripCounter Start(string connectionString) => new(connectionString);

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
            var up = PumpClientAsync(client.GetStream(), server.GetStream(), state);
            var down = PumpServerAsync(server.GetStream(), client.GetStream(), state);
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

    private async Task PumpClientAsync(Stream from, Stream to, ConnectionState state)
    {
        var header = new byte[5];
        while (true)
        {
            await from.ReadExactlyAsync(header, _stop.Token).ConfigureAwait(false);
            var body = new byte[BinaryPrimitives.ReadInt32BigEndian(header.AsSpan(1)) - 4];
            await from.ReadExactlyAsync(body, _stop.Token).ConfigureAwait(false);
            if (Interlocked.Exchange(ref state.ServerReady, 0) == 1 && header[0] != (byte)'X')
            {
                Interlocked.Increment(ref _roundTrips);
            }

            await to.WriteAsync(header, _stop.Token).ConfigureAwait(false);
            await to.WriteAsync(body, _stop.Token).ConfigureAwait(false);
        }
    }

    private async Task PumpServerAsync(Stream from, Stream to, ConnectionState state)
    {
        var header = new byte[5];
        while (true)
        {
            await from.ReadExactlyAsync(header, _stop.Token).ConfigureAwait(false);
            var body = new byte[BinaryPrimitives.ReadInt32BigEndian(header.AsSpan(1)) - 4];
            await from.ReadExactlyAsync(body, _stop.Token).ConfigureAwait(false);
            if (header[0] == (byte)'Z')
            {
                Volatile.Write(ref state.ServerReady, 1);
            }

            await to.WriteAsync(header, _stop.Token).ConfigureAwait(false);
            await to.WriteAsync(body, _stop.Token).ConfigureAwait(false);
        }
    }

    private sealed class ConnectionState
    {
        public int ServerReady;
    }
}
