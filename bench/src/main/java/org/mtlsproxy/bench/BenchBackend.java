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
import io.netty.channel.ChannelInboundHandlerAdapter;
import io.netty.channel.epoll.EpollIoHandler;
import io.netty.channel.epoll.EpollServerSocketChannel;
import io.netty.channel.socket.SocketChannel;
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
    private static final ByteBuf SMALL_RESPONSE;
    private static final ByteBuf SMALL_RESPONSE_CLOSE;
    private static final ByteBuf LARGE_CHUNK;

    static {
        byte[] small = new byte[1024];
        java.util.Arrays.fill(small, (byte) 'x');
        byte[] chunk = "0123456789abcdef".repeat(CHUNK / 16).getBytes(StandardCharsets.US_ASCII);
        LARGE_CHUNK = Unpooled.unreleasableBuffer(Unpooled.directBuffer(CHUNK).writeBytes(chunk)).asReadOnly();
        String head = "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 1024\r\n";
        SMALL_RESPONSE = Unpooled.unreleasableBuffer(Unpooled.directBuffer().writeBytes(
                (head + "\r\n").getBytes(StandardCharsets.US_ASCII)).writeBytes(small)).asReadOnly();
        SMALL_RESPONSE_CLOSE = Unpooled.unreleasableBuffer(Unpooled.directBuffer().writeBytes(
                (head + "Connection: close\r\n\r\n").getBytes(StandardCharsets.US_ASCII)).writeBytes(small))
                .asReadOnly();
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
                        ch.pipeline().addLast(ssl.newHandler(ch.alloc()), new Handler(largeBytes));
                    }
                })
                .bind("127.0.0.1", port).sync().channel();
    }

    /**
     * The backend's HTTP/1.1 server, made cheap because it shares CPU 1 with the generator: the request head is
     * scanned in place (request line for the path, {@code Connection: close}), the 1 KiB response is one
     * pre-encoded buffer. Requests with a body are refused with 400 and the connection closed (no target sends
     * one here), so nothing is ever answered out of step.
     */
    private static final class Handler extends ChannelInboundHandlerAdapter {
        private static final int MAX_HEAD = 16384;
        private static final byte[] LARGE_PATH = "/large".getBytes(StandardCharsets.US_ASCII);
        private static final byte[] CONNECTION_CLOSE = "connection:".getBytes(StandardCharsets.US_ASCII);
        private static final byte[] CONTENT_LENGTH = "content-length:".getBytes(StandardCharsets.US_ASCII);
        private static final byte[] TRANSFER_ENCODING = "transfer-encoding:".getBytes(StandardCharsets.US_ASCII);
        private static final ByteBuf BAD_REQUEST = Unpooled.unreleasableBuffer(Unpooled.directBuffer().writeBytes(
                "HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
                        .getBytes(StandardCharsets.US_ASCII))).asReadOnly();

        private final long largeBytes;
        private final HeadBuffer head = new HeadBuffer(MAX_HEAD);
        private boolean closed;
        private boolean large;
        private boolean keepAlive;
        private long remaining;

        Handler(long largeBytes) {
            this.largeBytes = largeBytes;
        }

        @Override
        public void channelRead(ChannelHandlerContext ctx, Object msg) {
            ByteBuf in = (ByteBuf) msg;
            try {
                while (in.isReadable() && !closed) {
                    if (large) {
                        // Nothing may arrive while a download streams (no target pipelines); refuse it.
                        refuse(ctx);
                        return;
                    }
                    if (!head.readFrom(in)) {
                        if (head.isFull()) {
                            refuse(ctx);
                        }
                        return;
                    }
                    respond(ctx);
                    head.clear();
                }
            } finally {
                in.release();
                if (!closed && !large) {
                    ctx.flush();
                }
            }
        }

        private void respond(ChannelHandlerContext ctx) {
            keepAlive = true;
            int line = head.lineEnd(0) + 1;
            while (line < head.length() - 2) {
                int end = head.lineEnd(line);
                boolean body = head.startsWithIgnoreCase(line, TRANSFER_ENCODING)
                        || (head.startsWithIgnoreCase(line, CONTENT_LENGTH)
                                && !head.containsIgnoreCase(line, end, ": 0") && !head.containsIgnoreCase(line, end, ":0"));
                if (head.startsWithIgnoreCase(line, CONNECTION_CLOSE) && head.containsIgnoreCase(line, end, "close")) {
                    keepAlive = false;
                } else if (body) {
                    refuse(ctx);
                    return;
                }
                line = end + 1;
            }
            // "GET /large HTTP/1.1"
            large = head.startsWithIgnoreCase(head.indexOf(0, (byte) ' ') + 1, LARGE_PATH);
            if (large) {
                ctx.write(Unpooled.copiedBuffer("HTTP/1.1 200 OK\r\nContent-Type: application/octet-stream\r\n"
                        + "Content-Length: " + largeBytes + "\r\n" + (keepAlive ? "" : "Connection: close\r\n")
                        + "\r\n", StandardCharsets.US_ASCII));
                remaining = largeBytes;
                stream(ctx);
            } else if (keepAlive) {
                ctx.write(SMALL_RESPONSE.duplicate(), ctx.voidPromise());
            } else {
                closed = true;
                ctx.writeAndFlush(SMALL_RESPONSE_CLOSE.duplicate()).addListener(ChannelFutureListener.CLOSE);
            }
        }

        private void refuse(ChannelHandlerContext ctx) {
            closed = true;
            ctx.writeAndFlush(BAD_REQUEST.duplicate()).addListener(ChannelFutureListener.CLOSE);
        }

        /** Writes chunks while the channel is writable; resumes from {@link #channelWritabilityChanged}. */
        private void stream(ChannelHandlerContext ctx) {
            while (remaining > 0 && ctx.channel().isWritable()) {
                int n = (int) Math.min(CHUNK, remaining);
                remaining -= n;
                ctx.write(LARGE_CHUNK.slice(0, n), ctx.voidPromise());
            }
            if (remaining == 0) {
                large = false;
                if (keepAlive) {
                    ctx.flush();
                } else {
                    closed = true;
                    ctx.writeAndFlush(Unpooled.EMPTY_BUFFER).addListener(ChannelFutureListener.CLOSE);
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
