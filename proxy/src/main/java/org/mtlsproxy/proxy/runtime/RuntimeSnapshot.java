package org.mtlsproxy.proxy.runtime;

import static java.util.Objects.requireNonNull;

import io.netty.handler.ssl.SslContext;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import org.mtlsproxy.config.BackendConfig;
import org.mtlsproxy.config.ListenerConfig;
import org.mtlsproxy.config.ProxyConfig;
import org.mtlsproxy.config.RouteConfig;
import org.mtlsproxy.proxy.authz.Authorizer;
import org.mtlsproxy.proxy.metrics.ProxyMetrics;
import org.mtlsproxy.proxy.route.RouteTable;
import org.mtlsproxy.proxy.tls.ClientCertificateVerifier;
import org.mtlsproxy.proxy.tls.SslContextFactory;
import org.mtlsproxy.proxy.tls.TlsMaterialException;
import org.mtlsproxy.proxy.transport.Transport;
import org.mtlsproxy.proxy.upstream.Backend;

/**
 * An immutable, compiled view of one configuration: TLS contexts, route tables, authorizers and backends. Built
 * completely (reading every file) before anything uses it, so a configuration either becomes a whole snapshot or
 * none; a new connection reads the current snapshot once and keeps it for its lifetime.
 */
public final class RuntimeSnapshot {

    private final ProxyConfig config;
    private final Map<String, ListenerRuntime> listeners;
    private final Map<String, Backend> backends;
    private final List<ConfiguredCertificate> certificates;

    private RuntimeSnapshot(ProxyConfig config, Map<String, ListenerRuntime> listeners, Map<String, Backend> backends,
            List<ConfiguredCertificate> certificates) {
        this.config = config;
        this.listeners = listeners;
        this.backends = backends;
        this.certificates = certificates;
    }

    /** Every configured certificate and CA, for the expiry metrics of the snapshot in force. */
    public List<ConfiguredCertificate> certificates() {
        return certificates;
    }

    /**
     * Compiles {@code config}.
     *
     * @throws TlsMaterialException when a certificate, key or CRL cannot be read or used; the message names the
     *                              file
     */
    public static RuntimeSnapshot build(ProxyConfig config, ProxyMetrics metrics, Transport transport)
            throws TlsMaterialException {
        requireNonNull(config, "config");
        requireNonNull(metrics, "metrics");
        List<ConfiguredCertificate> certificates = new ArrayList<>();
        Map<String, Backend> backends = new LinkedHashMap<>();
        for (BackendConfig b : config.backends().values()) {
            SslContext ctx = SslContextFactory.forBackend(b.tls());
            SslContextFactory.readCertificates(b.tls().caBundle())
                    .forEach(c -> certificates.add(new ConfiguredCertificate("backend_ca", b.name(), c)));
            if (b.tls().certificateChain().isPresent()) {
                certificates.add(new ConfiguredCertificate("backend_client", b.name(),
                        SslContextFactory.readCertificates(b.tls().certificateChain().get()).get(0)));
            }
            backends.put(b.name(), new Backend(b, ctx, metrics.backend(b.name()), transport));
        }
        Map<String, ListenerRuntime> listeners = new LinkedHashMap<>();
        for (ListenerConfig l : config.listeners()) {
            ClientCertificateVerifier verifier =
                    SslContextFactory.clientVerifier(l.tls(), metrics.clientTrust(l.name()));
            SslContext ctx = SslContextFactory.forListener(l.tls(), verifier, l.http().protocols());
            certificates.add(new ConfiguredCertificate("listener", l.name(),
                    SslContextFactory.readCertificates(l.tls().certificateChain()).get(0)));
            for (org.mtlsproxy.config.TrustBundleConfig bundle : l.tls().clientTrust()) {
                SslContextFactory.readCertificates(bundle.caBundle())
                        .forEach(c -> certificates.add(new ConfiguredCertificate("client_ca", bundle.name(), c)));
            }
            List<RouteTable.Entry<RouteRuntime>> entries = new ArrayList<>();
            for (RouteConfig r : config.routes()) {
                if (!r.listeners().isEmpty() && !r.listeners().contains(l.name())) {
                    continue;
                }
                Backend backend = backends.get(r.backend());
                if (backend == null) {
                    throw new IllegalStateException("route " + r.name() + " names unknown backend " + r.backend());
                }
                RouteRuntime route = new RouteRuntime(r.name(), backend, Authorizer.compile(r.allow()),
                        metrics.route(l.name(), r.name()), r.websocket());
                entries.add(new RouteTable.Entry<>(r.host(), r.pathPrefix(), route));
            }
            listeners.put(l.name(), new ListenerRuntime(l, ctx, verifier, RouteTable.build(entries, RouteRuntime::name), config.identityHeader(),
                    metrics.listener(l.name())));
        }
        return new RuntimeSnapshot(config, Map.copyOf(listeners), Map.copyOf(backends), List.copyOf(certificates));
    }

    public ProxyConfig config() {
        return config;
    }

    public ListenerRuntime listener(String name) {
        ListenerRuntime l = listeners.get(name);
        if (l == null) {
            throw new IllegalArgumentException("no listener named " + name);
        }
        return l;
    }

    /** The listener of that name, or null when this snapshot has none. */
    public ListenerRuntime listenerOrNull(String name) {
        return listeners.get(name);
    }

    /** Closes pooled backend connections; open exchanges finish on their own. */
    public void close() {
        backends.values().forEach(Backend::close);
    }
}
