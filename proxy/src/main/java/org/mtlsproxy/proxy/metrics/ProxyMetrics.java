package org.mtlsproxy.proxy.metrics;

import io.micrometer.core.instrument.Counter;
import io.micrometer.core.instrument.binder.jvm.ClassLoaderMetrics;
import io.micrometer.core.instrument.binder.jvm.JvmGcMetrics;
import io.micrometer.core.instrument.binder.jvm.JvmMemoryMetrics;
import io.micrometer.core.instrument.binder.jvm.JvmThreadMetrics;
import io.micrometer.core.instrument.binder.netty4.NettyAllocatorMetrics;
import io.micrometer.core.instrument.binder.system.FileDescriptorMetrics;
import io.micrometer.core.instrument.binder.system.ProcessorMetrics;
import io.micrometer.core.instrument.binder.system.UptimeMetrics;
import io.netty.buffer.ByteBufAllocator;
import io.netty.buffer.ByteBufAllocatorMetricProvider;
import java.util.LinkedHashMap;
import java.util.List;
import org.mtlsproxy.proxy.runtime.ConfiguredCertificate;
import io.micrometer.core.instrument.Gauge;
import io.micrometer.core.instrument.Meter;
import io.micrometer.core.instrument.MeterRegistry;
import io.micrometer.core.instrument.Timer;
import io.micrometer.prometheusmetrics.PrometheusConfig;
import io.micrometer.prometheusmetrics.PrometheusMeterRegistry;
import java.time.Duration;
import java.time.Instant;
import java.util.ArrayList;
import java.util.Collections;
import java.util.EnumMap;
import java.util.HashSet;
import java.util.Map;
import java.util.Optional;
import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.atomic.AtomicReference;
import org.mtlsproxy.proxy.RejectReason;
import org.mtlsproxy.proxy.tls.VerifierEvents;

/**
 * Every meter the proxy publishes, in one place. Names and tags are a public contract (Prometheus names below):
 * add, never rename. Tags take bounded values only: listener, route and backend names from the config, reasons
 * from {@link RejectReason}, results, TLS protocol versions, status classes. Never an identity, path or address.
 *
 * <ul>
 *   <li>{@code mtls_proxy_connections_total{listener}}, {@code mtls_proxy_connections_active{listener}}</li>
 *   <li>{@code mtls_proxy_handshakes_total{listener,result,reason,protocol}},
 *       {@code mtls_proxy_handshake_duration_seconds{listener,result}},
 *       {@code mtls_proxy_handshakes_resumed_total{listener}}: the successful handshakes that resumed a TLS session
 *       (a ticket or the session cache) instead of a full handshake</li>
 *   <li>{@code mtls_proxy_requests_total{listener,route,status_class}},
 *       {@code mtls_proxy_request_duration_seconds{route}}</li>
 *   <li>{@code mtls_proxy_request_rejections_total{listener,route,reason}} (no_route, denied, bad_request,
 *       backend_*; backend_response_incomplete for a response cut short after it started)</li>
 *   <li>{@code mtls_proxy_authz_decisions_total{route,result,rule}}</li>
 *   <li>{@code mtls_proxy_authz_shadow_decisions_total{route,result}}: what a route's {@code shadow-allow} rules
 *       would have decided, once per request the enforced rules decided; {@code
 *       mtls_proxy_authz_shadow_disagreements_total{route,enforced,shadow}}: the requests where the two differ
 *       (enforced=allowed,shadow=denied or the reverse). The same pair for tcp listeners:
 *       {@code mtls_proxy_tcp_authz_shadow_decisions_total{listener,result}},
 *       {@code mtls_proxy_tcp_authz_shadow_disagreements_total{listener,enforced,shadow}}</li>
 *   <li>{@code mtls_proxy_config_reloads_total{result}}, {@code mtls_proxy_config_last_success_seconds}</li>
 *   <li>{@code mtls_proxy_connections_revoked_total{listener,reason}}: open connections closed because a reload
 *       no longer accepts their client certificate</li>
 *   <li>{@code mtls_proxy_connections_refused_total{listener,reason}}: closed at accept (max-connections)</li>
 *   <li>{@code mtls_proxy_client_certificate_expiry_seconds{listener,route}}: the soonest client notAfter seen
 *       recently on the route</li>
 *   <li>{@code mtls_proxy_bytes_total{listener,direction}}: HTTP body bytes received from and sent to clients</li>
 *   <li>{@code mtls_proxy_certificate_expiry_seconds{kind,name,subject}}: seconds until notAfter of every
 *       configured certificate and CA (kind: listener, client_ca, backend_ca, backend_client)</li>
 *   <li>{@code mtls_proxy_crl_age_seconds{listener,bundle,issuer}} (now &minus; thisUpdate),
 *       {@code mtls_proxy_crl_next_update_seconds{listener,bundle,issuer}} (nextUpdate &minus; now, negative when
 *       stale, +Inf without nextUpdate): the CRL that decides freshness per CA of each enabled client trust bundle;
 *       {@code mtls_proxy_crl_stale_accepted_total{listener,bundle}}: client chains accepted on a stale CRL under
 *       soft-fail</li>
 *   <li>{@code mtls_proxy_backend_connections_total{backend,result,reason}},
 *       {@code mtls_proxy_backend_connect_duration_seconds{backend}},
 *       {@code mtls_proxy_backend_connection_reuses_total{backend}}</li>
 *   <li>{@code mtls_proxy_tcp_authz_decisions_total{listener,result,rule}}: identities allowed (with the rule) or
 *       denied on a {@code protocol = tcp} listener, once per connection</li>
 *   <li>{@code mtls_proxy_tcp_bytes_total{listener,direction}}: bytes relayed from (in) and to (out) clients of tcp
 *       listeners, counted as they pass. A tcp connection refused after the handshake (denied, backend failure) is
 *       also counted in {@code mtls_proxy_request_rejections_total{listener,route="",reason}}</li>
 *   <li>{@code mtls_proxy_backend_retries_total{backend}}: requests (and tcp listeners' relays) sent to another
 *       endpoint after a connection to one failed; {@code mtls_proxy_backend_ejections_total{backend,endpoint}} (endpoint: a configured host:port,
 *       so bounded), {@code mtls_proxy_backend_endpoints_healthy{backend}}: endpoints in rotation</li>
 * </ul>
 *
 * Per-listener, per-route and per-backend meters are resolved once into small holder objects, so the request path
 * increments pre-registered counters without a registry lookup.
 */
