package org.mtlsproxy.proxy.upstream;

import static java.util.Objects.requireNonNull;

import io.netty.bootstrap.Bootstrap;
import io.netty.channel.Channel;
import io.netty.channel.ChannelFuture;
import io.netty.channel.ChannelInitializer;
import io.netty.channel.ChannelOption;
import io.netty.channel.ChannelPipeline;
import io.netty.channel.EventLoop;
import io.netty.handler.ssl.SslContext;
import io.netty.handler.ssl.SslHandler;
import io.netty.util.concurrent.ScheduledFuture;
import java.net.InetSocketAddress;
import java.time.Duration;
import java.util.ArrayDeque;
import java.util.List;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.RejectedExecutionException;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import io.micrometer.core.instrument.Counter;
import org.mtlsproxy.config.BackendConfig;
import org.mtlsproxy.config.HostPort;
import org.mtlsproxy.config.LoadBalancing;
import org.mtlsproxy.proxy.RejectReason;
import org.mtlsproxy.proxy.http.LogThrottle;
import org.mtlsproxy.proxy.metrics.ProxyMetrics.BackendMeters;
import org.mtlsproxy.proxy.transport.IdleTimeoutHandler;
import org.mtlsproxy.proxy.transport.Transport;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * A backend: its endpoints, its client TLS context and a pool of idle connections per event loop. A request's
 * backend connection always runs on the client channel's event loop, so the pool of one loop is touched by one
 * thread only and needs no lock; the map from loop to pool is the only shared structure.
 *
 * <p>Choosing an endpoint: {@code round-robin} (a cursor per loop) or {@code least-outstanding} (the fewest
 * requests in flight across the process, from one {@link AtomicInteger} per endpoint; ties in turn), both skipping
 * endpoints ejected by passive health checking ({@link EndpointHealth}); then a pooled idle connection to that
 * endpoint is reused, or a new one opened. A request counts as in flight on its endpoint from the choice until its
 * connection is released or closed, or the connect attempt fails: {@link BackendConnection} carries the count so
 * that it is given back exactly once on every path.
 *
 * <p>When a new connection cannot be established (TCP refused or reset, TLS failure) nothing of the request was
 * sent, so it is retried on another endpoint, up to {@code retries} times, all attempts within
 * {@code connect-timeout}. The caller only sees the final {@link AcquireCallback#acquired} or
 * {@link AcquireCallback#failed}.
 *
 * <p>Connections per endpoint ({@link ConnectionLimiter}): every connection counts from its connect attempt until
 * its channel closes (or the attempt fails), whether in use or idle, across all event loops. With
 * {@code max-connections-per-endpoint} set, a request that needs a new connection while its endpoint is at the cap
 * takes another endpoint in rotation with an idle connection on this loop or room; with none, it waits in the
 * backend's FIFO queue (at most {@code max-pending-requests}, at most {@code connect-timeout}) and otherwise fails
 * as {@link RejectReason#BACKEND_SATURATED}. While requests wait, a released connection goes to a waiter on its
 * own loop (no new handshake) or is closed so that its slot goes to the oldest waiter, and the pools of the other
 * loops each close one idle connection per newly queued request. Reusing a pooled connection touches no counter.
 */
public final class Backend {

    private static final Logger LOG = LoggerFactory.getLogger(Backend.class);

    private final BackendConfig config;
    private final SslContext sslContext;
    private final BackendMeters meters;
    private final Transport transport;
    private final List<HostPort> endpoints;
    /**
     * Per endpoint, its address when the endpoint is an IP literal (parsed once here, not for every new
     * connection), or null for a host name, which is looked up for every new connection (DNS may change).
     */
    private final InetSocketAddress[] literalAddresses;
    private final Map<EventLoop, LoopPool> pools = new ConcurrentHashMap<>();
    private final AtomicInteger[] outstanding;
    private final Counter[] ejectionCounters;
    private final EndpointHealth health;
    private final String materialFingerprint;
    /** {@link #choose}'s "tried" for a first attempt: all false, never written. */
    private final boolean[] noneTried;
    /** Resolves host-name endpoints off the event loops, within the connect-timeout. */
    private final BackendResolver resolver;
    /** Connections per endpoint and the requests waiting for one; shared with the backend this one replaced. */
    private final ConnectionLimiter limiter;
    /** max-connections-per-endpoint; 0: no cap. */
    private final int cap;
    /** One warning per interval while requests are refused for saturation. */
    private final LogThrottle saturationLog = new LogThrottle(Duration.ofSeconds(10));
    private volatile boolean closed;

    /**
     * @param materialFingerprint identifies the bytes of the TLS files {@code sslContext} was built from: a reload
     *                            with the same config and fingerprint keeps this backend
     */
    public Backend(BackendConfig config, SslContext sslContext, BackendMeters meters, Transport transport,
            String materialFingerprint) {
        this(config, sslContext, meters, transport, materialFingerprint, null);
    }

    /**
     * @param materialFingerprint identifies the bytes of the TLS files {@code sslContext} was built from: a reload
     *                            with the same config and fingerprint keeps this backend
     * @param replaced            the running backend of the same name this one replaces on a reload, or null: when
     *                            it has the same endpoints, their connection counts (and requests waiting for a
     *                            connection) are shared, so its connections still open count against the cap until
     *                            they close; nothing of {@code replaced} changes
     */
    public Backend(BackendConfig config, SslContext sslContext, BackendMeters meters, Transport transport,
            String materialFingerprint, Backend replaced) {
        this.materialFingerprint = requireNonNull(materialFingerprint, "materialFingerprint");
        this.resolver = BackendResolver.withLimit(config.connectTimeout());
        this.config = requireNonNull(config, "config");
        this.sslContext = requireNonNull(sslContext, "sslContext");
        this.meters = requireNonNull(meters, "meters");
        this.transport = requireNonNull(transport, "transport");
        this.endpoints = config.endpoints();
        this.noneTried = new boolean[endpoints.size()];
        this.literalAddresses = literalAddresses(endpoints);
        this.outstanding = new AtomicInteger[endpoints.size()];
        this.ejectionCounters = new Counter[endpoints.size()];
        for (int i = 0; i < endpoints.size(); i++) {
            outstanding[i] = new AtomicInteger();
            ejectionCounters[i] = meters.ejections(endpoints.get(i).toString());
        }
        this.health = new EndpointHealth(endpoints.size(), config.ejection(), System::nanoTime, new HealthEvents());
        this.cap = config.maxConnectionsPerEndpoint();
        this.limiter = replaced != null && replaced.endpoints.equals(endpoints)
                ? replaced.limiter : new ConnectionLimiter(endpoints.size());
    }

    /**
     * Points the backend's gauges ({@code endpoints_healthy}, pending requests, open connections) at this backend.
     * Called when its snapshot goes into force, not on construction: a snapshot whose reload failed must not take
     * the gauges (nor keep itself reachable through them) from the backend still serving.
     */
    public void publishMeters() {
        meters.healthySource(health::healthyCount);
        meters.connectionSources(limiter::pending, limiter::openTotal);
    }

    public String name() {
        return config.name();
    }

    /**
     * After a reload: when {@code previous} (the running backend of the same name) has the same endpoints and
     * ejection policy, its passive health carries over, so an endpoint ejected before the reload (a CRL refresh, a
     * certificate rotation) stays out, and one failing stays counted; otherwise it starts afresh. Call before this
     * backend serves a request.
     */
    public void inheritHealth(Backend previous) {
        if (previous.endpoints.equals(endpoints) && previous.config.ejection().equals(config.ejection())) {
            health.inheritFrom(previous.health);
        }
    }

    public BackendConfig config() {
        return config;
    }

    /**
     * A bootstrap for a connection to a backend endpoint, HTTP or relay: on {@code loop}, names resolved by
     * {@code resolver}, {@code timeoutMillis} to connect, no Nagle, TCP keep-alive. The caller adds its handler.
     */
    static Bootstrap connectBootstrap(EventLoop loop, Transport transport, BackendResolver resolver,
            int timeoutMillis) {
        return new Bootstrap()
                .group(loop)
                .channel(transport.socketChannel())
                .resolver(resolver)
                .option(ChannelOption.CONNECT_TIMEOUT_MILLIS, timeoutMillis)
                .option(ChannelOption.TCP_NODELAY, true)
                .option(ChannelOption.SO_KEEPALIVE, true);
    }

    BackendMeters meters() {
        return meters;
    }

    int endpointCount() {
        return endpoints.size();
    }

    HostPort endpoint(int index) {
        return endpoints.get(index);
    }

    /**
     * Where to connect for endpoint {@code index}: its address, parsed once, when it is an IP literal (Bootstrap then
     * skips the resolver); else the unresolved name, looked up for every new connection (DNS may change).
     */
    InetSocketAddress address(int index) {
        InetSocketAddress literal = literalAddresses[index];
        HostPort e = endpoints.get(index);
        return literal != null ? literal : InetSocketAddress.createUnresolved(e.host(), e.port());
    }

    /** The host-name resolver of this backend's connections (lookups limited to its connect-timeout). */
    BackendResolver resolver() {
        return resolver;
    }

    /** What the TLS context was built from (see the constructor). */
    public String materialFingerprint() {
        return materialFingerprint;
    }

    /** Requests in flight on endpoint {@code index} (its position in the configured endpoints). */
    public int outstanding(int index) {
        return outstanding[index].get();
    }

    /** Connections open to endpoint {@code index} now: being opened, in use and idle, on every event loop. */
    public int openConnections(int index) {
        return limiter.open(index);
    }

    /** Requests waiting for a connection now (every endpoint at max-connections-per-endpoint). */
    public int pendingRequests() {
        return limiter.pending();
    }

    /** Endpoints in rotation (not ejected). */
    public int healthyEndpoints() {
        return health.healthyCount();
    }

    /**
     * Hands out an idle pooled connection or opens a new one, on {@code loop} (which must be the caller's loop),
     * retrying other endpoints when a new connection cannot be established.
     *
     * @param forceNew skip the pool (used to retry a request whose pooled connection turned out closed)
     */
    public void acquire(EventLoop loop, boolean forceNew, AcquireCallback callback) {
        LoopPool pool = pools.get(loop);
        if (pool == null) {
            // Once per event loop; get() first because computeIfAbsent's capturing lambda allocates every call.
            pool = pools.computeIfAbsent(loop, l -> new LoopPool(endpoints.size()));
        }
        if (forceNew) {
            new Acquisition(loop, pool, true, callback).attempt();
            return;
        }
        // The endpoint is chosen first (as nginx's upstream keepalive does), then an idle connection to it is
        // reused if there is one: load spreads even when every client reuses connections. That common case
        // allocates nothing; otherwise the search goes on from the same choice.
        int index = choose(pool, noneTried);
        BackendConnection idle = pool.poll(index);
        if (idle != null) {
            handOut(index, idle, callback);
            return;
        }
        new Acquisition(loop, pool, false, callback).attemptWithout(index);
    }

    private void handOut(int index, BackendConnection idle, AcquireCallback callback) {
        outstanding[index].incrementAndGet();
        meters.reused();
        idle.startFlight();
        callback.acquired(idle);
    }

    /**
     * Takes {@code callback}'s request out of the queue of requests waiting for a connection, if it is there (its
     * client went away). Call on the loop the request was made on.
     */
    public void cancel(AcquireCallback callback) {
        if (limiter.pending() == 0) {
            return;
        }
        ConnectionLimiter.Waiter w = limiter.removeFirst(x -> x instanceof Acquisition a && a.callback == callback);
        if (w != null) {
            ((Acquisition) w).stopWaiting();
        }
    }

    /**
     * One request's search for a connection: the first attempt, its retries, and its wait for a slot when every
     * endpoint is at its cap. Confined to {@code loop}, except {@link #granted} and the limiter's calls.
     */
    private final class Acquisition implements ConnectionLimiter.Waiter {
        private final EventLoop loop;
        private final LoopPool pool;
        private final boolean forceNew;
        private final AcquireCallback callback;
        private final ConnectAttempts attempts;
        /** The endpoints tried ({@link ConnectAttempts#tried}). */
        private final boolean[] tried;
        /** The last failed attempt's reason and cause, for a retry that finds no endpoint with room. */
        private RejectReason lastReason;
        private Throwable lastCause;
        /** While queued for a slot: the connect-timeout clock of the wait. */
        private ScheduledFuture<?> waitTimer;

        Acquisition(EventLoop loop, LoopPool pool, boolean forceNew, AcquireCallback callback) {
            this.loop = loop;
            this.pool = pool;
            this.forceNew = forceNew;
            this.callback = callback;
            this.attempts = new ConnectAttempts(Backend.this, loop);
            this.tried = attempts.tried;
        }

        /**
         * Chooses an endpoint not tried yet (there is always one on the first attempt) and gets a connection: a
         * pooled one, else a new one if the endpoint has room, else another endpoint's, else it waits.
         */
        void attempt() {
            int index = choose(pool, tried);
            if (!forceNew) {
                BackendConnection idle = pool.poll(index);
                if (idle != null) {
                    handOut(index, idle, callback);
                    return;
                }
            }
            attemptWithout(index);
        }

        /** Goes on from endpoint {@code index}, chosen, whose pool had no idle connection on this loop. */
        void attemptWithout(int index) {
            if (limiter.tryAcquire(index, cap)) {
                connect(index);
                return;
            }
            // The chosen endpoint is at its cap (or requests already wait): any other endpoint in rotation with an
            // idle connection on this loop or room for a new one, before waiting.
            int n = endpoints.size();
            boolean onlyInRotation = health.available(index);
            for (int k = 1; k < n; k++) {
                int i = (index + k) % n;
                if (tried[i] || (onlyInRotation && !health.available(i))) {
                    continue;
                }
                if (!forceNew) {
                    BackendConnection idle = pool.poll(i);
                    if (idle != null) {
                        handOut(i, idle, callback);
                        return;
                    }
                }
                if (limiter.tryAcquire(i, cap)) {
                    connect(i);
                    return;
                }
            }
            if (lastReason != null) {
                // A retry never waits: the request already spent part of its connect-timeout on a failed endpoint.
                callback.failed(lastReason, lastCause);
                return;
            }
            waitForSlot();
        }

        /** Every endpoint is at its cap: queue for a slot, at most connect-timeout, or refuse when the queue is full. */
        private void waitForSlot() {
            long waitMillis = Math.max(1, attempts.remainingMillis());
            try {
                waitTimer = loop.schedule(this::waitedTooLong, waitMillis, TimeUnit.MILLISECONDS);
            } catch (RejectedExecutionException e) {
                saturated("shutting down");
                return;
            }
            if (!limiter.enqueue(this, config.maxPendingRequests())) {
                waitTimer.cancel(false);
                waitTimer = null;
                saturated("every endpoint at max-connections-per-endpoint " + cap + " and max-pending-requests "
                        + config.maxPendingRequests() + " waiting");
                return;
            }
            shedIdleElsewhere(loop);
        }

        private void waitedTooLong() {
            waitTimer = null;
            if (limiter.remove(this)) {
                saturated("no connection came free within connect-timeout "
                        + config.connectTimeout().toMillis() + " ms");
            }
            // Else a slot was granted meanwhile: its task is on the way.
        }

        Backend owner() {
            return Backend.this;
        }

        /** Out of the queue without a slot: its client left. */
        void stopWaiting() {
            if (waitTimer != null) {
                waitTimer.cancel(false);
                waitTimer = null;
            }
        }

        private void saturated(String detail) {
            if (saturationLog.mayLog()) {
                LOG.atWarn()
                        .addKeyValue("backend", config.name())
                        .addKeyValue("max_connections_per_endpoint", cap)
                        .addKeyValue("pending", limiter.pending())
                        .addKeyValue("max_pending_requests", config.maxPendingRequests())
                        .addKeyValue("detail", detail)
                        .addKeyValue("suppressed", saturationLog.suppressed())
                        .log("backend saturated: requests refused with 503");
            }
            callback.failed(RejectReason.BACKEND_SATURATED, new BackendSaturatedException(detail));
        }

        @Override
        public int cap() {
            return cap;
        }

        @Override
        public boolean accepts(int endpoint) {
            // Waiters are first attempts (retries never wait): every endpoint is untried. In rotation if any is.
            return health.available(endpoint) || health.healthyCount() == 0;
        }

        @Override
        public void granted(int endpoint) {
            try {
                loop.execute(() -> onGranted(endpoint));
            } catch (RejectedExecutionException e) {
                limiter.release(endpoint);
            }
        }

        private void onGranted(int endpoint) {
            stopWaiting();
            if (!callback.stillWaiting()) {
                limiter.release(endpoint);
                return;
            }
            if (!forceNew) {
                BackendConnection idle = pool.poll(endpoint);
                if (idle != null) {
                    limiter.release(endpoint);
                    handOut(endpoint, idle, callback);
                    return;
                }
            }
            // The wait is over; the connection gets its own connect-timeout, as after no wait.
            attempts.restartClock();
            connect(endpoint);
        }

        /** A connection released on this loop while this request waits: take it over, slot and all. */
        void takeOver(BackendConnection connection) {
            stopWaiting();
            if (!callback.stillWaiting()) {
                release(connection, true);
                return;
            }
            handOut(connection.index(), connection, callback);
        }

        /** Connects to {@code index}, whose slot in the limiter this attempt holds. */
        private void connect(int index) {
            outstanding[index].incrementAndGet();
            long start = System.nanoTime();
            int timeoutMillis = Math.max(1, attempts.remainingMillis());
            HostPort endpoint = endpoints.get(index);
            BackendConnection connection = new BackendConnection(Backend.this, endpoint, index);
            String serverName = config.tls().serverName();
            Bootstrap bootstrap = connectBootstrap(loop, transport, resolver, timeoutMillis)
                    .handler(new ChannelInitializer<Channel>() {
                        @Override
                        protected void initChannel(Channel ch) {
                            // peerHost = server-name: SNI (for DNS names) and hostname verification of the backend.
                            SslHandler tls = sslContext.newHandler(ch.alloc(), serverName, endpoint.port());
                            tls.setHandshakeTimeoutMillis(timeoutMillis);
                            ChannelPipeline p = ch.pipeline();
                            p.addLast("tls", tls);
                            p.addLast("http-codec", new BackendHttpCodec(8192, 65536));
                            p.addLast("idle", new IdleTimeoutHandler(config.idleTimeout()));
                            p.addLast("backend", connection);
                        }
                    });
            ChannelFuture connect = bootstrap.connect(address(index));
            connect.addListener((ChannelFuture f) -> {
                if (!f.isSuccess()) {
                    limiter.release(index);
                    failed(index, ConnectAttempts.connectFailure(f.cause()), f.cause());
                    return;
                }
                Channel ch = f.channel();
                // From here the slot is given back when the channel closes, whatever closes it (TLS failure,
                // the backend, an error, the idle timer, a replaced backend's close): exactly once.
                ch.closeFuture().addListener(cf -> {
                    removeIdle(loop, connection);
                    connection.endFlight();
                    limiter.release(index);
                });
                ch.pipeline().get(SslHandler.class).handshakeFuture().addListener(hf -> {
                    if (hf.isSuccess()) {
                        meters.connected(System.nanoTime() - start);
                        connection.startFlight();
                        callback.acquired(connection);
                        return;
                    }
                    ch.close();
                    failed(index, ConnectAttempts.handshakeFailure(hf.cause()), hf.cause());
                });
            });
        }

        private void failed(int index, RejectReason reason, Throwable cause) {
            outstanding[index].decrementAndGet();
            lastReason = reason;
            lastCause = cause;
            if (attempts.failedMayRetry(index, reason, cause, !closed && callback.stillWaiting(),
                    "retrying on another endpoint")) {
                attempt();
                return;
            }
            callback.failed(reason, cause);
        }
    }

    /**
     * Requests wait for a slot, so idle connections elsewhere hold slots that they need: each other loop's pool
     * closes one idle connection to an endpoint at its cap, if requests still wait when its task runs. The slot
     * goes to the oldest waiter as the channel closes. (At most one per loop per queued request: a few more may
     * close than there are waiters; they are idle, and only while the backend is saturated.)
     */
    private void shedIdleElsewhere(EventLoop loop) {
        pools.forEach((other, pool) -> {
            if (other != loop) {
                try {
                    other.execute(() -> {
                        if (limiter.pending() > 0) {
                            pool.closeOneIdle(limiter, cap);
                        }
                    });
                } catch (RejectedExecutionException e) {
                    // Shutting down.
                }
            }
        });
    }

    /**
     * The endpoint for the next attempt: not in {@code tried}, in rotation if possible (an ejected one only when
     * every untried endpoint is ejected), by the configured policy. -1 when every endpoint was tried.
     */
    private int choose(LoopPool pool, boolean[] tried) {
        int best = choose(tried, pool.cursor,
                config.loadBalancing() == LoadBalancing.LEAST_OUTSTANDING ? outstanding : null);
        if (best >= 0) {
            pool.cursor = (best + 1) % endpoints.size();
        }
        return best;
    }

    /**
     * The endpoint choice of {@link #choose(LoopPool, boolean[])}, also that of the {@link RelayConnector} of this
     * backend (which shares its passive health): the first endpoint from {@code start} not in {@code tried}, in
     * rotation if possible (an ejected one only when every untried endpoint is ejected); with {@code load} (least
     * outstanding), the one of them with the lowest load, ties going to the first from {@code start}. -1 when every
     * endpoint was tried.
     */
    int choose(boolean[] tried, int start, AtomicInteger[] load) {
        health.refresh();
        int n = endpoints.size();
        int best = -1;
        for (int pass = 0; pass < 2 && best < 0; pass++) {
            int bestLoad = Integer.MAX_VALUE;
            for (int k = 0; k < n; k++) {
                int i = (start + k) % n;
                if (tried[i] || (pass == 0 && !health.available(i))) {
                    continue;
                }
                if (load == null) {
                    best = i;
                    break;
                }
                // Strictly fewer: among equals the first after the cursor wins, so ties go round robin.
                int l = load[i].get();
                if (l < bestLoad) {
                    best = i;
                    bestLoad = l;
                }
            }
        }
        return best;
    }

    static boolean choosable(boolean[] tried) {
        for (boolean t : tried) {
            if (!t) {
                return true;
            }
        }
        return false;
    }

    /** Per endpoint: its resolved address when it is an IP literal, else null (see {@link #literalAddresses}). */
    static InetSocketAddress[] literalAddresses(List<HostPort> endpoints) {
        InetSocketAddress[] addresses = new InetSocketAddress[endpoints.size()];
        for (int i = 0; i < addresses.length; i++) {
            HostPort e = endpoints.get(i);
            java.net.InetAddress ip = BackendResolver.literal(e.host());
            addresses[i] = ip == null ? null : new InetSocketAddress(ip, e.port());
        }
        return addresses;
    }

    /** A response head arrived on a connection to endpoint {@code index}. */
    void endpointSucceeded(int index) {
        health.recordSuccess(index);
    }

    /** A network-level failure of endpoint {@code index}, seen on {@code loop}. */
    void endpointFailed(int index, EventLoop loop) {
        long ejectionNanos = health.recordFailure(index);
        if (ejectionNanos > 0) {
            try {
                // Only to log the return on time: the next endpoint choice would return it anyway.
                loop.schedule(() -> {
                    if (!closed) {
                        health.refresh();
                    }
                }, ejectionNanos + TimeUnit.MILLISECONDS.toNanos(1), TimeUnit.NANOSECONDS);
            } catch (RejectedExecutionException e) {
                // Shutting down.
            }
        }
    }

    /** Logs and counts ejections and returns. */
    private final class HealthEvents implements EndpointHealth.Events {
        @Override
        public void ejected(int endpoint, long ejectionNanos, int consecutiveFailures, int ejections) {
            ejectionCounters[endpoint].increment();
            LOG.atWarn()
                    .addKeyValue("backend", config.name())
                    .addKeyValue("endpoint", endpoints.get(endpoint).toString())
                    .addKeyValue("consecutive_failures", consecutiveFailures)
                    .addKeyValue("ejection_ms", TimeUnit.NANOSECONDS.toMillis(ejectionNanos))
                    .addKeyValue("ejections", ejections)
                    .log("backend endpoint ejected");
        }

        @Override
        public void returned(int endpoint) {
            LOG.atInfo()
                    .addKeyValue("backend", config.name())
                    .addKeyValue("endpoint", endpoints.get(endpoint).toString())
                    .log("backend endpoint returned to rotation");
        }

        @Override
        public void ejectionRefused(int endpoint, int ejectedNow) {
            LOG.atDebug()
                    .addKeyValue("backend", config.name())
                    .addKeyValue("endpoint", endpoints.get(endpoint).toString())
                    .addKeyValue("ejected", ejectedNow)
                    .log("backend endpoint failing but not ejected: max-ejected-percent reached");
        }
    }

    /** The endpoint's in-flight count went down by one (called once per {@link BackendConnection#startFlight}). */
    void flightEnded(int index) {
        outstanding[index].decrementAndGet();
    }

    /**
     * Returns a connection after an exchange. A reusable, open connection goes back to its loop's pool (bounded by
     * max-idle-per-endpoint); anything else is closed.
     */
    public void release(BackendConnection connection, boolean reusable) {
        connection.detach();
        connection.endFlight();
        Channel ch = connection.channel();
        if (!reusable || closed || ch == null || !ch.isActive() || !connection.betweenResponses()) {
            if (ch != null) {
                ch.close();
            }
            return;
        }
        if (limiter.pending() > 0) {
            // Requests wait for a slot: this connection goes to one waiting on its loop, or makes room by closing.
            EventLoop loop = ch.eventLoop();
            int index = connection.index();
            ConnectionLimiter.Waiter w = limiter.removeFirst(
                    x -> x instanceof Acquisition a && a.owner() == this && a.loop == loop && a.accepts(index));
            if (w == null) {
                ch.close();
                return;
            }
            ch.config().setAutoRead(true);
            ((Acquisition) w).takeOver(connection);
            return;
        }
        ch.config().setAutoRead(true);
        LoopPool pool = pools.get(ch.eventLoop());
        if (pool == null || !pool.offer(connection.index(), connection, config.maxIdlePerEndpoint())) {
            ch.close();
        }
    }

    private void removeIdle(EventLoop loop, BackendConnection connection) {
        LoopPool pool = pools.get(loop);
        if (pool != null) {
            pool.remove(connection.index(), connection);
        }
    }

    /** True once {@link #close} was called. */
    public boolean isClosed() {
        return closed;
    }

    /**
     * Closes every pooled idle connection and refuses to pool more (shutdown, a replaced snapshot, or one whose
     * reload failed).
     */
    public void close() {
        closed = true;
        pools.forEach((loop, pool) -> loop.execute(pool::closeAll));
        resolver.close();
        LOG.debug("backend {} closed", config.name());
    }

    /** Idle connections of one event loop, per endpoint. Touched only from that loop. */
    private static final class LoopPool {
        private final ArrayDeque<BackendConnection>[] idle;
        /** Where the next endpoint choice starts looking. */
        private int cursor;

        @SuppressWarnings("unchecked")
        LoopPool(int endpoints) {
            idle = new ArrayDeque[endpoints];
            for (int i = 0; i < endpoints; i++) {
                idle[i] = new ArrayDeque<>();
            }
        }

        BackendConnection poll(int endpoint) {
            ArrayDeque<BackendConnection> q = idle[endpoint];
            BackendConnection c;
            // Most recently used first: it is the least likely to have been closed by the backend's idle timer.
            while ((c = q.pollLast()) != null) {
                if (c.channel().isActive() && c.betweenResponses()) {
                    return c;
                }
                // Closed by the backend, or it sent bytes while idle: never reused (closing it ends its count).
                c.channel().close();
            }
            return null;
        }

        boolean offer(int endpoint, BackendConnection c, int max) {
            ArrayDeque<BackendConnection> q = idle[endpoint];
            if (q.size() >= max) {
                return false;
            }
            q.addLast(c);
            return true;
        }

        void remove(int endpoint, BackendConnection c) {
            idle[endpoint].remove(c);
        }

        /** Closes the least recently used idle connection to an endpoint at {@code cap}, if there is one. */
        void closeOneIdle(ConnectionLimiter limiter, int cap) {
            for (int e = 0; e < idle.length; e++) {
                if (cap > 0 && limiter.open(e) < cap) {
                    continue;
                }
                BackendConnection c = idle[e].pollFirst();
                if (c != null) {
                    c.channel().close();
                    return;
                }
            }
        }

        void closeAll() {
            for (ArrayDeque<BackendConnection> q : idle) {
                BackendConnection c;
                while ((c = q.pollFirst()) != null) {
                    c.channel().close();
                }
            }
        }
    }
}
