package org.mtlsproxy.bench;

import io.netty.bootstrap.Bootstrap;
import io.netty.buffer.ByteBuf;
import io.netty.buffer.Unpooled;
import io.netty.channel.Channel;
import io.netty.channel.ChannelFuture;
import io.netty.channel.ChannelHandlerContext;
import io.netty.channel.ChannelInboundHandlerAdapter;
import io.netty.channel.ChannelInitializer;
import io.netty.channel.ChannelOption;
import io.netty.channel.EventLoopGroup;
import io.netty.channel.MultiThreadIoEventLoopGroup;
import io.netty.channel.SimpleChannelInboundHandler;
import io.netty.channel.epoll.EpollIoHandler;
import io.netty.channel.epoll.EpollSocketChannel;
import io.netty.channel.socket.SocketChannel;
import io.netty.handler.codec.http.DefaultFullHttpRequest;
import io.netty.handler.codec.http.FullHttpRequest;
import io.netty.handler.codec.http.HttpClientCodec;
import io.netty.handler.codec.http.HttpContent;
import io.netty.handler.codec.http.HttpHeaderNames;
import io.netty.handler.codec.http.HttpHeaderValues;
import io.netty.handler.codec.http.HttpMethod;
import io.netty.handler.codec.http.HttpObject;
import io.netty.handler.codec.http.HttpResponse;
import io.netty.handler.codec.http.HttpVersion;
import io.netty.handler.codec.http.LastHttpContent;
import io.netty.handler.codec.http2.DefaultHttp2Headers;
import io.netty.handler.codec.http2.DefaultHttp2HeadersFrame;
import io.netty.handler.codec.http2.DefaultHttp2WindowUpdateFrame;
import io.netty.handler.codec.http2.Http2DataFrame;
import io.netty.handler.codec.http2.Http2ChannelDuplexHandler;
import io.netty.handler.codec.http2.Http2FrameCodecBuilder;
import io.netty.handler.codec.http2.Http2FrameStream;
import io.netty.handler.codec.http2.Http2GoAwayFrame;
import io.netty.handler.codec.http2.Http2Headers;
import io.netty.handler.codec.http2.Http2HeadersFrame;
import io.netty.handler.codec.http2.Http2ResetFrame;
import io.netty.handler.ssl.SslContext;
import io.netty.handler.ssl.SslHandler;
import io.netty.handler.ssl.SslHandshakeCompletionEvent;
import io.netty.util.ReferenceCountUtil;
import java.io.File;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.atomic.AtomicLong;
import org.HdrHistogram.Histogram;

/**
 * An mTLS HTTP/1.1 load generator on Netty (epoll, BoringSSL through {@code SslProvider.OPENSSL}) that presents a
 * client certificate. Closed loop: each connection sends its next request when the previous response ended.
 *
 * <pre>
 * --mode keepalive  --conns N --duration S    requests/s, p50/p99 latency (conns 1 = single-connection latency)
 * --mode handshake  --conns N --duration S    new connection per request, no resumption: connections/s
 * --mode resume     --conns N --duration S    same, offering the previous session (TLS 1.3 ticket / session id)
 * --mode h2        --conns N --streams S --duration S   keep-alive over HTTP/2: S concurrent streams (GETs)
 *                   on each of N connections: requests/s, p50/p99 latency
 * --mode download   --path /large --duration S one connection, repeated large GETs: MB/s
 * --mode idle       --conns N --pids P[,P]    open N mTLS connections (one request each), memory of P per connection
 *                   (resident set; for a JVM resident outside the heap + live heap: see {@link ProcessMemory})
 * --groups G1,G2    key-exchange groups offered (default X25519,P-256)
 * --request-headers typical   keep-alive requests carry eight more header fields, as an API client's do
 *                   (Authorization bearer token, Cookie, traceparent, ...: ~520 bytes); default: Host only
 * </pre>
 * Every loop is bounded by {@code --duration} (plus {@code --warmup}) and by {@code --max-requests}; the process
 * gives up after the deadline plus 30 s whatever happens. Prints one {@code RESULT key=value ...} line.
 */
public final class LoadGen {

    /**
     * Key-exchange groups offered by default: the classic ones every target negotiates (Debian's nginx and HAProxy
     * link OpenSSL 3.0, which has no ML-KEM), so every target does the same key exchange. BoringSSL's own default
     * puts the post-quantum hybrid X25519MLKEM768 first: {@code --groups X25519MLKEM768,X25519,P-256} (scenario hs-pq) measures it.
     */
    static final String DEFAULT_GROUPS = "X25519,P-256";