public final class ProxyMetrics {

    public static final String RESULT_SUCCESS = "success";
    public static final String RESULT_FAILURE = "failure";

    private final PrometheusMeterRegistry registry;
    private final Map<String, ListenerMeters> listeners = new ConcurrentHashMap<>();
    private final Map<String, RouteMeters> routes = new ConcurrentHashMap<>();
    private final Map<String, BackendMeters> backends = new ConcurrentHashMap<>();
    private final Map<String, TcpMeters> tcp = new ConcurrentHashMap<>();
    private final Map<String, ShadowMeters> shadow = new ConcurrentHashMap<>();
    private final List<Gauge> certificateGauges = new java.util.ArrayList<>();
    private final ExpiryWarnings expiryWarnings = new ExpiryWarnings();
    private final Map<String, ClientTrustMeters> clientTrust = new ConcurrentHashMap<>();

    /** The configuration build recording what it registers, or null. */
    private volatile Staging staging;

    private final java.util.concurrent.atomic.AtomicLong lastReloadSuccess =
            new java.util.concurrent.atomic.AtomicLong(System.currentTimeMillis() / 1000);

    public ProxyMetrics() {
        this.registry = new PrometheusMeterRegistry(PrometheusConfig.DEFAULT);
        registry.config().onMeterAdded(m -> {
            Staging s = staging;
            if (s != null && s.thread == Thread.currentThread()) {
                s.added.add(m);
            }
        });
        for (String result : new String[] {RESULT_SUCCESS, RESULT_FAILURE}) {
            Counter.builder("mtls_proxy.config.reloads")
                    .description("Configuration reloads by result; a failed one keeps the previous configuration")
                    .tag("result", result)
                    .register(registry);
        }
        Gauge.builder("mtls_proxy.config.last.success", lastReloadSuccess, java.util.concurrent.atomic.AtomicLong::get)
                .description("Unix time of the last successful configuration load (start-up or reload)")
                .baseUnit("seconds")
                .register(registry);
    }

    /** A configuration reload finished; {@code success} false when it was refused and the old one kept. */
    public void reload(boolean success) {
        Counter.builder("mtls_proxy.config.reloads")
                .description("Configuration reloads by result; a failed one keeps the previous configuration")
                .tag("result", success ? RESULT_SUCCESS : RESULT_FAILURE)
                .register(registry).increment();
        if (success) {
            lastReloadSuccess.set(System.currentTimeMillis() / 1000);
        }
    }

    /** Adds JVM (memory, GC, threads, classes, CPU, uptime, file descriptors) and Netty allocator meters. */
    public ProxyMetrics withProcessMeters() {
        new JvmMemoryMetrics().bindTo(registry);
        new JvmGcMetrics().bindTo(registry);
        new JvmThreadMetrics().bindTo(registry);
        new ClassLoaderMetrics().bindTo(registry);
        new ProcessorMetrics().bindTo(registry);
        new UptimeMetrics().bindTo(registry);
        new FileDescriptorMetrics().bindTo(registry);
        if (ByteBufAllocator.DEFAULT instanceof ByteBufAllocatorMetricProvider provider) {
            new NettyAllocatorMetrics(provider).bindTo(registry);
        }
        return this;
    }

