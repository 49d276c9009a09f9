package org.mtlsproxy.bench;

import io.netty.bootstrap.ServerBootstrap;
import io.netty.buffer.ByteBuf;
import io.netty.buffer.Unpooled;
import io.netty.channel.Channel;
import io.netty.channel.ChannelFutureListener;
import io.netty.channel.ChannelHandlerContext;
import io.netty.channel.ChannelInitializer;
import io.netty.channel.ChannelOption;
import io.netty.channel.EventLoopGroup;
import io.netty.channel.MultiThreadIoEventLoopGroup;
import io.netty.channel.SimpleChannelInboundHandler;
import io.netty.channel.epoll.EpollIoHandler;
import io.netty.channel.epoll.EpollServerSocketChannel;
import io.netty.channel.socket.SocketChannel;
import io.netty.handler.codec.http.DefaultFullHttpResponse;
import io.netty.handler.codec.http.DefaultHttpContent;
import io.netty.handler.codec.http.DefaultHttpResponse;
import io.netty.handler.codec.http.FullHttpResponse;
import io.netty.handler.codec.http.HttpHeaderNames;
import io.netty.handler.codec.http.HttpHeaderValues;
import io.netty.handler.codec.http.HttpObject;
import io.netty.handler.codec.http.HttpRequest;
import io.netty.handler.codec.http.HttpResponse;
import io.netty.handler.codec.http.HttpResponseStatus;
import io.netty.handler.codec.http.HttpServerCodec;
import io.netty.handler.codec.http.HttpUtil;
import io.netty.handler.codec.http.HttpVersion;
import io.netty.handler.codec.http.LastHttpContent;
import io.netty.handler.ssl.SslContext;
import java.io.File;
import java.nio.charset.StandardCharsets;
import java.util.Map;

/**
 * The benchmark's HTTPS backend: Netty epoll, BoringSSL, client certificate required (the proxy's, or the
 * generator's when measured directly). Any path answers a 1 KiB body; {@code /large} streams
 * {@code --large-bytes} (100 MB) in 64 KiB chunks with backpressure. One event-loop thread.
 *
 * <pre>java -cp benchmarks.jar org.mtlsproxy.bench.BenchBackend --port P --cert C --key K --ca CA
 *      [--rsa-port P --rsa-cert C --rsa-key K] [--large-bytes N]</pre>
 */
public final class BenchBackend {

    private static final int CHUNK = 64 * 1024;
    private static final ByteBuf SMALL;
    private static final ByteBuf LARGE_CHUNK;

    static {
        byte[] small = new byte[1024];
        java.util.Arrays.fill(small, (byte) 'x');
        SMALL = Unpooled.unreleasableBuffer(Unpooled.directBuffer(1024).writeBytes(small)).asReadOnly();
        byte[] chunk = "0123456789abcdef".repeat(CHUNK / 16).getBytes(StandardCharsets.US_ASCII);
        LARGE_CHUNK = Unpooled.unreleasableBuffer(Unpooled.directBuffer(CHUNK).writeBytes(chunk)).asReadOnly();
    }

    public static void main(String[] args) throws Exception {
        Map<String, String> o = LoadGen.parse(args);
        long largeBytes = Long.parseLong(o.getOrDefault("large-bytes", String.valueOf(100L * 1000 * 1000)));
        File ca = new File(o.get("ca"));
        EventLoopGroup group = new MultiThreadIoEventLoopGroup(
                Integer.parseInt(o.getOrDefault("threads", "1")), EpollIoHandler.newFactory());
        Channel ecdsa = bind(group, Tls.server(new File(o.get("cert")), new File(o.get("key")), ca),
                Integer.parseInt(o.get("port")), largeBytes);
        System.out.println("backend listening on " + ecdsa.localAddress());
        if (o.containsKey("rsa-port")) {
            Channel rsa = bind(group, Tls.server(new File(o.get("rsa-cert")), new File(o.get("rsa-key")), ca),
                    Integer.parseInt(o.get("rsa-port")), largeBytes);
            System.out.println("backend (RSA) listening on " + rsa.localAddress());
        }
        ecdsa.closeFuture().sync();
    }

