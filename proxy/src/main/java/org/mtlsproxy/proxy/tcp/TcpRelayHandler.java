package org.mtlsproxy.proxy.tcp;

import static java.util.Objects.requireNonNull;

import io.netty.buffer.ByteBuf;
import io.netty.buffer.Unpooled;
import io.netty.channel.Channel;
import io.netty.channel.ChannelFuture;
import io.netty.channel.ChannelFutureListener;
import io.netty.channel.ChannelHandlerContext;
import io.netty.channel.ChannelInboundHandlerAdapter;
import io.netty.channel.socket.ChannelInputShutdownEvent;
import io.netty.channel.socket.DuplexChannel;
import io.netty.handler.ssl.SslCloseCompletionEvent;
import io.netty.handler.ssl.SslHandler;
import io.netty.handler.ssl.SslHandshakeCompletionEvent;
import io.netty.handler.timeout.IdleStateEvent;
import io.netty.util.ReferenceCountUtil;
import java.net.InetSocketAddress;
import java.net.SocketAddress;
import java.security.cert.X509Certificate;
import java.util.ArrayDeque;
import java.util.Locale;
import javax.net.ssl.ExtendedSSLSession;
import javax.net.ssl.SNIHostName;
import javax.net.ssl.SNIServerName;
import javax.net.ssl.SSLSession;
import org.mtlsproxy.config.HostPort;
import org.mtlsproxy.config.TcpListenerConfig.ProxyProtocol;
import org.mtlsproxy.proxy.RejectReason;
import org.mtlsproxy.proxy.authz.Decision;
import org.mtlsproxy.proxy.http.ConnectionAttributes;
import org.mtlsproxy.proxy.http.DrainEvent;
import org.mtlsproxy.proxy.http.SnapshotChanged;
import org.mtlsproxy.proxy.http.Xfcc;
import org.mtlsproxy.proxy.identity.ClientIdentity;
import org.mtlsproxy.proxy.identity.IdentityCache;
import org.mtlsproxy.proxy.runtime.ListenerRuntime;
import org.mtlsproxy.proxy.runtime.ShadowRules;
import org.mtlsproxy.proxy.tls.ClientCertificateException;
import org.mtlsproxy.proxy.tls.PeerChain;
import org.mtlsproxy.proxy.upstream.RelayConnector;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;
import org.slf4j.spi.LoggingEventBuilder;

/**
 * The last stage of a {@code protocol = tcp} client connection: authorize the verified identity, open a fresh TLS
 * connection to the backend, optionally send a PROXY v2 header, then relay bytes both ways.
 *
 * <p><b>Backpressure</b>: each side is read only while the other side's channel is writable
 * ({@link #updateReading()}); while the backend connection is being opened the client is not read, and what the
 * TLS layer had already decrypted waits in {@link #pending} (at most one read's worth).
 *
 * <p><b>Half-close</b>: both channels allow half-closure. When one side has finished sending (its close_notify or
 * its FIN, whichever comes first), everything read from it is flushed to the other side, then the other side gets
 * a close_notify ({@link SslHandler#closeOutbound()}) and a TCP FIN ({@link DuplexChannel#shutdownOutput()}), and
 * the opposite direction keeps flowing. Once both directions are finished both connections close. A connection
 * that closes outright ends the relay: what was read from it is still delivered, then the other side closes.
 *
 * <p><b>Ends</b>: an error on either side or the idle timeout closes both at once. After a reload the client's
 * chain is verified again with the new trust bundles and CRLs and the identity authorized again with the new rules;
 * a connection that no longer passes closes at once (a relay has no request boundary to wait for); one that passes
 * keeps its backend connection. A drain ({@link DrainEvent}) does not cut relays: they end on their own or are
 * closed at the drain deadline.
 *
 * <p>Event-loop confined (the backend connection runs on the client's loop): no locks. Every buffer read is
 * written on or released, on every branch.
 */
public final class TcpRelayHandler extends ChannelInboundHandlerAdapter implements RelayConnector.Callback {

    private static final Logger LOG = LoggerFactory.getLogger(TcpRelayHandler.class);
    private static final Logger ACCESS = LoggerFactory.getLogger("mtls_proxy.access");

    private enum State {
        /** TLS handshake with the client in progress. */
        HANDSHAKE,
        /** Authorized; the backend connection is being opened. */
        CONNECTING,
        /** Bytes flow both ways. */
        RELAYING,
        /** Both connections are closing or closed. */
        CLOSED
    }

