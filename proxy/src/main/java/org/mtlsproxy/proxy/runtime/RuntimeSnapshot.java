package org.mtlsproxy.proxy.runtime;

import static java.util.Objects.requireNonNull;

import io.netty.handler.ssl.SslContext;
import io.netty.handler.ssl.SslProvider;
import java.io.IOException;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.stream.Collectors;
import org.mtlsproxy.config.BackendConfig;
import org.mtlsproxy.config.ListenerConfig;
import org.mtlsproxy.config.ProxyConfig;
import org.mtlsproxy.config.RouteConfig;
import org.mtlsproxy.config.RouteLimitsConfig.RateLimitConfig;
import org.mtlsproxy.config.TcpListenerConfig;
import org.mtlsproxy.proxy.authz.Authorizer;
import org.mtlsproxy.proxy.http.IdentitySigner;
import org.mtlsproxy.proxy.limits.RateLimiter;
import org.mtlsproxy.proxy.metrics.ProxyMetrics;
import org.mtlsproxy.proxy.route.RouteTable;
import org.mtlsproxy.proxy.tcp.TcpRuntime;
import org.mtlsproxy.proxy.tls.ClientCertificateVerifier;
import org.mtlsproxy.proxy.tls.SessionTicketKeys;
import org.mtlsproxy.proxy.tls.SslContextFactory;
import org.mtlsproxy.proxy.tls.TlsMaterialException;
import org.mtlsproxy.proxy.transport.Transport;
import org.mtlsproxy.proxy.upstream.Backend;
import org.mtlsproxy.proxy.upstream.RelayConnector;

/**
 * An immutable, compiled view of one configuration: TLS contexts, route tables, authorizers and backends. Built
 * completely (reading every file) before anything uses it, so a configuration either becomes a whole snapshot or
 * none; a new connection reads the current snapshot once and keeps it for its lifetime. What a snapshot shares with
 * the process (backend gauges, session ticket keys) changes only when it goes into force ({@link #activate}), so a
 * snapshot whose build or reload fails leaves the running one as it was.
 */
public final class RuntimeSnapshot {

    private final ProxyConfig config;
    private final Map<String, ListenerRuntime> listeners;
    private final Map<String, Backend> backends;
    private final List<ConfiguredCertificate> certificates;
    private final Map<String, TcpRuntime> tcpListeners;
    /** The listeners' session ticket keys, applied to the process's by {@link #activate}. */
    private final List<SessionTicketKeys.Pending> ticketKeys;
    /** The meters its build registered: taken back when it never goes into force ({@link #discardKeeping}). */
    private final ProxyMetrics.Staging meters;

    private RuntimeSnapshot(ProxyConfig config, Map<String, ListenerRuntime> listeners, Map<String, Backend> backends,
            List<ConfiguredCertificate> certificates, Map<String, TcpRuntime> tcpListeners,
            List<SessionTicketKeys.Pending> ticketKeys, ProxyMetrics.Staging meters) {
        this.config = config;
        this.listeners = listeners;
        this.backends = backends;
        this.certificates = certificates;
        this.tcpListeners = tcpListeners;
        this.ticketKeys = ticketKeys;
        this.meters = meters;
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
        return build(config, metrics, transport, SessionTicketKeys.manual(java.time.Clock.systemUTC()));
    }

    /**
     * Compiles {@code config}, the listeners' TLS contexts getting their session ticket keys from {@code tickets}
     * (the process's, so that generated keys survive a reload; {@code tickets} itself changes with {@link #activate}).
     *
     * @throws TlsMaterialException when a certificate, key, CRL or ticket key file cannot be read or used; the
     *                              message names the file
     */
    public static RuntimeSnapshot build(ProxyConfig config, ProxyMetrics metrics, Transport transport,
            SessionTicketKeys tickets) throws TlsMaterialException {
        return build(config, metrics, transport, tickets, null);
    }