    private static Channel bind(EventLoopGroup group, SslContext ssl, int port, long largeBytes)
            throws InterruptedException {
        return new ServerBootstrap()
                .group(group)
                .channel(EpollServerSocketChannel.class)
                .option(ChannelOption.SO_BACKLOG, 4096)
                .option(ChannelOption.SO_REUSEADDR, true)
                .childOption(ChannelOption.TCP_NODELAY, true)
                .childHandler(new ChannelInitializer<SocketChannel>() {
                    @Override
                    protected void initChannel(SocketChannel ch) {
                        ch.pipeline().addLast(ssl.newHandler(ch.alloc()), new HttpServerCodec(),
                                new Handler(largeBytes));
                    }
                })
                .bind("127.0.0.1", port).sync().channel();
    }

    private static final class Handler extends SimpleChannelInboundHandler<HttpObject> {
        private final long largeBytes;
        private boolean keepAlive;
        private boolean large;
        private long remaining;
        private boolean requestDone;

        Handler(long largeBytes) {
            this.largeBytes = largeBytes;
        }

        @Override
        protected void channelRead0(ChannelHandlerContext ctx, HttpObject msg) {
            if (msg instanceof HttpRequest req) {
                keepAlive = HttpUtil.isKeepAlive(req);
                large = req.uri().startsWith("/large");
                requestDone = false;
            }
            if (msg instanceof LastHttpContent) {
                requestDone = true;
                if (large) {
                    HttpResponse r = new DefaultHttpResponse(HttpVersion.HTTP_1_1, HttpResponseStatus.OK);
                    r.headers().set(HttpHeaderNames.CONTENT_TYPE, HttpHeaderValues.APPLICATION_OCTET_STREAM)
                            .set(HttpHeaderNames.CONTENT_LENGTH, largeBytes);
                    if (!keepAlive) {
                        r.headers().set(HttpHeaderNames.CONNECTION, HttpHeaderValues.CLOSE);
                    }
                    ctx.write(r);
                    remaining = largeBytes;
                    stream(ctx);
                } else {
                    FullHttpResponse r = new DefaultFullHttpResponse(HttpVersion.HTTP_1_1, HttpResponseStatus.OK,
                            SMALL.duplicate());
                    r.headers().set(HttpHeaderNames.CONTENT_TYPE, HttpHeaderValues.TEXT_PLAIN)
                            .set(HttpHeaderNames.CONTENT_LENGTH, 1024);
                    if (!keepAlive) {
                        r.headers().set(HttpHeaderNames.CONNECTION, HttpHeaderValues.CLOSE);
                        ctx.writeAndFlush(r).addListener(ChannelFutureListener.CLOSE);
                    } else {
                        ctx.writeAndFlush(r);
                    }
                }
            }
        }

        /** Writes chunks while the channel is writable; resumes from {@link #channelWritabilityChanged}. */
        private void stream(ChannelHandlerContext ctx) {
            while (remaining > 0 && ctx.channel().isWritable()) {
                int n = (int) Math.min(CHUNK, remaining);
                remaining -= n;
                ctx.write(new DefaultHttpContent(LARGE_CHUNK.slice(0, n)));
            }
            if (remaining == 0 && requestDone) {
                requestDone = false;
                large = false;
                if (keepAlive) {
                    ctx.writeAndFlush(LastHttpContent.EMPTY_LAST_CONTENT);
                } else {
                    ctx.writeAndFlush(LastHttpContent.EMPTY_LAST_CONTENT).addListener(ChannelFutureListener.CLOSE);
                }
            } else {
                ctx.flush();
            }
        }

        @Override
        public void channelWritabilityChanged(ChannelHandlerContext ctx) {
            if (large && remaining > 0 && ctx.channel().isWritable()) {
                stream(ctx);
            }
            ctx.fireChannelWritabilityChanged();
        }

        @Override
        public void exceptionCaught(ChannelHandlerContext ctx, Throwable cause) {
            ctx.close();
        }
    }
}
