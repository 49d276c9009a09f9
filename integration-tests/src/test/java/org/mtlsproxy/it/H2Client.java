package org.mtlsproxy.it;

import io.netty.bootstrap.Bootstrap;
import io.netty.buffer.ByteBufUtil;
import io.netty.buffer.Unpooled;
import io.netty.channel.Channel;
import io.netty.channel.ChannelHandlerContext;
import io.netty.channel.ChannelInitializer;
import io.netty.channel.EventLoopGroup;
import io.netty.channel.MultiThreadIoEventLoopGroup;
import io.netty.channel.SimpleChannelInboundHandler;
import io.netty.channel.nio.NioIoHandler;
import io.netty.channel.socket.SocketChannel;
import io.netty.channel.socket.nio.NioSocketChannel;
import io.netty.handler.codec.http.DefaultFullHttpRequest;
import io.netty.handler.codec.http.FullHttpResponse;
import io.netty.handler.codec.http.HttpHeaderNames;
import io.netty.handler.codec.http.HttpHeaders;
import io.netty.handler.codec.http.HttpMethod;
import io.netty.handler.codec.http.HttpObjectAggregator;
import io.netty.handler.codec.http.HttpVersion;
import io.netty.handler.codec.http2.Http2FrameCodecBuilder;
import io.netty.handler.codec.http2.Http2MultiplexHandler;
import io.netty.handler.codec.http2.Http2StreamChannel;
import io.netty.handler.codec.http2.Http2StreamChannelBootstrap;
import io.netty.handler.codec.http2.Http2StreamFrameToHttpObjectCodec;
import io.netty.handler.ssl.ApplicationProtocolConfig;
import io.netty.handler.ssl.OpenSsl;
import io.netty.handler.ssl.SslContext;
import io.netty.handler.ssl.SslContextBuilder;
import io.netty.handler.ssl.SslHandler;
import io.netty.handler.ssl.SslProvider;
import io.netty.util.ReferenceCountUtil;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;
import org.mtlsproxy.testing.TestPki;

/**
 * An HTTP/2 client over TLS with a client certificate (Netty, ALPN): one connection, a new stream per request,
 * responses aggregated.
 */
final class H2Client implements AutoCloseable {

    /** A response as the client saw it. */
    record Response(int status, HttpHeaders headers, byte[] body) {
        String bodyText() {
            return new String(body, java.nio.charset.StandardCharsets.UTF_8);
        }
    }

    private final EventLoopGroup group = new MultiThreadIoEventLoopGroup(1, NioIoHandler.newFactory());
    private final Channel channel;
    private final String protocol;
    private final String tlsProtocol;
    private final String cipherSuite;

    /**
     * Connects to {@code port} presenting {@code identity}, sending SNI {@code sni} and offering {@code alpn}.
     */
    H2Client(int port, TestPki.Issued identity, String sni, List<String> alpn) throws Exception {
        TestPki pki = TestPki.get();
        SslContext ssl = SslContextBuilder.forClient()
                .sslProvider(OpenSsl.isAvailable() ? SslProvider.OPENSSL : SslProvider.JDK)
                .keyManager(identity.privateKey(), identity.chain())
                .trustManager(pki.serverRootCa().certificate())
                .applicationProtocolConfig(new ApplicationProtocolConfig(ApplicationProtocolConfig.Protocol.ALPN,
                        ApplicationProtocolConfig.SelectorFailureBehavior.NO_ADVERTISE,
                        ApplicationProtocolConfig.SelectedListenerFailureBehavior.ACCEPT, alpn))
                .build();
        try {
            channel = new Bootstrap().group(group).channel(NioSocketChannel.class)
                    .handler(new ChannelInitializer<SocketChannel>() {
                        @Override
                        protected void initChannel(SocketChannel ch) {
                            ch.pipeline().addLast(ssl.newHandler(ch.alloc(), sni, port));
                            // Sends what it is asked to, even header lists over the server's advertised limit.
                            ch.pipeline().addLast(Http2FrameCodecBuilder.forClient()
                                    .encoderIgnoreMaxHeaderListSize(true).build());
                            ch.pipeline().addLast(new Http2MultiplexHandler(new SimpleChannelInboundHandler<Object>() {
                                @Override
                                protected void channelRead0(ChannelHandlerContext ctx, Object msg) {
                                    // No server push expected.
                                }
                            }));
                        }
                    })
                    .connect("127.0.0.1", port).sync().channel();
            SslHandler handler = channel.pipeline().get(SslHandler.class);
            handler.handshakeFuture().sync();
            protocol = handler.applicationProtocol();
            tlsProtocol = handler.engine().getSession().getProtocol();
            cipherSuite = handler.engine().getSession().getCipherSuite();
        } finally {
            ReferenceCountUtil.release(ssl);
        }
    }