    /**
     * Compiles {@code config} as a reload of {@code previous} (the running snapshot, or null): state that must not
     * reset on every reload is carried over where its configuration did not change — each route's rate limiter
     * (same listener, route name and limit: the identities' buckets go on), each backend's passive health (same
     * name, endpoints and ejection policy: ejected endpoints stay out; the relays of tcp listeners share it) and its
     * connection counts per endpoint (same name and endpoints: max-connections-per-endpoint holds across the reload).
     * Reloads are frequent (CRL refreshes, certificate rotation); without this, each one would give every client a
     * full burst and every ejected endpoint a new chance. Nothing of {@code previous} changes; when the build fails,
     * the backends it had built anew are closed and the meters it registered removed.
     *
     * @throws TlsMaterialException when a certificate, key, CRL or ticket key file cannot be read or used; the
     *                              message names the file
     */
    public static RuntimeSnapshot build(ProxyConfig config, ProxyMetrics metrics, Transport transport,
            SessionTicketKeys tickets, RuntimeSnapshot previous) throws TlsMaterialException {
        return build(config, metrics, transport, tickets, previous, new ArrayList<>());
    }

    /**
     * {@link #build(ProxyConfig, ProxyMetrics, Transport, SessionTicketKeys, RuntimeSnapshot)}, adding each backend
     * it builds anew (not carried over from {@code previous}) to {@code builtAnew} as it builds it: a test's view of
     * what a failed build closed.
     */
    static RuntimeSnapshot build(ProxyConfig config, ProxyMetrics metrics, Transport transport,
            SessionTicketKeys tickets, RuntimeSnapshot previous, List<Backend> builtAnew) throws TlsMaterialException {
        ProxyMetrics.Staging meters = metrics.stage();
        try {
            return compile(config, metrics, transport, tickets, previous, builtAnew, meters);
        } catch (TlsMaterialException | RuntimeException e) {
            // Nothing else will ever reach them. Those carried over from previous are still serving: left open.
            builtAnew.forEach(Backend::close);
            meters.discard();
            throw e;
        } finally {
            meters.stop();
        }
    }

    private static RuntimeSnapshot compile(ProxyConfig config, ProxyMetrics metrics, Transport transport,
            SessionTicketKeys tickets, RuntimeSnapshot previous, List<Backend> builtAnew, ProxyMetrics.Staging meters)
            throws TlsMaterialException {
        requireNonNull(config, "config");
        requireNonNull(tickets, "tickets");
        requireNonNull(metrics, "metrics");
        List<ConfiguredCertificate> certificates = new ArrayList<>();
        Map<String, Backend> backends = new LinkedHashMap<>();
        for (BackendConfig b : config.backends().values()) {
            Backend before = previous == null ? null : previous.backends.get(b.name());
            String material = materialFingerprint(b);
            if (before != null && before.config().equals(b) && material.equals(before.materialFingerprint())) {
                // Same settings, same certificate, key and CA bytes: keep the running backend, with its pooled
                // connections (a reload would otherwise re-handshake every one of them) and its health.
                backends.put(b.name(), before);
                addBackendCertificates(b, certificates);
                continue;
            }
            SslContext ctx = named("backend", b.name(), () -> SslContextFactory.forBackend(b.tls()));
            addBackendCertificates(b, certificates);
            // A replaced backend with the same endpoints shares its connection counts: its connections still
            // open count against the new one's max-connections-per-endpoint until they close.
            Backend backend = new Backend(b, ctx, metrics.backend(b.name()), transport, material, before);
            builtAnew.add(backend);
            if (before != null) {
                backend.inheritHealth(before);
            }
            backends.put(b.name(), backend);
        }
        IdentitySigner signer = signer(config);
        Map<String, ListenerRuntime> listeners = new LinkedHashMap<>();
        Map<String, TcpRuntime> tcpListeners = new LinkedHashMap<>();
        Map<String, RelayConnector> relays = new LinkedHashMap<>();
        List<SessionTicketKeys.Pending> ticketKeys = new ArrayList<>();
        for (ListenerConfig l : config.listeners()) {
            ClientCertificateVerifier verifier =
                    SslContextFactory.clientVerifier(l.tls(), metrics.clientTrust(l.name()));
            // tcp listeners use the JDK engine: Netty's OpenSSL engine treats a client's close_notify as the end of
            // both directions, which would cut the relay's remaining bytes when a TLS 1.3 client half-closes.
            SslContext ctx = named("listener", l.name(), () -> l.isTcp()
                    ? SslContextFactory.forListener(l.tls(), verifier, SslProvider.JDK)
                    : SslContextFactory.forListener(l.tls(), verifier, l.http().protocols()));
            if (!l.isTcp()) {
                ticketKeys.add(tickets.install(l.name(), l.tls().sessionTickets(), ctx));
            }
            certificates.add(new ConfiguredCertificate("listener", l.name(),
                    SslContextFactory.readCertificates(l.tls().certificateChain()).get(0)));
            for (org.mtlsproxy.config.TrustBundleConfig bundle : l.tls().clientTrust()) {
                SslContextFactory.readCertificates(bundle.caBundle())
                        .forEach(c -> certificates.add(new ConfiguredCertificate("client_ca", bundle.name(), c)));
            }
            List<RouteTable.Entry<RouteRuntime>> entries = new ArrayList<>();
            if (l.isTcp()) {
                tcpListeners.put(l.name(), tcpRuntime(l, config, metrics, transport, relays, backends));
            }
            for (RouteConfig r : config.routes()) {
                if (l.isTcp() || !r.listeners().isEmpty() && !r.listeners().contains(l.name())) {
                    continue;
                }
                Backend backend = backends.get(r.backend());
                if (backend == null) {
                    throw new IllegalStateException("route " + r.name() + " names unknown backend " + r.backend());
                }
                RateLimiter limiter = r.limits().rateLimit()
                        .map(rl -> previousLimiter(previous, l.name(), r.name(), rl)
                                .orElseGet(() -> new RateLimiter(rl, System.nanoTime())))
                        .orElse(null);
                RouteRuntime route = new RouteRuntime(r.name(), backend, Authorizer.compile(r.allow()),
                        metrics.route(l.name(), r.name()), r.limits().maxRequestBodySize(), limiter,
                        r.websocket(), r.shadowAllow().isEmpty() ? null
                                : ShadowRules.compileOrNull(r.shadowAllow(), "route", r.name(),
                                        metrics.shadowRoute(r.name())));
                entries.add(new RouteTable.Entry<>(r.host(), r.pathPrefix(), route));
            }
            listeners.put(l.name(), new ListenerRuntime(l, ctx, verifier, RouteTable.build(entries, RouteRuntime::name),
                    config.identityHeader(), metrics.listener(l.name()), signer));
        }
        // Listeners this configuration no longer has: their generated ticket keys go once it is in force.
        ticketKeys.add(tickets.keepOnly(config.listeners().stream().map(ListenerConfig::name)
                .collect(Collectors.toSet())));
        return new RuntimeSnapshot(config, Map.copyOf(listeners), Map.copyOf(backends), List.copyOf(certificates),
                Map.copyOf(tcpListeners), List.copyOf(ticketKeys), meters);
    }

