package org.mtlsproxy.proxy.server;

import static java.util.Objects.requireNonNull;

import io.netty.channel.ChannelHandlerContext;
import io.netty.channel.ChannelInboundHandlerAdapter;
import io.netty.channel.ChannelInitializer;
import io.netty.channel.ChannelPipeline;
import io.netty.handler.codec.http2.Http2FrameCodec;
import io.netty.handler.codec.http2.Http2StreamChannel;
import io.netty.handler.codec.http2.Http2StreamFrameToHttpObjectCodec;
import io.netty.handler.timeout.IdleStateEvent;
import java.security.cert.X509Certificate;
import java.time.Duration;
import java.util.concurrent.TimeUnit;
import org.mtlsproxy.proxy.http.ConnectionAttributes;
import org.mtlsproxy.proxy.http.DrainEvent;
import org.mtlsproxy.proxy.http.Http2StreamAdapter;
import org.mtlsproxy.proxy.http.ProxyHandler;
import org.mtlsproxy.proxy.http.SnapshotChanged;
import org.mtlsproxy.proxy.identity.ClientIdentity;
import org.mtlsproxy.proxy.identity.IdentityCache;
import org.mtlsproxy.proxy.runtime.ListenerRuntime;
import org.mtlsproxy.proxy.tls.PeerChain;
import org.mtlsproxy.proxy.tls.ClientCertificateException;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The connection-level stage of an HTTP/2 client connection, between the frame codec and the stream multiplexer.
 * Each stream gets its own pipeline ({@link #streamInitializer()}) ending in a {@link ProxyHandler} that serves
 * exactly one exchange, with the identity of this connection (stored on this, the parent, channel).
 *
 * <ul>
 *   <li>{@link DrainEvent}: GOAWAY; open streams finish (up to the drain timeout), then the connection closes.</li>
 *   <li>{@link SnapshotChanged}: the client chain is re-verified against the new trust bundles and CRLs. Still valid:
 *       new streams use the new routes and rules. No longer valid: GOAWAY, open streams may finish within the
 *       reload grace, then the connection is cut.</li>
 *   <li>Idle (http.idle-timeout without a frame) with no open stream: GOAWAY and close. Stalled streams are cut by
 *       their own idle handler.</li>
 *   <li>{@code limits.max-connection-lifetime}: GOAWAY like a drain, so long-lived clients reconnect.</li>
 * </ul>
 */
final class Http2Connection extends ChannelInboundHandlerAdapter {

    private static final Logger LOG = LoggerFactory.getLogger(Http2Connection.class);
    private static final Logger ACCESS = LoggerFactory.getLogger("mtls_proxy.access");

    private final Http2FrameCodec codec;
    private final Duration clientWindow;
    /** The listener state new streams use; replaced by a reload. */
    private ListenerRuntime listener;

    Http2Connection(ListenerRuntime listener, Http2FrameCodec codec, Duration clientWindow) {
        this.listener = requireNonNull(listener, "listener");
        this.codec = requireNonNull(codec, "codec");
        this.clientWindow = requireNonNull(clientWindow, "clientWindow");
    }

    /** Builds the pipeline of each new stream, with the listener state current at that moment. */
    ChannelInitializer<Http2StreamChannel> streamInitializer() {
        return new ChannelInitializer<>() {
            @Override
            protected void initChannel(Http2StreamChannel ch) {
                ListenerRuntime l = listener;
                ChannelPipeline p = ch.pipeline();
                p.addLast("h2-http", new Http2StreamFrameToHttpObjectCodec(true, true));
                p.addLast("h2-adapter", new Http2StreamAdapter());
                p.addLast("idle", ProtocolSelector.idle(l.config().http()));
                p.addLast("proxy", new ProxyHandler(l, clientWindow));
            }
        };
    }

    @Override
    public void handlerAdded(ChannelHandlerContext ctx) {
        // Through the codec (close() = GOAWAY, then close when the open streams are done), as a drain does.
        io.netty.util.concurrent.ScheduledFuture<?> lifetime = ctx.executor().schedule(() -> {
            if (ctx.channel().isActive()) {
                ctx.close();
            }
        }, listener.config().limits().maxConnectionLifetime().toMillis(), java.util.concurrent.TimeUnit.MILLISECONDS);
        // The pending task holds the connection: cancel it when the connection closes first.
        ctx.channel().closeFuture().addListener(f -> lifetime.cancel(false));
    }

    @Override
    public void userEventTriggered(ChannelHandlerContext ctx, Object evt) {
        if (evt instanceof IdleStateEvent) {
            if (codec.connection().numActiveStreams() == 0) {
                LOG.atDebug().addKeyValue("remote", ctx.channel().remoteAddress())
                        .log("closing idle HTTP/2 client connection");
                ctx.close();
            }
            return;
        }
        if (evt instanceof DrainEvent) {
            // Through the codec: GOAWAY now, close once the open streams are done.
            ctx.close();
            return;
        }
        if (evt instanceof SnapshotChanged changed) {
            onSnapshotChanged(ctx, changed);
            return;
        }
        ctx.fireUserEventTriggered(evt);
    }

    private void onSnapshotChanged(ChannelHandlerContext ctx, SnapshotChanged changed) {
        ListenerRuntime next = changed.snapshot().listenerOrNull(listener.name());
        X509Certificate[] chain = PeerChain.of(ctx.channel());
        if (chain == null || !ctx.channel().isActive()) {
            return;
        }
        if (next == null) {
            closeAfterReload(ctx, changed.grace(), "listener removed", null);
            return;
        }
        try {
            String bundle = next.verifier().verify(chain);
            ClientIdentity id = IdentityCache.shared().identity(chain[0], bundle);
            ctx.channel().attr(ConnectionAttributes.IDENTITY).set(id);
            listener = next;
        } catch (ClientCertificateException e) {
            next.meters().closedOnReload(e.reason());
            closeAfterReload(ctx, changed.grace(), e.reason().label(), e.getMessage());
        }
    }

    private void closeAfterReload(ChannelHandlerContext ctx, Duration grace, String reason, String detail) {
        ClientIdentity identity = ctx.channel().attr(ConnectionAttributes.IDENTITY).get();
        ACCESS.atInfo()
                .addKeyValue("listener", listener.name())
                .addKeyValue("remote", ConnectionAttributes.remoteIp(ctx.channel()))
                .addKeyValue("identity", identity == null ? "" : identity.displayName())
                .addKeyValue("decision", reason)
                .addKeyValue("detail", detail == null ? "" : detail)
                .log("connection closed after reload: client no longer accepted");
        // No new stream may start under the old verdict: clear the identity (ProxyHandler then refuses, 403).
        ctx.channel().attr(ConnectionAttributes.IDENTITY).set(null);
        ctx.close();
        ctx.executor().schedule(() -> {
            if (ctx.channel().isActive()) {
                // Past the grace: bypass the codec's graceful wait.
                ctx.pipeline().context(codec).close();
            }
        }, grace.toMillis(), TimeUnit.MILLISECONDS);
    }

    @Override
    public void exceptionCaught(ChannelHandlerContext ctx, Throwable cause) {
        LOG.debug("HTTP/2 client connection error remote={} : {}", ctx.channel().remoteAddress(), cause.toString());
        ctx.close();
    }
}
