package org.mtlsproxy.proxy.runtime;

import static java.util.Objects.requireNonNull;

import io.netty.handler.ssl.SslContext;
import org.mtlsproxy.config.IdentityHeaderConfig;
import org.mtlsproxy.config.ListenerConfig;
import org.mtlsproxy.proxy.http.IdentitySigner;
import org.mtlsproxy.proxy.metrics.ProxyMetrics.ListenerMeters;
import org.mtlsproxy.proxy.route.RouteTable;
import org.mtlsproxy.proxy.tls.ClientCertificateVerifier;

/**
 * Everything a connection on one listener needs, compiled once per snapshot.
 *
 * @param config         the listener's configuration
 * @param sslContext     server TLS context (client auth required)
 * @param verifier       the client-certificate verifier inside {@code sslContext}, reused to re-check open
 *                       connections after a reload
 * @param routes         the route table of this listener
 * @param identityHeader how the identity is passed on
 * @param meters         the listener's meters
 * @param signer         writes the signed identity header; null when {@code identity-header.signed} is off
 */
public record ListenerRuntime(
        ListenerConfig config,
        SslContext sslContext,
        ClientCertificateVerifier verifier,
        RouteTable<RouteRuntime> routes,
        IdentityHeaderConfig identityHeader,
        ListenerMeters meters,
        IdentitySigner signer) {

    public ListenerRuntime {
        requireNonNull(config, "config");
        requireNonNull(sslContext, "sslContext");
        requireNonNull(verifier, "verifier");
        requireNonNull(routes, "routes");
        requireNonNull(identityHeader, "identityHeader");
        requireNonNull(meters, "meters");
    }

    public String name() {
        return config.name();
    }
}
