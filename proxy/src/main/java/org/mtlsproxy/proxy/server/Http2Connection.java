package org.mtlsproxy.proxy.server;

import static java.util.Objects.requireNonNull;

import io.netty.buffer.ByteBuf;
import io.netty.channel.ChannelFuture;
import io.netty.channel.ChannelHandlerContext;
import io.netty.channel.ChannelInboundHandlerAdapter;
import io.netty.channel.ChannelInitializer;
import io.netty.channel.ChannelPipeline;
import io.netty.channel.ChannelPromise;
import io.netty.handler.codec.http2.Http2Error;
import io.netty.handler.codec.http2.Http2FrameCodec;
import io.netty.handler.codec.http2.Http2FrameStreamEvent;
import io.netty.handler.codec.http2.Http2FrameStreamException;
import io.netty.handler.codec.http2.Http2HeadersFrame;
import io.netty.handler.codec.http2.Http2LifecycleManager;
import io.netty.handler.codec.http2.Http2Stream;
import io.netty.handler.codec.http2.Http2StreamChannel;
import io.netty.handler.codec.http2.Http2StreamFrameToHttpObjectCodec;
import io.netty.handler.timeout.IdleStateEvent;
import java.security.cert.X509Certificate;
import java.time.Duration;
import java.util.concurrent.TimeUnit;
import org.mtlsproxy.proxy.RejectReason;
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
 *   <li>Streams the codec refuses by itself (too many, headers too large or malformed) are counted
 *       ({@link RefusedStreams}).</li>
 * </ul>
 */
final class Http2Connection extends ChannelInboundHandlerAdapter {

    private static final Logger LOG = LoggerFactory.getLogger(Http2Connection.class);
    private static final Logger ACCESS = LoggerFactory.getLogger("mtls_proxy.access");

    private final Http2FrameCodec codec;
    private final Duration clientWindow;
    /** The listener state new streams use; replaced by a reload. */
    private ListenerRuntime listener;
    /** The highest client stream id the codec has opened. */
    private int newestStream;
    /**
     * The stream the codec opened last, until its HEADERS frame passes here on the way to its stream channel; 0 when
     * none waits. The codec delivers the HEADERS right after opening the stream, in the same call, unless it refused
     * them ({@link RefusedStreams}).
     */
    private int awaitingHeaders;

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
        // After the codec's own handlerAdded, which installed the codec itself as the encoder's lifecycle manager.
        codec.encoder().lifecycleManager(new RefusedStreams());
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
    public void channelRead(ChannelHandlerContext ctx, Object msg) {
        if (msg instanceof Http2HeadersFrame headers && headers.stream().id() == awaitingHeaders) {
            awaitingHeaders = 0;
        }
        ctx.fireChannelRead(msg);
    }

    @Override
    public void userEventTriggered(ChannelHandlerContext ctx, Object evt) {
        if (evt instanceof Http2FrameStreamEvent event) {
            // The first state change of a stream id is its opening (client stream ids only grow).
            int id = event.stream().id();
            if (event.type() == Http2FrameStreamEvent.Type.State && id > newestStream) {
                newestStream = id;
                awaitingHeaders = id;
            }
            ctx.fireUserEventTriggered(evt);
            return;
        }
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
        if (cause instanceof Http2FrameStreamException) {
            // One stream broke the protocol: the multiplexer hands the error to that stream's channel and resets
            // that stream only. Closing here would send GOAWAY to every other stream of the connection.
            ctx.fireExceptionCaught(cause);
            return;
        }
        LOG.debug("HTTP/2 client connection error remote={} : {}", ctx.channel().remoteAddress(), cause.toString());
        ctx.close();
    }

    /**
     * Counts the streams the codec refuses on its own, before their request reached a stream channel's
     * {@link ProxyHandler}: beyond {@code max-concurrent-streams} (RST_STREAM REFUSED_STREAM: {@code limit_exceeded}),
     * a header list over {@code max-header-size} (431, then RST_STREAM) or malformed headers (RST_STREAM
     * PROTOCOL_ERROR: {@code bad_request}). Netty fires no event and passes no exception down the pipeline for a
     * stream it refused before opening it (nor for its own 431); but every RST_STREAM this connection sends goes
     * through the encoder's {@link Http2LifecycleManager}, so this one sits in front of the codec there and
     * delegates everything.
     *
     * <p>Counted: resets of a stream the connection does not know (never opened) or whose HEADERS never passed
     * ({@link #awaitingHeaders}). Not counted: resets of streams whose request was delivered (their ProxyHandler logs
     * and counts the exchange), CANCEL and NO_ERROR (the proxy ending a stream), STREAM_CLOSED (late frames of a
     * finished stream), REFUSED_STREAM after GOAWAY (the connection is going away; the client retries elsewhere).
     * Logged at debug only: a client can cause thousands of these a second.
     */
    private final class RefusedStreams implements Http2LifecycleManager {

        @Override
        public ChannelFuture resetStream(ChannelHandlerContext c, int streamId, long errorCode,
                ChannelPromise promise) {
            RejectReason reason = refusal(streamId, errorCode);
            if (reason != null) {
                listener.meters().rejected(reason);
                if (LOG.isDebugEnabled()) {
                    LOG.debug("HTTP/2 stream refused by the codec listener={} remote={} stream={} error={} reason={}",
                            listener.name(), ConnectionAttributes.remoteIp(c.channel()), streamId,
                            Http2Error.valueOf(errorCode), reason.label());
                }
            }
            return codec.resetStream(c, streamId, errorCode, promise);
        }

        private RejectReason refusal(int streamId, long errorCode) {
            if (errorCode == Http2Error.CANCEL.code() || errorCode == Http2Error.NO_ERROR.code()
                    || errorCode == Http2Error.STREAM_CLOSED.code()) {
                return null;
            }
            if (streamId == awaitingHeaders) {
                awaitingHeaders = 0;
            } else if (codec.connection().stream(streamId) != null) {
                return null;
            }
            if (errorCode == Http2Error.REFUSED_STREAM.code()) {
                return codec.connection().goAwaySent() ? null : RejectReason.LIMIT_EXCEEDED;
            }
            return RejectReason.BAD_REQUEST;
        }

        @Override
        public void closeStreamLocal(Http2Stream stream, ChannelFuture future) {
            codec.closeStreamLocal(stream, future);
        }

        @Override
        public void closeStreamRemote(Http2Stream stream, ChannelFuture future) {
            codec.closeStreamRemote(stream, future);
        }

        @Override
        public void closeStream(Http2Stream stream, ChannelFuture future) {
            codec.closeStream(stream, future);
        }

        @Override
        public ChannelFuture goAway(ChannelHandlerContext c, int lastStreamId, long errorCode, ByteBuf debugData,
                ChannelPromise promise) {
            return codec.goAway(c, lastStreamId, errorCode, debugData, promise);
        }

        @Override
        public void onError(ChannelHandlerContext c, boolean outbound, Throwable cause) {
            codec.onError(c, outbound, cause);
        }
    }
}