    /**
     * Publishes the seconds left until each certificate expires (negative once expired), replacing the set of the
     * previous configuration so a rotated or removed certificate leaves no stale series.
     */
    public synchronized void publishCertificates(List<ConfiguredCertificate> certificates) {
        certificateGauges.forEach(registry::remove);
        certificateGauges.clear();
        // One series per (kind, name, subject): the same trust bundle on several listeners is listed once per
        // listener, and a bundle may hold two CAs of one subject (a rollover). The soonest notAfter stands for them.
        Map<List<String>, Long> soonest = new LinkedHashMap<>();
        for (ConfiguredCertificate c : certificates) {
            soonest.merge(List.of(c.kind(), c.name(), c.certificate().getSubjectX500Principal().getName()),
                    c.certificate().getNotAfter().getTime(), Math::min);
        }
        soonest.forEach((tags, notAfterMillis) -> certificateGauges.add(Gauge.builder("mtls_proxy.certificate.expiry",
                        () -> (notAfterMillis - System.currentTimeMillis()) / 1000.0)
                .description("Seconds until the notAfter of a configured certificate or CA")
                .baseUnit("seconds")
                .tags("kind", tags.get(0), "name", tags.get(1), "subject", tags.get(2))
                .strongReference(true)
                .register(registry)));
    }

    public MeterRegistry registry() {
        return registry;
    }

    public ExpiryWarnings expiryWarnings() {
        return expiryWarnings;
    }

    /** Prometheus text (or OpenMetrics when {@code contentType} asks for it). */
    public String scrape(String contentType) {
        return registry.scrape(contentType);
    }

    /**
     * Starts recording what a configuration build registers on the calling thread — meters, and the listener,
     * route, backend, relay, shadow and client-trust holders of names not seen before — until
     * {@link Staging#stop()}. A configuration that never goes into force (its build or the binding of its listeners
     * fails) is then taken back with {@link Staging#discard()}: its names leave no zero-valued series in
     * {@code /metrics}. Meters the event loops register meanwhile (a first 503, a new rule's first decision) are
     * theirs and are not recorded. One build at a time: the start-up build, then the reload thread's.
     */
    public Staging stage() {
        Staging s = new Staging();
        staging = s;
        return s;
    }

    /** The holder maps a configuration build fills, by name. */
    private List<Map<String, ?>> holderMaps() {
        return List.of(listeners, routes, backends, tcp, shadow, clientTrust);
    }

    /** What one configuration build registered; see {@link #stage()}. */
    public final class Staging {
        private final Thread thread = Thread.currentThread();
        private final List<Meter> added = Collections.synchronizedList(new ArrayList<>());
        /** The names in each of {@link #holderMaps()} when the build began, in that order. */
        private final List<Set<String>> namesBefore =
                holderMaps().stream().map(m -> Set.copyOf(m.keySet())).toList();

        private Staging() {
        }

        /** Stops recording; what was registered stays until {@link #discard()}. */
        public void stop() {
            if (staging == this) {
                staging = null;
            }
        }

        /** Removes the meters and the holders of new names this build registered: it will never be in force. */
        public void discard() {
            stop();
            List<Map<String, ?>> holders = holderMaps();
            for (int i = 0; i < holders.size(); i++) {
                Set<String> before = namesBefore.get(i);
                holders.get(i).keySet().removeIf(name -> !before.contains(name));
            }
            Set<Meter.Id> removed = new HashSet<>();
            synchronized (added) {
                for (Meter m : added) {
                    registry.remove(m);
                    removed.add(m.getId());
                }
                added.clear();
            }
            // A running listener's verifier was rebuilt too: what it registered for a new CRL must be registered
            // again by the next build that loads it, not be found in the cache with its gauges gone.
            clientTrust.values().forEach(t -> t.forget(removed));
        }
    }

    public ListenerMeters listener(String name) {
        return listeners.computeIfAbsent(name, n -> new ListenerMeters(registry, n));
    }

    public RouteMeters route(String listener, String route) {
        return routes.computeIfAbsent(listener + '\u0000' + route, k -> new RouteMeters(registry, listener, route));
    }

    public BackendMeters backend(String name) {
        return backends.computeIfAbsent(name, n -> new BackendMeters(registry, n));
    }

    /** Shadow-rule meters of a route (tagged by route, like the enforced decisions). */
    public ShadowMeters shadowRoute(String route) {
        return shadow.computeIfAbsent("route\u0000" + route,
                k -> new ShadowMeters(registry, "mtls_proxy.authz.shadow", "route", route));
    }

