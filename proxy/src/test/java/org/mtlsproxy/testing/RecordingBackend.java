package org.mtlsproxy.testing;

import static java.util.Objects.requireNonNull;

import io.netty.bootstrap.ServerBootstrap;
import io.netty.buffer.ByteBuf;
import io.netty.buffer.ByteBufAllocator;
import io.netty.buffer.Unpooled;
import io.netty.channel.Channel;
import io.netty.channel.ChannelHandlerContext;
import io.netty.channel.ChannelInboundHandlerAdapter;
import io.netty.channel.ChannelInitializer;
import io.netty.channel.ChannelPipeline;
import io.netty.channel.EventLoopGroup;
import io.netty.channel.MultiThreadIoEventLoopGroup;
import io.netty.channel.nio.NioIoHandler;
import io.netty.channel.socket.SocketChannel;
import io.netty.channel.socket.nio.NioServerSocketChannel;
import io.netty.handler.codec.http.DefaultFullHttpResponse;
import io.netty.handler.codec.http.DefaultHttpResponse;
import io.netty.handler.codec.http.FullHttpResponse;
import io.netty.handler.codec.http.HttpChunkedInput;
import io.netty.handler.codec.http.HttpContent;
import io.netty.handler.codec.http.HttpHeaderNames;
import io.netty.handler.codec.http.HttpHeaderValues;
import io.netty.handler.codec.http.HttpHeaders;
import io.netty.handler.codec.http.HttpMethod;
import io.netty.handler.codec.http.HttpObject;
import io.netty.handler.codec.http.HttpRequest;
import io.netty.handler.codec.http.HttpResponse;
import io.netty.handler.codec.http.HttpResponseStatus;
import io.netty.handler.codec.http.HttpServerCodec;
import io.netty.handler.codec.http.HttpServerExpectContinueHandler;
import io.netty.handler.codec.http.HttpUtil;
import io.netty.handler.codec.http.HttpVersion;
import io.netty.handler.codec.http.LastHttpContent;
import io.netty.handler.codec.http.QueryStringDecoder;
import io.netty.handler.ssl.ClientAuth;
import io.netty.handler.ssl.OpenSsl;
import io.netty.handler.ssl.OpenSslContextOption;
import io.netty.handler.ssl.OpenSslSession;
import io.netty.handler.ssl.SslContext;
import io.netty.handler.ssl.SslContextBuilder;
import io.netty.handler.ssl.SslHandler;
import io.netty.handler.ssl.SslHandshakeCompletionEvent;
import io.netty.handler.ssl.SslProvider;
import io.netty.handler.stream.ChunkedInput;
import io.netty.handler.stream.ChunkedWriteHandler;
import io.netty.util.ReferenceCountUtil;
import io.netty.util.concurrent.Future;
import java.io.InputStream;
import java.net.InetSocketAddress;
import java.nio.ByteBuffer;
import java.nio.charset.StandardCharsets;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.security.cert.Certificate;
import java.security.cert.X509Certificate;
import java.util.ArrayDeque;
import java.util.ArrayList;
import java.util.Deque;
import java.util.HexFormat;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Objects;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicInteger;
import javax.net.ssl.SSLException;
import javax.net.ssl.SSLPeerUnverifiedException;
import javax.net.ssl.SSLSession;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * A real HTTPS/1.1 backend on {@code 127.0.0.1} (ephemeral port) that records every request it receives, for
 * black-box tests of the proxy in front of it.
 *
 * <p>Netty with BoringSSL ({@link SslProvider#OPENSSL}, or the JDK provider where BoringSSL is unavailable), TLS 1.3
 * and 1.2, optionally requiring a client certificate or accepting only some key-exchange groups. Request and
 * response bodies are streamed, never aggregated: the request body is hashed as it arrives, download bodies are
 * generated chunk by chunk with backpressure.
 *
 * <p>Endpoints (path, query parsed by {@link QueryStringDecoder}); every response is sent after the whole request
 * has been read and recorded:
 * <ul>
 *   <li>any other path: {@code 200}, {@code text/plain}, body {@code ok <method> <uri>\n};</li>
 *   <li>{@code /echo-headers}: {@code 200}, the request headers, one {@code name: value} line each, names
 *       lower-cased, in arrival order;</li>
 *   <li>{@code /upload[?pause-ms=N]}: {@code 200}, body {@code <length> <sha256hex>} of the request body; with
 *       {@code pause-ms} the body is read slowly: one socket read, then a pause of {@code N} milliseconds;</li>
 *   <li>{@code /download?bytes=N[&chunked=true]}: {@code 200}, {@code N} bytes of the {@linkplain #patternChunk
 *       test pattern} in 64 KiB chunks, with {@code Content-Length} or, if asked, chunked;</li>
 *   <li>{@code /status/NNN} (200&ndash;599): that status, body {@code status NNN\n} (none for 204 and 304);</li>
 *   <li>{@code /slow?ms=N}: the default response, {@code N} milliseconds later;</li>
 *   <li>{@code /close}: closes the connection without responding.</li>
 * </ul>
 * A {@code HEAD} request gets the same status and headers without a body. Keep-alive follows HTTP/1.1: the
 * connection stays open unless the request asks to close it; pipelined requests are answered in order.
 */
public final class RecordingBackend implements AutoCloseable {

    /** The Date header of the {@code /dated} response. */
    public static final String DATED = "Mon, 01 Jan 2024 00:00:00 GMT";

    /** Size of the chunks a download is written in. */
    public static final int CHUNK_SIZE = 64 * 1024;

    private static final Logger LOG = LoggerFactory.getLogger(RecordingBackend.class);
    private static final int PATTERN_PERIOD = 256;
    /** One chunk of the pattern plus one period, so any chunk can be copied from it at offset {@code n % 256}. */
    private static final byte[] PATTERN = patternChunk(0, CHUNK_SIZE + PATTERN_PERIOD);
    private static final long SHUTDOWN_TIMEOUT_SECONDS = 5;
    private static final long HANDSHAKE_TIMEOUT_MILLIS = 60_000;

    private final SslContext sslContext;
    private final EventLoopGroup group;
    private final Channel serverChannel;
    private final List<Received> received = new ArrayList<>();
    private final List<Throwable> handshakeFailures = new ArrayList<>();
    private final List<String> negotiatedGroups = new ArrayList<>();
    private final AtomicInteger connectionsAccepted = new AtomicInteger();
    private final AtomicInteger connectionsOpen = new AtomicInteger();
    private final AtomicInteger connectionsOpenPeak = new AtomicInteger();
    private final AtomicBoolean closed = new AtomicBoolean();

    /**
     * One request as the backend saw it.
     *
     * @param method        the request method, e.g. {@code GET}
     * @param uri           the request target as sent, path and query
     * @param headers       a copy of the request headers
     * @param bodyLength    the number of body bytes received
     * @param bodySha256Hex SHA-256 of the body, lower-case hex
     * @param peerSubject   the subject (RFC 2253) of the client certificate presented on this connection, or
     *                      {@code null} if none was presented
     * @param trailers      a copy of the request's trailer fields (empty when it had none)
     */
    public record Received(
            String method, String uri, HttpHeaders headers, long bodyLength, String bodySha256Hex,
            String peerSubject, HttpHeaders trailers) {

        /** A request without trailers. */
        public Received(String method, String uri, HttpHeaders headers, long bodyLength, String bodySha256Hex,
                String peerSubject) {
            this(method, uri, headers, bodyLength, bodySha256Hex, peerSubject,
                    io.netty.handler.codec.http.EmptyHttpHeaders.INSTANCE);
        }

        /** Validates that every component but {@code peerSubject} is present. */
        public Received {
            requireNonNull(method, "method");
            requireNonNull(uri, "uri");
            requireNonNull(headers, "headers");
            requireNonNull(bodySha256Hex, "bodySha256Hex");
            requireNonNull(trailers, "trailers");
        }

        /** The path of {@link #uri()}, without the query string, still percent-encoded. */
        public String path() {
            return new QueryStringDecoder(uri).rawPath();
        }

        /** The first value of the named header, or {@code null}. */
        public String header(String name) {
            return headers.get(name);
        }
    }

    /**
     * Starts a backend presenting {@code serverCert} (leaf and intermediates) that asks for no client certificate.
     *
     * @throws IllegalStateException if the TLS context cannot be built or the port cannot be bound
     */
    public static RecordingBackend start(TestPki.Issued serverCert) {
        return new RecordingBackend(requireNonNull(serverCert, "serverCert"), null, 0, List.of());
    }

    /**
     * Starts a backend like {@link #start(TestPki.Issued)} whose BoringSSL context accepts only the key-exchange
     * {@code groups} (BoringSSL names such as {@code X25519}, {@code P-256}); a client offering none of them fails
     * the handshake ({@link #handshakeFailures()}).
     *
     * @throws IllegalStateException if BoringSSL is unavailable, or as {@link #start(TestPki.Issued)}
     */
    public static RecordingBackend startAcceptingGroups(TestPki.Issued serverCert, String... groups) {
        if (!OpenSsl.isAvailable()) {
            throw new IllegalStateException("choosing groups needs BoringSSL", OpenSsl.unavailabilityCause());
        }
        return new RecordingBackend(requireNonNull(serverCert, "serverCert"), null, 0, List.of(groups));
    }

    /**
     * Starts a backend like {@link #start(TestPki.Issued)} on a given port of {@code 127.0.0.1}, e.g. to bring back
     * a backend that was closed (the listening socket reuses the address).
     *
     * @throws IllegalStateException if the TLS context cannot be built or the port cannot be bound
     */
    public static RecordingBackend startOnPort(TestPki.Issued serverCert, int port) {
        if (port < 1 || port > 65535) {
            throw new IllegalArgumentException("port: " + port + " (expected: 1..65535)");
        }
        return new RecordingBackend(requireNonNull(serverCert, "serverCert"), null, port, List.of());
    }

    /**
     * Starts a backend presenting {@code serverCert} that requires a client certificate chaining to
     * {@code trustRoot}; a handshake without one fails and is counted in {@link #handshakeFailures()}.
     *
     * @throws IllegalStateException if the TLS context cannot be built or the port cannot be bound
     */
    public static RecordingBackend startRequiringClientCert(TestPki.Issued serverCert, X509Certificate trustRoot) {
        return new RecordingBackend(requireNonNull(serverCert, "serverCert"), requireNonNull(trustRoot, "trustRoot"),
                0, List.of());
    }

    private RecordingBackend(TestPki.Issued serverCert, X509Certificate trustRoot, int port, List<String> groups) {
        try {
            SslContextBuilder builder = SslContextBuilder.forServer(serverCert.privateKey(), serverCert.chain())
                    .sslProvider(OpenSsl.isAvailable() ? SslProvider.OPENSSL : SslProvider.JDK)
                    .protocols("TLSv1.3", "TLSv1.2");
            if (trustRoot != null) {
                builder.trustManager(trustRoot).clientAuth(ClientAuth.REQUIRE);
            }
            if (!groups.isEmpty()) {
                builder.option(OpenSslContextOption.GROUPS, groups.toArray(String[]::new));
            }
            sslContext = builder.build();
        } catch (SSLException e) {
            throw new IllegalStateException("Cannot build the backend's TLS context", e);
        }
        group = new MultiThreadIoEventLoopGroup(2, NioIoHandler.newFactory());
        try {
            serverChannel = new ServerBootstrap()
                    .group(group)
                    .channel(NioServerSocketChannel.class)
                    .option(io.netty.channel.ChannelOption.SO_REUSEADDR, true)
                    .childHandler(new ChannelInitializer<SocketChannel>() {
                        @Override
                        protected void initChannel(SocketChannel channel) {
                            connectionsAccepted.incrementAndGet();
                            ChannelPipeline pipeline = channel.pipeline();
                            SslHandler tls = sslContext.newHandler(channel.alloc());
                            // Generous: under load tests thousands of handshakes queue on two event loops.
                            tls.setHandshakeTimeoutMillis(HANDSHAKE_TIMEOUT_MILLIS);
                            pipeline.addLast("tls", tls);
                            pipeline.addLast("http", new HttpServerCodec());
                            pipeline.addLast("streaming", new ChunkedWriteHandler());
                            pipeline.addLast("expect-continue", new HttpServerExpectContinueHandler());
                            pipeline.addLast("recorder", new ConnectionHandler());
                        }
                    })
                    .bind(new InetSocketAddress("127.0.0.1", port))
                    .syncUninterruptibly()
                    .channel();
        } catch (RuntimeException e) {
            group.shutdownGracefully(0, SHUTDOWN_TIMEOUT_SECONDS, TimeUnit.SECONDS).syncUninterruptibly();
            ReferenceCountUtil.release(sslContext);
            throw new IllegalStateException("Cannot bind the backend", e);
        }
    }

    /** The port the backend listens on, on {@code 127.0.0.1}. */
    public int port() {
        return ((InetSocketAddress) serverChannel.localAddress()).getPort();
    }

    /** The address the backend listens on. */
    public InetSocketAddress address() {
        return (InetSocketAddress) serverChannel.localAddress();
    }

    /** Every request received so far, in order of completion: a snapshot. */
    public List<Received> received() {
        synchronized (received) {
            return List.copyOf(received);
        }
    }

    /** The number of TCP connections accepted so far, whether or not their handshake succeeded. */
    public int connectionsAccepted() {
        return connectionsAccepted.get();
    }

    /**
     * The number of connections open now that completed their TLS handshake. (Counted from the handshake rather
     * than the accept: a client that closes one connection and opens the next may have the new one accepted before
     * this backend has read the old one's close; the handshake's round trips leave that read time to happen.)
     */
    public int connectionsOpen() {
        return connectionsOpen.get();
    }

    /** The most {@linkplain #connectionsOpen() handshaken connections} that were open at the same time so far. */
    public int connectionsOpenPeak() {
        return connectionsOpenPeak.get();
    }

    /**
     * The key-exchange group of each successful handshake, in order (BoringSSL names, e.g. {@code X25519MLKEM768};
     * {@code null} under the JDK provider): a snapshot.
     */
    public List<String> negotiatedGroups() {
        synchronized (negotiatedGroups) {
            return new ArrayList<>(negotiatedGroups);
        }
    }

    /** Why each failed TLS handshake failed, in order: a snapshot. */
    public List<Throwable> handshakeFailures() {
        synchronized (handshakeFailures) {
            return List.copyOf(handshakeFailures);
        }
    }

    /** Closes the listening socket and every connection, and waits for the event loops to stop. Idempotent. */
    @Override
    public void close() {
        if (!closed.compareAndSet(false, true)) {
            return;
        }
        try {
            serverChannel.close().syncUninterruptibly();
        } finally {
            group.shutdownGracefully(0, SHUTDOWN_TIMEOUT_SECONDS, TimeUnit.SECONDS).syncUninterruptibly();
            ReferenceCountUtil.release(sslContext);
        }
    }

    /**
     * The bytes at positions {@code [offset, offset + length)} of the test pattern that {@code /download} serves:
     * byte {@code i} is {@code (byte) (i * 31 + 7)}, so the pattern repeats every 256 bytes and any prefix of it
     * can be checked without storing it.
     */
    public static byte[] patternChunk(long offset, int length) {
        if (offset < 0 || length < 0) {
            throw new IllegalArgumentException(
                    "offset: " + offset + ", length: " + length + " (expected: both >= 0)");
        }
        byte[] chunk = new byte[length];
        for (int i = 0; i < length; i++) {
            chunk[i] = (byte) ((offset + i) * 31 + 7);
        }
        return chunk;
    }

    /** An input stream of the first {@code length} bytes of the {@linkplain #patternChunk test pattern}. */
    public static InputStream patternStream(long length) {
        if (length < 0) {
            throw new IllegalArgumentException("length: " + length + " (expected: >= 0)");
        }
        return new PatternStream(length);
    }

    /** SHA-256, lower-case hex, of the first {@code length} bytes of the {@linkplain #patternChunk test pattern}. */
    public static String expectedSha256(long length) {
        if (length < 0) {
            throw new IllegalArgumentException("length: " + length + " (expected: >= 0)");
        }
        MessageDigest digest = sha256();
        for (long offset = 0; offset < length; offset += CHUNK_SIZE) {
            int size = (int) Math.min(CHUNK_SIZE, length - offset);
            digest.update(PATTERN, (int) (offset % PATTERN_PERIOD), size);
        }
        return HexFormat.of().formatHex(digest.digest());
    }

    /** SHA-256 of {@code bytes}, lower-case hex. */
    public static String sha256Hex(byte[] bytes) {
        return HexFormat.of().formatHex(sha256().digest(bytes));
    }

    static MessageDigest sha256() {
        try {
            return MessageDigest.getInstance("SHA-256");
        } catch (NoSuchAlgorithmException e) {
            throw new IllegalStateException("Every Java platform implements SHA-256", e);
        }
    }

    /** A request whose head has been read and whose body is still arriving. */
    private static final class RequestInProgress {
        private final HttpRequest head;
        private final HttpHeaders headers;
        private final MessageDigest digest = sha256();
        private long bodyLength;
        private HttpHeaders trailers = io.netty.handler.codec.http.EmptyHttpHeaders.INSTANCE;

        RequestInProgress(HttpRequest head) {
            this.head = head;
            this.headers = head.headers().copy();
        }

        void update(ByteBuf content) {
            bodyLength += content.readableBytes();
            for (ByteBuffer buffer : content.nioBuffers()) {
                digest.update(buffer);
            }
        }

        Exchange complete(String peerSubject) {
            Received request = new Received(head.method().name(), head.uri(), headers, bodyLength,
                    HexFormat.of().formatHex(digest.digest()), peerSubject, trailers);
            return new Exchange(request, head.protocolVersion(), HttpUtil.isKeepAlive(head));
        }
    }

    /** A completely read request waiting for, or being sent, its response. */
    private record Exchange(Received request, HttpVersion version, boolean keepAlive) {
        boolean isHead() {
            return HttpMethod.HEAD.name().equals(request.method());
        }
    }

    /** The per-connection state machine: records requests, then answers them one at a time, in order. */
    private final class ConnectionHandler extends ChannelInboundHandlerAdapter {
        private final Deque<Exchange> waiting = new ArrayDeque<>();
        private RequestInProgress current;
        private boolean responding;
        private String peerSubject;
        /** While a {@code /upload?pause-ms=N} body is being read: N, else 0. */
        private long readPauseMillis;
        private boolean readScheduled;

        @Override
        public void userEventTriggered(ChannelHandlerContext ctx, Object event) {
            if (event instanceof SslHandshakeCompletionEvent handshake) {
                if (handshake.isSuccess()) {
                    connectionsOpenPeak.accumulateAndGet(connectionsOpen.incrementAndGet(), Math::max);
                    ctx.channel().closeFuture().addListener(f -> connectionsOpen.decrementAndGet());
                    peerSubject = peerSubject(ctx);
                    SSLSession session = ctx.pipeline().get(SslHandler.class).engine().getSession();
                    synchronized (negotiatedGroups) {
                        negotiatedGroups.add(session instanceof OpenSslSession s ? s.getNamedGroup() : null);
                    }
                } else {
                    synchronized (handshakeFailures) {
                        handshakeFailures.add(handshake.cause());
                    }
                }
            }
            ctx.fireUserEventTriggered(event);
        }

        @Override
        public void channelRead(ChannelHandlerContext ctx, Object msg) {
            try {
                if (msg instanceof HttpObject object && object.decoderResult().isFailure()) {
                    current = null;
                    rejectMalformedRequest(ctx, object.decoderResult().cause());
                    return;
                }
                if (msg instanceof HttpRequest head) {
                    current = new RequestInProgress(head);
                    startThrottling(ctx, head);
                }
                if (msg instanceof HttpContent content && current != null) {
                    current.update(content.content());
                    if (msg instanceof LastHttpContent last) {
                        current.trailers = last.trailingHeaders().copy();
                        stopThrottling(ctx);
                        Exchange exchange = current.complete(peerSubject);
                        current = null;
                        synchronized (received) {
                            received.add(exchange.request());
                        }
                        waiting.add(exchange);
                        if (!responding) {
                            respondToNext(ctx);
                        }
                    }
                }
            } finally {
                ReferenceCountUtil.release(msg);
            }
        }

        private void startThrottling(ChannelHandlerContext ctx, HttpRequest head) {
            QueryStringDecoder query = new QueryStringDecoder(head.uri());
            String pause = "/upload".equals(query.path()) ? parameter(query, "pause-ms") : null;
            if (pause != null) {
                readPauseMillis = Math.max(1, Long.parseLong(pause));
                ctx.channel().config().setAutoRead(false);
            }
        }

        private void stopThrottling(ChannelHandlerContext ctx) {
            if (readPauseMillis > 0) {
                readPauseMillis = 0;
                ctx.channel().config().setAutoRead(true);
            }
        }

        @Override
        public void channelReadComplete(ChannelHandlerContext ctx) {
            if (readPauseMillis > 0 && !readScheduled) {
                readScheduled = true;
                ctx.executor().schedule(() -> {
                    readScheduled = false;
                    ctx.read();
                }, readPauseMillis, TimeUnit.MILLISECONDS);
            }
            ctx.fireChannelReadComplete();
        }

        @Override
        public void channelInactive(ChannelHandlerContext ctx) {
            waiting.clear();
            current = null;
            ctx.fireChannelInactive();
        }

        @Override
        public void exceptionCaught(ChannelHandlerContext ctx, Throwable cause) {
            // Handshake failures and peers resetting connections are expected in tests; they are not errors here.
            LOG.debug("Backend connection {} failed; closing it", ctx.channel(), cause);
            ctx.close();
        }

        private void respondToNext(ChannelHandlerContext ctx) {
            Exchange exchange = waiting.poll();
            if (exchange == null) {
                responding = false;
                return;
            }
            responding = true;
            try {
                dispatch(ctx, exchange);
            } catch (IllegalArgumentException e) {
                sendText(ctx, exchange, HttpResponseStatus.BAD_REQUEST, e.getMessage() + "\n");
            }
        }

        private void dispatch(ChannelHandlerContext ctx, Exchange exchange) {
            Received request = exchange.request();
            QueryStringDecoder query = new QueryStringDecoder(request.uri());
            String path = query.path();
            switch (path) {
                case "/echo-headers" -> sendText(ctx, exchange, HttpResponseStatus.OK, headerLines(request.headers()));
                case "/upload" -> sendText(ctx, exchange, HttpResponseStatus.OK,
                        request.bodyLength() + " " + request.bodySha256Hex());
                case "/download" -> sendDownload(ctx, exchange,
                        longParameter(query, "bytes"), "true".equals(parameter(query, "chunked")));
                case "/slow" -> ctx.executor().schedule(
                        () -> sendText(ctx, exchange, HttpResponseStatus.OK, defaultBody(request)),
                        longParameter(query, "ms"), TimeUnit.MILLISECONDS);
                case "/dated" -> {
                    // A response carrying its own Date header, which the proxy must pass on unchanged.
                    FullHttpResponse dated = new DefaultFullHttpResponse(HttpVersion.HTTP_1_1, HttpResponseStatus.OK,
                            Unpooled.EMPTY_BUFFER);
                    dated.headers().set(HttpHeaderNames.DATE, DATED).setInt(HttpHeaderNames.CONTENT_LENGTH, 0);
                    HttpUtil.setKeepAlive(dated.headers(), exchange.version(), exchange.keepAlive());
                    ctx.writeAndFlush(dated).addListener(future -> onResponseWritten(ctx, exchange, future));
                }
                case "/close" -> {
                    waiting.clear();
                    ctx.close();
                }
                default -> {
                    if (path.startsWith("/status/")) {
                        HttpResponseStatus status = statusOf(path.substring("/status/".length()));
                        sendText(ctx, exchange, status, "status " + status.code() + "\n");
                    } else {
                        sendText(ctx, exchange, HttpResponseStatus.OK, defaultBody(request));
                    }
                }
            }
        }

        private void sendText(ChannelHandlerContext ctx, Exchange exchange, HttpResponseStatus status, String text) {
            byte[] body = text.getBytes(StandardCharsets.UTF_8);
            boolean bodyless = status.code() == 204 || status.code() == 304;
            ByteBuf content = bodyless || exchange.isHead()
                    ? Unpooled.EMPTY_BUFFER
                    : ctx.alloc().buffer(body.length).writeBytes(body);
            FullHttpResponse response = new DefaultFullHttpResponse(HttpVersion.HTTP_1_1, status, content);
            if (!bodyless) {
                response.headers()
                        .set(HttpHeaderNames.CONTENT_TYPE, "text/plain; charset=utf-8")
                        .setInt(HttpHeaderNames.CONTENT_LENGTH, body.length);
            }
            HttpUtil.setKeepAlive(response.headers(), exchange.version(), exchange.keepAlive());
            ctx.writeAndFlush(response).addListener(future -> onResponseWritten(ctx, exchange, future));
        }

        private void sendDownload(ChannelHandlerContext ctx, Exchange exchange, long length, boolean chunked) {
            HttpResponse head = new DefaultHttpResponse(HttpVersion.HTTP_1_1, HttpResponseStatus.OK);
            head.headers().set(HttpHeaderNames.CONTENT_TYPE, HttpHeaderValues.APPLICATION_OCTET_STREAM);
            if (chunked) {
                HttpUtil.setTransferEncodingChunked(head, true);
            } else {
                HttpUtil.setContentLength(head, length);
            }
            HttpUtil.setKeepAlive(head.headers(), exchange.version(), exchange.keepAlive());
            ctx.write(head);
            Object body = exchange.isHead()
                    ? LastHttpContent.EMPTY_LAST_CONTENT
                    // ChunkedWriteHandler pulls the next chunk only while the channel is writable.
                    : new HttpChunkedInput(new PatternInput(length));
            ctx.writeAndFlush(body).addListener(future -> onResponseWritten(ctx, exchange, future));
        }

        private void onResponseWritten(ChannelHandlerContext ctx, Exchange exchange, Future<?> written) {
            if (!written.isSuccess() || !exchange.keepAlive()) {
                ctx.close();
                return;
            }
            respondToNext(ctx);
        }

        private void rejectMalformedRequest(ChannelHandlerContext ctx, Throwable cause) {
            LOG.debug("Backend received a malformed request on {}", ctx.channel(), cause);
            waiting.clear();
            FullHttpResponse response = new DefaultFullHttpResponse(
                    HttpVersion.HTTP_1_1, HttpResponseStatus.BAD_REQUEST, Unpooled.EMPTY_BUFFER);
            response.headers().setInt(HttpHeaderNames.CONTENT_LENGTH, 0)
                    .set(HttpHeaderNames.CONNECTION, HttpHeaderValues.CLOSE);
            ctx.writeAndFlush(response).addListener(future -> ctx.close());
        }

        private static String peerSubject(ChannelHandlerContext ctx) {
            try {
                Certificate[] peer = ctx.pipeline().get(SslHandler.class).engine().getSession().getPeerCertificates();
                return ((X509Certificate) peer[0]).getSubjectX500Principal().getName();
            } catch (SSLPeerUnverifiedException e) {
                return null;
            }
        }
    }

    private static String defaultBody(Received request) {
        return "ok " + request.method() + " " + request.uri() + "\n";
    }

    private static String headerLines(HttpHeaders headers) {
        StringBuilder lines = new StringBuilder();
        for (Map.Entry<String, String> header : headers) {
            lines.append(header.getKey().toLowerCase(Locale.ROOT)).append(": ").append(header.getValue()).append('\n');
        }
        return lines.toString();
    }

    private static String parameter(QueryStringDecoder query, String name) {
        List<String> values = query.parameters().get(name);
        return values == null || values.isEmpty() ? null : values.get(0);
    }

    private static long longParameter(QueryStringDecoder query, String name) {
        String value = parameter(query, name);
        if (value != null) {
            try {
                long parsed = Long.parseLong(value);
                if (parsed >= 0) {
                    return parsed;
                }
            } catch (NumberFormatException e) {
                // Reported below with the expectation.
            }
        }
        throw new IllegalArgumentException(name + ": " + value + " (expected: a non-negative integer)");
    }

    private static HttpResponseStatus statusOf(String code) {
        try {
            int parsed = Integer.parseInt(code);
            if (parsed >= 200 && parsed <= 599) {
                return HttpResponseStatus.valueOf(parsed);
            }
        } catch (NumberFormatException e) {
            // Reported below with the expectation.
        }
        throw new IllegalArgumentException("status: " + code + " (expected: 200-599)");
    }

    /** The download body: generated one chunk at a time, so that a 50 MiB body never sits in memory. */
    private static final class PatternInput implements ChunkedInput<ByteBuf> {
        private final long length;
        private long offset;

        PatternInput(long length) {
            this.length = length;
        }

        @Override
        public boolean isEndOfInput() {
            return offset >= length;
        }

        @Override
        public void close() {
            offset = length;
        }

        @Deprecated
        @Override
        public ByteBuf readChunk(ChannelHandlerContext ctx) {
            return readChunk(ctx.alloc());
        }

        @Override
        public ByteBuf readChunk(ByteBufAllocator allocator) {
            if (isEndOfInput()) {
                return null;
            }
            int size = (int) Math.min(CHUNK_SIZE, length - offset);
            ByteBuf chunk = allocator.buffer(size).writeBytes(PATTERN, (int) (offset % PATTERN_PERIOD), size);
            offset += size;
            return chunk;
        }

        @Override
        public long length() {
            return length;
        }

        @Override
        public long progress() {
            return offset;
        }
    }

    private static final class PatternStream extends InputStream {
        private final long length;
        private long offset;

        PatternStream(long length) {
            this.length = length;
        }

        @Override
        public int read() {
            if (offset >= length) {
                return -1;
            }
            return PATTERN[(int) (offset++ % PATTERN_PERIOD)] & 0xff;
        }

        @Override
        public int read(byte[] buffer, int off, int len) {
            Objects.checkFromIndexSize(off, len, buffer.length);
            if (len == 0) {
                return 0;
            }
            if (offset >= length) {
                return -1;
            }
            int size = (int) Math.min(Math.min(len, CHUNK_SIZE), length - offset);
            System.arraycopy(PATTERN, (int) (offset % PATTERN_PERIOD), buffer, off, size);
            offset += size;
            return size;
        }

        @Override
        public int available() {
            return (int) Math.min(Integer.MAX_VALUE, length - offset);
        }
    }
}
