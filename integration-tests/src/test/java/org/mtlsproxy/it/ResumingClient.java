package org.mtlsproxy.it;

import io.netty.bootstrap.Bootstrap;
import io.netty.channel.Channel;
import io.netty.channel.ChannelHandlerContext;
import io.netty.channel.ChannelInitializer;
import io.netty.channel.EventLoopGroup;
import io.netty.channel.SimpleChannelInboundHandler;
import io.netty.channel.socket.SocketChannel;
import io.netty.channel.socket.nio.NioSocketChannel;
import io.netty.handler.codec.http.DefaultFullHttpRequest;
import io.netty.handler.codec.http.FullHttpResponse;
import io.netty.handler.codec.http.HttpClientCodec;
import io.netty.handler.codec.http.HttpHeaderNames;
import io.netty.handler.codec.http.HttpMethod;
import io.netty.handler.codec.http.HttpObjectAggregator;
import io.netty.handler.codec.http.HttpVersion;
import io.netty.handler.ssl.SslContext;
import io.netty.handler.ssl.OpenSslSession;
import io.netty.handler.ssl.SslContextBuilder;
import io.netty.handler.ssl.SslHandler;
import io.netty.handler.ssl.SslHandshakeCompletionEvent;
import io.netty.handler.ssl.SslProvider;
import java.io.IOException;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.TimeUnit;
import org.mtlsproxy.proxy.tls.Resumption;
import org.mtlsproxy.testing.TestPki;

/**
 * A TLS 1.3 client (Netty, BoringSSL) that keeps its sessions and offers them again, reporting for each connection
 * whether the handshake resumed. Its session cache is keyed by the host and port given to {@code newHandler}, so
 * connections to different real ports can share a session by naming the same logical {@code proxy.test:<port>},
 * like a client of one load-balanced address whose connections land on different replicas. Also the one-GET client
 * of tests that need the negotiated key-exchange group.
 */
final class ResumingClient {

    /** The outcome of one connection: the response status (0: closed without a response) and the TLS facts. */
    record Handshake(int status, boolean resumed, String protocol) {
    }

    /** {@link Handshake}, the negotiated key-exchange group and cipher suite (null: the handshake failed). */
    record Exchange(Handshake handshake, String group, String cipher) {
    }

    private final EventLoopGroup group;
    private final SslContext context;

    ResumingClient(EventLoopGroup group, TestPki.Issued identity) throws IOException {
        this(group, SslContextBuilder.forClient()
                .sslProvider(SslProvider.OPENSSL)
                .keyManager(identity.chainPem().toFile(), identity.keyPem().toFile())
                .trustManager(TestPki.get().serverRootPem().toFile())
                .protocols("TLSv1.3")
                .sessionCacheSize(64)
                .sessionTimeout(300)
                .build());
    }

    /** A client on {@code context} (a BoringSSL client context: the negotiated group is read from its sessions). */
    ResumingClient(EventLoopGroup group, SslContext context) {
        this.group = group;
        this.context = context;
    }

    /** One connection to {@code realPort}, its session cached under {@code proxy.test:logicalPort}; one GET. */
    Handshake connect(int realPort, int logicalPort) throws Exception {
        return exchange(realPort, logicalPort).handshake();
    }

    /** Like {@link #connect}, also reporting the key-exchange group. */
    Exchange exchange(int realPort, int logicalPort) throws Exception {
        CompletableFuture<Boolean> resumed = new CompletableFuture<>();
        CompletableFuture<Integer> status = new CompletableFuture<>();
        String[] protocol = new String[1];
        String[] keyExchange = new String[1];
        String[] cipher = new String[1];
        Channel ch = new Bootstrap().group(group).channel(NioSocketChannel.class)
                .handler(new ChannelInitializer<SocketChannel>() {
                    @Override
                    protected void initChannel(SocketChannel c) {
                        SslHandler tls = context.newHandler(c.alloc(), TestPki.PROXY_DNS_NAME, logicalPort);
                        c.pipeline().addLast("tls", tls);
                        c.pipeline().addLast(new HttpClientCodec(), new HttpObjectAggregator(1 << 20));
                        c.pipeline().addLast(new SimpleChannelInboundHandler<FullHttpResponse>() {
                            @Override
                            public void userEventTriggered(ChannelHandlerContext ctx, Object evt) {
                                if (evt instanceof SslHandshakeCompletionEvent e) {
                                    if (!e.isSuccess()) {
                                        resumed.completeExceptionally(e.cause());
                                        ctx.close();
                                        return;
                                    }
                                    protocol[0] = tls.engine().getSession().getProtocol();
                                    keyExchange[0] = ((OpenSslSession) tls.engine().getSession()).getNamedGroup();
                                    cipher[0] = tls.engine().getSession().getCipherSuite();
                                    resumed.complete(Resumption.isResumed(tls.engine()));
                                    DefaultFullHttpRequest get = new DefaultFullHttpRequest(HttpVersion.HTTP_1_1,
                                            HttpMethod.GET, "/resume");
                                    get.headers().set(HttpHeaderNames.HOST, TestPki.PROXY_DNS_NAME);
                                    ctx.writeAndFlush(get);
                                }
                                ctx.fireUserEventTriggered(evt);
                            }

                            @Override
                            protected void channelRead0(ChannelHandlerContext ctx, FullHttpResponse response) {
                                // The response comes after the TLS 1.3 NewSessionTicket messages: the client has
                                // stored the new session by now.
                                status.complete(response.status().code());
                                ctx.close();
                            }

                            @Override
                            public void channelInactive(ChannelHandlerContext ctx) {
                                status.complete(0);
                                resumed.completeExceptionally(new IOException("closed during the handshake"));
                                ctx.fireChannelInactive();
                            }

                            @Override
                            public void exceptionCaught(ChannelHandlerContext ctx, Throwable cause) {
                                ctx.close();
                            }
                        });
                    }
                }).connect("127.0.0.1", realPort).sync().channel();
        try {
            boolean wasResumed;
            try {
                wasResumed = resumed.get(10, TimeUnit.SECONDS);
            } catch (ExecutionException e) {
                return new Exchange(new Handshake(0, false, null), null, null);
            }
            return new Exchange(new Handshake(status.get(10, TimeUnit.SECONDS), wasResumed, protocol[0]),
                    keyExchange[0], cipher[0]);
        } finally {
            ch.close().sync();
        }
    }
}