    /** Shadow-rule meters of a {@code protocol = tcp} listener. */
    public ShadowMeters shadowTcp(String listener) {
        return shadow.computeIfAbsent("tcp\u0000" + listener,
                k -> new ShadowMeters(registry, "mtls_proxy.tcp.authz.shadow", "listener", listener));
    }

    /**
     * Counters of dry-run ({@code shadow-allow}) decisions of one route or tcp listener, all registered up front:
     * a decision increments one of four fixed counters.
     */
    public static final class ShadowMeters {
        private final Counter allowed;
        private final Counter denied;
        /** Enforced allowed, shadow denied: the new policy would lock this client out. */
        private final Counter wouldDeny;
        /** Enforced denied, shadow allowed: the new policy would let this client in. */
        private final Counter wouldAllow;

        ShadowMeters(MeterRegistry registry, String prefix, String scopeTag, String scope) {
            String decisions = "What the dry-run shadow-allow rules would have decided, by result (never enforced)";
            this.allowed = Counter.builder(prefix + ".decisions").description(decisions)
                    .tags(scopeTag, scope, "result", "allowed").register(registry);
            this.denied = Counter.builder(prefix + ".decisions").description(decisions)
                    .tags(scopeTag, scope, "result", "denied").register(registry);
            String disagreements = "Decisions where the shadow-allow rules and the enforced allow rules differ";
            this.wouldDeny = Counter.builder(prefix + ".disagreements").description(disagreements)
                    .tags(scopeTag, scope, "enforced", "allowed", "shadow", "denied").register(registry);
            this.wouldAllow = Counter.builder(prefix + ".disagreements").description(disagreements)
                    .tags(scopeTag, scope, "enforced", "denied", "shadow", "allowed").register(registry);
        }

        /** Counts one shadow decision next to the enforced one. */
        public void decided(boolean enforcedAllowed, boolean shadowAllowed) {
            (shadowAllowed ? allowed : denied).increment();
            if (enforcedAllowed != shadowAllowed) {
                (enforcedAllowed ? wouldDeny : wouldAllow).increment();
            }
        }
    }

    /** Relay meters of a {@code protocol = tcp} listener. */
    public TcpMeters tcp(String listener) {
        return tcp.computeIfAbsent(listener, n -> new TcpMeters(registry, n));
    }

    /** Meters of one tcp listener's relays. */
    public static final class TcpMeters {
        private final MeterRegistry registry;
        private final String listener;
        private final Map<String, Counter> allowedByRule = new ConcurrentHashMap<>();
        private final Counter denied;
        private final Counter bytesIn;
        private final Counter bytesOut;

        TcpMeters(MeterRegistry registry, String listener) {
            this.registry = registry;
            this.listener = listener;
            this.denied = Counter.builder("mtls_proxy.tcp.authz.decisions")
                    .description("Authorization decisions on tcp listeners by result and the rule that allowed")
                    .tags("listener", listener, "result", "denied", "rule", "")
                    .register(registry);
            this.bytesIn = Counter.builder("mtls_proxy.tcp.bytes").baseUnit("bytes")
                    .description("Bytes relayed from (in) and to (out) clients of tcp listeners")
                    .tags("listener", listener, "direction", "in").register(registry);
            this.bytesOut = Counter.builder("mtls_proxy.tcp.bytes").baseUnit("bytes")
                    .description("Bytes relayed from (in) and to (out) clients of tcp listeners")
                    .tags("listener", listener, "direction", "out").register(registry);
        }

        public void allowed(String rule) {
            // get first: computeIfAbsent with a capturing lambda allocates on every request.
            Counter known = allowedByRule.get(rule);
            if (known != null) {
                known.increment();
                return;
            }
            allowedByRule.computeIfAbsent(rule, r -> Counter.builder("mtls_proxy.tcp.authz.decisions")
                    .description("Authorization decisions on tcp listeners by result and the rule that allowed")
                    .tags("listener", listener, "result", "allowed", "rule", r)
                    .register(registry)).increment();
        }

        public void denied() {
            denied.increment();
        }

        public void bytesIn(long n) {
            bytesIn.increment(n);
        }

        public void bytesOut(long n) {
            bytesOut.increment(n);
        }
    }

    /** CRL meters of one listener's client trust bundles, fed by its certificate verifier. */
    public ClientTrustMeters clientTrust(String listener) {
        return clientTrust.computeIfAbsent(listener, n -> new ClientTrustMeters(registry, n));
    }

