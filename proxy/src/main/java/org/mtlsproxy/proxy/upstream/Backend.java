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
import io.netty.handler.timeout.IdleStateHandler;
import java.net.InetSocketAddress;
import java.util.ArrayDeque;
import java.util.List;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.TimeUnit;
import org.mtlsproxy.config.BackendConfig;
import org.mtlsproxy.config.HostPort;
import org.mtlsproxy.proxy.RejectReason;
import org.mtlsproxy.proxy.metrics.ProxyMetrics.BackendMeters;
import org.mtlsproxy.proxy.transport.Transport;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * A backend: its endpoints, its client TLS context and a pool of idle connections per event loop. A request's
 * backend connection always runs on the client channel's event loop, so the pool of one loop is touched by one
 * thread only and needs no lock; the map from loop to pool is the only shared structure.
 */
public final class Backend {

    private static final Logger LOG = LoggerFactory.getLogger(Backend.class);

    private final BackendConfig config;
    private final SslContext sslContext;
    private final BackendMeters meters;
    private final Transport transport;
    private final List<HostPort> endpoints;
    private final Map<EventLoop, LoopPool> pools = new ConcurrentHashMap<>();
    private volatile boolean closed;

    public Backend(BackendConfig config, SslContext sslContext, BackendMeters meters, Transport transport) {
        this.config = requireNonNull(config, "config");
        this.sslContext = requireNonNull(sslContext, "sslContext");
        this.meters = requireNonNull(meters, "meters");
        this.transport = requireNonNull(transport, "transport");
        this.endpoints = config.endpoints();
    }

    public String name() {
        return config.name();
    }

    public BackendConfig config() {
        return config;
    }

    /**
     * Hands out an idle pooled connection or opens a new one, on {@code loop} (which must be the caller's loop).
     *
     * @param forceNew skip the pool (used to retry a request whose pooled connection turned out closed)
     */
    public void acquire(EventLoop loop, boolean forceNew, AcquireCallback callback) {
        LoopPool pool = pools.computeIfAbsent(loop, l -> new LoopPool(endpoints.size()));
        int index = pool.nextEndpoint();
        // Round robin picks the endpoint first (as nginx's upstream keepalive does), then reuses an idle
        // connection to it if there is one: load spreads even when every client reuses connections.
        if (!forceNew) {
            BackendConnection idle = pool.poll(index);
            if (idle != null) {
                meters.reused();
                callback.acquired(idle);
                return;
            }
        }
        connect(loop, endpoints.get(index), callback);
    }

    private void connect(EventLoop loop, HostPort endpoint, AcquireCallback callback) {
        long start = System.nanoTime();
        int timeoutMillis = (int) Math.min(Integer.MAX_VALUE, config.connectTimeout().toMillis());
        BackendConnection connection = new BackendConnection(this, endpoint);
        String serverName = config.tls().serverName();
        Bootstrap bootstrap = new Bootstrap()
                .group(loop)
                .channel(transport.socketChannel())
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
                        p.addLast("idle", new IdleStateHandler(0, 0, config.idleTimeout().toMillis(),
                                TimeUnit.MILLISECONDS));
                        p.addLast("backend", connection);
                    }
                });
        ChannelFuture connect = bootstrap.connect(InetSocketAddress.createUnresolved(endpoint.host(), endpoint.port()));
        connect.addListener((ChannelFuture f) -> {
            if (!f.isSuccess()) {
                RejectReason reason = f.cause() instanceof ConnectTimeoutException
                        ? RejectReason.BACKEND_TIMEOUT : RejectReason.BACKEND_CONNECT_FAILED;
                meters.failed(reason);
                callback.failed(reason, f.cause());
                return;
            }
            Channel ch = f.channel();
            ch.closeFuture().addListener(cf -> removeIdle(loop, connection));
            ch.pipeline().get(SslHandler.class).handshakeFuture().addListener(hf -> {
                if (hf.isSuccess()) {
                    meters.connected(System.nanoTime() - start);
                    callback.acquired(connection);
                    return;
                }
                RejectReason reason = hf.cause() instanceof SslHandshakeTimeoutException
                        ? RejectReason.BACKEND_TIMEOUT : RejectReason.BACKEND_TLS_FAILED;
                meters.failed(reason);
                ch.close();
                callback.failed(reason, hf.cause());
            });
        });
    }

    /**
     * Returns a connection after an exchange. A reusable, open connection goes back to its loop's pool (bounded by
     * max-idle-per-endpoint); anything else is closed.
     */
    public void release(BackendConnection connection, boolean reusable) {
        connection.detach();
        Channel ch = connection.channel();
        if (!reusable || closed || ch == null || !ch.isActive()) {
            if (ch != null) {
                ch.close();
            }
            return;
        }
        ch.config().setAutoRead(true);
        LoopPool pool = pools.get(ch.eventLoop());
        int e = endpoints.indexOf(connection.endpoint());
        if (pool == null || e < 0 || !pool.offer(e, connection, config.maxIdlePerEndpoint())) {
            ch.close();
        }
    }

    private void removeIdle(EventLoop loop, BackendConnection connection) {
        LoopPool pool = pools.get(loop);
        int e = endpoints.indexOf(connection.endpoint());
        if (pool != null && e >= 0) {
            pool.remove(e, connection);
        }
    }

    /** Closes every pooled idle connection and refuses to pool more (shutdown, or a replaced snapshot). */
    public void close() {
        closed = true;
        pools.forEach((loop, pool) -> loop.execute(pool::closeAll));
        LOG.debug("backend {} closed", config.name());
    }

    /** Idle connections of one event loop, per endpoint. Touched only from that loop. */
    private static final class LoopPool {
        private final ArrayDeque<BackendConnection>[] idle;
        private int next;

        @SuppressWarnings("unchecked")
        LoopPool(int endpoints) {
            idle = new ArrayDeque[endpoints];
            for (int i = 0; i < endpoints; i++) {
                idle[i] = new ArrayDeque<>();
            }
        }

        int nextEndpoint() {
            int n = next;
            next = (n + 1) % idle.length;
            return n;
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
