package org.mtlsproxy.proxy.http;

import io.netty.buffer.ByteBuf;
import io.netty.buffer.Unpooled;
import io.netty.channel.Channel;
import io.netty.channel.ChannelFutureListener;
import io.netty.channel.ChannelHandler;
import io.netty.channel.ChannelHandlerContext;
import io.netty.channel.ChannelInboundHandlerAdapter;
import io.netty.channel.ChannelPipeline;
import io.netty.handler.codec.http.HttpHeaderNames;
import io.netty.handler.codec.http.HttpHeaderValues;
import io.netty.handler.codec.http.HttpHeaders;
import io.netty.handler.codec.http.HttpMethod;
import io.netty.handler.codec.http.HttpRequest;
import io.netty.handler.codec.http.HttpResponse;
import io.netty.handler.codec.http.HttpVersion;
import io.netty.handler.ssl.SslCloseCompletionEvent;
import io.netty.handler.timeout.IdleStateEvent;
import io.netty.util.ReferenceCountUtil;
import java.security.cert.X509Certificate;
import org.mtlsproxy.proxy.authz.Decision;
import org.mtlsproxy.proxy.identity.ClientIdentity;
import org.mtlsproxy.proxy.identity.IdentityCache;
import org.mtlsproxy.proxy.runtime.ListenerRuntime;
import org.mtlsproxy.proxy.runtime.RouteRuntime;
import org.mtlsproxy.proxy.tls.ClientCertificateException;
import org.mtlsproxy.proxy.tls.PeerChain;
import org.mtlsproxy.proxy.transport.IdleTimeoutHandler;
import org.mtlsproxy.proxy.upstream.BackendConnection;
import org.mtlsproxy.proxy.upstream.BackendHttpCodec;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * A WebSocket connection after the backend's {@code 101 Switching Protocols}: the HTTP codecs leave both pipelines
 * and bytes are relayed as they are, both ways.
 *
 * <ul>
 *   <li>Backpressure: each side reads only while the other side is writable (autoRead follows writability).</li>
 *   <li>End: when either side closes (TCP close or TLS close_notify), what was already read is flushed to the other
 *       side, which is then closed. TLS has no half-close that both peers honour, so the relay ends as a whole; the
 *       WebSocket close handshake, being frames, is relayed before that.</li>
 *   <li>Idle: the client connection's idle handler (http.idle-timeout) stays: no byte either way for that long
 *       closes the tunnel. Drain closes it at once (a tunnel never "finishes").</li>
 *   <li>Reload: the client chain is re-verified and the route re-authorized under the new snapshot; a client no
 *       longer allowed loses its tunnel at once.</li>
 *   <li>The backend connection is never pooled again: it is released as not reusable once closed.</li>
 * </ul>
 */
final class UpgradeTunnel {

    private static final Logger LOG = LoggerFactory.getLogger(UpgradeTunnel.class);
    private static final Logger ACCESS = LoggerFactory.getLogger("mtls_proxy.access");

    private final Channel client;
    private final Channel backend;
    private final String remoteIp;
    private final String host;
    private final String path;
    private final long startNanos = System.nanoTime();
    private ListenerRuntime listener;
    private RouteRuntime route;
    private ClientIdentity identity;
    private long bytesIn;
    private long bytesOut;
    private boolean closed;

    private UpgradeTunnel(Channel client, Channel backend, ListenerRuntime listener, RouteRuntime route,
            ClientIdentity identity, String remoteIp, String host, String path) {
        this.client = client;
        this.backend = backend;
        this.listener = listener;
        this.route = route;
        this.identity = identity;
        this.remoteIp = remoteIp;
        this.host = host;
        this.path = path;
    }