    private ListenerRuntime listener;
    private TcpRuntime tcp;
    private final ArrayDeque<ByteBuf> pending = new ArrayDeque<>(4);
    private final ChannelFutureListener closeOnFailure = f -> {
        if (!f.isSuccess()) {
            fail("write failed", f.cause());
        }
    };

    private Channel client;
    private Channel backend;
    private State state = State.HANDSHAKE;
    private ClientIdentity identity;
    private String remoteIp;
    private HostPort upstream;
    private String decision;
    private String detail;
    /** What the listener's shadow-allow rules decided; null when it has none. */
    private Decision shadowDecision;
    private String end;
    private boolean draining;
    private long startNanos;
    private long bytesIn;
    private long bytesOut;

    private boolean clientInputDone;
    private boolean backendInputDone;
    private boolean clientOutputShutting;
    private boolean backendOutputShutting;
    private boolean clientOutputDone;
    private boolean backendOutputDone;

    public TcpRelayHandler(ListenerRuntime listener, TcpRuntime tcp) {
        this.listener = requireNonNull(listener, "listener");
        this.tcp = requireNonNull(tcp, "tcp");
    }

    @Override
    public void handlerAdded(ChannelHandlerContext ctx) {
        client = ctx.channel();
        startNanos = System.nanoTime();
        remoteIp = ConnectionAttributes.remoteIp(client);
    }

    // ---------------------------------------------------------------- client side

    @Override
    public void userEventTriggered(ChannelHandlerContext ctx, Object evt) {
        if (evt instanceof SslHandshakeCompletionEvent e) {
            if (e.isSuccess() && state == State.HANDSHAKE) {
                if (missedReload != null) {
                    // A reload during the handshake: authorize under the new snapshot, never the old one.
                    SnapshotChanged changed = missedReload;
                    missedReload = null;
                    state = State.CONNECTING;
                    onSnapshotChanged(changed);
                    if (state == State.CLOSED) {
                        return;
                    }
                    state = State.HANDSHAKE;
                }
                onHandshake();
            }
            return;
        }
        if (evt instanceof SslCloseCompletionEvent || evt instanceof ChannelInputShutdownEvent) {
            onClientInputDone();
            return;
        }
        if (evt instanceof IdleStateEvent) {
            if (state != State.HANDSHAKE) {
                end = "idle timeout";
                closeNow();
            }
            return;
        }
        if (evt instanceof SnapshotChanged changed) {
            onSnapshotChanged(changed);
            return;
        }
        if (evt instanceof DrainEvent) {
            // No request boundary to stop at: the relay goes on until it ends or the drain deadline closes it.
            draining = true;
            return;
        }
        ctx.fireUserEventTriggered(evt);
    }

    private void onHandshake() {
        // Nothing more is read from the client until the backend connection is up.
        client.config().setAutoRead(false);
        identity = client.attr(ConnectionAttributes.IDENTITY).get();
        if (identity == null) {
            // The handshake stage always sets it; without it nothing may pass (fail closed).
            deny("no verified identity");
            return;
        }
        Decision d = tcp.authorizer().decide(identity);
        if (tcp.shadow() != null) {
            shadowDecision = tcp.shadow().evaluate(d, identity, remoteIp);
        }
        if (!d.allowed()) {
            tcp.meters().denied();
            deny(d.reason());
            return;
        }
        tcp.meters().allowed(d.rule());
        decision = "allowed";
        detail = d.rule();
        state = State.CONNECTING;
        tcp.connector().connect(client.eventLoop(), BackendSide::new, this);
    }

    private void deny(String reason) {
        listener.meters().rejected(RejectReason.DENIED);
        decision = RejectReason.DENIED.label();
        detail = reason;
        end = "denied";
        closeNow();
    }

    @Override
    public void channelRead(ChannelHandlerContext ctx, Object msg) {
        if (!(msg instanceof ByteBuf buf) || state == State.CLOSED || state == State.HANDSHAKE) {
            ReferenceCountUtil.release(msg);
            return;
        }
        int n = buf.readableBytes();
        bytesIn += n;
        tcp.meters().bytesIn(n);
        if (state == State.CONNECTING) {
            pending.add(buf);
            return;
        }
        backend.write(buf).addListener(closeOnFailure);
        updateReading();
    }

    @Override
    public void channelReadComplete(ChannelHandlerContext ctx) {
        if (backend != null && state == State.RELAYING) {
            backend.flush();
        }
        ctx.fireChannelReadComplete();
    }

    @Override
    public void channelWritabilityChanged(ChannelHandlerContext ctx) {
        updateReading();
        ctx.fireChannelWritabilityChanged();
    }