    /**
     * CRL meters of one listener. A gauge reads a holder that each new verifier (a reload) refreshes, so a reloaded
     * CRL replaces the old values instead of being shadowed by the first registration.
     */
    public static final class ClientTrustMeters implements VerifierEvents {
        private final MeterRegistry registry;
        private final String listener;
        private final Map<String, CrlGauges> crls = new ConcurrentHashMap<>();
        private final Map<String, Counter> staleAccepted = new ConcurrentHashMap<>();

        ClientTrustMeters(MeterRegistry registry, String listener) {
            this.registry = registry;
            this.listener = listener;
        }

        /** The times both gauges of one CRL read, and one of the gauges' id. */
        private record CrlGauges(AtomicReference<CrlTimes> times, Meter.Id ageId) {
        }

        private record CrlTimes(long thisUpdateMillis, long nextUpdateMillis) {
            double ageSeconds() {
                return (System.currentTimeMillis() - thisUpdateMillis) / 1000.0;
            }

            double nextUpdateSeconds() {
                return nextUpdateMillis == Long.MAX_VALUE ? Double.POSITIVE_INFINITY
                        : (nextUpdateMillis - System.currentTimeMillis()) / 1000.0;
            }
        }

        @Override
        public void crlLoaded(String bundle, String issuer, Instant thisUpdate, Optional<Instant> nextUpdate) {
            CrlTimes times = new CrlTimes(thisUpdate.toEpochMilli(),
                    nextUpdate.map(Instant::toEpochMilli).orElse(Long.MAX_VALUE));
            crls.computeIfAbsent(bundle + '\u0000' + issuer, k -> {
                AtomicReference<CrlTimes> holder = new AtomicReference<>(times);
                Gauge age = Gauge.builder("mtls_proxy.crl.age", holder, h -> h.get().ageSeconds())
                        .description("Seconds since the thisUpdate of the CRL deciding freshness for a client CA")
                        .baseUnit("seconds")
                        .tags("listener", listener, "bundle", bundle, "issuer", issuer)
                        .register(registry);
                Gauge.builder("mtls_proxy.crl.next.update", holder, h -> h.get().nextUpdateSeconds())
                        .description("Seconds until the nextUpdate of the CRL deciding freshness for a client CA; "
                                + "negative when stale")
                        .baseUnit("seconds")
                        .tags("listener", listener, "bundle", bundle, "issuer", issuer)
                        .register(registry);
                return new CrlGauges(holder, age.getId());
            }).times().set(times);
            staleCounter(bundle);
        }

        /** Forgets the CRLs and counters whose meters were removed (a refused build had registered them). */
        void forget(Set<Meter.Id> removed) {
            crls.values().removeIf(g -> removed.contains(g.ageId()));
            staleAccepted.values().removeIf(c -> removed.contains(c.getId()));
        }

        @Override
        public void staleCrlAccepted(String bundle) {
            staleCounter(bundle).increment();
        }

        private Counter staleCounter(String bundle) {
            return staleAccepted.computeIfAbsent(bundle, b -> Counter.builder("mtls_proxy.crl.stale.accepted")
                    .description("Client chains accepted although a CRL they rely on is past its nextUpdate "
                            + "(crl-expired-policy soft-fail, within the grace period)")
                    .tags("listener", listener, "bundle", b)
                    .register(registry));
        }
    }

    /** Meters of one listener. */
    public static final class ListenerMeters {
        private final MeterRegistry registry;
        private final String listener;
        private final Counter connections;
        private final AtomicInteger active = new AtomicInteger();
        private final Map<String, Counter> handshakeOk = new ConcurrentHashMap<>();
        private final Map<RejectReason, Counter> handshakeFailed = new EnumMap<>(RejectReason.class);
        private final Map<RejectReason, Counter> rejections = new EnumMap<>(RejectReason.class);
        private final Timer handshakeOkTimer;
        private final Timer handshakeFailedTimer;
        private final Counter handshakesResumed;
        private final Counter bytesIn;
        private final Counter bytesOut;
        private final Map<RejectReason, Counter> closedOnReload = new ConcurrentHashMap<>();
        private final Map<RejectReason, Counter> refused = new ConcurrentHashMap<>();

        /** The listener these meters count for. */
        public String listener() {
            return listener;
        }