    /** The negotiated TLS protocol version, e.g. TLSv1.3. */
    String tlsProtocol() {
        return tlsProtocol;
    }

    /** The negotiated cipher suite. */
    String cipherSuite() {
        return cipherSuite;
    }

    /** The ALPN protocol the server selected, or null. */
    String protocol() {
        return protocol;
    }

    /** Sends a request on a new stream; the future completes with the whole response. */
    CompletableFuture<Response> request(HttpMethod method, String path, String authority, byte[] body) {
        return request(method, path, authority, body, null, null);
    }

    private CompletableFuture<Response> request(HttpMethod method, String path, String authority, byte[] body,
            String headerName, String headerValue) {
        CompletableFuture<Response> result = new CompletableFuture<>();
        Http2StreamChannel stream = new Http2StreamChannelBootstrap(channel)
                .handler(new ChannelInitializer<Http2StreamChannel>() {
                    @Override
                    protected void initChannel(Http2StreamChannel ch) {
                        ch.pipeline().addLast(new Http2StreamFrameToHttpObjectCodec(false));
                        ch.pipeline().addLast(new HttpObjectAggregator(16 * 1024 * 1024));
                        ch.pipeline().addLast(new SimpleChannelInboundHandler<FullHttpResponse>() {
                            @Override
                            protected void channelRead0(ChannelHandlerContext ctx, FullHttpResponse r) {
                                if (r.status().code() >= 200) {
                                    result.complete(new Response(r.status().code(), r.headers().copy(),
                                            ByteBufUtil.getBytes(r.content())));
                                }
                            }

                            @Override
                            public void channelInactive(ChannelHandlerContext ctx) {
                                result.completeExceptionally(new IllegalStateException("stream closed"));
                            }

                            @Override
                            public void exceptionCaught(ChannelHandlerContext ctx, Throwable cause) {
                                result.completeExceptionally(cause);
                                ctx.close();
                            }
                        });
                    }
                }).open().syncUninterruptibly().getNow();
        DefaultFullHttpRequest req = new DefaultFullHttpRequest(HttpVersion.HTTP_1_1, method, path,
                body == null ? Unpooled.EMPTY_BUFFER : Unpooled.wrappedBuffer(body));
        req.headers().set(HttpHeaderNames.HOST, authority);
        if (body != null) {
            req.headers().setInt(HttpHeaderNames.CONTENT_LENGTH, body.length);
        }
        if (headerName != null) {
            req.headers().set(headerName, headerValue);
        }
        stream.writeAndFlush(req);
        return result;
    }

    Response get(String path, String authority) throws Exception {
        return request(HttpMethod.GET, path, authority, null).get(20, TimeUnit.SECONDS);
    }

    /**
     * From now on opens streams beyond the server's SETTINGS_MAX_CONCURRENT_STREAMS (call after a first response, so
     * the server's SETTINGS are in), as a misbehaving client would.
     */
    void ignoreServerStreamLimit() {
        channel.eventLoop().submit(() -> channel.pipeline().get(io.netty.handler.codec.http2.Http2FrameCodec.class)
                .connection().local().maxActiveStreams(Integer.MAX_VALUE)).syncUninterruptibly();
    }

    /** Sends a request with the given extra header (set last: it may replace content-length) on a new stream. */
    CompletableFuture<Response> requestWithHeader(HttpMethod method, String path, String authority, byte[] body,
            String name, String value) {
        return request(method, path, authority, body, name, value);
    }

    boolean isOpen() {
        return channel.isActive();
    }

    @Override
    public void close() {
        channel.close().syncUninterruptibly();
        group.shutdownGracefully(0, 2, TimeUnit.SECONDS).syncUninterruptibly();
    }
}