    @Override
    public void channelInactive(ChannelHandlerContext ctx) {
        if (state == State.HANDSHAKE) {
            // A failed or abandoned handshake: the handshake stage logged and counted it.
            state = State.CLOSED;
        } else if (state != State.CLOSED) {
            clientOutputDone = true;
            end = clientInputDone ? "client closed after half-close" : "client closed";
            closeGracefully();
        }
        releasePending();
        ctx.fireChannelInactive();
    }

    @Override
    public void exceptionCaught(ChannelHandlerContext ctx, Throwable cause) {
        fail("client connection error", cause);
    }

    private void onClientInputDone() {
        if (clientInputDone || state == State.CLOSED) {
            return;
        }
        clientInputDone = true;
        if (state == State.RELAYING) {
            shutdownBackendOutput();
        } else if (state == State.HANDSHAKE) {
            // Gone before the handshake finished: the handshake stage logs and counts it.
            client.close();
        }
        // CONNECTING: the backend's output is shut once what is pending has been written to it.
    }

    // ---------------------------------------------------------------- backend connection

    @Override
    public void connected(Channel channel, HostPort endpoint) {
        upstream = endpoint;
        if (state != State.CONNECTING || !client.isActive()) {
            channel.close();
            return;
        }
        backend = channel;
        state = State.RELAYING;
        if (tcp.config().proxyProtocol() == ProxyProtocol.V2) {
            backend.write(Unpooled.wrappedBuffer(proxyHeader())).addListener(closeOnFailure);
        }
        ByteBuf buf;
        while ((buf = pending.poll()) != null) {
            backend.write(buf).addListener(closeOnFailure);
        }
        backend.flush();
        if (clientInputDone) {
            shutdownBackendOutput();
        }
        updateReading();
    }

    @Override
    public boolean stillWaiting() {
        return state == State.CONNECTING && client.isActive();
    }

    @Override
    public void failed(RejectReason reason, HostPort endpoint, Throwable cause) {
        upstream = endpoint;
        if (state != State.CONNECTING) {
            return;
        }
        listener.meters().rejected(reason);
        decision = reason.label();
        detail = String.valueOf(cause);
        end = "backend unavailable";
        LOG.atWarn()
                .addKeyValue("listener", listener.name())
                .addKeyValue("backend", tcp.connector().name())
                .addKeyValue("upstream", String.valueOf(endpoint))
                .addKeyValue("reason", reason.label())
                .addKeyValue("cause", String.valueOf(cause))
                .log("backend unavailable");
        closeNow();
    }

    private byte[] proxyHeader() {
        SslHandler ssl = client.pipeline().get(SslHandler.class);
        SSLSession session = ssl == null ? null : ssl.engine().getSession();
        String sni = null;
        if (session instanceof ExtendedSSLSession ext) {
            for (SNIServerName name : ext.getRequestedServerNames()) {
                if (name instanceof SNIHostName h) {
                    sni = h.getAsciiName().toLowerCase(Locale.ROOT);
                }
            }
        }
        ProxyProtocolV2.Identity id = new ProxyProtocolV2.Identity(sni,
                session == null ? null : session.getProtocol(), session == null ? null : session.getCipherSuite(),
                identity.commonName().orElse(null), identity.spiffeId().orElse(null), Xfcc.format(identity));
        SocketAddress src = client.remoteAddress();
        SocketAddress dst = client.localAddress();
        return ProxyProtocolV2.encode(src instanceof InetSocketAddress s ? s : null,
                dst instanceof InetSocketAddress d ? d : null, id);
    }

    /** Receives what the backend sends; one per connect attempt, added to its pipeline before it connects. */
    private final class BackendSide extends ChannelInboundHandlerAdapter {

        @Override
        public void channelRead(ChannelHandlerContext ctx, Object msg) {
            if (!(msg instanceof ByteBuf buf) || state == State.CLOSED || !client.isActive()) {
                ReferenceCountUtil.release(msg);
                return;
            }
            int n = buf.readableBytes();
            bytesOut += n;
            tcp.meters().bytesOut(n);
            client.write(buf).addListener(closeOnFailure);
            updateReading();
        }

        @Override
        public void channelReadComplete(ChannelHandlerContext ctx) {
            if (state != State.CLOSED) {
                client.flush();
            }
            ctx.fireChannelReadComplete();
        }

        @Override
        public void channelWritabilityChanged(ChannelHandlerContext ctx) {
            updateReading();
            ctx.fireChannelWritabilityChanged();
        }