        ListenerMeters(MeterRegistry registry, String listener) {
            this.registry = registry;
            this.listener = listener;
            this.connections = Counter.builder("mtls_proxy.connections")
                    .description("Client TCP connections accepted")
                    .tag("listener", listener).register(registry);
            Gauge.builder("mtls_proxy.connections.active", active, AtomicInteger::get)
                    .description("Client connections currently open")
                    .tag("listener", listener).register(registry);
            for (RejectReason r : RejectReason.values()) {
                if (!r.handshake()) {
                    rejections.put(r, Counter.builder("mtls_proxy.request.rejections")
                            .description("Requests refused by the proxy, by reason")
                            .tags("listener", listener, "route", "", "reason", r.label())
                            .register(registry));
                    continue;
                }
                handshakeFailed.put(r, Counter.builder("mtls_proxy.handshakes")
                        .description("TLS handshakes with clients by outcome")
                        .tags("listener", listener, "result", RESULT_FAILURE, "reason", r.label(), "protocol", "")
                        .register(registry));
            }
            this.bytesIn = Counter.builder("mtls_proxy.bytes").baseUnit("bytes")
                    .description("HTTP body bytes received from (in) and sent to (out) clients")
                    .tags("listener", listener, "direction", "in").register(registry);
            this.bytesOut = Counter.builder("mtls_proxy.bytes").baseUnit("bytes")
                    .description("HTTP body bytes received from (in) and sent to (out) clients")
                    .tags("listener", listener, "direction", "out").register(registry);
            this.handshakeOkTimer = handshakeTimer(registry, listener, RESULT_SUCCESS);
            this.handshakeFailedTimer = handshakeTimer(registry, listener, RESULT_FAILURE);
            this.handshakesResumed = Counter.builder("mtls_proxy.handshakes.resumed")
                    .description("Successful client TLS handshakes that resumed a session (ticket or session cache); "
                            + "the rest of mtls_proxy_handshakes_total{result=\"success\"} were full handshakes")
                    .tag("listener", listener).register(registry);
        }

        private static Timer handshakeTimer(MeterRegistry registry, String listener, String result) {
            return Timer.builder("mtls_proxy.handshake.duration")
                    .description("Time from TCP accept to the end of the client TLS handshake")
                    .tags("listener", listener, "result", result)
                    .publishPercentileHistogram()
                    .minimumExpectedValue(Duration.ofMillis(1))
                    .maximumExpectedValue(Duration.ofSeconds(10))
                    .register(registry);
        }

        /**
         * Counts a new connection.
         *
         * @return the number of open connections including this one
         */
        public int connectionOpened() {
            connections.increment();
            return active.incrementAndGet();
        }

        /** A connection closed at once because the listener was full. */
        public void refused(RejectReason reason) {
            refused.computeIfAbsent(reason, r -> Counter.builder("mtls_proxy.connections.refused")
                    .description("Client connections closed at accept, by reason (max-connections reached)")
                    .tags("listener", listener, "reason", r.label())
                    .register(registry)).increment();
        }

        public void connectionClosed() {
            active.decrementAndGet();
        }

        public void handshakeSucceeded(String protocol, long nanos) {
            Counter known = handshakeOk.get(protocol == null ? "" : protocol);
            if (known != null) {
                known.increment();
                handshakeOkTimer.record(nanos, java.util.concurrent.TimeUnit.NANOSECONDS);
                return;
            }
            handshakeOk.computeIfAbsent(protocol == null ? "" : protocol, p -> Counter.builder("mtls_proxy.handshakes")
                    .description("TLS handshakes with clients by outcome")
                    .tags("listener", listener, "result", RESULT_SUCCESS, "reason", "", "protocol", p)
                    .register(registry)).increment();
            handshakeOkTimer.record(nanos, java.util.concurrent.TimeUnit.NANOSECONDS);
        }

        /** A successful handshake (also counted by {@link #handshakeSucceeded}) resumed a TLS session. */
        public void handshakeResumed() {
            handshakesResumed.increment();
        }

        public void handshakeFailed(RejectReason reason, long nanos) {
            handshakeFailed.get(reason).increment();
            handshakeFailedTimer.record(nanos, java.util.concurrent.TimeUnit.NANOSECONDS);
        }

        /** An open connection whose client certificate no longer verified after a reload, closed for it. */
        public void closedOnReload(RejectReason reason) {
            closedOnReload.computeIfAbsent(reason, r -> Counter.builder("mtls_proxy.connections.revoked")
                    .description("Open client connections closed because a reload no longer accepts their certificate")
                    .tags("listener", listener, "reason", r.label())
                    .register(registry)).increment();
        }

        /** Body bytes of one finished exchange. */
        public void bytes(long in, long out) {
            if (in > 0) {
                bytesIn.increment(in);
            }
            if (out > 0) {
                bytesOut.increment(out);
            }
        }

        /** A request refused before a route was chosen (no route, malformed request). */
        public void rejected(RejectReason reason) {
            rejections.get(reason).increment();
        }
    }