    /** {@code Connection: upgrade} and {@code Upgrade: websocket} on a GET (RFC 6455 §4.1). */
    static boolean isWebSocketRequest(HttpRequest req) {
        HttpHeaders h = req.headers();
        return req.method() == HttpMethod.GET
                && h.containsValue(HttpHeaderNames.CONNECTION, HttpHeaderValues.UPGRADE, true)
                && h.getAll(HttpHeaderNames.UPGRADE).size() == 1
                && h.containsValue(HttpHeaderNames.UPGRADE, HttpHeaderValues.WEBSOCKET, true);
    }

    /** Puts back (normalised) the two hop-by-hop fields a WebSocket upgrade needs on the next hop. */
    static void restoreUpgradeHeaders(HttpHeaders h) {
        h.set(HttpHeaderNames.CONNECTION, HttpHeaderValues.UPGRADE);
        h.set(HttpHeaderNames.UPGRADE, HttpHeaderValues.WEBSOCKET);
    }

    static boolean isWebSocketResponse(HttpResponse resp) {
        return resp.headers().containsValue(HttpHeaderNames.UPGRADE, HttpHeaderValues.WEBSOCKET, true);
    }

    /**
     * Writes the 101 to the client, then turns both pipelines into the relay. Called on the shared event loop
     * from the backend connection's read of the 101 head; {@code proxy} (the client's ProxyHandler) is replaced.
     */
    static void start(ChannelHandlerContext proxyCtx, ChannelHandler proxy, HttpResponse resp,
            BackendConnection upstream, ListenerRuntime listener, RouteRuntime route, ClientIdentity identity,
            String remoteIp, String host, String path) {
        Channel client = proxyCtx.channel();
        Channel backend = upstream.channel();
        backend.closeFuture().addListener(f -> upstream.backend().release(upstream, false));
        ChannelPipeline cp = client.pipeline();
        ChannelPipeline bp = backend.pipeline();
        ClientHttpCodec clientCodec = cp.get(ClientHttpCodec.class);
        BackendHttpCodec backendCodec = bp.get(BackendHttpCodec.class);
        if (clientCodec == null || backendCodec == null) {
            ReferenceCountUtil.release(resp);
            backend.close();
            client.close();
            return;
        }

        HopByHop.strip(resp.headers());
        restoreUpgradeHeaders(resp.headers());
        resp.setProtocolVersion(HttpVersion.HTTP_1_1);
        client.writeAndFlush(resp);

        UpgradeTunnel tunnel = new UpgradeTunnel(client, backend, listener, route, identity, remoteIp, host, path);
        // Encoders first (no state to hand over), so the decoders' leftover bytes, fired on removal, are written
        // raw to the other side.
        clientCodec.removeOutboundHandler();
        backendCodec.removeOutboundHandler();
        cp.replace(proxy, "tunnel", tunnel.new Side(true));
        bp.replace(upstream, "tunnel", tunnel.new Side(false));
        IdleTimeoutHandler backendIdle = bp.get(IdleTimeoutHandler.class);
        if (backendIdle != null) {
            bp.remove(backendIdle);
        }
        cp.remove(clientCodec);
        bp.remove(backendCodec);
        client.config().setAutoRead(backend.isWritable());
        backend.config().setAutoRead(client.isWritable());
        LOG.atDebug().addKeyValue("route", route.name()).addKeyValue("remote", remoteIp)
                .log("websocket upgraded: relaying bytes");
    }

    private void close(String why) {
        if (closed) {
            return;
        }
        closed = true;
        listener.meters().bytes(bytesIn, bytesOut);
        ACCESS.atInfo()
                .addKeyValue("listener", listener.name())
                .addKeyValue("remote", remoteIp)
                .addKeyValue("identity", identity == null ? "" : identity.displayName())
                .addKeyValue("path", path == null ? "" : path)
                .addKeyValue("route", route.name())
                .addKeyValue("detail", why)
                .addKeyValue("bytes_in", bytesIn)
                .addKeyValue("bytes_out", bytesOut)
                .addKeyValue("duration_ms", (System.nanoTime() - startNanos) / 1_000_000.0)
                .log("websocket closed");
        for (Channel ch : new Channel[] {client, backend}) {
            if (ch.isActive()) {
                // Whatever was already written goes out first.
                ch.writeAndFlush(Unpooled.EMPTY_BUFFER).addListener(ChannelFutureListener.CLOSE);
            } else {
                ch.close();
            }
        }
    }

