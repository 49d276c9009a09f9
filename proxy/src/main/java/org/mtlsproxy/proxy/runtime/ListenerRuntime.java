package org.mtlsproxy.proxy.runtime;

import static java.util.Objects.requireNonNull;

import io.netty.handler.ssl.SslContext;
import org.mtlsproxy.config.IdentityHeaderConfig;
import org.mtlsproxy.config.ListenerConfig;
import org.mtlsproxy.proxy.metrics.ProxyMetrics.ListenerMeters;
import org.mtlsproxy.proxy.route.RouteTable;

/**
 * Everything a connection on one listener needs, compiled once per snapshot.
 *
 * @param config         the listener's configuration
 * @param sslContext     server TLS context (client auth required)
 * @param routes         the route table of this listener
 * @param identityHeader how the identity is passed on
 * @param meters         the listener's meters
 */
public record ListenerRuntime(
        ListenerConfig config,
        SslContext sslContext,
        RouteTable<RouteRuntime> routes,
        IdentityHeaderConfig identityHeader,
        ListenerMeters meters) {

    public ListenerRuntime {
        requireNonNull(config, "config");
        requireNonNull(sslContext, "sslContext");
        requireNonNull(routes, "routes");
        requireNonNull(identityHeader, "identityHeader");
        requireNonNull(meters, "meters");
    }

    public String name() {
        return config.name();
    }
}
