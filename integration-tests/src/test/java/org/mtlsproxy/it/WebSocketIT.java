package org.mtlsproxy.it;

import static org.assertj.core.api.Assertions.assertThat;

import io.netty.bootstrap.Bootstrap;
import io.netty.bootstrap.ServerBootstrap;
import io.netty.buffer.ByteBufUtil;
import io.netty.buffer.Unpooled;
import io.netty.channel.Channel;
import io.netty.channel.ChannelHandlerContext;
import io.netty.channel.ChannelInboundHandlerAdapter;
import io.netty.channel.ChannelInitializer;
import io.netty.channel.EventLoopGroup;
import io.netty.channel.MultiThreadIoEventLoopGroup;
import io.netty.channel.SimpleChannelInboundHandler;
import io.netty.channel.nio.NioIoHandler;
import io.netty.channel.socket.SocketChannel;
import io.netty.channel.socket.nio.NioServerSocketChannel;
import io.netty.channel.socket.nio.NioSocketChannel;
import io.netty.handler.codec.http.DefaultHttpHeaders;
import io.netty.handler.codec.http.FullHttpRequest;
import io.netty.handler.codec.http.HttpClientCodec;
import io.netty.handler.codec.http.HttpHeaders;
import io.netty.handler.codec.http.HttpObjectAggregator;
import io.netty.handler.codec.http.HttpServerCodec;
import io.netty.handler.codec.http.websocketx.BinaryWebSocketFrame;
import io.netty.handler.codec.http.websocketx.TextWebSocketFrame;
import io.netty.handler.codec.http.websocketx.WebSocketClientHandshakerFactory;
import io.netty.handler.codec.http.websocketx.WebSocketClientProtocolHandler;
import io.netty.handler.codec.http.websocketx.WebSocketFrame;
import io.netty.handler.codec.http.websocketx.WebSocketServerProtocolHandler;
import io.netty.handler.codec.http.websocketx.WebSocketVersion;
import io.netty.handler.ssl.OpenSsl;
import io.netty.handler.ssl.SslContext;
import io.netty.handler.ssl.SslContextBuilder;
import io.netty.handler.ssl.SslProvider;
import io.netty.util.ReferenceCountUtil;
import java.net.URI;
import java.util.Arrays;
import java.util.concurrent.BlockingQueue;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.LinkedBlockingQueue;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.mtlsproxy.testing.RecordingBackend;
import org.mtlsproxy.testing.TestPki;

/**
 * WebSocket through the proxy: the upgrade is authorized like any request and carries the identity header; after
 * the backend's 101, frames are relayed both ways unchanged.
 */
class WebSocketIT {

    private static final TestPki PKI = TestPki.get();
    private static final String SNI = TestPki.PROXY_DNS_NAME;
    private static final EventLoopGroup GROUP = new MultiThreadIoEventLoopGroup(2, NioIoHandler.newFactory());
    /** Upgrade request heads the echo backend received. */
    private static final BlockingQueue<HttpHeaders> UPGRADES = new LinkedBlockingQueue<>();
    private static Channel echoServer;
    private static ProxyFixture proxy;