    /**
     * The header fields of {@code --request-headers typical}, after Host: what an API client behind a gateway sends
     * (the same eight the README's ab comparison used). Every proxy parses, checks and forwards each one.
     */
    static final String TYPICAL_HEADERS = "Accept-Encoding: gzip, deflate, br\r\n"
            + "Authorization: Bearer eyJhbGciOiJFUzI1NiIsInR5cCI6IkpXVCJ9.eyJzdWIiOiJzcGlmZmU6Ly9iZW5jaC5sb2NhbC9ucy"
            + "9iZW5jaC9zYS9sb2FkZ2VuIiwiaWF0IjoxNzAwMDAwMDAwfQ.c2lnbmF0dXJlLXBsYWNlaG9sZGVyLXNpZ25hdHVyZS1wbGFjZWhvbGRlcg"
            + "\r\n"
            + "Content-Type: application/json\r\n"
            + "X-Request-Id: 9f1c2d3e-4b5a-6c7d-8e9f-0a1b2c3d4e5f\r\n"
            + "traceparent: 00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01\r\n"
            + "Cookie: session=abcdef0123456789; theme=dark\r\n"
            + "Accept-Language: en-US,en;q=0.9\r\n"
            + "Cache-Control: no-cache\r\n";

    private final Map<String, String> opts;
    private final String host;
    private final int port;
    private final String path;
    private final int conns;
    private final long durationNanos;
    private final long warmupNanos;
    private final long maxRequests;
    private final EventLoopGroup group;

    private final Histogram histogram = new Histogram(TimeUnit.SECONDS.toNanos(60), 3);
    private final AtomicLong completed = new AtomicLong();
    private final AtomicLong started = new AtomicLong();
    private final AtomicLong errors = new AtomicLong();
    private final AtomicLong bytes = new AtomicLong();
    private final AtomicLong resumed = new AtomicLong();
    private final AtomicLong handshakes = new AtomicLong();
    private volatile String firstError;
    private long measureStart;
    private long deadline;

    private LoadGen(Map<String, String> opts) {
        this.opts = opts;
        this.host = opts.getOrDefault("host", "127.0.0.1");
        this.port = Integer.parseInt(req(opts, "port"));
        this.path = opts.getOrDefault("path", "/bench");
        this.conns = Integer.parseInt(opts.getOrDefault("conns", "1"));
        this.durationNanos = (long) (Double.parseDouble(opts.getOrDefault("duration", "10")) * 1e9);
        this.warmupNanos = (long) (Double.parseDouble(opts.getOrDefault("warmup", "2")) * 1e9);
        this.maxRequests = Long.parseLong(opts.getOrDefault("max-requests", "100000000"));
        int threads = Integer.parseInt(opts.getOrDefault("threads", "1"));
        this.group = new MultiThreadIoEventLoopGroup(threads, EpollIoHandler.newFactory());
    }

    public static void main(String[] args) throws Exception {
        Map<String, String> opts = parse(args);
        LoadGen g = new LoadGen(opts);
        try {
            String result = g.run(opts.getOrDefault("mode", "keepalive"));
            System.out.println("RESULT " + result);
        } finally {
            g.group.shutdownGracefully(0, 1, TimeUnit.SECONDS).syncUninterruptibly();
        }
    }

    private String run(String mode) throws Exception {
        File cert = new File(req(opts, "cert"));
        File key = new File(req(opts, "key"));
        File ca = new File(req(opts, "ca"));
        String[] groups = opts.getOrDefault("groups", DEFAULT_GROUPS).split(",");
        switch (mode) {
            case "keepalive":
                return keepAlive(Tls.client(cert, key, ca, false, groups));
            case "handshake":
                return handshakes(Tls.client(cert, key, ca, false, groups), false);
            case "resume":
                return handshakes(Tls.client(cert, key, ca, true, groups), true);
            case "download":
                return download(Tls.client(cert, key, ca, false, groups));
            case "idle":
                return idle(Tls.client(cert, key, ca, false, groups));
            case "h2":
                return h2(Tls.clientH2(cert, key, ca, groups));
            default:
                throw new IllegalArgumentException("unknown --mode " + mode);
        }
    }

    // ---------------------------------------------------------------- keep-alive

    private String keepAlive(SslContext ssl) throws Exception {
        startClock();
        CountDownLatch done = new CountDownLatch(conns);
        ByteBuf request = Unpooled.unreleasableBuffer(Unpooled.directBuffer().writeBytes(
                ("GET " + path + " HTTP/1.1\r\nHost: localhost\r\n" + extraHeaders() + "\r\n")
                        .getBytes(StandardCharsets.US_ASCII)));
        connectAll(bootstrap(ssl, false, false, () -> new LeanExchange(request, done)), done);
        awaitEnd(done);
        double secs = durationNanos / 1e9;
        return "mode=keepalive conns=" + conns + " requests=" + completed.get()
                + " rps=" + fmt(completed.get() / secs) + latencies() + cpu(completed.get()) + " errors=" + errors.get() + firstErrorKv();
    }

