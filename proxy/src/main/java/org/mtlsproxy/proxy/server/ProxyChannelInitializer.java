package org.mtlsproxy.proxy.server;

import static java.util.Objects.requireNonNull;

import io.netty.channel.ChannelInitializer;
import io.netty.channel.ChannelOption;
import io.netty.channel.ChannelPipeline;
import io.netty.channel.group.ChannelGroup;
import io.netty.channel.socket.SocketChannel;
import io.netty.handler.ssl.SslHandler;
import io.netty.handler.timeout.IdleStateHandler;
import java.util.concurrent.TimeUnit;
import org.mtlsproxy.config.ListenerConfig;
import org.mtlsproxy.proxy.RejectReason;
import org.mtlsproxy.proxy.metrics.ExpiryWarnings;
import org.mtlsproxy.proxy.runtime.ListenerRuntime;
import org.mtlsproxy.proxy.runtime.RuntimeSnapshot;
import org.mtlsproxy.proxy.tcp.TcpRelayHandler;
import org.mtlsproxy.proxy.tcp.TcpRuntime;

/**
 * The pipeline of a client connection, as a table of contents:
 * <pre>
 * "tls"        SslHandler: BoringSSL, client certificate REQUIRED and verified (chain, validity, EKU, CRL)
 * "handshake"  identity into a channel attribute, or reason logged + counted + close (also: no enabled ALPN
 *              protocol agreed); then removes itself
 * "protocol"   by ALPN, replaces itself with (see {@link ProtocolSelector}):
 *   http/1.1:  "head-timeout" slowloris guard: a started request head must complete within header-read-timeout
 *              "http-codec" HTTP/1.1 with the listener's line and header limits
 *              "idle"       closes keep-alive connections idle longer than http.idle-timeout
 *              "proxy"      route, authorize, sanitize, forward, stream back
 *   h2:        "idle", "h2" frame codec, "h2-connection" (drain, reload, idle), "h2-streams" multiplexer giving
 *              each stream its own "proxy" for one exchange
 * </pre>
 * A {@code protocol = tcp} listener has, after "handshake": "idle" (tcp.idle-timeout) and "relay"
 * ({@link TcpRelayHandler}: authorize, connect the backend, relay bytes).
 * The listener's compiled state is read from the current snapshot once, when the connection is accepted.
 */
final class ProxyChannelInitializer extends ChannelInitializer<SocketChannel> {

    private final SnapshotHolder snapshots;
    private final String listenerName;
    private final ChannelGroup clients;
    private final ExpiryWarnings expiryWarnings;
    private static final org.slf4j.Logger LOG = org.slf4j.LoggerFactory.getLogger(ProxyChannelInitializer.class);
    private final java.util.concurrent.atomic.AtomicLong lastFullWarning =
            new java.util.concurrent.atomic.AtomicLong(System.nanoTime() - 60_000_000_000L);

    ProxyChannelInitializer(SnapshotHolder snapshots, String listenerName, ChannelGroup clients,
            ExpiryWarnings expiryWarnings) {
        this.snapshots = requireNonNull(snapshots, "snapshots");
        this.listenerName = requireNonNull(listenerName, "listenerName");
        this.clients = requireNonNull(clients, "clients");
        this.expiryWarnings = requireNonNull(expiryWarnings, "expiryWarnings");
    }

    /** Once a minute at most: a flood must not turn into a flood of log lines. */
    private void warnFull(String listener, int max) {
        long now = System.nanoTime();
        long last = lastFullWarning.get();
        if (now - last >= 60_000_000_000L && lastFullWarning.compareAndSet(last, now)) {
            LOG.atWarn().addKeyValue("listener", listener).addKeyValue("max_connections", max)
                    .log("listener full: closing new connections (counted in mtls_proxy_connections_refused_total)");
        }
    }

    @Override
    protected void initChannel(SocketChannel ch) {
        RuntimeSnapshot snapshot = snapshots.get();
        ListenerRuntime listener = snapshot.listenerOrNull(listenerName);
        if (listener == null) {
            // Accepted in the instant between a reload removing this listener and its socket closing.
            ch.close();
            return;
        }
        ListenerConfig config = listener.config();
        int open = listener.meters().connectionOpened();
        ch.closeFuture().addListener(f -> listener.meters().connectionClosed());
        if (open > config.limits().maxConnections()) {
            // Full: close before any TLS work, so a flood costs an accept and a close.
            listener.meters().refused(RejectReason.LIMIT_EXCEEDED);
            warnFull(listener.name(), config.limits().maxConnections());
            ch.close();
            return;
        }
        clients.add(ch);

        SslHandler tls = listener.sslContext().newHandler(ch.alloc());
        tls.setHandshakeTimeoutMillis(config.tls().handshakeTimeout().toMillis());

        TcpRuntime tcp = snapshot.tcpOrNull(listenerName);
        ChannelPipeline p = ch.pipeline();
        p.addLast("tls", tls);
        p.addLast("handshake", new HandshakeHandler(listener.name(), listener.meters(), listener.verifier(),
                expiryWarnings, snapshot.config().expiry().clientWarnBefore(),
                tcp == null ? config.http().protocols() : null));
        if (tcp != null) {
            // protocol = tcp: "idle" (tcp.idle-timeout, both directions) -> "relay" (authorize, relay bytes).
            ch.config().setOption(ChannelOption.ALLOW_HALF_CLOSURE, true);
            p.addLast("idle", new IdleStateHandler(0, 0, tcp.config().idleTimeout().toMillis(),
                    TimeUnit.MILLISECONDS));
            p.addLast("relay", new TcpRelayHandler(listener, tcp));
            return;
        }
        p.addLast("protocol", new ProtocolSelector(listener, snapshot.config().expiry().clientWindow(),
                snapshot.config().shutdown().drainTimeout()));
    }
}