        @Override
        public void userEventTriggered(ChannelHandlerContext ctx, Object evt) {
            if (evt instanceof SslCloseCompletionEvent || evt instanceof ChannelInputShutdownEvent) {
                onBackendInputDone(ctx.channel());
                return;
            }
            ctx.fireUserEventTriggered(evt);
        }

        @Override
        public void channelInactive(ChannelHandlerContext ctx) {
            if (ctx.channel() == backend && state == State.RELAYING) {
                backendOutputDone = true;
                end = backendInputDone ? "backend closed after half-close" : "backend closed";
                closeGracefully();
            }
            ctx.fireChannelInactive();
        }

        @Override
        public void exceptionCaught(ChannelHandlerContext ctx, Throwable cause) {
            if (ctx.channel() == backend) {
                fail("backend connection error", cause);
            } else {
                // Still connecting: the connector reports the failure.
                LOG.debug("backend connection error before relaying: {}", cause.toString());
                ctx.close();
            }
        }
    }

    private void onBackendInputDone(Channel channel) {
        if (channel != backend || backendInputDone || state != State.RELAYING) {
            return;
        }
        backendInputDone = true;
        shutdownClientOutput();
    }

    // ---------------------------------------------------------------- half-close and close

    private void shutdownBackendOutput() {
        if (backendOutputShutting) {
            return;
        }
        backendOutputShutting = true;
        halfClose(backend, () -> {
            backendOutputDone = true;
            maybeFinish();
        });
    }

    private void shutdownClientOutput() {
        if (clientOutputShutting) {
            return;
        }
        clientOutputShutting = true;
        halfClose(client, () -> {
            clientOutputDone = true;
            maybeFinish();
        });
    }

    /**
     * Delivers everything written to {@code ch} so far, then sends close_notify and shuts the TCP output. The TLS
     * engine (the JDK's) keeps reading after sending close_notify, so the other direction continues.
     */
    private void halfClose(Channel ch, Runnable done) {
        ch.writeAndFlush(Unpooled.EMPTY_BUFFER).addListener(flushed -> {
            if (!ch.isActive()) {
                return;
            }
            if (!flushed.isSuccess()) {
                fail("write failed", flushed.cause());
                return;
            }
            SslHandler ssl = ch.pipeline().get(SslHandler.class);
            ChannelFuture notified = ssl == null ? ch.newSucceededFuture() : ssl.closeOutbound();
            notified.addListener(n -> {
                if (state == State.CLOSED) {
                    return;
                }
                if (!ch.isActive()) {
                    // Closed meanwhile: its channelInactive ends the relay.
                    return;
                }
                if (ch instanceof DuplexChannel duplex) {
                    duplex.shutdownOutput().addListener(s -> {
                        if (s.isSuccess()) {
                            done.run();
                        } else if (ch.isActive()) {
                            fail("shutdownOutput failed", s.cause());
                        }
                    });
                } else {
                    done.run();
                }
            });
        });
    }

    private void maybeFinish() {
        if (state == State.RELAYING && clientInputDone && backendInputDone && clientOutputDone
                && backendOutputDone) {
            end = "closed";
            closeNow();
        }
    }

    private void fail(String what, Throwable cause) {
        if (state == State.CLOSED) {
            return;
        }
        if (state == State.HANDSHAKE) {
            // The handshake stage logs and counts handshake failures.
            state = State.CLOSED;
            client.close();
            return;
        }
        LOG.atDebug()
                .addKeyValue("listener", listener.name())
                .addKeyValue("remote", remoteIp)
                .addKeyValue("cause", String.valueOf(cause))
                .log(what);
        if (end == null) {
            end = what;
        }
        closeNow();
    }

    /** Closes both connections now (errors, idle timeout, denial, a reload that no longer accepts the client). */
    private void closeNow() {
        if (state == State.CLOSED) {
            return;
        }
        state = State.CLOSED;
        releasePending();
        logAccess();
        client.close();
        if (backend != null) {
            backend.close();
        }
    }

    /**
     * One side closed outright: deliver to the other side what was already read, then close it. A peer that does
     * not take it within the idle timeout is closed by {@link #closeNow()}.
     */
    private void closeGracefully() {
        if (state == State.CLOSED) {
            return;
        }
        state = State.CLOSED;
        releasePending();
        logAccess();
        flushAndClose(client);
        if (backend != null) {
            flushAndClose(backend);
        }
    }