    // ---------------------------------------------------------------- keep-alive over HTTP/2

    private String h2(SslContext ssl) throws Exception {
        int streams = Integer.parseInt(opts.getOrDefault("streams", "16"));
        startClock();
        CountDownLatch done = new CountDownLatch(conns);
        Http2Headers headers = new DefaultHttp2Headers()
                .method("GET").scheme("https").authority("localhost").path(path);
        // After the TLS handler: the HTTP/2 frame codec, then the exchange.
        connectAll(bootstrap(ssl, false, false, () -> new ChannelInitializer<Channel>() {
            @Override
            protected void initChannel(Channel ch) {
                ch.pipeline().addLast(Http2FrameCodecBuilder.forClient().build(),
                        new H2Exchange(headers, streams, done));
            }
        }), done);
        awaitEnd(done);
        double secs = durationNanos / 1e9;
        return "mode=h2 conns=" + conns + " streams=" + streams + " requests=" + completed.get()
                + " rps=" + fmt(completed.get() / secs) + latencies() + cpu(completed.get()) + " errors=" + errors.get()
                + firstErrorKv();
    }

    /**
     * Keeps {@code streams} GETs in flight on one HTTP/2 connection: each stream that ends starts the next. Response
     * bytes are acknowledged (WINDOW_UPDATE) as they arrive, as a client's stream channels do.
     */
    private final class H2Exchange extends Http2ChannelDuplexHandler {
        private final Http2Headers headers;
        private final int streams;
        private final CountDownLatch done;
        private final Map<Http2FrameStream, Long> sentAt = new HashMap<>();
        private boolean stopping;

        H2Exchange(Http2Headers headers, int streams, CountDownLatch done) {
            this.headers = headers;
            this.streams = streams;
            this.done = done;
        }

        @Override
        public void userEventTriggered(ChannelHandlerContext ctx, Object evt) {
            if (evt instanceof SslHandshakeCompletionEvent e) {
                if (!e.isSuccess()) {
                    error(e.cause());
                    ctx.close();
                    return;
                }
                String alpn = ctx.pipeline().get(SslHandler.class).applicationProtocol();
                if (!"h2".equals(alpn)) {
                    fail(ctx, "the server did not select h2 in ALPN (selected: " + alpn + ")");
                    return;
                }
                for (int i = 0; i < streams; i++) {
                    send(ctx);
                }
                ctx.flush();
            }
            ctx.fireUserEventTriggered(evt);
        }

        private void send(ChannelHandlerContext ctx) {
            Http2FrameStream stream = newStream();
            sentAt.put(stream, System.nanoTime());
            ctx.write(new DefaultHttp2HeadersFrame(headers, true).stream(stream));
        }

        @Override
        public void channelRead(ChannelHandlerContext ctx, Object msg) {
            if (msg instanceof Http2HeadersFrame h) {
                if (!h.headers().contains(":status") || !"200".contentEquals(h.headers().status())) {
                    fail(ctx, "HTTP " + h.headers().status());
                } else if (h.isEndStream()) {
                    ended(ctx, h.stream());
                }
            } else if (msg instanceof Http2DataFrame d) {
                int n = d.initialFlowControlledBytes();
                boolean end = d.isEndStream();
                Http2FrameStream stream = d.stream();
                d.release();
                if (n > 0) {
                    ctx.write(new DefaultHttp2WindowUpdateFrame(n).stream(stream));
                }
                if (end) {
                    ended(ctx, stream);
                }
            } else if (msg instanceof Http2ResetFrame r) {
                fail(ctx, "stream reset, error code " + r.errorCode());
            } else if (msg instanceof Http2GoAwayFrame g) {
                g.release();
                fail(ctx, "GOAWAY, error code " + g.errorCode());
            } else {
                ReferenceCountUtil.release(msg);
            }
        }

        private void ended(ChannelHandlerContext ctx, Http2FrameStream stream) {
            long now = System.nanoTime();
            Long sent = sentAt.remove(stream);
            if (sent == null) {
                return;
            }
            if (now >= measureStart && now < deadline && sent >= measureStart) {
                completed.incrementAndGet();
                synchronized (histogram) {
                    histogram.recordValue(Math.min(now - sent, histogram.getHighestTrackableValue()));
                }
            }
            if (!stopping && now < deadline && started.incrementAndGet() <= maxRequests) {
                send(ctx);
            } else {
                stopping = true;
                if (sentAt.isEmpty()) {
                    ctx.close();
                }
            }
        }