    /** Meters of one route on one listener. */
    public static final class RouteMeters {
        private static final String REQUESTS_DESCRIPTION = "HTTP requests (one per access-log line), by route and the "
                + "class of the status sent (none: the exchange ended before any)";
        private final Counter[] byStatusClass = new Counter[6];
        /** Exchanges that ended before any response status was sent; registered on first use. */
        private volatile Counter noStatus;
        private final String listener;
        private final Timer duration;
        private final Map<RejectReason, Counter> rejections = new EnumMap<>(RejectReason.class);
        private final MeterRegistry registry;
        private final String route;
        private final Map<String, Counter> allowedByRule = new ConcurrentHashMap<>();
        private final Counter denied;
        /** Soonest client notAfter (epoch millis) seen in the current and the previous window. */
        private final java.util.concurrent.atomic.AtomicLong soonestCurrent =
                new java.util.concurrent.atomic.AtomicLong(Long.MAX_VALUE);
        private volatile long soonestPrevious = Long.MAX_VALUE;
        private volatile long windowStart = System.currentTimeMillis();

        RouteMeters(MeterRegistry registry, String listener, String route) {
            this.registry = registry;
            this.listener = listener;
            this.route = route;
            Gauge.builder("mtls_proxy.client.certificate.expiry", this, RouteMeters::soonestClientExpirySeconds)
                    .description("Seconds until the soonest notAfter among client certificates recently seen on "
                            + "the route (NaN when none)")
                    .baseUnit("seconds")
                    .tags("listener", listener, "route", route)
                    .register(registry);
            for (int i = 1; i <= 5; i++) {
                byStatusClass[i] = Counter.builder("mtls_proxy.requests")
                        .description(REQUESTS_DESCRIPTION)
                        .tags("listener", listener, "route", route, "status_class", i + "xx")
                        .register(registry);
            }
            byStatusClass[0] = byStatusClass[5];
            this.duration = Timer.builder("mtls_proxy.request.duration")
                    .description("Time from request head received to the end of the exchange (response completed, "
                            + "cut short or abandoned)")
                    .tags("route", route)
                    .publishPercentileHistogram()
                    .minimumExpectedValue(Duration.ofMillis(1))
                    .maximumExpectedValue(Duration.ofSeconds(60))
                    .register(registry);
            for (RejectReason r : RejectReason.values()) {
                if (r.handshake()) {
                    continue;
                }
                rejections.put(r, Counter.builder("mtls_proxy.request.rejections")
                        .description("Requests refused by the proxy, by reason")
                        .tags("listener", listener, "route", route, "reason", r.label())
                        .register(registry));
            }
            this.denied = Counter.builder("mtls_proxy.authz.decisions")
                    .description("Authorization decisions by route, result and the rule that allowed")
                    .tags("route", route, "result", "denied", "rule", "")
                    .register(registry);
        }

        /** A client certificate with this notAfter used the route; windows rotate every {@code window}. */
        public void clientCertificateSeen(long notAfterMillis, long windowMillis) {
            long now = System.currentTimeMillis();
            if (now - windowStart >= windowMillis) {
                synchronized (this) {
                    if (now - windowStart >= windowMillis) {
                        soonestPrevious = soonestCurrent.getAndSet(Long.MAX_VALUE);
                        windowStart = now;
                    }
                }
            }
            if (notAfterMillis < soonestCurrent.get()) {
                // A write only when it changes: every event loop calls this for every request.
                soonestCurrent.accumulateAndGet(notAfterMillis, Math::min);
            }
        }

        private double soonestClientExpirySeconds() {
            long soonest = Math.min(soonestCurrent.get(), soonestPrevious);
            return soonest == Long.MAX_VALUE ? Double.NaN : (soonest - System.currentTimeMillis()) / 1000.0;
        }

        /**
         * An exchange on the route ended, however it ended (completed, refused, cut short, abandoned): counted by
         * the status it sent (status class {@code none} when it sent none, i.e. {@code 0}) and timed.
         */
        public void completed(int status, long nanos) {
            if (status == 0) {
                noStatusCounter().increment();
            } else {
                int cls = status / 100;
                byStatusClass[cls >= 1 && cls <= 5 ? cls : 0].increment();
            }
            duration.record(nanos, java.util.concurrent.TimeUnit.NANOSECONDS);
        }

        private Counter noStatusCounter() {
            Counter c = noStatus;
            if (c == null) {
                // Rare (a client leaving before the answer): registered when first needed, not for every route.
                c = Counter.builder("mtls_proxy.requests").description(REQUESTS_DESCRIPTION)
                        .tags("listener", listener, "route", route, "status_class", "none").register(registry);
                noStatus = c;
            }
            return c;
        }

        public void rejected(RejectReason reason) {
            rejections.get(reason).increment();
        }

        public void allowed(String rule) {
            // get first: computeIfAbsent with a capturing lambda allocates on every request.
            Counter known = allowedByRule.get(rule);
            if (known != null) {
                known.increment();
                return;
            }
            allowedByRule.computeIfAbsent(rule, r -> Counter.builder("mtls_proxy.authz.decisions")
                    .description("Authorization decisions by route, result and the rule that allowed")
                    .tags("route", route, "result", "allowed", "rule", r)
                    .register(registry)).increment();
        }