    /** After a reload: still verified, still routed to a WebSocket route, still allowed; else the tunnel ends. */
    private void onSnapshotChanged(SnapshotChanged changed) {
        ListenerRuntime next = changed.snapshot().listenerOrNull(listener.name());
        if (next == null) {
            close("reload: listener removed");
            return;
        }
        X509Certificate[] chain = PeerChain.of(client);
        if (chain == null) {
            close("reload: no verified client chain");
            return;
        }
        try {
            ClientIdentity id = IdentityCache.shared().identity(chain[0], next.verifier().verify(chain));
            RouteRuntime r = next.routes().match(host, path);
            Decision d = r == null ? null : r.authorizer().decide(id);
            if (r == null || !r.websocket() || !d.allowed()) {
                close("reload: " + (r == null ? "no route" : !r.websocket() ? "websocket disabled" : d.reason()));
                return;
            }
            listener = next;
            route = r;
            identity = id;
            client.attr(ConnectionAttributes.IDENTITY).set(id);
        } catch (ClientCertificateException e) {
            next.meters().closedOnReload(e.reason());
            close("reload: " + e.reason().label());
        } catch (RuntimeException e) {
            close("reload: " + e);
        }
    }

    /** One end of the relay. */
    private final class Side extends ChannelInboundHandlerAdapter {
        private final boolean clientSide;

        Side(boolean clientSide) {
            this.clientSide = clientSide;
        }

        private Channel other() {
            return clientSide ? backend : client;
        }

        @Override
        public void channelRead(ChannelHandlerContext ctx, Object msg) {
            if (!(msg instanceof ByteBuf buf) || closed) {
                // The codec's end marker after the 101 head, or anything after the end.
                ReferenceCountUtil.release(msg);
                return;
            }
            if (clientSide) {
                bytesIn += buf.readableBytes();
            } else {
                bytesOut += buf.readableBytes();
            }
            Channel other = other();
            other.writeAndFlush(buf).addListener(f -> {
                if (!f.isSuccess()) {
                    close("write failed: " + f.cause());
                }
            });
            if (!other.isWritable()) {
                ctx.channel().config().setAutoRead(false);
            }
        }

        @Override
        public void channelWritabilityChanged(ChannelHandlerContext ctx) {
            // This side can take more (or no more): the other side reads accordingly.
            if (!closed) {
                other().config().setAutoRead(ctx.channel().isWritable());
            }
            ctx.fireChannelWritabilityChanged();
        }

        @Override
        public void channelInactive(ChannelHandlerContext ctx) {
            close((clientSide ? "client" : "backend") + " closed");
            ctx.fireChannelInactive();
        }

        @Override
        public void userEventTriggered(ChannelHandlerContext ctx, Object evt) {
            if (evt instanceof SslCloseCompletionEvent) {
                close((clientSide ? "client" : "backend") + " sent close_notify");
            } else if (clientSide && evt instanceof IdleStateEvent) {
                close("idle");
            } else if (clientSide && evt instanceof DrainEvent) {
                close("draining");
            } else if (clientSide && evt instanceof SnapshotChanged changed) {
                onSnapshotChanged(changed);
            } else {
                ctx.fireUserEventTriggered(evt);
            }
        }

        @Override
        public void exceptionCaught(ChannelHandlerContext ctx, Throwable cause) {
            LOG.debug("websocket relay error side={} : {}", clientSide ? "client" : "backend", cause.toString());
            close((clientSide ? "client" : "backend") + " error");
        }
    }
}
