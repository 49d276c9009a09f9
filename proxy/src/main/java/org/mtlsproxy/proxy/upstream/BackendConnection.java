package org.mtlsproxy.proxy.upstream;

import static java.util.Objects.requireNonNull;

import io.netty.channel.Channel;
import io.netty.channel.ChannelHandlerContext;
import io.netty.channel.ChannelInboundHandlerAdapter;
import io.netty.handler.codec.http.HttpObject;
import io.netty.handler.codec.http.HttpResponse;
import io.netty.handler.timeout.IdleStateEvent;
import io.netty.util.ReferenceCountUtil;
import org.mtlsproxy.config.HostPort;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * One TLS + HTTP/1.1 connection to a backend endpoint. While an exchange uses it, everything it reads goes to the
 * attached {@link UpstreamListener}; while it idles in the pool, unexpected data or an idle timeout closes it.
 * Event-loop confined: no locks.
 *
 * <p>It also carries its endpoint's in-flight count while handed out ({@link #startFlight} / {@link #endFlight},
 * given back exactly once whether the connection is released or just closes) and reports passive health: a
 * response head is a success of the endpoint; a new connection closed or failing before any response byte is a
 * failure (a pooled one is not: backends close idle keep-alive connections at will).
 */
public final class BackendConnection extends ChannelInboundHandlerAdapter {

    private static final Logger LOG = LoggerFactory.getLogger(BackendConnection.class);

    private final Backend backend;
    private final HostPort endpoint;
    private final int index;
    private Channel channel;
    private BackendHttpCodec codec;
    private UpstreamListener listener;
    private int uses;
    private boolean inFlight;
    private boolean responseSeen;

    BackendConnection(Backend backend, HostPort endpoint, int index) {
        this.backend = requireNonNull(backend, "backend");
        this.endpoint = requireNonNull(endpoint, "endpoint");
        this.index = index;
    }

    /** The endpoint's position in the backend's configured endpoints. */
    int index() {
        return index;
    }

    /** Handed out to a request: it now counts as in flight on its endpoint (counted by the backend already). */
    void startFlight() {
        inFlight = true;
    }

    /** Released or closed: gives the endpoint's in-flight count back, once. */
    void endFlight() {
        if (inFlight) {
            inFlight = false;
            backend.flightEnded(index);
        }
    }

    public Channel channel() {
        return channel;
    }

    public HostPort endpoint() {
        return endpoint;
    }

    public Backend backend() {
        return backend;
    }

    /** True when this connection already served an exchange before the current one (it came from the pool). */
    public boolean reused() {
        return uses > 1;
    }

    /** Starts an exchange: from now on responses go to {@code l}. */
    public void attach(UpstreamListener l) {
        this.listener = requireNonNull(l, "listener");
        uses++;
        responseSeen = false;
    }

    /** Ends the exchange; the connection must then go back to {@link Backend#release}. */
    public void detach() {
        this.listener = null;
    }

    @Override
    public void handlerAdded(ChannelHandlerContext ctx) {
        this.channel = ctx.channel();
        this.codec = ctx.pipeline().get(BackendHttpCodec.class);
    }

    /**
     * Nothing of a response is under way or held back undecoded: the connection can carry another exchange. A
     * backend that sent more than its response (or bytes while idle) short of a whole message fails this.
     */
    boolean betweenResponses() {
        return codec != null && codec.betweenResponses();
    }

    @Override
    public void channelRead(ChannelHandlerContext ctx, Object msg) {
        UpstreamListener l = listener;
        if (l != null && msg instanceof HttpObject http) {
            if (!responseSeen && msg instanceof HttpResponse && http.decoderResult().isSuccess()) {
                responseSeen = true;
                backend.endpointSucceeded(index);
            }
            l.onResponse(http);
            return;
        }
        ReferenceCountUtil.release(msg);
        LOG.debug("closing idle backend connection to {} that sent unsolicited data", endpoint);
        ctx.close();
    }

    @Override
    public void channelReadComplete(ChannelHandlerContext ctx) {
        UpstreamListener l = listener;
        if (l != null) {
            l.onBackendReadComplete();
        }
        ctx.fireChannelReadComplete();
    }

    @Override
    public void channelWritabilityChanged(ChannelHandlerContext ctx) {
        UpstreamListener l = listener;
        if (l != null) {
            l.onBackendWritabilityChanged();
        }
        ctx.fireChannelWritabilityChanged();
    }

    @Override
    public void channelInactive(ChannelHandlerContext ctx) {
        UpstreamListener l = listener;
        listener = null;
        if (l != null) {
            reportFailureBeforeResponse(ctx);
            l.onBackendClosed(null);
        }
        ctx.fireChannelInactive();
    }

    @Override
    public void userEventTriggered(ChannelHandlerContext ctx, Object evt) {
        if (evt instanceof IdleStateEvent && listener == null) {
            ctx.close();
            return;
        }
        ctx.fireUserEventTriggered(evt);
    }

    @Override
    public void exceptionCaught(ChannelHandlerContext ctx, Throwable cause) {
        UpstreamListener l = listener;
        listener = null;
        if (l != null) {
            reportFailureBeforeResponse(ctx);
            l.onBackendClosed(cause);
        } else {
            LOG.debug("backend connection to {} failed while idle: {}", endpoint, cause.toString());
        }
        ctx.close();
    }

    private void reportFailureBeforeResponse(ChannelHandlerContext ctx) {
        if (!responseSeen && uses == 1) {
            backend.endpointFailed(index, ctx.channel().eventLoop());
        }
    }
}