        private void fail(ChannelHandlerContext ctx, String why) {
            error(new IllegalStateException(why));
            stopping = true;
            ctx.close();
        }

        @Override
        public void channelReadComplete(ChannelHandlerContext ctx) {
            ctx.flush();
            ctx.fireChannelReadComplete();
        }

        @Override
        public void channelInactive(ChannelHandlerContext ctx) {
            done.countDown();
        }

        @Override
        public void exceptionCaught(ChannelHandlerContext ctx, Throwable cause) {
            error(cause);
            ctx.close();
        }
    }

    /** Opens {@code conns} connections; one that fails to connect counts as done. */
    private void connectAll(Bootstrap b, CountDownLatch done) {
        for (int i = 0; i < conns; i++) {
            b.connect(host, port).addListener(f -> {
                if (!f.isSuccess()) {
                    error(f.cause());
                    done.countDown();
                }
            });
        }
    }

    private String extraHeaders() {
        String which = opts.getOrDefault("request-headers", "none");
        return switch (which) {
            case "none" -> "";
            case "typical" -> TYPICAL_HEADERS;
            default -> throw new IllegalArgumentException("unknown --request-headers " + which + " (none, typical)");
        };
    }

    // ---------------------------------------------------------------- handshakes

    private String handshakes(SslContext ssl, boolean resume) throws Exception {
        startClock();
        CountDownLatch done = new CountDownLatch(conns);
        Bootstrap b = bootstrap(ssl, resume, true, () -> new Exchange(false, null));
        for (int i = 0; i < conns; i++) {
            nextConnection(b, done);
        }
        awaitEnd(done);
        double secs = durationNanos / 1e9;
        long hs = handshakes.get();
        return "mode=" + (resume ? "resume" : "handshake") + " conns=" + conns + " connections=" + completed.get()
                + " cps=" + fmt(completed.get() / secs) + latencies()
                + " resumed_pct=" + fmt(hs == 0 ? 0 : 100.0 * resumed.get() / hs) + cpu(completed.get())
                + " errors=" + errors.get() + firstErrorKv();
    }

    /** One slot of the handshake loop: a new connection, one request, close, repeat until the deadline. */
    private void nextConnection(Bootstrap b, CountDownLatch done) {
        if (System.nanoTime() >= deadline || started.incrementAndGet() > maxRequests) {
            done.countDown();
            return;
        }
        ChannelFuture f = b.connect(host, port);
        f.addListener(cf -> {
            if (!cf.isSuccess()) {
                error(cf.cause());
            }
        });
        f.channel().closeFuture().addListener(cf -> nextConnection(b, done));
    }

    // ---------------------------------------------------------------- download

    private String download(SslContext ssl) throws Exception {
        startClock();
        CountDownLatch done = new CountDownLatch(1);
        Exchange ex = new Exchange(true, done);
        ex.recordBytesAlways = true;
        bootstrap(ssl, false, true, () -> ex).connect(host, port).addListener(f -> {
            if (!f.isSuccess()) {
                error(f.cause());
                done.countDown();
            }
        });
        awaitEnd(done);
        double secs = ex.downloadNanos / 1e9;
        return "mode=download requests=" + ex.downloads + " bytes=" + ex.downloadBytes
                + " mbps=" + fmt(secs == 0 ? 0 : ex.downloadBytes / 1e6 / secs)
                + " errors=" + errors.get() + firstErrorKv();
    }

    // ---------------------------------------------------------------- idle connections

