package org.mtlsproxy.proxy.tcp;

import static java.util.Objects.requireNonNull;

import org.mtlsproxy.config.TcpListenerConfig;
import org.mtlsproxy.proxy.authz.Authorizer;
import java.util.Optional;
import org.mtlsproxy.proxy.metrics.ProxyMetrics.TcpMeters;
import org.mtlsproxy.proxy.runtime.ShadowRules;
import org.mtlsproxy.proxy.upstream.RelayConnector;

/**
 * A compiled {@code protocol = tcp} listener: who may connect, where bytes go, and its meters.
 *
 * @param config     the listener's tcp settings
 * @param authorizer the listener's compiled allow rules
 * @param connector  opens the fresh backend TLS connection of each relay
 * @param meters     the listener's relay meters
 * @param shadow     the listener's dry-run shadow-allow rules, or null when it has none
 */
public record TcpRuntime(TcpListenerConfig config, Authorizer authorizer, RelayConnector connector,
        TcpMeters meters, ShadowRules shadow) {

    public TcpRuntime {
        requireNonNull(config, "config");
        requireNonNull(authorizer, "authorizer");
        requireNonNull(connector, "connector");
        requireNonNull(meters, "meters");
    }

    /** The compiled shadow-allow rules, empty when the listener has none; never enforced. */
    public Optional<Authorizer> shadowAuthorizer() {
        return shadow == null ? Optional.empty() : Optional.of(shadow.authorizer());
    }
}
