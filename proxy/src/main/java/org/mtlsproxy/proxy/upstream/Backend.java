package org.mtlsproxy.proxy.upstream;

import static java.util.Objects.requireNonNull;

import io.netty.bootstrap.Bootstrap;
import io.netty.channel.Channel;
import io.netty.channel.ChannelFuture;
import io.netty.channel.ChannelInitializer;
import io.netty.channel.ChannelOption;
import io.netty.channel.ChannelPipeline;
import io.netty.channel.ConnectTimeoutException;
import io.netty.channel.EventLoop;
import io.netty.handler.codec.http.HttpClientCodec;
import io.netty.handler.codec.http.HttpDecoderConfig;
import io.netty.handler.ssl.SslContext;
import io.netty.handler.ssl.SslHandler;
import io.netty.handler.ssl.SslHandshakeTimeoutException;
import java.net.InetSocketAddress;
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
    /** Resolves host-name endpoints off the event loops, within the connect-timeout. */
    private final BackendResolver resolver;
    private volatile boolean closed;

    /**
     * @param materialFingerprint identifies the bytes of the TLS files {@code sslContext} was built from: a reload
     *                            with the same config and fingerprint keeps this backend
     */
    public Backend(BackendConfig config, SslContext sslContext, BackendMeters meters, Transport transport,
            String materialFingerprint) {
        this.materialFingerprint = requireNonNull(materialFingerprint, "materialFingerprint");
        this.resolver = BackendResolver.withLimit(config.connectTimeout());
        this.config = requireNonNull(config, "config");
        this.sslContext = requireNonNull(sslContext, "sslContext");
        this.meters = requireNonNull(meters, "meters");
        this.transport = requireNonNull(transport, "transport");
        this.endpoints = config.endpoints();
        this.literalAddresses = literalAddresses(endpoints);
        this.outstanding = new AtomicInteger[endpoints.size()];
        this.ejectionCounters = new Counter[endpoints.size()];
        for (int i = 0; i < endpoints.size(); i++) {
            outstanding[i] = new AtomicInteger();
            ejectionCounters[i] = meters.ejections(endpoints.get(i).toString());
        }
        this.health = new EndpointHealth(endpoints.size(), config.ejection(), System::nanoTime, new HealthEvents());
    }

    /**
     * Points the backend's {@code endpoints_healthy} gauge at this backend. Called when its snapshot goes into
     * force, not on construction: a snapshot whose reload failed must not take the gauge (nor keep itself
     * reachable through it) from the backend still serving.
     */
    public void publishHealth() {
        meters.healthySource(health::healthyCount);
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

    /** What the TLS context was built from (see the constructor). */
    public String materialFingerprint() {
        return materialFingerprint;
    }

    /** Requests in flight on endpoint {@code index} (its position in the configured endpoints). */
    public int outstanding(int index) {
        return outstanding[index].get();
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
        new Acquisition(loop, pool, forceNew, callback).attempt();
    }

    /** One request's search for a connection: the first attempt and its retries. Confined to {@code loop}. */
    private final class Acquisition {
        private final EventLoop loop;
        private final LoopPool pool;
        private final boolean forceNew;
        private final AcquireCallback callback;
        private final long deadline;
        private final boolean[] tried = new boolean[endpoints.size()];
        private int retriesLeft = config.retries();

        Acquisition(EventLoop loop, LoopPool pool, boolean forceNew, AcquireCallback callback) {
            this.loop = loop;
            this.pool = pool;
            this.forceNew = forceNew;
            this.callback = callback;
            this.deadline = System.nanoTime() + config.connectTimeout().toNanos();
        }

        /** Chooses an endpoint not tried yet (there is always one on the first attempt) and gets a connection. */
        void attempt() {
            int index = choose(pool, tried);
            outstanding[index].incrementAndGet();
            // The endpoint is chosen first (as nginx's upstream keepalive does), then an idle connection to it is
            // reused if there is one: load spreads even when every client reuses connections.
            if (!forceNew) {
                BackendConnection idle = pool.poll(index);
                if (idle != null) {
                    meters.reused();
                    idle.startFlight();
                    callback.acquired(idle);
                    return;
                }
            }
            connect(index);
        }

        private void connect(int index) {
            long start = System.nanoTime();
            int timeoutMillis = Math.max(1, remainingMillis());
            HostPort endpoint = endpoints.get(index);
            BackendConnection connection = new BackendConnection(Backend.this, endpoint, index);
            String serverName = config.tls().serverName();
            Bootstrap bootstrap = new Bootstrap()
                    .group(loop)
                    .channel(transport.socketChannel())
                    .resolver(resolver)
                    .option(ChannelOption.CONNECT_TIMEOUT_MILLIS, timeoutMillis)
                    .option(ChannelOption.TCP_NODELAY, true)
                    .option(ChannelOption.SO_KEEPALIVE, true)
                    .handler(new ChannelInitializer<Channel>() {
                        @Override
                        protected void initChannel(Channel ch) {
                            // peerHost = server-name: SNI (for DNS names) and hostname verification of the backend.
                            SslHandler tls = sslContext.newHandler(ch.alloc(), serverName, endpoint.port());
                            tls.setHandshakeTimeoutMillis(timeoutMillis);
                            ChannelPipeline p = ch.pipeline();
                            p.addLast("tls", tls);
                            p.addLast("http-codec", new HttpClientCodec(new HttpDecoderConfig()
                                    .setMaxInitialLineLength(8192)
                                    .setMaxHeaderSize(65536)
                                    .setMaxChunkSize(65536), false, true));
                            p.addLast("idle", new IdleTimeoutHandler(config.idleTimeout()));
                            p.addLast("backend", connection);
                        }
                    });
            // A resolved address (an IP literal) connects at once: Bootstrap skips the resolver for it.
            InetSocketAddress literal = literalAddresses[index];
            ChannelFuture connect = bootstrap.connect(literal != null ? literal
                    : InetSocketAddress.createUnresolved(endpoint.host(), endpoint.port()));
            connect.addListener((ChannelFuture f) -> {
                if (!f.isSuccess()) {
                    failed(index, f.cause() instanceof ConnectTimeoutException
                            ? RejectReason.BACKEND_TIMEOUT : RejectReason.BACKEND_CONNECT_FAILED, f.cause());
                    return;
                }
                Channel ch = f.channel();
                ch.closeFuture().addListener(cf -> {
                    removeIdle(loop, connection);
                    connection.endFlight();
                });
                ch.pipeline().get(SslHandler.class).handshakeFuture().addListener(hf -> {
                    if (hf.isSuccess()) {
                        meters.connected(System.nanoTime() - start);
                        connection.startFlight();
                        callback.acquired(connection);
                        return;
                    }
                    ch.close();
                    failed(index, hf.cause() instanceof SslHandshakeTimeoutException
                            ? RejectReason.BACKEND_TIMEOUT : RejectReason.BACKEND_TLS_FAILED, hf.cause());
                });
            });
        }

        private void failed(int index, RejectReason reason, Throwable cause) {
            outstanding[index].decrementAndGet();
            meters.failed(reason);
            endpointFailed(index, loop);
            tried[index] = true;
            if (retriesLeft > 0 && !closed && remainingMillis() > 0 && callback.stillWaiting()
                    && choosable(tried)) {
                retriesLeft--;
                meters.retried();
                LOG.atDebug()
                        .addKeyValue("backend", config.name())
                        .addKeyValue("endpoint", endpoints.get(index).toString())
                        .addKeyValue("reason", reason.label())
                        .addKeyValue("cause", String.valueOf(cause))
                        .log("retrying on another endpoint");
                attempt();
                return;
            }
            callback.failed(reason, cause);
        }

        /** What is left of connect-timeout for this request, in whole milliseconds (at least 1 on attempt one). */
        private int remainingMillis() {
            long left = TimeUnit.NANOSECONDS.toMillis(deadline - System.nanoTime());
            return (int) Math.max(0, Math.min(Integer.MAX_VALUE, left));
        }
    }

    /**
     * The endpoint for the next attempt: not in {@code tried}, in rotation if possible (an ejected one only when
     * every untried endpoint is ejected), by the configured policy. -1 when every endpoint was tried.
     */
    private int choose(LoopPool pool, boolean[] tried) {
        health.refresh();
        int n = endpoints.size();
        int start = pool.cursor;
        boolean leastOutstanding = config.loadBalancing() == LoadBalancing.LEAST_OUTSTANDING;
        int best = -1;
        for (int pass = 0; pass < 2 && best < 0; pass++) {
            int bestLoad = Integer.MAX_VALUE;
            for (int k = 0; k < n; k++) {
                int i = (start + k) % n;
                if (tried[i] || (pass == 0 && !health.available(i))) {
                    continue;
                }
                if (!leastOutstanding) {
                    best = i;
                    break;
                }
                // Strictly fewer: among equals the first after the cursor wins, so ties go round robin.
                int load = outstanding[i].get();
                if (load < bestLoad) {
                    best = i;
                    bestLoad = load;
                }
            }
        }
        if (best >= 0) {
            pool.cursor = (best + 1) % n;
        }
        return best;
    }

    private static boolean choosable(boolean[] tried) {
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
        if (!reusable || closed || ch == null || !ch.isActive()) {
            if (ch != null) {
                ch.close();
            }
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
                if (c.channel().isActive()) {
                    return c;
                }
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
