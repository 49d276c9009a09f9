package org.mtlsproxy.proxy.runtime;

import static java.util.Objects.requireNonNull;

import io.netty.handler.ssl.SslContext;
import io.netty.util.AsciiString;
import org.mtlsproxy.config.IdentityHeaderConfig;
import org.mtlsproxy.config.ListenerConfig;
import org.mtlsproxy.proxy.http.FieldNameSet;
import org.mtlsproxy.proxy.http.HopByHop;
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
 * @param requestFieldsToStrip the request fields removed before ours are added: hop-by-hop ones and
 *                       {@code identity-header.strip}, scanned for in one pass (their removal is then skipped when
 *                       none is there, the usual case)
 * @param identityHeaderName {@code identity-header.name} as an {@link AsciiString}: its hash is computed once, and
 *                       Netty copies its bytes into each request instead of encoding it character by character
 */
public record ListenerRuntime(
        ListenerConfig config,
        SslContext sslContext,
        ClientCertificateVerifier verifier,
        RouteTable<RouteRuntime> routes,
        IdentityHeaderConfig identityHeader,
        ListenerMeters meters,
        IdentitySigner signer,
        FieldNameSet requestFieldsToStrip,
        AsciiString identityHeaderName) {

    public ListenerRuntime(ListenerConfig config, SslContext sslContext, ClientCertificateVerifier verifier,
            RouteTable<RouteRuntime> routes, IdentityHeaderConfig identityHeader, ListenerMeters meters,
            IdentitySigner signer) {
        this(config, sslContext, verifier, routes, identityHeader, meters, signer,
                HopByHop.with(identityHeader.strip()), new AsciiString(identityHeader.name()));
    }

    public ListenerRuntime {
        requireNonNull(config, "config");
        requireNonNull(sslContext, "sslContext");
        requireNonNull(verifier, "verifier");
        requireNonNull(routes, "routes");
        requireNonNull(identityHeader, "identityHeader");
        requireNonNull(meters, "meters");
        requireNonNull(requestFieldsToStrip, "requestFieldsToStrip");
        requireNonNull(identityHeaderName, "identityHeaderName");
    }

    public String name() {
        return config.name();
    }
}