    private static void addBackendCertificates(BackendConfig b, List<ConfiguredCertificate> certificates)
            throws TlsMaterialException {
        SslContextFactory.readCertificates(b.tls().caBundle())
                .forEach(c -> certificates.add(new ConfiguredCertificate("backend_ca", b.name(), c)));
        if (b.tls().certificateChain().isPresent()) {
            certificates.add(new ConfiguredCertificate("backend_client", b.name(),
                    SslContextFactory.readCertificates(b.tls().certificateChain().get()).get(0)));
        }
    }

    /** The SHA-256 of the backend's CA bundle, client chain and key: the bytes its TLS context is built from. */
    private static String materialFingerprint(BackendConfig b) throws TlsMaterialException {
        List<java.nio.file.Path> files = new ArrayList<>();
        files.add(b.tls().caBundle());
        b.tls().certificateChain().ifPresent(files::add);
        b.tls().privateKey().ifPresent(files::add);
        StringBuilder digests = new StringBuilder();
        for (java.nio.file.Path f : files) {
            try {
                digests.append(FileDigest.sha256(f)).append(',');
            } catch (IOException e) {
                throw new TlsMaterialException("backend " + b.name() + ": cannot read " + f + ": " + e.getMessage(),
                        e);
            }
        }
        return digests.toString();
    }

    /** The rate limiter of route {@code route} on listener {@code listener} in {@code previous}, if it has this limit. */
    private static Optional<RateLimiter> previousLimiter(RuntimeSnapshot previous, String listener, String route,
            RateLimitConfig limit) {
        if (previous == null) {
            return Optional.empty();
        }
        ListenerRuntime before = previous.listeners.get(listener);
        if (before == null) {
            return Optional.empty();
        }
        for (RouteTable.Entry<RouteRuntime> e : before.routes().entries()) {
            RateLimiter limiter = e.value().rateLimiter();
            if (e.value().name().equals(route) && limiter != null && limiter.config().equals(limit)) {
                return Optional.of(limiter);
            }
        }
        return Optional.empty();
    }

