package org.mtlsproxy.proxy.server;

import static java.util.Objects.requireNonNull;

import io.netty.channel.ChannelInitializer;
import io.netty.channel.ChannelPipeline;
import io.netty.channel.group.ChannelGroup;
import io.netty.channel.socket.SocketChannel;
import io.netty.handler.ssl.SslHandler;
import org.mtlsproxy.config.ListenerConfig;
import org.mtlsproxy.proxy.metrics.ExpiryWarnings;
import org.mtlsproxy.proxy.runtime.ListenerRuntime;
import org.mtlsproxy.proxy.runtime.RuntimeSnapshot;

/**
 * The pipeline of a client connection, as a table of contents:
 * <pre>
 * "tls"        SslHandler: BoringSSL, client certificate REQUIRED and verified (chain, validity, EKU, CRL)
 * "handshake"  identity into a channel attribute, or reason logged + counted + close; then removes itself
 * "protocol"   by ALPN, replaces itself with (see {@link ProtocolSelector}):
 *   http/1.1:  "http-codec" HTTP/1.1 with the listener's line and header limits
 *              "idle"       closes keep-alive connections idle longer than http.idle-timeout
 *              "proxy"      route, authorize, sanitize, forward, stream back
 *   h2:        "idle", "h2" frame codec, "h2-connection" (drain, reload, idle), "h2-streams" multiplexer giving
 *              each stream its own "proxy" for one exchange
 * </pre>
 * The listener's compiled state is read from the current snapshot once, when the connection is accepted.
 */
final class ProxyChannelInitializer extends ChannelInitializer<SocketChannel> {

    private final SnapshotHolder snapshots;
    private final String listenerName;
    private final ChannelGroup clients;
    private final ExpiryWarnings expiryWarnings;

    ProxyChannelInitializer(SnapshotHolder snapshots, String listenerName, ChannelGroup clients,
            ExpiryWarnings expiryWarnings) {
        this.snapshots = requireNonNull(snapshots, "snapshots");
        this.listenerName = requireNonNull(listenerName, "listenerName");
        this.clients = requireNonNull(clients, "clients");
        this.expiryWarnings = requireNonNull(expiryWarnings, "expiryWarnings");
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
        listener.meters().connectionOpened();
        clients.add(ch);
        ch.closeFuture().addListener(f -> listener.meters().connectionClosed());

        SslHandler tls = listener.sslContext().newHandler(ch.alloc());
        tls.setHandshakeTimeoutMillis(config.tls().handshakeTimeout().toMillis());

        ChannelPipeline p = ch.pipeline();
        p.addLast("tls", tls);
        p.addLast("handshake", new HandshakeHandler(listener.name(), listener.meters(), expiryWarnings,
                snapshot.config().expiry().clientWarnBefore()));
        p.addLast("protocol", new ProtocolSelector(listener, snapshot.config().expiry().clientWindow(),
                snapshot.config().shutdown().drainTimeout()));
    }
}