    private String idle(SslContext ssl) throws Exception {
        List<Long> pids = new ArrayList<>();
        for (String p : req(opts, "pids").split(",")) {
            pids.add(Long.parseLong(p.trim()));
        }
        long settleMs = Long.parseLong(opts.getOrDefault("settle-ms", "3000"));
        Thread.sleep(settleMs);
        ProcessMemory[] before = memory(pids);
        measureStart = System.nanoTime();
        deadline = measureStart + durationNanos;
        int parallel = Math.min(conns, 64);
        CountDownLatch done = new CountDownLatch(conns);
        List<Channel> open = new ArrayList<>();
        AtomicInteger next = new AtomicInteger();
        Bootstrap b = bootstrap(ssl, false, true, () -> new Exchange(true, done));
        for (int i = 0; i < parallel; i++) {
            openIdle(b, next, open, done);
        }
        boolean all = done.await(durationNanos + TimeUnit.SECONDS.toNanos(30), TimeUnit.NANOSECONDS);
        Thread.sleep(settleMs);
        ProcessMemory[] after = memory(pids);
        long ok;
        synchronized (open) {
            ok = open.stream().filter(Channel::isActive).count();
            for (Channel c : open) {
                c.close();
            }
        }
        long rss = 0;
        long heapLive = 0;
        long accounted = 0;
        for (int i = 0; i < pids.size(); i++) {
            rss += after[i].rssKib() - before[i].rssKib();
            heapLive += after[i].heapLiveKib() - before[i].heapLiveKib();
            accounted += after[i].accountedKib() - before[i].accountedKib();
        }
        double n = Math.max(ok, 1);
        return "mode=idle conns=" + ok + " kib_per_conn=" + fmt(accounted / n) + " rss_kib_per_conn=" + fmt(rss / n)
                + " heap_live_kib_per_conn=" + fmt(heapLive / n) + " complete=" + all + " errors=" + errors.get()
                + firstErrorKv();
    }

    /** Each process's memory (a JVM's after a full collection), read at once. */
    private static ProcessMemory[] memory(List<Long> pids) throws Exception {
        ProcessMemory[] m = new ProcessMemory[pids.size()];
        for (int i = 0; i < m.length; i++) {
            m[i] = ProcessMemory.of(pids.get(i));
        }
        return m;
    }

    private void openIdle(Bootstrap b, AtomicInteger next, List<Channel> open, CountDownLatch done) {
        if (next.getAndIncrement() >= conns) {
            return;
        }
        if (System.nanoTime() >= deadline) {
            done.countDown();
            return;
        }
        ChannelFuture reg = b.register();
        Channel ch = reg.channel();
        ch.attr(Exchange.ON_IDLE).set(() -> openIdle(b, next, open, done));
        synchronized (open) {
            open.add(ch);
        }
        reg.addListener(r -> {
            if (!r.isSuccess()) {
                error(r.cause());
                done.countDown();
                return;
            }
            ch.connect(new java.net.InetSocketAddress(host, port)).addListener(cf -> {
                if (!cf.isSuccess()) {
                    error(cf.cause());
                    done.countDown();
                    ch.close();
                }
            });
        });
    }

    // ---------------------------------------------------------------- the exchange

    /** Connects and, per connection, sends GETs: repeatedly (keep-alive) or once with {@code Connection: close}. */
    private final class Exchange extends SimpleChannelInboundHandler<HttpObject> {
        static final io.netty.util.AttributeKey<Runnable> ON_IDLE = io.netty.util.AttributeKey.valueOf("onIdle");

        private final boolean keepAlive;
        private final CountDownLatch done;
        private long sent;
        private long connectStart;
        private boolean ok;
        private long responseBytes;
        boolean recordBytesAlways;
        long downloads;
        long downloadBytes;
        long downloadNanos;

        Exchange(boolean keepAlive, CountDownLatch done) {
            this.keepAlive = keepAlive;
            this.done = done;
        }

        @Override
        public void handlerAdded(ChannelHandlerContext ctx) {
            connectStart = System.nanoTime();
        }

        @Override
        public void userEventTriggered(ChannelHandlerContext ctx, Object evt) {
            if (evt instanceof SslHandshakeCompletionEvent e) {
                if (!e.isSuccess()) {
                    error(e.cause());
                    ctx.close();
                    return;
                }
                long now = System.nanoTime();
                if (!keepAlive && now >= measureStart && now < deadline) {
                    handshakes.incrementAndGet();
                    if (Tls.sessionReused(ctx.pipeline().get(SslHandler.class))) {
                        resumed.incrementAndGet();
                    }
                }
                send(ctx);
            }
            ctx.fireUserEventTriggered(evt);
        }

        private void send(ChannelHandlerContext ctx) {
            FullHttpRequest r = new DefaultFullHttpRequest(HttpVersion.HTTP_1_1, HttpMethod.GET, path,
                    Unpooled.EMPTY_BUFFER);
            r.headers().set(HttpHeaderNames.HOST, "localhost");
            if (!keepAlive) {
                r.headers().set(HttpHeaderNames.CONNECTION, HttpHeaderValues.CLOSE);
            }
            ok = false;
            responseBytes = 0;
            sent = System.nanoTime();
            ctx.writeAndFlush(r).addListener(f -> {
                if (!f.isSuccess()) {
                    error(f.cause());
                    ctx.close();
                }
            });
        }