    /** A TLS context build whose failure names the listener or backend it was for. */
    private static SslContext named(String kind, String name, ContextBuild build) throws TlsMaterialException {
        try {
            return build.get();
        } catch (TlsMaterialException e) {
            throw new TlsMaterialException(kind + " `" + name + "`: " + e.getMessage(), e);
        }
    }

    @FunctionalInterface
    private interface ContextBuild {
        SslContext get() throws TlsMaterialException;
    }

    /** The identity-header signer with the key file as it is now (a reload reads it again: key rotation). */
    private static IdentitySigner signer(ProxyConfig config) throws TlsMaterialException {
        if (config.identityHeader().signed().isEmpty()) {
            return null;
        }
        try {
            return IdentitySigner.load(config.identityHeader().signed().get());
        } catch (IOException e) {
            throw new TlsMaterialException("identity-header.signed.key-file: " + e.getMessage(), e);
        }
    }

    private static TcpRuntime tcpRuntime(ListenerConfig l, ProxyConfig config, ProxyMetrics metrics,
            Transport transport, Map<String, RelayConnector> relays, Map<String, Backend> backends)
            throws TlsMaterialException {
        TcpListenerConfig tcp = l.tcp().orElseThrow();
        BackendConfig b = config.backends().get(tcp.backend());
        if (b == null) {
            throw new IllegalStateException("listener " + l.name() + " names unknown backend " + tcp.backend());
        }
        RelayConnector connector = relays.get(b.name());
        if (connector == null) {
            // The JDK engine here too: a backend's close_notify must not end the client-to-backend direction.
            SslContext ctx = named("backend", b.name(), () -> SslContextFactory.forBackend(b.tls(), SslProvider.JDK));
            // The backend of this snapshot (kept or rebuilt above, its health inherited): relays share its passive
            // health, so their ejections show in its gauge and carry over a reload exactly as its own do.
            connector = new RelayConnector(backends.get(b.name()), ctx, transport);
            relays.put(b.name(), connector);
        }
        return new TcpRuntime(tcp, Authorizer.compile(tcp.allow()), connector, metrics.tcp(l.name()),
                tcp.shadowAllow().isEmpty() ? null : ShadowRules.compileOrNull(tcp.shadowAllow(), "listener",
                        l.name(), metrics.shadowTcp(l.name())));
    }

    /** The relay settings of a {@code protocol = tcp} listener, or null (an http listener, or none of that name). */
    public TcpRuntime tcpOrNull(String listener) {
        return tcpListeners.get(listener);
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

    /** The backend of that name, or null when this snapshot has none. */
    public Backend backendOrNull(String name) {
        return backends.get(name);
    }

    /** Closes pooled backend connections; open exchanges finish on their own. */
    public void close() {
        backends.values().forEach(Backend::close);
    }

    /**
     * Points the per-backend gauges at this snapshot's backends and makes its listeners' session ticket keys those of
     * the process (generated keys rotate into its TLS contexts, at its rotation intervals). Call once it is in force
     * (start, a reload swapped it in); a snapshot that never goes into force must not touch either.
     */
    public void activate() {
        backends.values().forEach(Backend::publishMeters);
        ticketKeys.forEach(SessionTicketKeys.Pending::commit);
    }

    /** Closes what {@code next}, which replaces this snapshot, did not take over (backends it kept stay open). */
    public void closeReplacedBy(RuntimeSnapshot next) {
        closeBackendsNotIn(next);
    }

    /**
     * For a snapshot built as a reload of {@code running} that will not go into force (applying it failed): closes
     * the backends it built anew and removes the meters its build registered. Those it carried over from
     * {@code running} are still serving and stay open.
     */
    public void discardKeeping(RuntimeSnapshot running) {
        closeBackendsNotIn(running);
        meters.discard();
    }

    private void closeBackendsNotIn(RuntimeSnapshot other) {
        for (Backend b : backends.values()) {
            if (other.backends.get(b.name()) != b) {
                b.close();
            }
        }
    }
}