    private static void flushAndClose(Channel ch) {
        if (ch.isActive()) {
            ch.writeAndFlush(Unpooled.EMPTY_BUFFER).addListener(ChannelFutureListener.CLOSE);
        } else {
            ch.close();
        }
    }

    private void releasePending() {
        ByteBuf buf;
        while ((buf = pending.poll()) != null) {
            buf.release();
        }
    }

    // ---------------------------------------------------------------- backpressure

    /** Each side reads only while the other can take more; the client is not read before the backend is up. */
    private void updateReading() {
        if (state != State.RELAYING) {
            return;
        }
        boolean readClient = backend.isWritable();
        if (client.config().isAutoRead() != readClient) {
            client.config().setAutoRead(readClient);
        }
        boolean readBackend = client.isWritable();
        if (backend.config().isAutoRead() != readBackend) {
            backend.config().setAutoRead(readBackend);
        }
    }

    // ---------------------------------------------------------------- reload

    private SnapshotChanged missedReload;

    /**
     * After a reload: verify the client's chain with the listener's new verifier and authorize the identity with
     * its new rules; close the relay at once if either fails. The backend connection is kept.
     */
    private void onSnapshotChanged(SnapshotChanged changed) {
        if (state == State.HANDSHAKE) {
            // Applied once the handshake completes (its identity is authorized under the new rules).
            missedReload = changed;
            return;
        }
        if (state == State.CLOSED) {
            return;
        }
        X509Certificate[] chain = PeerChain.of(client);
        ListenerRuntime next = changed.snapshot().listenerOrNull(listener.name());
        TcpRuntime nextTcp = changed.snapshot().tcpOrNull(listener.name());
        if (chain == null || next == null || nextTcp == null) {
            closeAfterReload("listener_removed", "listener removed or no longer tcp");
            return;
        }
        try {
            String bundle = next.verifier().verify(chain);
            ClientIdentity id = IdentityCache.shared().identity(chain[0], bundle);
            Decision d = nextTcp.authorizer().decide(id);
            if (!d.allowed()) {
                next.meters().closedOnReload(RejectReason.DENIED);
                nextTcp.meters().denied();
                identity = id;
                closeAfterReload(RejectReason.DENIED.label(), d.reason());
                return;
            }
            identity = id;
            client.attr(ConnectionAttributes.IDENTITY).set(id);
            listener = next;
            tcp = nextTcp;
        } catch (ClientCertificateException e) {
            next.meters().closedOnReload(e.reason());
            closeAfterReload(e.reason().label(), e.getMessage());
        }
    }

    private void closeAfterReload(String reason, String why) {
        ACCESS.atInfo()
                .addKeyValue("listener", listener.name())
                .addKeyValue("remote", remoteIp)
                .addKeyValue("identity", identity == null ? "" : identity.displayName())
                .addKeyValue("decision", reason)
                .addKeyValue("detail", why == null ? "" : why)
                .log("connection closed after reload: client no longer accepted");
        end = "closed after reload: " + reason;
        closeNow();
    }

    // ---------------------------------------------------------------- logging

    /** One line per tcp connection that passed the handshake. */
    private void logAccess() {
        if (!ACCESS.isInfoEnabled()) {
            return;
        }
        ConnectionAttributes.TlsFacts tls = ConnectionAttributes.TlsFacts.of(client);
        LoggingEventBuilder line = ACCESS.atInfo()
                .addKeyValue("listener", listener.name())
                .addKeyValue("remote", remoteIp)
                .addKeyValue("tls", tls.protocol())
                .addKeyValue("cipher", tls.cipher())
                .addKeyValue("identity", identity == null ? "" : identity.displayName())
                .addKeyValue("protocol", "tcp")
                .addKeyValue("backend", tcp.connector().name())
                .addKeyValue("decision", decision == null ? "" : decision)
                .addKeyValue("detail", detail == null ? "" : detail);
        if (shadowDecision != null) {
            line = line.addKeyValue("shadow", ShadowRules.label(shadowDecision))
                    .addKeyValue("shadow_rule", shadowDecision.allowed() ? shadowDecision.rule() : "");
        }
        line.addKeyValue("upstream", upstream == null ? "" : upstream.toString())
                .addKeyValue("bytes_in", bytesIn)
                .addKeyValue("bytes_out", bytesOut)
                .addKeyValue("end", end == null ? "" : (draining ? end + " (draining)" : end))
                .addKeyValue("handshake_ms", tls.handshakeMillis())
                .addKeyValue("duration_ms", (System.nanoTime() - startNanos) / 1_000_000.0)
                .log("tcp connection");
    }
}
