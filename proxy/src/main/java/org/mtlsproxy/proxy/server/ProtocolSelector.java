package org.mtlsproxy.proxy.server;

import static java.util.Objects.requireNonNull;

import io.netty.channel.ChannelHandlerContext;
import io.netty.channel.ChannelPipeline;
import io.netty.handler.codec.http.HttpDecoderConfig;
import io.netty.handler.codec.http2.Http2FrameCodec;
import io.netty.handler.codec.http2.Http2FrameCodecBuilder;
import io.netty.handler.codec.http2.Http2MultiplexHandler;
import io.netty.handler.codec.http2.Http2Settings;
import io.netty.handler.ssl.ApplicationProtocolNames;
import io.netty.handler.ssl.ApplicationProtocolNegotiationHandler;
import java.time.Duration;
import java.util.concurrent.TimeUnit;
import org.mtlsproxy.config.HttpConfig;
import org.mtlsproxy.proxy.http.ClientHttpCodec;
import org.mtlsproxy.proxy.http.DrainEvent;
import org.mtlsproxy.proxy.http.HeadTimeoutHandler;
import org.mtlsproxy.proxy.http.ProxyHandler;
import org.mtlsproxy.proxy.runtime.ListenerRuntime;
import org.mtlsproxy.proxy.transport.IdleTimeoutHandler;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Builds the rest of a client pipeline once the handshake has verified the client, by the protocol agreed through
 * ALPN (none agreed: HTTP/1.1):
 * <pre>
 * http/1.1:  "head-timeout" → "http-codec" → "idle" → "proxy" (ProxyHandler)
 * h2:        "idle" → "h2" (Http2FrameCodec) → "h2-connection" (Http2Connection) → "h2-streams" (multiplexer);
 *            each stream: "h2-http" (frames ↔ HTTP/1.1 objects) → "h2-adapter" → "idle" → "proxy" (ProxyHandler)
 * </pre>
 * A protocol the listener does not offer (HTTP/1.1 fallback on an h2-only listener) never gets here:
 * {@link HandshakeHandler} refuses it, counted and logged as {@code no_application_protocol}. The check below stays
 * as a guard, and closes connections whose handshake ends while the listener drains.
 */
final class ProtocolSelector extends ApplicationProtocolNegotiationHandler {

    private static final Logger LOG = LoggerFactory.getLogger(ProtocolSelector.class);

    private final ListenerRuntime listener;
    private final Duration clientWindow;
    private final Duration drainTimeout;
    private boolean draining;
    /** A reload seen during the handshake: replayed to the protocol stage once it is in place. */
    private org.mtlsproxy.proxy.http.SnapshotChanged missedReload;

    ProtocolSelector(ListenerRuntime listener, Duration clientWindow, Duration drainTimeout) {
        super(ApplicationProtocolNames.HTTP_1_1);
        this.listener = requireNonNull(listener, "listener");
        this.clientWindow = requireNonNull(clientWindow, "clientWindow");
        this.drainTimeout = requireNonNull(drainTimeout, "drainTimeout");
    }

    @Override
    protected void configurePipeline(ChannelHandlerContext ctx, String protocol) {
        HttpConfig http = listener.config().http();
        if (draining || !http.protocols().contains(protocol)) {
            LOG.debug("closing connection listener={} remote={} protocol={} draining={}", listener.name(),
                    ctx.channel().remoteAddress(), protocol, draining);
            ctx.close();
            return;
        }
        ChannelPipeline p = ctx.pipeline();
        String self = ctx.name();
        if (ApplicationProtocolNames.HTTP_2.equals(protocol)) {
            Http2FrameCodec codec = Http2FrameCodecBuilder.forServer()
                    .initialSettings(Http2Settings.defaultSettings()
                            .maxConcurrentStreams(http.maxConcurrentStreams())
                            .maxHeaderListSize(http.maxHeaderSize()))
                    .validateHeaders(true)
                    // close() (drain) sends GOAWAY and waits this long for open streams to finish.
                    .gracefulShutdownTimeoutMillis(drainTimeout.toMillis())
                    .build();
            Http2Connection connection = new Http2Connection(listener, codec, clientWindow);
            p.addAfter(self, "idle", idle(http));
            p.addAfter("idle", "h2", codec);
            p.addAfter("h2", "h2-connection", connection);
            p.addAfter("h2-connection", "h2-streams", new Http2MultiplexHandler(connection.streamInitializer()));
            replayMissedReload(ctx);
            return;
        }
        HeadTimeoutHandler headTimeout = new HeadTimeoutHandler(
                listener.config().limits().headerReadTimeout().toMillis(), listener.meters());
        p.addAfter(self, "head-timeout", headTimeout);
        p.addAfter("head-timeout", "http-codec", new ClientHttpCodec(new HttpDecoderConfig()
                .setMaxInitialLineLength(http.maxInitialLineLength())
                .setMaxHeaderSize(http.maxHeaderSize())
                .setMaxChunkSize(65536)
                .setStrictLineParsing(true)
                .setUseRfc9112TransferEncoding(true)));
        p.addAfter("http-codec", "idle", idle(http));
        p.addAfter("idle", "proxy", new ProxyHandler(listener, clientWindow, headTimeout));
        replayMissedReload(ctx);
    }

    private void replayMissedReload(ChannelHandlerContext ctx) {
        if (missedReload != null) {
            // Re-verify the chain and adopt the new routes and rules before the first request is read.
            ctx.fireUserEventTriggered(missedReload);
            missedReload = null;
        }
    }

    static IdleTimeoutHandler idle(HttpConfig http) {
        return new IdleTimeoutHandler(http.idleTimeout());
    }

    @Override
    public void userEventTriggered(ChannelHandlerContext ctx, Object evt) throws Exception {
        if (evt instanceof DrainEvent) {
            // Shutting down before the handshake finished: nothing is in flight, close.
            draining = true;
            ctx.close();
            return;
        }
        if (evt instanceof org.mtlsproxy.proxy.http.SnapshotChanged changed) {
            missedReload = changed;
            return;
        }
        super.userEventTriggered(ctx, evt);
    }

    @Override
    public void exceptionCaught(ChannelHandlerContext ctx, Throwable cause) {
        LOG.debug("client connection error before protocol selection listener={} remote={} : {}", listener.name(),
                ctx.channel().remoteAddress(), cause.toString());
        ctx.close();
    }
}
