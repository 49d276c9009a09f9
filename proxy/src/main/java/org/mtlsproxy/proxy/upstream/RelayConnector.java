package org.mtlsproxy.proxy.upstream;

import static java.util.Objects.requireNonNull;

import io.netty.bootstrap.Bootstrap;
import io.netty.channel.Channel;
import io.netty.channel.ChannelFuture;
import io.netty.channel.ChannelHandler;
import io.netty.channel.ChannelInitializer;
import io.netty.channel.ChannelOption;
import io.netty.channel.ConnectTimeoutException;
import io.netty.channel.EventLoop;
import io.netty.handler.ssl.SslContext;
import io.netty.handler.ssl.SslHandler;
import io.netty.handler.ssl.SslHandshakeTimeoutException;
import java.net.InetSocketAddress;
import java.util.List;
import java.util.concurrent.atomic.AtomicInteger;
import org.mtlsproxy.config.BackendConfig;
import org.mtlsproxy.config.HostPort;
import org.mtlsproxy.proxy.RejectReason;
import org.mtlsproxy.proxy.metrics.ProxyMetrics.BackendMeters;
import org.mtlsproxy.proxy.transport.Transport;

/**
 * Opens raw TLS connections to a backend for the byte relays of {@code protocol = tcp} listeners: a fresh
 * connection per client connection, never pooled, no HTTP codec. The backend is verified exactly as for HTTP (its
 * CA bundle, its server name as SNI and hostname check, the proxy's client certificate if configured); endpoints
 * are taken round robin. The TLS engine is the one of the context given (the JDK's for relays, which keeps its
 * outbound side open after the backend's close_notify, so a backend's half-close does not cut the client's
 * remaining bytes).
 */
public final class RelayConnector {

    /** The outcome of {@link #connect}; called on the loop given to it. */
    public interface Callback {

        /** TCP connected and the TLS handshake verified the backend; {@code channel} is ready to write. */
        void connected(Channel channel, HostPort endpoint);

        void failed(RejectReason reason, HostPort endpoint, Throwable cause);
    }

    private final BackendConfig config;
    private final SslContext sslContext;
    private final BackendMeters meters;
    private final Transport transport;
    private final List<HostPort> endpoints;
    private final AtomicInteger next = new AtomicInteger();

    public RelayConnector(BackendConfig config, SslContext sslContext, BackendMeters meters, Transport transport) {
        this.config = requireNonNull(config, "config");
        this.sslContext = requireNonNull(sslContext, "sslContext");
        this.meters = requireNonNull(meters, "meters");
        this.transport = requireNonNull(transport, "transport");
        this.endpoints = config.endpoints();
    }

    public String name() {
        return config.name();
    }

    /**
     * Connects on {@code loop} (the client channel's loop). {@code handler} is added to the backend pipeline after
     * the TLS handler (as "relay") before the connection starts, so it sees everything the backend sends; the
     * channel allows half-closure.
     */
    public void connect(EventLoop loop, ChannelHandler handler, Callback callback) {
        HostPort endpoint = endpoints.get(Math.floorMod(next.getAndIncrement(), endpoints.size()));
        long start = System.nanoTime();
        int timeoutMillis = (int) Math.min(Integer.MAX_VALUE, config.connectTimeout().toMillis());
        String serverName = config.tls().serverName();
        Bootstrap bootstrap = new Bootstrap()
                .group(loop)
                .channel(transport.socketChannel())
                .resolver(BackendResolver.shared())
                .option(ChannelOption.CONNECT_TIMEOUT_MILLIS, timeoutMillis)
                .option(ChannelOption.TCP_NODELAY, true)
                .option(ChannelOption.SO_KEEPALIVE, true)
                .option(ChannelOption.ALLOW_HALF_CLOSURE, true)
                .handler(new ChannelInitializer<Channel>() {
                    @Override
                    protected void initChannel(Channel ch) {
                        // peerHost = server-name: SNI (for DNS names) and hostname verification of the backend.
                        SslHandler tls = sslContext.newHandler(ch.alloc(), serverName, endpoint.port());
                        tls.setHandshakeTimeoutMillis(timeoutMillis);
                        ch.pipeline().addLast("tls", tls);
                        ch.pipeline().addLast("relay", handler);
                    }
                });
        ChannelFuture connect = bootstrap.connect(InetSocketAddress.createUnresolved(endpoint.host(), endpoint.port()));
        connect.addListener((ChannelFuture f) -> {
            if (!f.isSuccess()) {
                RejectReason reason = f.cause() instanceof ConnectTimeoutException
                        ? RejectReason.BACKEND_TIMEOUT : RejectReason.BACKEND_CONNECT_FAILED;
                meters.failed(reason);
                callback.failed(reason, endpoint, f.cause());
                return;
            }
            Channel ch = f.channel();
            ch.pipeline().get(SslHandler.class).handshakeFuture().addListener(hf -> {
                if (hf.isSuccess()) {
                    meters.connected(System.nanoTime() - start);
                    callback.connected(ch, endpoint);
                    return;
                }
                RejectReason reason = hf.cause() instanceof SslHandshakeTimeoutException
                        ? RejectReason.BACKEND_TIMEOUT : RejectReason.BACKEND_TLS_FAILED;
                meters.failed(reason);
                ch.close();
                callback.failed(reason, endpoint, hf.cause());
            });
        });
    }
}
