using System.Net;
using System.Net.Sockets;

namespace EmbeddingKit.Postgres.Tests;

/// <summary>A loopback port nobody listens on (just released), so connecting is refused at once.</summary>
internal static class ClosedPort
{
    public static int Get()
    {
        using var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        var port = ((IPEndPoint)listener.LocalEndpoint).Port;
        listener.Stop();
        return port;
    }
}
