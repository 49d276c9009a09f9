package org.mtlsproxy.proxy.upstream;

import static java.util.Objects.requireNonNull;

import io.netty.channel.Channel;
import io.netty.channel.ChannelHandlerContext;
import io.netty.channel.ChannelInboundHandlerAdapter;
import io.netty.handler.codec.http.HttpObject;
import io.netty.handler.timeout.IdleStateEvent;
import io.netty.util.ReferenceCountUtil;
import org.mtlsproxy.config.HostPort;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * One TLS + HTTP/1.1 connection to a backend endpoint. While an exchange uses it, everything it reads goes to the
 * attached {@link UpstreamListener}; while it idles in the pool, unexpected data or an idle timeout closes it.
 * Event-loop confined: no locks.
 */
public final class BackendConnection extends ChannelInboundHandlerAdapter {

    private static final Logger LOG = LoggerFactory.getLogger(BackendConnection.class);

    private final Backend backend;
    private final HostPort endpoint;
    private Channel channel;
    private UpstreamListener listener;
    private int uses;

    BackendConnection(Backend backend, HostPort endpoint) {
        this.backend = requireNonNull(backend, "backend");
        this.endpoint = requireNonNull(endpoint, "endpoint");
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
    }

    /** Ends the exchange; the connection must then go back to {@link Backend#release}. */
    public void detach() {
        this.listener = null;
    }

    @Override
    public void handlerAdded(ChannelHandlerContext ctx) {
        this.channel = ctx.channel();
    }

    @Override
    public void channelRead(ChannelHandlerContext ctx, Object msg) {
        UpstreamListener l = listener;
        if (l != null && msg instanceof HttpObject http) {
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
            l.onBackendClosed(cause);
        } else {
            LOG.debug("backend connection to {} failed while idle: {}", endpoint, cause.toString());
        }
        ctx.close();
    }
}
