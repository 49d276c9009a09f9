package org.mtlsproxy.proxy.demo;

import io.netty.bootstrap.ServerBootstrap;
import io.netty.buffer.ByteBufUtil;
import io.netty.channel.Channel;
import io.netty.channel.ChannelFutureListener;
import io.netty.channel.ChannelHandlerContext;
import io.netty.channel.ChannelInitializer;
import io.netty.channel.EventLoopGroup;
import io.netty.channel.SimpleChannelInboundHandler;
import io.netty.channel.socket.SocketChannel;
import io.netty.handler.codec.http.DefaultFullHttpResponse;
import io.netty.handler.codec.http.FullHttpRequest;
import io.netty.handler.codec.http.FullHttpResponse;
import io.netty.handler.codec.http.HttpHeaderNames;
import io.netty.handler.codec.http.HttpObjectAggregator;
import io.netty.handler.codec.http.HttpResponseStatus;
import io.netty.handler.codec.http.HttpServerCodec;
import io.netty.handler.codec.http.HttpUtil;
import io.netty.handler.ssl.ClientAuth;
import io.netty.handler.ssl.SslContext;
import io.netty.handler.ssl.SslContextBuilder;
import io.netty.handler.ssl.SslHandler;
import java.net.InetSocketAddress;
import java.security.cert.X509Certificate;
import java.util.Map;
import java.util.concurrent.TimeUnit;
import javax.net.ssl.SSLPeerUnverifiedException;
import org.mtlsproxy.proxy.pki.CertificateAuthority;
import org.mtlsproxy.proxy.tls.SslContextFactory;
import org.mtlsproxy.proxy.transport.Transport;

/**
 * The demo's backend: HTTPS on loopback that requires the proxy's client certificate and answers every request
 * with what it received: method, path, the identity header and the certificate the proxy presented.
 */
final class EchoBackend implements AutoCloseable {

    private final EventLoopGroup group;
    private final Channel channel;

    private EchoBackend(EventLoopGroup group, Channel channel) {
        this.group = group;
        this.channel = channel;
    }

    static EchoBackend start(CertificateAuthority.Issued server, X509Certificate trustedClientCa,
            String identityHeader) throws Exception {
        SslContext ctx = SslContextBuilder.forServer(server.key(), server.chain())
                .sslProvider(SslContextFactory.provider())
                .clientAuth(ClientAuth.REQUIRE)
                .trustManager(trustedClientCa)
                .build();
        Transport transport = Transport.best();
        EventLoopGroup group = transport.newGroup(1, "demo-backend");
        Channel ch = new ServerBootstrap()
                .group(group)
                .channel(transport.serverChannel())
                .childHandler(new ChannelInitializer<SocketChannel>() {
                    @Override
                    protected void initChannel(SocketChannel c) {
                        c.pipeline().addLast(ctx.newHandler(c.alloc()));
                        c.pipeline().addLast(new HttpServerCodec());
                        c.pipeline().addLast(new HttpObjectAggregator(1 << 20));
                        c.pipeline().addLast(new Echo(identityHeader));
                    }
                })
                .bind("127.0.0.1", 0).sync().channel();
        return new EchoBackend(group, ch);
    }

    int port() {
        return ((InetSocketAddress) channel.localAddress()).getPort();
    }

    @Override
    public void close() {
        channel.close().awaitUninterruptibly();
        group.shutdownGracefully(0, 1, TimeUnit.SECONDS).awaitUninterruptibly(5, TimeUnit.SECONDS);
    }

    private static final class Echo extends SimpleChannelInboundHandler<FullHttpRequest> {
        private final String identityHeader;

        Echo(String identityHeader) {
            this.identityHeader = identityHeader;
        }

        @Override
        protected void channelRead0(ChannelHandlerContext ctx, FullHttpRequest req) {
            String proxyCert;
            try {
                proxyCert = ((X509Certificate) ctx.pipeline().get(SslHandler.class).engine().getSession()
                        .getPeerCertificates()[0]).getSubjectX500Principal().getName();
            } catch (SSLPeerUnverifiedException e) {
                proxyCert = "(none)";
            }
            StringBuilder body = new StringBuilder();
            body.append("hello from the demo backend\n")
                    .append("request: ").append(req.method()).append(' ').append(req.uri()).append('\n')
                    .append("proxy client certificate: ").append(proxyCert).append('\n')
                    .append(identityHeader).append(": ").append(req.headers().get(identityHeader)).append('\n');
            for (Map.Entry<String, String> h : req.headers()) {
                if (h.getKey().toLowerCase(java.util.Locale.ROOT).startsWith("x-forwarded-for")
                        || h.getKey().equalsIgnoreCase("x-forwarded-proto")) {
                    body.append(h.getKey().toLowerCase(java.util.Locale.ROOT)).append(": ").append(h.getValue())
                            .append('\n');
                }
            }
            FullHttpResponse r = new DefaultFullHttpResponse(req.protocolVersion(), HttpResponseStatus.OK,
                    ByteBufUtil.writeUtf8(ctx.alloc(), body));
            r.headers().set(HttpHeaderNames.CONTENT_TYPE, "text/plain; charset=utf-8")
                    .setInt(HttpHeaderNames.CONTENT_LENGTH, r.content().readableBytes());
            boolean keepAlive = HttpUtil.isKeepAlive(req);
            HttpUtil.setKeepAlive(r, keepAlive);
            var f = ctx.writeAndFlush(r);
            if (!keepAlive) {
                f.addListener(ChannelFutureListener.CLOSE);
            }
        }
    }
}