    @BeforeAll
    static void start() throws Exception {
        SslContext serverTls = SslContextBuilder.forServer(PKI.backendServer().privateKey(), PKI.backendServer().chain())
                .sslProvider(provider()).build();
        echoServer = new ServerBootstrap().group(GROUP).channel(NioServerSocketChannel.class)
                .childHandler(new ChannelInitializer<SocketChannel>() {
                    @Override
                    protected void initChannel(SocketChannel ch) {
                        ch.pipeline().addLast(serverTls.newHandler(ch.alloc()));
                        ch.pipeline().addLast(new HttpServerCodec());
                        ch.pipeline().addLast(new HttpObjectAggregator(65536));
                        ch.pipeline().addLast(new ChannelInboundHandlerAdapter() {
                            @Override
                            public void channelRead(ChannelHandlerContext ctx, Object msg) {
                                if (msg instanceof FullHttpRequest req) {
                                    UPGRADES.add(req.headers().copy());
                                }
                                ctx.fireChannelRead(msg);
                            }
                        });
                        ch.pipeline().addLast(new WebSocketServerProtocolHandler(
                                io.netty.handler.codec.http.websocketx.WebSocketServerProtocolConfig.newBuilder()
                                        .websocketPath("/").checkStartsWith(true).maxFramePayloadLength(1 << 20)
                                        .build()));
                        ch.pipeline().addLast(new SimpleChannelInboundHandler<WebSocketFrame>() {
                            @Override
                            protected void channelRead0(ChannelHandlerContext ctx, WebSocketFrame frame) {
                                if (frame instanceof TextWebSocketFrame || frame instanceof BinaryWebSocketFrame) {
                                    ctx.writeAndFlush(frame.retainedDuplicate());
                                }
                            }
                        });
                    }
                }).bind("127.0.0.1", 0).sync().channel();
        int port = ((java.net.InetSocketAddress) echoServer.localAddress()).getPort();
        proxy = ProxyFixture.builder()
                .backend("ws", port)
                .route("ws", null, "/ws", "ws", "{ spiffe-id = \"" + TestPki.GOOD_CLIENT_SPIFFE_ID + "\" }",
                        "websocket = true")
                .route("plain", null, "/plain", "ws", "{ spiffe-id = \"" + TestPki.GOOD_CLIENT_SPIFFE_ID + "\" }")
                .start();
    }

    @AfterAll
    static void stop() {
        proxy.close();
        echoServer.close().syncUninterruptibly();
        GROUP.shutdownGracefully(0, 2, TimeUnit.SECONDS).syncUninterruptibly();
    }

    private static SslProvider provider() {
        return OpenSsl.isAvailable() ? SslProvider.OPENSSL : SslProvider.JDK;
    }

    /** A WebSocket client through the proxy; {@link #handshake} completes with null or the failure. */
    private static final class WsClient implements AutoCloseable {
        final CompletableFuture<Throwable> handshake = new CompletableFuture<>();
        final BlockingQueue<Object> received = new LinkedBlockingQueue<>();
        final Channel channel;

        WsClient(TestPki.Issued identity, String path) throws Exception {
            SslContext tls = SslContextBuilder.forClient().sslProvider(provider())
                    .keyManager(identity.privateKey(), identity.chain())
                    .trustManager(PKI.serverRootCa().certificate()).build();
            int port = proxy.port();
            URI uri = new URI("wss://" + SNI + path);
            channel = new Bootstrap().group(GROUP).channel(NioSocketChannel.class)
                    .handler(new ChannelInitializer<SocketChannel>() {
                        @Override
                        protected void initChannel(SocketChannel ch) {
                            ch.pipeline().addLast(tls.newHandler(ch.alloc(), SNI, port));
                            ch.pipeline().addLast(new HttpClientCodec());
                            ch.pipeline().addLast(new HttpObjectAggregator(65536));
                            ch.pipeline().addLast(new WebSocketClientProtocolHandler(
                                    WebSocketClientHandshakerFactory.newHandshaker(uri, WebSocketVersion.V13, null,
                                            false, new DefaultHttpHeaders(), 1 << 20)));
                            ch.pipeline().addLast(new SimpleChannelInboundHandler<WebSocketFrame>() {
                                @Override
                                public void userEventTriggered(ChannelHandlerContext ctx, Object evt) {
                                    if (evt == WebSocketClientProtocolHandler.ClientHandshakeStateEvent
                                            .HANDSHAKE_COMPLETE) {
                                        handshake.complete(null);
                                    }
                                    ctx.fireUserEventTriggered(evt);
                                }

                                @Override
                                protected void channelRead0(ChannelHandlerContext ctx, WebSocketFrame frame) {
                                    if (frame instanceof TextWebSocketFrame t) {
                                        received.add(t.text());
                                    } else if (frame instanceof BinaryWebSocketFrame b) {
                                        received.add(ByteBufUtil.getBytes(b.content()));
                                    }
                                }

                                @Override
                                public void exceptionCaught(ChannelHandlerContext ctx, Throwable cause) {
                                    handshake.complete(cause);
                                    ctx.close();
                                }

                                @Override
                                public void channelInactive(ChannelHandlerContext ctx) {
                                    handshake.complete(new IllegalStateException("closed"));
                                }
                            });
                        }
                    }).connect("127.0.0.1", port).sync().channel();
            ReferenceCountUtil.release(tls);
        }

