using System.Collections.Concurrent;
using System.Net;
using System.Net.Sockets;

namespace EmbeddingKit.Reliability.Tests.Infrastructure;

/// <summary>
/// A fault-injecting TCP proxy on 127.0.0.1 (ephemeral port) in front of one upstream port (PostgreSQL): it can cut
/// every connection at once (RST) or black-hole traffic (bytes read and dropped, new connections held without an
/// upstream), so clients see dead peers and hung sockets.
/// </summary>
public sealed class TcpFaultProxy : IAsyncDisposable
{
    private readonly TcpListener _listener;
    private readonly int _upstreamPort;
    private readonly ConcurrentDictionary<long, (Socket Client, Socket? Upstream)> _connections = new();
    private readonly CancellationTokenSource _stop = new();
    private readonly Task _accepting;
    private long _nextId;
    private long _accepted;
    private volatile bool _blackHole;
    private volatile byte[]? _cutOn;
    private int _cutsLeft;
    private int _cutOnSend;

    public TcpFaultProxy(int upstreamPort)
    {
        _upstreamPort = upstreamPort;
        _listener = new TcpListener(IPAddress.Loopback, 0);
        _listener.Start();
        Port = ((IPEndPoint)_listener.LocalEndpoint).Port;
        _accepting = Task.Run(AcceptLoopAsync);
    }

    /// <summary>Gets the port clients connect to.</summary>
    public int Port { get; }

    /// <summary>Gets the connections accepted so far.</summary>
    public long Accepted => Interlocked.Read(ref _accepted);

    /// <summary>Gets the connections open now.</summary>
    public int Open => _connections.Count;

    /// <summary>Gets or sets whether traffic is black-holed (dropped silently) in both directions.</summary>
    public bool BlackHole { get => _blackHole; set => _blackHole = value; }

    /// <summary>The next <paramref name="times"/> times a client sends bytes containing <paramref name="marker"/> (a name in
    /// the statement to interrupt), its connection is reset before they reach the server: a connection lost in the middle
    /// of a given step.</summary>
    public void CutWhenClientSends(string marker, int times)
    {
        _cutOn = System.Text.Encoding.UTF8.GetBytes(marker);
        Interlocked.Exchange(ref _cutsLeft, times);
    }

    /// <summary>Gets the connections reset by <see cref="CutWhenClientSends"/> so far.</summary>
    public int CutOnSend => Volatile.Read(ref _cutOnSend);

    /// <summary>Resets every open connection (both sides).</summary>
    /// <returns>The number of connections cut.</returns>
    public int CutAll()
    {
        var cut = 0;
        foreach (var (id, pair) in _connections)
        {
            if (_connections.TryRemove(id, out _))
            {
                Close(pair.Client);
                Close(pair.Upstream);
                cut++;
            }
        }

        return cut;
    }

    public async ValueTask DisposeAsync()
    {
        await _stop.CancelAsync();
        _listener.Stop();
        CutAll();
        try
        {
            await _accepting;
        }
        catch (Exception e) when (e is OperationCanceledException or SocketException or ObjectDisposedException)
        {
            // Stopped.
        }

        _stop.Dispose();
    }

    private static void Close(Socket? socket)
    {
        if (socket is null)
        {
            return;
        }

        try
        {
            socket.LingerState = new LingerOption(true, 0); // RST, like a crashed peer or a middlebox dropping state
            socket.Close();
        }
        catch (Exception e) when (e is SocketException or ObjectDisposedException)
        {
            // Already closed.
        }
    }

    private async Task AcceptLoopAsync()
    {
        while (!_stop.IsCancellationRequested)
        {
            var client = await _listener.AcceptSocketAsync(_stop.Token);
            Interlocked.Increment(ref _accepted);
            var id = Interlocked.Increment(ref _nextId);
            _ = Task.Run(() => ServeAsync(id, client));
        }
    }

    private async Task ServeAsync(long id, Socket client)
    {
        Socket? upstream = null;
        try
        {
            _connections[id] = (client, null);
            while (_blackHole && !_stop.IsCancellationRequested && _connections.ContainsKey(id))
            {
                // A black-holed connect: accepted, never answered.
                await Task.Delay(50);
            }

            if (!_connections.ContainsKey(id))
            {
                return;
            }

            upstream = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp) { NoDelay = true };
            await upstream.ConnectAsync(IPAddress.Loopback, _upstreamPort, _stop.Token);
            client.NoDelay = true;
            _connections[id] = (client, upstream);
            await Task.WhenAny(PumpAsync(client, upstream, fromClient: true), PumpAsync(upstream, client, fromClient: false));
        }
        catch (Exception e) when (e is SocketException or ObjectDisposedException or OperationCanceledException or IOException)
        {
            // The connection ended (cut, refused while PostgreSQL is down, or the proxy stopping).
        }
        finally
        {
            _connections.TryRemove(id, out _);
            Close(client);
            Close(upstream);
        }
    }

    private async Task PumpAsync(Socket from, Socket to, bool fromClient)
    {
        var buffer = new byte[16 * 1024];
        try
        {
            while (true)
            {
                var read = await from.ReceiveAsync(buffer, SocketFlags.None, _stop.Token);
                if (read == 0)
                {
                    return;
                }

                if (fromClient && _cutOn is { } marker && buffer.AsSpan(0, read).IndexOf(marker) >= 0 && Interlocked.Decrement(ref _cutsLeft) >= 0)
                {
                    Interlocked.Increment(ref _cutOnSend);
                    return; // The caller resets both sides.
                }

                if (!_blackHole)
                {
                    await to.SendAsync(buffer.AsMemory(0, read), SocketFlags.None, _stop.Token);
                }
            }
        }
        catch (Exception e) when (e is SocketException or ObjectDisposedException or OperationCanceledException)
        {
            // Cut.
        }
    }
}