        @Override
        protected void channelRead0(ChannelHandlerContext ctx, HttpObject msg) {
            if (msg instanceof HttpResponse resp) {
                ok = resp.status().code() == 200;
                if (!ok) {
                    error(new IllegalStateException("HTTP " + resp.status().code()));
                }
            }
            if (msg instanceof HttpContent c) {
                responseBytes += c.content().readableBytes();
            }
            if (msg instanceof LastHttpContent) {
                long now = System.nanoTime();
                boolean inWindow = now >= measureStart && now < deadline && sent >= measureStart;
                if (recordBytesAlways) {
                    if (ok && sent >= measureStart) {
                        downloads++;
                        downloadBytes += responseBytes;
                        downloadNanos += now - sent;
                    }
                } else if (ok && inWindow) {
                    completed.incrementAndGet();
                    bytes.addAndGet(responseBytes);
                    synchronized (histogram) {
                        histogram.recordValue(Math.min(now - (keepAlive ? sent : connectStart),
                                histogram.getHighestTrackableValue()));
                    }
                }
                Runnable onIdle = ctx.channel().attr(ON_IDLE).getAndSet(null);
                if (onIdle != null) {
                    // idle mode: keep this connection open, start the next one
                    done.countDown();
                    onIdle.run();
                } else if (keepAlive && ok && (now < deadline || recordBytesAlways && downloads == 0)
                        && started.incrementAndGet() <= maxRequests) {
                    send(ctx);
                } else {
                    ctx.close();
                }
            }
        }

        @Override
        public void channelInactive(ChannelHandlerContext ctx) {
            if (keepAlive && done != null) {
                done.countDown();
            } else if (ctx.channel().attr(ON_IDLE).getAndSet(null) != null) {
                done.countDown(); // idle mode: closed before its request completed
            }
        }

        @Override
        public void exceptionCaught(ChannelHandlerContext ctx, Throwable cause) {
            error(cause);
            ctx.close();
        }
    }

    // ---------------------------------------------------------------- the keep-alive exchange

    /**
     * Keep-alive mode's client, made cheap because it shares CPU 1 with the backend and, through any proxy, is
     * most of the load side's cost: the request is one pre-encoded buffer, and the response is framed by hand
     * (status line, {@code Content-Length}, body bytes counted) instead of Netty's HTTP codec building objects for
     * every response. Anything but a {@code Content-Length}-framed response counts as an error and closes the
     * connection, so a framing this parser does not read can never be miscounted as a success.
     */
    private final class LeanExchange extends ChannelInboundHandlerAdapter {
        private static final int MAX_HEAD = 8192;
        private static final byte[] CONTENT_LENGTH = "content-length:".getBytes(StandardCharsets.US_ASCII);
        private static final byte[] TRANSFER_ENCODING = "transfer-encoding:".getBytes(StandardCharsets.US_ASCII);
        private final ByteBuf request;
        private final CountDownLatch done;
        private final HeadBuffer head = new HeadBuffer(MAX_HEAD);
        private long bodyLeft = -1; // -1: reading the head
        private int status;
        private long sent;
        private boolean closed;

        LeanExchange(ByteBuf request, CountDownLatch done) {
            this.request = request;
            this.done = done;
        }

        @Override
        public void userEventTriggered(ChannelHandlerContext ctx, Object evt) {
            if (evt instanceof SslHandshakeCompletionEvent e) {
                if (!e.isSuccess()) {
                    error(e.cause());
                    ctx.close();
                    return;
                }
                send(ctx);
            }
            ctx.fireUserEventTriggered(evt);
        }

        private void send(ChannelHandlerContext ctx) {
            head.clear();
            bodyLeft = -1;
            sent = System.nanoTime();
            ctx.writeAndFlush(request.duplicate(), ctx.voidPromise());
        }

        @Override
        public void channelRead(ChannelHandlerContext ctx, Object msg) {
            ByteBuf in = (ByteBuf) msg;
            try {
                while (in.isReadable() && !closed) {
                    if (bodyLeft < 0) {
                        readHead(ctx, in);
                    } else {
                        int n = (int) Math.min(bodyLeft, in.readableBytes());
                        in.skipBytes(n);
                        bodyLeft -= n;
                    }
                    if (bodyLeft == 0) {
                        responseEnded(ctx);
                    }
                }
            } finally {
                in.release();
            }
        }

        private void readHead(ChannelHandlerContext ctx, ByteBuf in) {
            if (head.readFrom(in)) {
                parseHead(ctx);
            } else if (head.isFull()) {
                fail(ctx, "response head over " + head.max() + " bytes");
            }
        }