        Throwable awaitHandshake() throws Exception {
            return handshake.get(10, TimeUnit.SECONDS);
        }

        @Override
        public void close() {
            channel.close().syncUninterruptibly();
        }
    }

    @Test
    void textAndBinaryFramesEchoThroughTheProxy() throws Exception {
        UPGRADES.clear();
        try (WsClient client = new WsClient(PKI.goodClient(), "/ws")) {
            assertThat(client.awaitHandshake()).isNull();
            for (int i = 0; i < 20; i++) {
                client.channel.writeAndFlush(new TextWebSocketFrame("hello " + i));
            }
            byte[] big = RecordingBackend.patternChunk(7, 300_000);
            client.channel.writeAndFlush(new BinaryWebSocketFrame(Unpooled.wrappedBuffer(big)));
            for (int i = 0; i < 20; i++) {
                assertThat(client.received.poll(10, TimeUnit.SECONDS)).isEqualTo("hello " + i);
            }
            Object echoed = client.received.poll(10, TimeUnit.SECONDS);
            assertThat(echoed).isInstanceOf(byte[].class);
            assertThat(Arrays.equals((byte[]) echoed, big)).isTrue();
        }
    }

    @Test
    void upgradeRequestCarriesTheIdentityHeader() throws Exception {
        UPGRADES.clear();
        try (WsClient client = new WsClient(PKI.goodClient(), "/ws?room=1")) {
            assertThat(client.awaitHandshake()).isNull();
        }
        HttpHeaders seen = UPGRADES.poll(10, TimeUnit.SECONDS);
        assertThat(seen).isNotNull();
        assertThat(seen.get("x-forwarded-client-cert")).contains("URI=" + TestPki.GOOD_CLIENT_SPIFFE_ID);
        assertThat(seen.get("upgrade")).isEqualToIgnoringCase("websocket");
        assertThat(seen.get("connection")).isEqualToIgnoringCase("upgrade");
    }

    @Test
    void deniedIdentityGets403AndNoUpgrade() throws Exception {
        UPGRADES.clear();
        try (WsClient client = new WsClient(PKI.otherClient(), "/ws")) {
            Throwable failure = client.awaitHandshake();
            assertThat(failure).isNotNull();
            assertThat(failure.getMessage()).contains("403");
        }
        assertThat(UPGRADES).isEmpty();
    }

    @Test
    void routeWithoutWebSocketStripsTheUpgrade() throws Exception {
        UPGRADES.clear();
        try (WsClient client = new WsClient(PKI.goodClient(), "/plain")) {
            Throwable failure = client.awaitHandshake();
            // Forwarded as a plain GET: the echo backend refuses it as not a WebSocket handshake.
            assertThat(failure).isNotNull();
            assertThat(failure.getMessage()).contains("400");
        }
        HttpHeaders seen = UPGRADES.poll(10, TimeUnit.SECONDS);
        assertThat(seen).isNotNull();
        assertThat(seen.contains("upgrade")).isFalse();
        assertThat(seen.get("x-forwarded-client-cert")).contains("URI=" + TestPki.GOOD_CLIENT_SPIFFE_ID);
    }
}