        public void denied() {
            denied.increment();
        }
    }

    /** Meters of one backend. */
    public static final class BackendMeters {
        private final Counter connected;
        private final Map<RejectReason, Counter> failed = new EnumMap<>(RejectReason.class);
        private final Counter reused;
        private final Timer connectDuration;
        private final MeterRegistry registry;
        private final String backend;
        private final Counter retries;
        private final Map<String, Counter> ejections = new ConcurrentHashMap<>();
        /** Reads the endpoints in rotation of the backend currently in force (a reload replaces it). */
        private final AtomicReference<java.util.function.IntSupplier> healthy = new AtomicReference<>(() -> 0);
        /** Reads the waiting requests of the backend currently in force. */
        private final AtomicReference<java.util.function.IntSupplier> pending = new AtomicReference<>(() -> 0);
        /** Reads the open connections of the backend currently in force. */
        private final AtomicReference<java.util.function.IntSupplier> open = new AtomicReference<>(() -> 0);

        BackendMeters(MeterRegistry registry, String backend) {
            this.registry = registry;
            this.backend = backend;
            this.retries = Counter.builder("mtls_proxy.backend.retries")
                    .description("Requests and tcp relays sent to another endpoint because a connection to one "
                            + "could not be established")
                    .tags("backend", backend).register(registry);
            Gauge.builder("mtls_proxy.backend.endpoints.healthy", healthy, h -> h.get().getAsInt())
                    .description("Endpoints of the backend in rotation (not ejected by passive health checking)")
                    .tags("backend", backend).register(registry);
            Gauge.builder("mtls_proxy.backend.pending.requests", pending, p -> p.get().getAsInt())
                    .description("Requests waiting for a backend connection because every endpoint is at its "
                            + "max-connections-per-endpoint")
                    .tags("backend", backend).register(registry);
            Gauge.builder("mtls_proxy.backend.connections.open", open, o -> o.get().getAsInt())
                    .description("Connections open to the backend's endpoints: being opened, in use and idle")
                    .tags("backend", backend).register(registry);
            this.connected = Counter.builder("mtls_proxy.backend.connections")
                    .description("New TLS connections to backends by outcome")
                    .tags("backend", backend, "result", RESULT_SUCCESS, "reason", "")
                    .register(registry);
            for (RejectReason r : new RejectReason[] {RejectReason.BACKEND_CONNECT_FAILED,
                    RejectReason.BACKEND_TLS_FAILED, RejectReason.BACKEND_TIMEOUT,
                    RejectReason.BACKEND_PROTOCOL_ERROR}) {
                failed.put(r, Counter.builder("mtls_proxy.backend.connections")
                        .description("New TLS connections to backends by outcome")
                        .tags("backend", backend, "result", RESULT_FAILURE, "reason", r.label())
                        .register(registry));
            }
            this.reused = Counter.builder("mtls_proxy.backend.connection.reuses")
                    .description("Requests sent on a pooled, already open backend connection")
                    .tags("backend", backend).register(registry);
            this.connectDuration = Timer.builder("mtls_proxy.backend.connect.duration")
                    .description("TCP connect plus TLS handshake to a backend")
                    .tags("backend", backend)
                    .publishPercentileHistogram()
                    .minimumExpectedValue(Duration.ofMillis(1))
                    .maximumExpectedValue(Duration.ofSeconds(10))
                    .register(registry);
        }

        public void connected(long nanos) {
            connected.increment();
            connectDuration.record(nanos, java.util.concurrent.TimeUnit.NANOSECONDS);
        }

        public void failed(RejectReason reason) {
            Counter c = failed.get(reason);
            if (c != null) {
                c.increment();
            }
        }

        public void reused() {
            reused.increment();
        }

        public void retried() {
            retries.increment();
        }

        /** The ejection counter of one configured endpoint; registered up front so that it reads 0, not absent. */
        public Counter ejections(String endpoint) {
            return ejections.computeIfAbsent(endpoint, e -> Counter.builder("mtls_proxy.backend.ejections")
                    .description("Endpoints taken out of rotation by passive health checking")
                    .tags("backend", backend, "endpoint", e).register(registry));
        }

        /** Where the healthy-endpoints gauge reads from: the backend of the configuration in force. */
        public void healthySource(java.util.function.IntSupplier source) {
            healthy.set(source);
        }

        /** Where the pending-requests and open-connections gauges read from: the backend in force. */
        public void connectionSources(java.util.function.IntSupplier pendingRequests,
                java.util.function.IntSupplier openConnections) {
            pending.set(pendingRequests);
            open.set(openConnections);
        }
    }
}
