using System.Net;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.AspNetCore.Server.Kestrel.Core;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;

namespace EmbeddingKit.TestInfrastructure.FakeProvider;

/// <summary>Starts the fake servers: a slim ASP.NET Core app on 127.0.0.1 with an ephemeral port, without logging.</summary>
internal static class LoopbackWebApp
{
    /// <summary>Builds the app, lets <paramref name="map"/> add its routes, starts it and returns it with its address.</summary>
    public static Task<(WebApplication App, Uri Address)> StartAsync(Action<WebApplication> map, Action<KestrelServerOptions>? limits, CancellationToken cancellationToken) =>
        StartAsync(map, limits, listen: null, cancellationToken);

    /// <summary>Builds the app, lets <paramref name="map"/> add its routes and <paramref name="listen"/> configure the
    /// endpoint (connection middleware), starts it and returns it with its address.</summary>
    public static async Task<(WebApplication App, Uri Address)> StartAsync(Action<WebApplication> map, Action<KestrelServerOptions>? limits, Action<ListenOptions>? listen, CancellationToken cancellationToken)
    {
        var builder = WebApplication.CreateSlimBuilder();
        builder.Logging.ClearProviders();
        builder.WebHost.UseKestrel(options =>
        {
            options.Listen(IPAddress.Loopback, 0, endpoint => listen?.Invoke(endpoint));
            limits?.Invoke(options);
        });
        var app = builder.Build();
        map(app);
        await app.StartAsync(cancellationToken).ConfigureAwait(false);
        var address = app.Services.GetRequiredService<IServer>().Features.Get<IServerAddressesFeature>()!.Addresses.First();
        return (app, new Uri(address.TrimEnd('/') + "/"));
    }
}