        /** Status from "HTTP/1.x NNN", then Content-Length; header names compared without case, no objects. */
        private void parseHead(ChannelHandlerContext ctx) {
            status = head.length() > 12 && head.at(8) == ' '
                    ? (head.at(9) - '0') * 100 + (head.at(10) - '0') * 10 + (head.at(11) - '0') : 0;
            long length = -1;
            int line = head.lineEnd(0) + 1;
            while (line < head.length() - 2) {
                int end = head.lineEnd(line);
                if (head.startsWithIgnoreCase(line, CONTENT_LENGTH)) {
                    length = 0;
                    for (int i = line + CONTENT_LENGTH.length; i < end; i++) {
                        byte c = head.at(i);
                        if (c >= '0' && c <= '9') {
                            length = length * 10 + (c - '0');
                        } else if (c != ' ' && c != '\t' && c != '\r') {
                            fail(ctx, "bad Content-Length");
                            return;
                        }
                    }
                } else if (head.startsWithIgnoreCase(line, TRANSFER_ENCODING)) {
                    fail(ctx, "Transfer-Encoding response: this client reads Content-Length framing only");
                    return;
                }
                line = end + 1;
            }
            if (length < 0) {
                fail(ctx, "response without Content-Length");
                return;
            }
            bodyLeft = length;
        }

        private void responseEnded(ChannelHandlerContext ctx) {
            long now = System.nanoTime();
            boolean ok = status == 200;
            if (!ok) {
                error(new IllegalStateException("HTTP " + status));
            } else if (now >= measureStart && now < deadline && sent >= measureStart) {
                completed.incrementAndGet();
                synchronized (histogram) {
                    histogram.recordValue(Math.min(now - sent, histogram.getHighestTrackableValue()));
                }
            }
            if (ok && now < deadline && started.incrementAndGet() <= maxRequests) {
                send(ctx);
            } else {
                bodyLeft = -1;
                closed = true;
                ctx.close();
            }
        }

        private void fail(ChannelHandlerContext ctx, String why) {
            error(new IllegalStateException(why));
            bodyLeft = -1;
            closed = true;
            ctx.close();
        }

        @Override
        public void channelInactive(ChannelHandlerContext ctx) {
            done.countDown();
        }

        @Override
        public void exceptionCaught(ChannelHandlerContext ctx, Throwable cause) {
            error(cause);
            ctx.close();
        }
    }

    // ---------------------------------------------------------------- plumbing

    /**
     * @param peerHost  with the peer's host and port, the client session cache offers the previous session
     * @param httpCodec Netty's HTTP client codec before {@code handler} (the {@link Exchange}); the keep-alive
     *                  {@link LeanExchange} frames HTTP itself
     */
    private Bootstrap bootstrap(SslContext ssl, boolean peerHost, boolean httpCodec,
            java.util.function.Supplier<? extends io.netty.channel.ChannelHandler> handler) {
        return new Bootstrap()
                .group(group)
                .channel(EpollSocketChannel.class)
                .option(ChannelOption.TCP_NODELAY, true)
                .option(ChannelOption.CONNECT_TIMEOUT_MILLIS, 10_000)
                .handler(new ChannelInitializer<SocketChannel>() {
                    @Override
                    protected void initChannel(SocketChannel ch) {
                        // With a peer host and port the client session cache offers the previous session.
                        SslHandler tls = peerHost ? ssl.newHandler(ch.alloc(), host, port) : ssl.newHandler(ch.alloc());
                        tls.setHandshakeTimeoutMillis(10_000);
                        ch.pipeline().addLast(tls);
                        if (httpCodec) {
                            ch.pipeline().addLast(new HttpClientCodec(4096, 16384, 65536));
                        }
                        ch.pipeline().addLast(handler.get());
                    }
                });
    }

    private void startClock() {
        measureStart = System.nanoTime() + warmupNanos;
        deadline = measureStart + durationNanos;
        String pids = opts.get("cpu-pids");
        if (pids != null && !pids.isBlank()) {
            List<Long> list = new ArrayList<>();
            for (String p : pids.split(",")) {
                list.add(Long.parseLong(p.trim()));
            }
            String loadCpu = opts.get("load-cpu");
            Thread t = new Thread(() -> {
                try {
                    sleepUntil(measureStart);
                    long a = cpuTicks(list);
                    long[] la = loadCpu == null ? null : cpuBusyTicks(loadCpu);
                    sleepUntil(deadline);
                    cpuTicksUsed = cpuTicks(list) - a;
                    if (la != null) {
                        long[] lb = cpuBusyTicks(loadCpu);
                        long total = lb[1] - la[1];
                        loadCpuPct = total <= 0 ? -1 : 100.0 * (lb[0] - la[0]) / total;
                    }
                } catch (Exception e) {
                    cpuTicksUsed = -1;
                }
            }, "cpu-meter");
            t.setDaemon(true);
            t.start();
            cpuMeter = t;
        }
    }

    private volatile long cpuTicksUsed = -1;
    private volatile double loadCpuPct = -1;
    private Thread cpuMeter;

    private static void sleepUntil(long nanoTime) throws InterruptedException {
        long d;
        while ((d = nanoTime - System.nanoTime()) > 0) {
            TimeUnit.NANOSECONDS.sleep(d);
        }
    }

    /** utime + stime of the processes, in clock ticks (USER_HZ, 100 per second on Linux). */
    static long cpuTicks(List<Long> pids) throws Exception {
        long sum = 0;
        for (long pid : pids) {
            String stat = Files.readString(Path.of("/proc/" + pid + "/stat"));
            String[] f = stat.substring(stat.lastIndexOf(')') + 2).split(" ");
            sum += Long.parseLong(f[11]) + Long.parseLong(f[12]);
        }
        return sum;
    }

    /**
     * Busy and total ticks of one CPU from /proc/stat (busy: all but idle and iowait; steal counts as busy, the
     * CPU was not ours to use). The load side's CPU (--load-cpu, where this generator and the backend run) near
     * 100 % means the generator, not the target, set the rate.
     */
    static long[] cpuBusyTicks(String cpu) throws Exception {
        for (String line : Files.readAllLines(Path.of("/proc/stat"))) {
            if (line.startsWith("cpu" + cpu + " ")) {
                String[] f = line.trim().split("\\s+");
                long total = 0;
                for (int i = 1; i < f.length && i <= 8; i++) {
                    total += Long.parseLong(f[i]);
                }
                long idle = Long.parseLong(f[4]) + Long.parseLong(f[5]);
                return new long[] {total - idle, total};
            }
        }
        throw new IllegalArgumentException("no cpu" + cpu + " in /proc/stat");
    }

    /**
     * " cpu_pct=.. cpu_us_per_op=.." of the --cpu-pids over the measured window (and " load_cpu_pct=.." with
     * --load-cpu), or "".
     */
    private String cpu(long ops) throws InterruptedException {
        if (cpuMeter == null) {
            return "";
        }
        cpuMeter.join(5_000);
        if (cpuTicksUsed < 0) {
            return "";
        }
        double cpuSecs = cpuTicksUsed / 100.0;
        return " cpu_pct=" + fmt(100 * cpuSecs / (durationNanos / 1e9))
                + " cpu_us_per_op=" + fmt(ops == 0 ? 0 : cpuSecs * 1e6 / ops)
                + (loadCpuPct < 0 ? "" : " load_cpu_pct=" + fmt(loadCpuPct));
    }

    private void awaitEnd(CountDownLatch done) throws InterruptedException {
        long wait = deadline - System.nanoTime() + TimeUnit.SECONDS.toNanos(30);
        if (!done.await(wait, TimeUnit.NANOSECONDS)) {
            error(new IllegalStateException("connections still open 30 s after the deadline"));
        }
    }

    private String latencies() {
        synchronized (histogram) {
            if (histogram.getTotalCount() == 0) {
                return " p50_ms=0 p99_ms=0";
            }
            return " p50_ms=" + fmt3(histogram.getValueAtPercentile(50) / 1e6)
                    + " p99_ms=" + fmt3(histogram.getValueAtPercentile(99) / 1e6)
                    + " max_ms=" + fmt3(histogram.getMaxValue() / 1e6);
        }
    }

    private void error(Throwable t) {
        errors.incrementAndGet();
        if (firstError == null && t != null) {
            firstError = String.valueOf(t).replace(' ', '_');
        }
    }

    private String firstErrorKv() {
        return firstError == null ? "" : " first_error=" + firstError;
    }

    private static String fmt(double d) {
        return String.format(Locale.ROOT, "%.1f", d);
    }

    private static String fmt3(double d) {
        return String.format(Locale.ROOT, "%.3f", d);
    }

    private static String req(Map<String, String> opts, String k) {
        String v = opts.get(k);
        if (v == null) {
            throw new IllegalArgumentException("missing --" + k);
        }
        return v;
    }

    static Map<String, String> parse(String[] args) {
        Map<String, String> m = new HashMap<>();
        for (int i = 0; i < args.length; i++) {
            if (!args[i].startsWith("--") || i + 1 >= args.length) {
                throw new IllegalArgumentException("expected --key value pairs, got " + args[i]);
            }
            m.put(args[i].substring(2), args[++i]);
        }
        return m;
    }
}
