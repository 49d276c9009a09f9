package org.mtlsproxy.proxy.http;

import static java.util.Objects.requireNonNull;

import io.netty.channel.Channel;
import io.netty.channel.ChannelFutureListener;
import io.netty.channel.ChannelHandlerContext;
import io.netty.channel.ChannelInboundHandlerAdapter;
import io.netty.handler.codec.TooLongFrameException;
import io.netty.handler.codec.http.HttpContent;
import io.netty.handler.codec.http.HttpHeaderNames;
import io.netty.handler.codec.http.HttpHeaderValues;
import io.netty.handler.codec.http.HttpHeaders;
import io.netty.handler.codec.http.HttpMethod;
import io.netty.handler.codec.http.HttpObject;
import io.netty.handler.codec.http.HttpRequest;
import io.netty.handler.codec.http.HttpResponse;
import io.netty.handler.codec.http.HttpResponseStatus;
import io.netty.handler.codec.http.HttpUtil;
import io.netty.handler.codec.http.HttpVersion;
import io.netty.handler.codec.http.LastHttpContent;
import io.netty.handler.codec.http.TooLongHttpHeaderException;
import io.netty.handler.codec.http.TooLongHttpLineException;
import io.netty.handler.codec.http2.Http2CodecUtil;
import io.netty.handler.codec.http2.Http2Exception;
import io.netty.handler.codec.http2.Http2StreamChannel;
import io.netty.handler.ssl.SslHandler;
import io.netty.handler.timeout.IdleStateEvent;
import io.netty.util.AsciiString;
import io.netty.util.ReferenceCountUtil;
import io.netty.util.concurrent.ScheduledFuture;
import java.security.cert.X509Certificate;
import java.time.Duration;
import java.util.ArrayDeque;
import java.util.Iterator;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;
import org.mtlsproxy.proxy.RejectReason;
import org.mtlsproxy.proxy.authz.Decision;
import org.mtlsproxy.proxy.identity.ClientIdentity;
import org.mtlsproxy.proxy.identity.IdentityCache;
import org.mtlsproxy.proxy.runtime.ListenerRuntime;
import org.mtlsproxy.proxy.runtime.RouteRuntime;
import org.mtlsproxy.proxy.runtime.ShadowRules;
import org.mtlsproxy.proxy.tls.ClientCertificateException;
import org.mtlsproxy.proxy.tls.PeerChain;
import org.mtlsproxy.proxy.upstream.AcquireCallback;
import org.mtlsproxy.proxy.upstream.BackendConnection;
import org.mtlsproxy.proxy.upstream.UpstreamListener;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;
import org.slf4j.spi.LoggingEventBuilder;

/**
 * The HTTP/1.1 stage of a client connection: route, authorize, sanitize, forward, stream the response back.
 *
 * <p>One exchange at a time. An exchange starts with a request head and ends when both the request (its last
 * chunk read) and the response (its last chunk written) are complete. Anything the client pipelines meanwhile
 * waits in {@link #pending}, and reading stops while anything waits there, so memory per connection stays bounded.
 *
 * <p>Backpressure lives in {@link #updateClientReading()} and {@link #updateBackendReading()}: each side reads
 * only while the other side's channel is writable. The backend connection runs on this channel's event loop, so
 * nothing here needs a lock.
 *
 * <p>Every inbound message is either forwarded, queued, or released on every branch.
 *
 * <p>On HTTP/2 the same class serves one stream (an {@link Http2StreamChannel}, behind {@link Http2StreamAdapter}):
 * one exchange, after which the stream is complete; "closing the connection" closes (resets) the stream only. The
 * TLS session, SNI and identity are those of the parent connection ({@link #connection()}).
 *
 * <p>A WebSocket upgrade on a route that allows it is forwarded with its {@code Upgrade}; a 101 from the backend
 * hands both channels to {@link UpgradeTunnel} and this handler leaves the pipeline.
 */
public final class ProxyHandler extends ChannelInboundHandlerAdapter implements UpstreamListener, AcquireCallback {

    private static final Logger LOG = LoggerFactory.getLogger(ProxyHandler.class);
    private static final Logger ACCESS = LoggerFactory.getLogger("mtls_proxy.access");
    private static final AsciiString X_FORWARDED_FOR = AsciiString.cached("x-forwarded-for");
    private static final AsciiString X_FORWARDED_PROTO = AsciiString.cached("x-forwarded-proto");
    private static final AsciiString HTTPS = AsciiString.cached("https");
    /** A signing fault fails every request: one error line per ten seconds says so. */
    private static final LogThrottle SIGNING_ERRORS = new LogThrottle(Duration.ofSeconds(10));

    private enum State {
        /** No exchange in progress. */
        IDLE,
        /** Request accepted, waiting for a backend connection. */
        CONNECTING,
        /** Request and response flowing through the backend connection. */
        STREAMING,
        /** We answered ourselves; the rest of the request body is dropped. */
        DISCARDING
    }

    /** The listener's compiled state; replaced by a reload between two exchanges. */
    private ListenerRuntime listener;
    /** A reload's listener state, waiting for the current exchange to end. */
    private ListenerRuntime nextListener;
    private final long clientWindowMillis;
    private final HeadTimeoutHandler headTimeout;
    /** Bytes of the current request body accepted so far, against the route's max-request-body-size. */
    private long requestBodyBytes;
    private RouteRuntime lastRouteSeen;
    private final ArrayDeque<Object> pending = new ArrayDeque<>(4);

    private ChannelHandlerContext ctx;
    private Channel client;
    private ClientIdentity identity;
    /** The identity's header values, shared by the connection's streams (HTTP/2). */
    private FormattedIdentity formatted;
    private String remoteIp;
    /** {@link #remoteIp} as the X-Forwarded-For value of a client that sent none (the usual case). */
    private AsciiString remoteIpValue;
    private boolean closing;
    private boolean draining;
    /** Request chunks were written to the backend in this read batch and await one flush. */
    private boolean backendFlushPending;
    /** Inside {@link #channelRead}: a {@link #channelReadComplete} follows, which flushes what is pending. */
    private boolean inClientRead;
    /** The connection's identity was last authorized on this route, with this decision (reused while it stays). */
    private RouteRuntime decidedRoute;
    private Decision lastDecision;

    // The current exchange.
    private State state = State.IDLE;
    private boolean exchangeActive;
    private boolean requestDone;
    private boolean responseStarted;
    private boolean responseDone;
    private boolean interimResponse;
    private boolean clientKeepAlive;
    private boolean http10;
    private boolean backendReusable;
    private boolean requestHasBody;
    private boolean retried;
    /** The request asks for a WebSocket upgrade that this route allows; a 101 answer switches to a tunnel. */
    private boolean upgradeRequested;
    /** The routed host of the current request (for the tunnel's re-authorization after a reload). */
    private String requestHost;
    private HttpRequest request;
    /** Set with a 429: the Retry-After value of the error response. */
    private long retryAfterSeconds;
    private RouteRuntime route;
    private String decisionText;
    /** What the route's shadow-allow rules decided for this request; null when it has none or none was made. */
    private Decision shadowDecision;
    /** The normalised path without the query (which may carry secrets), for the access log. */
    private String logPath;
    private BackendConnection upstream;
    private ScheduledFuture<?> responseTimeout;
    private final Runnable responseTimeoutCheck = this::checkResponseTimeout;
    private final ChannelFutureListener responseWritten = f -> onResponseWritten();
    /** {@link System#nanoTime()} by which the backend must start its response; 0 when no clock runs. */
    private long responseDeadline;
    /** When the scheduled {@link #responseTimeout} check runs. */
    private long responseTimerAt;
    private RejectReason failure;
    private int status;
    private long startNanos;
    private long bytesIn;
    private String sni;
    private boolean sniRead;
    /** The request's Content-Length, 0 when absent. */
    private long requestContentLength;
    private long bytesOut;

    /** The handler of an HTTP/1.1 connection: it owns the connection (head timeout, connection lifetime). */
    public ProxyHandler(ListenerRuntime listener, java.time.Duration clientWindow, HeadTimeoutHandler headTimeout) {
        this.listener = requireNonNull(listener, "listener");
        this.clientWindowMillis = clientWindow.toMillis();
        this.headTimeout = requireNonNull(headTimeout, "headTimeout");
    }

    /** The handler of one HTTP/2 stream: the connection's limits are its connection handler's business. */
    public ProxyHandler(ListenerRuntime listener, java.time.Duration clientWindow) {
        this.listener = requireNonNull(listener, "listener");
        this.clientWindowMillis = clientWindow.toMillis();
        this.headTimeout = null;
    }

    @Override
    public void handlerAdded(ChannelHandlerContext ctx) {
        this.ctx = ctx;
        this.client = ctx.channel();
        this.remoteIp = ConnectionAttributes.remoteIp(client);
        this.remoteIpValue = new AsciiString(remoteIp);
        if (headTimeout != null) {
            // max-connection-lifetime: then finish the current request and close, like a drain of one connection.
            ScheduledFuture<?> lifetime = ctx.executor().schedule(this::stopAfterCurrentExchange,
                    listener.config().limits().maxConnectionLifetime().toMillis(), TimeUnit.MILLISECONDS);
            // A pending task holds this handler, its channel and TLS engine: without the cancel, every closed
            // connection stayed in memory until its lifetime (1 h by default) ran out.
            client.closeFuture().addListener(f -> lifetime.cancel(false));
        }
    }

    private void stopAfterCurrentExchange() {
        draining = true;
        clientKeepAlive = false;
        if (!exchangeActive) {
            closeClient();
        }
    }

    // ---------------------------------------------------------------- client side

    @Override
    public void channelRead(ChannelHandlerContext ctx, Object msg) {
        if (closing) {
            ReferenceCountUtil.release(msg);
            return;
        }
        if (mustQueue()) {
            pending.add(msg);
            updateClientReading();
            return;
        }
        inClientRead = true;
        try {
            dispatch(msg);
        } finally {
            inClientRead = false;
        }
    }

    private boolean mustQueue() {
        return !pending.isEmpty() || state == State.CONNECTING || (exchangeActive && requestDone);
    }

    private void dispatch(Object msg) {
        if (msg instanceof HttpRequest req) {
            if (exchangeActive) {
                // Cannot happen with a conforming decoder (a head before the previous last chunk); fail safe.
                ReferenceCountUtil.release(msg);
                closeClient();
                return;
            }
            startExchange(req);
            if (msg instanceof HttpContent) {
                // A decoder-produced full message (only on decode failure): its content is empty.
                requestDone = true;
                ReferenceCountUtil.release(msg);
                maybeEndExchange();
            }
            return;
        }
        if (msg instanceof HttpContent content) {
            onRequestContent(content);
            return;
        }
        ReferenceCountUtil.release(msg);
    }

    private void startExchange(HttpRequest req) {
        if (nextListener != null) {
            listener = nextListener;
            nextListener = null;
        }
        if (headTimeout != null) {
            headTimeout.headReceived();
        }
        exchangeActive = true;
        requestBodyBytes = 0;
        requestDone = false;
        responseStarted = false;
        responseDone = false;
        interimResponse = false;
        retried = false;
        upgradeRequested = false;
        requestHost = null;
        route = null;
        decisionText = null;
        shadowDecision = null;
        logPath = null;
        failure = null;
        status = 0;
        bytesIn = 0;
        bytesOut = 0;
        startNanos = System.nanoTime();
        request = req;
        http10 = req.protocolVersion().minorVersion() == 0;
        clientKeepAlive = !draining && HttpUtil.isKeepAlive(req);
        requestContentLength = HttpUtil.getContentLength(req, 0L);
        requestHasBody = HttpUtil.isTransferEncodingChunked(req) || requestContentLength > 0;

        if (req.decoderResult().isFailure()) {
            Throwable cause = req.decoderResult().cause();
            HttpResponseStatus s = cause instanceof TooLongHttpHeaderException
                    ? HttpResponseStatus.REQUEST_HEADER_FIELDS_TOO_LARGE
                    : cause instanceof TooLongHttpLineException ? HttpResponseStatus.REQUEST_URI_TOO_LONG
                    : cause instanceof TooLongFrameException ? HttpResponseStatus.REQUEST_HEADER_FIELDS_TOO_LARGE
                    : HttpResponseStatus.BAD_REQUEST;
            // The decoder discards everything after a bad message: the connection cannot be reused.
            clientKeepAlive = false;
            rejectLocally(s, RejectReason.BAD_REQUEST, "malformed request: " + cause.getMessage());
            return;
        }
        if (identity == null) {
            identity = connection().attr(ConnectionAttributes.IDENTITY).get();
            if (identity == null) {
                // The handshake stage always sets it; without it nothing may pass (fail closed).
                clientKeepAlive = false;
                rejectLocally(HttpResponseStatus.FORBIDDEN, RejectReason.DENIED, "no verified identity");
                return;
            }
            formatted = FormattedIdentity.of(connection(), identity);
        }
        if (req.protocolVersion().majorVersion() != 1) {
            clientKeepAlive = false;
            rejectLocally(HttpResponseStatus.HTTP_VERSION_NOT_SUPPORTED, RejectReason.BAD_REQUEST,
                    "unsupported HTTP version " + req.protocolVersion());
            return;
        }
        if (req.method() == HttpMethod.CONNECT) {
            rejectLocally(HttpResponseStatus.METHOD_NOT_ALLOWED, RejectReason.BAD_REQUEST, "CONNECT not supported");
            return;
        }

        HttpHeaders headers = req.headers();
        if (headers.size() > listener.config().limits().maxHeaderCount()) {
            clientKeepAlive = false;
            rejectLocally(HttpResponseStatus.REQUEST_HEADER_FIELDS_TOO_LARGE, RejectReason.LIMIT_EXCEEDED,
                    headers.size() + " header fields (max-header-count " + listener.config().limits().maxHeaderCount()
                            + ")");
            return;
        }
        String target = req.uri();
        String authority = null;
        if (!target.startsWith("/")) {
            // absolute-form (RFC 9112 §3.2.2): the authority in the target wins over Host.
            int scheme = target.indexOf("://");
            if (scheme <= 0) {
                rejectLocally(HttpResponseStatus.BAD_REQUEST, RejectReason.BAD_REQUEST, "unsupported request target");
                return;
            }
            int slash = target.indexOf('/', scheme + 3);
            authority = slash < 0 ? target.substring(scheme + 3) : target.substring(scheme + 3, slash);
            target = slash < 0 ? "/" : target.substring(slash);
        }
        // One pass over the fields: the Host fields, and whether any field we remove is there at all.
        int hostFields = 0;
        CharSequence hostValue = null;
        boolean mustStrip = false;
        FieldNameSet toStrip = listener.requestFieldsToStrip();
        for (Iterator<Map.Entry<CharSequence, CharSequence>> it = headers.iteratorCharSequence(); it.hasNext(); ) {
            Map.Entry<CharSequence, CharSequence> field = it.next();
            CharSequence name = field.getKey();
            if (HttpHeaderNames.HOST.contentEqualsIgnoreCase(name)) {
                if (hostFields++ == 0) {
                    hostValue = field.getValue();
                }
            } else if (!mustStrip && toStrip.contains(name)) {
                mustStrip = true;
            }
        }
        if (hostFields > 1 || (hostFields == 0 && !http10 && authority == null)) {
            rejectLocally(HttpResponseStatus.BAD_REQUEST, RejectReason.BAD_REQUEST,
                    hostFields == 0 ? "missing Host header" : "several Host headers");
            return;
        }
        if (authority != null) {
            headers.set(HttpHeaderNames.HOST, authority);
        } else if (hostFields == 1) {
            authority = hostValue.toString();
        }
        // HTTP/1.0 without Host: route by the TLS SNI name the client asked for.
        String host = authority != null ? HostNormalizer.normalize(authority) : sniHost();
        if (host != null && host.isEmpty()) {
            rejectLocally(HttpResponseStatus.BAD_REQUEST, RejectReason.BAD_REQUEST, "invalid Host header");
            return;
        }
        String sni = authority != null ? sniHost() : null;
        if (sni != null && !sni.equals(host)) {
            // RFC 9110 §15.5.20: this connection (its certificate, its SNI) is not for that host; another may be.
            rejectLocally(HttpResponseStatus.MISDIRECTED_REQUEST, RejectReason.MISDIRECTED,
                    "authority " + host + " does not match the TLS server name " + sni);
            return;
        }
        requestHost = host;
        String normalized = PathNormalizer.normalize(target);
        if (normalized == null) {
            rejectLocally(HttpResponseStatus.BAD_REQUEST, RejectReason.BAD_REQUEST, "invalid request path");
            return;
        }
        String path = PathNormalizer.withoutQuery(normalized);
        logPath = path;

        RouteRuntime r = listener.routes().match(host, path);
        if (r == null) {
            rejectLocally(HttpResponseStatus.NOT_FOUND, RejectReason.NO_ROUTE, "no route");
            return;
        }
        route = r;
        // The identity is the connection's and the route's rules are fixed (a reload makes new routes): decide
        // once per connection and route.
        Decision decision = lastDecision;
        if (r != decidedRoute) {
            decision = r.authorizer().decide(identity);
            decidedRoute = r;
            lastDecision = decision;
        }
        if (r.shadow() != null) {
            // Beside the enforced decision, denied ones included: "would the new rules let this client in?"
            shadowDecision = r.shadow().evaluate(decision, identity, remoteIp);
        }
        if (!decision.allowed()) {
            r.meters().denied();
            decisionText = decision.reason();
            rejectLocally(HttpResponseStatus.FORBIDDEN, RejectReason.DENIED, decision.reason());
            return;
        }
        r.meters().allowed(decision.rule());
        decisionText = decision.rule();
        if (requestContentLength > r.maxRequestBodySize()) {
            rejectLocally(HttpResponseStatus.REQUEST_ENTITY_TOO_LARGE, RejectReason.BODY_TOO_LARGE,
                    "Content-Length over max-request-body-size " + r.maxRequestBodySize());
            return;
        }
        if (r.rateLimiter() != null) {
            long waitNanos = r.rateLimiter().tryAcquire(identity.displayName(), System.nanoTime());
            if (waitNanos > 0) {
                retryAfterSeconds = Math.max(1, (waitNanos + 999_999_999L) / 1_000_000_000L);
                rejectLocally(HttpResponseStatus.TOO_MANY_REQUESTS, RejectReason.RATE_LIMITED,
                        "over the route's rate limit");
                return;
            }
        }
        if (r != lastRouteSeen) {
            // Once per connection and route: the route's soonest-expiring client certificate.
            lastRouteSeen = r;
            r.meters().clientCertificateSeen(identity.notAfter().toEpochMilli(), clientWindowMillis);
        }

        // Sanitize: hop-by-hop fields, every client-sent identity header, then add ours.
        upgradeRequested = r.websocket() && !http10 && !(client instanceof Http2StreamChannel) && !requestHasBody
                && UpgradeTunnel.isWebSocketRequest(req);
        if (mustStrip) {
            HopByHop.strip(headers);
            for (String name : listener.identityHeader().strip()) {
                headers.remove(name);
            }
        }
        if (upgradeRequested) {
            UpgradeTunnel.restoreUpgradeHeaders(headers);
        }
        // set() replaces every copy the client sent
        headers.set(listener.identityHeaderName(), formatted.xfcc);
        IdentitySigner signer = listener.signer();
        String xff = headers.get(X_FORWARDED_FOR);
        headers.set(X_FORWARDED_FOR, xff == null ? remoteIpValue : xff + ", " + remoteIp);
        headers.set(X_FORWARDED_PROTO, HTTPS);
        if (authority == null) {
            headers.set(HttpHeaderNames.HOST, r.backend().config().tls().serverName());
        }
        if (http10) {
            // An HTTP/1.0 client cannot take 100 Continue; the expectation is ignored (RFC 9110 §10.1.1).
            headers.remove(HttpHeaderNames.EXPECT);
        }
        if (normalized != req.uri()) {
            // (An origin-form target the normaliser left alone is that very string: setting it would re-validate it.)
            req.setUri(normalized);
        }
        req.setProtocolVersion(HttpVersion.HTTP_1_1);
        if (signer != null) {
            // Last, over the request exactly as the backend will receive it: method, Host, normalised target.
            String signed;
            try {
                signed = signer.sign(formatted.signedClaims(), req.method().name(), headers.get(HttpHeaderNames.HOST),
                        normalized, System.currentTimeMillis());
            } catch (RuntimeException e) {
                signingFailed(e);
                return;
            }
            headers.set(signer.headerName(), signed);
        }

        state = State.CONNECTING;
        r.backend().acquire(client.eventLoop(), false, this);
        if (state == State.CONNECTING) {
            // No pooled connection: a new one is being opened; stop reading until it is there. (A pooled one was
            // handed over inside acquire, and reading never stopped: no epoll_ctl on the common path.)
            updateClientReading();
        }
    }

    /**
     * Signing is configured and the signature could not be made (the key loaded, so a JDK or provider fault): the
     * backend relies on the header, so the request is refused (500) rather than forwarded without it. Logged at
     * error level once per {@link #SIGNING_ERRORS} interval, counted every time.
     */
    private void signingFailed(RuntimeException e) {
        if (SIGNING_ERRORS.mayLog()) {
            LOG.atError()
                    .addKeyValue("listener", listener.name())
                    .addKeyValue("route", route.name())
                    .addKeyValue("cause", e.toString())
                    .addKeyValue("suppressed", SIGNING_ERRORS.suppressed())
                    .log("cannot sign the identity header: requests are refused with 500 until it works again");
            LOG.debug("identity header signing failure", e);
        }
        decisionText = e.toString();
        rejectLocally(HttpResponseStatus.INTERNAL_SERVER_ERROR, RejectReason.SIGNING_FAILED, decisionText);
    }

    /**
     * The client connection: this channel, or on HTTP/2 the connection carrying this stream. Its attributes hold
     * the identity; its pipeline the TLS session.
     */
    private Channel connection() {
        return client instanceof Http2StreamChannel stream ? stream.parent() : client;
    }

    /** The backend answered 101 to an allowed WebSocket upgrade: log the exchange, hand both channels over. */
    private void switchToTunnel(HttpResponse resp) {
        cancelResponseTimeout();
        status = resp.status().code();
        responseStarted = true;
        responseDone = true;
        finishExchangeLine(null);
        BackendConnection u = upstream;
        upstream = null;
        exchangeActive = false;
        closing = true;
        releasePending();
        UpgradeTunnel.start(ctx, this, resp, u, listener, route, identity, remoteIp, requestHost, logPath);
    }

    /** The connection's SNI host name, lower-cased; read from the session once (it cannot change). */
    private String sniHost() {
        if (!sniRead) {
            sni = readSniHost();
            sniRead = true;
        }
        return sni;
    }

    private String readSniHost() {
        SslHandler ssl = connection().pipeline().get(SslHandler.class);
        if (ssl != null && ssl.engine().getSession() instanceof javax.net.ssl.ExtendedSSLSession session) {
            for (javax.net.ssl.SNIServerName name : session.getRequestedServerNames()) {
                if (name instanceof javax.net.ssl.SNIHostName h) {
                    return h.getAsciiName().toLowerCase(java.util.Locale.ROOT);
                }
            }
        }
        return null;
    }

    private void onRequestContent(HttpContent content) {
        if (content.decoderResult().isFailure()) {
            // A malformed chunk: the body is truncated and the decoder discards the rest of the connection.
            ReferenceCountUtil.release(content);
            requestDone = true;
            clientKeepAlive = false;
            cancelResponseTimeout();
            discardUpstream();
            if (!responseStarted) {
                rejectLocally(HttpResponseStatus.BAD_REQUEST, RejectReason.BAD_REQUEST, "malformed request body");
            } else if (responseDone) {
                maybeEndExchange();
            } else {
                abortExchange(RejectReason.BAD_REQUEST, "malformed request body");
                closeClient();
            }
            return;
        }
        boolean last = content instanceof LastHttpContent;
        switch (state) {
            case STREAMING -> {
                bytesIn += content.content().readableBytes();
                requestBodyBytes += content.content().readableBytes();
                if (requestBodyBytes > route.maxRequestBodySize()) {
                    // A chunked body grew past the limit: the backend gets an aborted request, never the excess.
                    ReferenceCountUtil.release(content);
                    requestTooLarge();
                    return;
                }
                if (last) {
                    requestDone = true;
                    LastHttpContent trailer = (LastHttpContent) content;
                    if (!trailer.trailingHeaders().isEmpty()) {
                        Trailers.sanitize(trailer.trailingHeaders(), listener.identityHeader());
                    }
                    if (!responseStarted) {
                        scheduleResponseTimeout();
                    }
                }
                // Flushed once per read batch (channelReadComplete), or now for the last chunk. A failed write
                // reaches BackendConnection.exceptionCaught, which ends the exchange (onBackendClosed).
                Channel backend = upstream.channel();
                if (last) {
                    backendFlushPending = false;
                    backend.writeAndFlush(content, backend.voidPromise());
                } else {
                    backend.write(content, backend.voidPromise());
                    backendFlushPending = true;
                }
                updateClientReading();
            }
            case DISCARDING -> {
                ReferenceCountUtil.release(content);
                if (last) {
                    requestDone = true;
                    maybeEndExchange();
                }
            }
            default -> {
                // IDLE: a stray chunk with no request (cannot happen with the codec); CONNECTING is queued.
                ReferenceCountUtil.release(content);
            }
        }
    }

    private void requestTooLarge() {
        if (responseStarted) {
            abortExchange(RejectReason.BODY_TOO_LARGE,
                    "request body over max-request-body-size " + route.maxRequestBodySize());
            closeClient();
            return;
        }
        route.meters().rejected(RejectReason.BODY_TOO_LARGE);
        failure = RejectReason.BODY_TOO_LARGE;
        clientKeepAlive = false;
        cancelResponseTimeout();
        discardUpstream();
        respondWithError(HttpResponseStatus.REQUEST_ENTITY_TOO_LARGE);
    }

    @Override
    public void channelReadComplete(ChannelHandlerContext ctx) {
        if (backendFlushPending) {
            backendFlushPending = false;
            if (upstream != null) {
                upstream.channel().flush();
            }
        }
        ctx.fireChannelReadComplete();
    }

    @Override
    public void onBackendReadComplete() {
        client.flush();
    }

    @Override
    public void channelWritabilityChanged(ChannelHandlerContext ctx) {
        updateBackendReading();
        ctx.fireChannelWritabilityChanged();
    }

    @Override
    public void userEventTriggered(ChannelHandlerContext ctx, Object evt) {
        if (evt instanceof IdleStateEvent) {
            onIdle();
            return;
        }
        if (evt instanceof SnapshotChanged changed) {
            onSnapshotChanged(changed);
            return;
        }
        if (evt instanceof DrainEvent) {
            // Shutting down: finish the current exchange (its response says Connection: close), take no other.
            stopAfterCurrentExchange();
            return;
        }
        ctx.fireUserEventTriggered(evt);
    }

    /**
     * Nothing moved on the client connection (or stream) for http.idle-timeout. Between requests: close. While a
     * backend connection is being opened or the backend prepares its response: nothing, its connect-timeout or
     * response-timeout decides. Otherwise the exchange stalled, and its access-log line says which side did: the
     * client stopped sending its request body (slowloris; 408) or reading the response, or the backend stopped
     * reading the request body (504) or sending its response. A response already started cannot be answered for:
     * the connection is closed.
     */
    private void onIdle() {
        if (closing) {
            // A close still waiting for its flush: the client is not reading, and never has to. Close now.
            closeClientNow();
            return;
        }
        if (!exchangeActive) {
            LOG.atDebug().addKeyValue("remote", remoteIp).log("closing idle client connection");
            closeClient();
            return;
        }
        if (state == State.CONNECTING || (requestDone && !responseStarted)) {
            return;
        }
        String timeout = "http.idle-timeout " + listener.config().http().idleTimeout().toMillis() + " ms: ";
        if (!responseStarted) {
            boolean backendStalled = upstream != null && !upstream.channel().isWritable();
            discardUpstream(); // it has part of a request: never reuse it
            cancelResponseTimeout();
            clientKeepAlive = false;
            if (backendStalled) {
                decisionText = timeout + "the backend stopped reading the request body";
                rejectLocally(HttpResponseStatus.GATEWAY_TIMEOUT, RejectReason.BACKEND_TIMEOUT, decisionText);
            } else {
                decisionText = timeout + "the client stopped sending the request body";
                rejectLocally(HttpResponseStatus.REQUEST_TIMEOUT, RejectReason.IDLE_TIMEOUT, decisionText);
            }
            return;
        }
        // The whole response written but not yet taken, or the client's side is full: the client is not reading.
        if (responseDone || !client.isWritable()) {
            abortExchange(RejectReason.IDLE_TIMEOUT, timeout + "the client stopped reading the response");
            closeClientNow();
        } else {
            abortExchange(RejectReason.BACKEND_TIMEOUT, timeout + "the backend stopped sending the response");
            closeClient();
        }
    }

    /**
     * After a reload: re-verify this connection's client chain with the new listener's verifier (trust bundles,
     * CRLs) and either adopt the new routes and rules for the next request, or close the connection.
     */
    private void onSnapshotChanged(SnapshotChanged changed) {
        if (closing) {
            return;
        }
        ListenerRuntime next = changed.snapshot().listenerOrNull(listener.name());
        X509Certificate[] chain = PeerChain.of(connection());
        if (chain == null) {
            // Handshake not finished: it completes under the context it started with.
            return;
        }
        if (next == null) {
            closeAfterReload(changed.grace(), "listener removed", null);
            return;
        }
        try {
            String bundle = next.verifier().verify(chain);
            ClientIdentity id = IdentityCache.shared().identity(chain[0], bundle);
            identity = id;
            connection().attr(ConnectionAttributes.IDENTITY).set(id);
            formatted = FormattedIdentity.of(connection(), id);
            if (exchangeActive) {
                nextListener = next;
            } else {
                listener = next;
            }
        } catch (ClientCertificateException e) {
            next.meters().closedOnReload(e.reason());
            closeAfterReload(changed.grace(), e.reason().label(), e.getMessage());
        }
    }

    private void closeAfterReload(Duration grace, String reason, String detail) {
        ACCESS.atInfo()
                .addKeyValue("listener", listener.name())
                .addKeyValue("remote", remoteIp)
                .addKeyValue("identity", identity == null ? "" : identity.displayName())
                .addKeyValue("decision", reason)
                .addKeyValue("detail", detail == null ? "" : detail)
                .log("connection closed after reload: client no longer accepted");
        draining = true;
        clientKeepAlive = false;
        if (!exchangeActive) {
            closeClient();
            return;
        }
        client.eventLoop().schedule(() -> {
            if (!closing) {
                closeClient();
            }
        }, grace.toMillis(), TimeUnit.MILLISECONDS);
    }

    @Override
    public void channelInactive(ChannelHandlerContext ctx) {
        if (state == State.CONNECTING && route != null) {
            // The client left while its request waited for a backend connection: leave the backend's queue.
            route.backend().cancel(this);
        }
        closing = true;
        releasePending();
        cancelResponseTimeout();
        if (responseTimeout != null) {
            responseTimeout.cancel(false);
            responseTimeout = null;
        }
        if (exchangeActive) {
            if (failure == null && !responseDone) {
                finishExchangeLine("client closed the connection");
            }
            exchangeActive = false;
        }
        discardUpstream();
        ctx.fireChannelInactive();
    }

    @Override
    public void exceptionCaught(ChannelHandlerContext ctx, Throwable cause) {
        LOG.debug("client connection error remote={} : {}", remoteIp, cause.toString());
        if (exchangeActive && !responseDone
                && Http2CodecUtil.getEmbeddedHttp2Exception(cause) instanceof Http2Exception.StreamException h2) {
            // The HTTP/2 codec refused this stream mid-exchange (a frame against the protocol, flow control or the
            // declared content-length): the request was malformed. The multiplexer resets the stream with the
            // codec's error code right after this; closing here would send CANCEL instead. (Refusals before a
            // request was delivered are counted by the connection's codec hook.)
            abortExchange(RejectReason.BAD_REQUEST, "HTTP/2 stream error " + h2.error() + ": " + h2.getMessage());
            closing = true;
            releasePending();
            return;
        }
        closeClient();
    }

    // ---------------------------------------------------------------- backend acquisition

    @Override
    public void acquired(BackendConnection connection) {
        if (closing || state != State.CONNECTING) {
            connection.backend().release(connection, true);
            return;
        }
        upstream = connection;
        connection.attach(this);
        state = State.STREAMING;
        // No promise per write: a failure reaches BackendConnection.exceptionCaught, which calls onBackendClosed.
        connection.channel().write(request, connection.channel().voidPromise());
        // Body chunks that arrived while connecting belong to this request; later ones wait for the next exchange.
        while (!pending.isEmpty() && !requestDone && state == State.STREAMING) {
            Object msg = pending.poll();
            if (msg instanceof HttpContent c && !(msg instanceof HttpRequest)) {
                onRequestContent(c);
            } else {
                // A new request head before this one's end cannot happen; put it back for after the exchange.
                pending.addFirst(msg);
                break;
            }
        }
        if (upstream != null && !requestDone) {
            // (A last chunk taken from pending above was written with its flush.)
            if (inClientRead) {
                // A pooled connection, handed over while the request head is being read: its last chunk (for a
                // GET, in the same read batch) flushes it, else channelReadComplete does. One flush per request
                // instead of two: a flush with nothing new still costs SslHandler a wrap and two promises.
                backendFlushPending = true;
            } else {
                upstream.channel().flush();
            }
        }
        updateClientReading();
        updateBackendReading();
    }

    @Override
    public boolean stillWaiting() {
        return !closing && state == State.CONNECTING;
    }

    @Override
    public void failed(RejectReason reason, Throwable cause) {
        if (closing || state != State.CONNECTING) {
            return;
        }
        if (reason == RejectReason.BACKEND_SATURATED) {
            // Expected under overload, and the backend logs it at most once per interval: no line per request.
            failExchange(reason, HttpResponseStatus.SERVICE_UNAVAILABLE);
            return;
        }
        List<String> groups = route.backend().config().tls().groups();
        LoggingEventBuilder line = LOG.atWarn()
                .addKeyValue("backend", route.backend().name())
                .addKeyValue("route", route.name())
                .addKeyValue("reason", reason.label())
                .addKeyValue("cause", String.valueOf(cause));
        if (reason == RejectReason.BACKEND_TLS_FAILED && !groups.isEmpty()) {
            // A backend sharing none of them answers with a bare handshake_failure alert: say what was offered.
            line = line.addKeyValue("groups", String.join(",", groups));
        }
        line.log("backend unavailable");
        failExchange(reason, reason == RejectReason.BACKEND_TIMEOUT
                ? HttpResponseStatus.GATEWAY_TIMEOUT : HttpResponseStatus.BAD_GATEWAY);
    }

    // ---------------------------------------------------------------- backend side

    @Override
    public void onResponse(HttpObject msg) {
        if (closing || upstream == null) {
            ReferenceCountUtil.release(msg);
            return;
        }
        if (responseDone) {
            // Bytes after the end of the response (a second response, garbage): never forward, never pool.
            ReferenceCountUtil.release(msg);
            backendReusable = false;
            return;
        }
        if (!(msg instanceof HttpResponse) && msg.decoderResult().isFailure()) {
            // A malformed chunk: the response is truncated; it must not end as if complete.
            ReferenceCountUtil.release(msg);
            onBackendClosed(msg.decoderResult().cause());
            return;
        }
        if (msg instanceof HttpResponse resp) {
            onResponseHead(resp);
            return;
        }
        if (msg instanceof HttpContent content) {
            boolean last = content instanceof LastHttpContent;
            if (interimResponse) {
                if (last) {
                    interimResponse = false;
                }
                if (http10) {
                    ReferenceCountUtil.release(content);
                } else {
                    client.writeAndFlush(content, client.voidPromise());
                }
                return;
            }
            if (last) {
                endResponse((LastHttpContent) content);
                return;
            }
            bytesOut += content.content().readableBytes();
            // Flushed when the backend's read batch completes: one TLS record and syscall per batch, not per
            // chunk. No promise per write: a failed write reaches exceptionCaught, which closes.
            client.write(content, client.voidPromise());
            updateBackendReading();
            return;
        }
        ReferenceCountUtil.release(msg);
    }

    /**
     * The response's last message (its last chunk, or a whole response: head and body in one message) goes out,
     * flushed; the exchange ends once it is written.
     */
    private void endResponse(LastHttpContent last) {
        bytesOut += last.content().readableBytes();
        responseDone = true;
        client.writeAndFlush(last).addListener(responseWritten);
        updateBackendReading();
    }

    private void onResponseHead(HttpResponse resp) {
        if (resp.decoderResult().isFailure()) {
            ReferenceCountUtil.release(resp);
            onBackendClosed(resp.decoderResult().cause());
            return;
        }
        int code = resp.status().code();
        if (code >= 100 && code < 200) {
            if (code == HttpResponseStatus.SWITCHING_PROTOCOLS.code()) {
                if (upgradeRequested && requestDone && UpgradeTunnel.isWebSocketResponse(resp)) {
                    switchToTunnel(resp);
                    return;
                }
                ReferenceCountUtil.release(resp);
                onBackendClosed(new IllegalStateException("backend switched protocols without being asked"));
                return;
            }
            // 100 Continue and friends: forward to HTTP/1.1 clients (RFC 9110 §15.2 forbids 1xx to HTTP/1.0
            // ones), then keep waiting for the final response. Its empty last chunk is swallowed likewise.
            interimResponse = true;
            if (http10) {
                ReferenceCountUtil.release(resp);
                return;
            }
            HopByHop.strip(resp.headers());
            client.write(resp, client.voidPromise());
            return;
        }
        cancelResponseTimeout();
        responseStarted = true;
        status = code;
        backendReusable = HttpUtil.isKeepAlive(resp);
        HttpHeaders headers = resp.headers();
        HopByHop.strip(headers);
        if (!headers.contains(HttpHeaderNames.DATE)) {
            headers.set(HttpHeaderNames.DATE, HttpDate.now()); // RFC 9110 §6.6.1
        }
        boolean chunked = HttpUtil.isTransferEncodingChunked(resp);
        if (!chunked && !HttpUtil.isContentLengthSet(resp) && mayHaveBody(code)) {
            // Delimited by the backend closing: the backend connection ends with it. Re-frame for the client.
            backendReusable = false;
            if (http10) {
                clientKeepAlive = false;
            } else {
                HttpUtil.setTransferEncodingChunked(resp, true);
            }
        } else if (chunked && http10) {
            // HTTP/1.0 has no chunked coding: send the raw body and mark its end by closing.
            headers.remove(HttpHeaderNames.TRANSFER_ENCODING);
            clientKeepAlive = false;
        }
        if (!requestDone) {
            // The backend answered before reading the whole request: finish the response, then close.
            clientKeepAlive = false;
        }
        if (!clientKeepAlive) {
            headers.set(HttpHeaderNames.CONNECTION, HttpHeaderValues.CLOSE);
        } else if (http10) {
            headers.set(HttpHeaderNames.CONNECTION, HttpHeaderValues.KEEP_ALIVE);
        }
        resp.setProtocolVersion(HttpVersion.HTTP_1_1);
        if (resp instanceof LastHttpContent whole) {
            // A small body that came with its head (ResponseDecoder): the whole response in one write.
            endResponse(whole);
            return;
        }
        client.write(resp, client.voidPromise());
    }

    private boolean mayHaveBody(int code) {
        return request.method() != HttpMethod.HEAD && code != 204 && code != 304;
    }

    @Override
    public void onBackendWritabilityChanged() {
        updateClientReading();
    }

    @Override
    public void onBackendClosed(Throwable cause) {
        BackendConnection u = upstream;
        if (u == null || responseDone) {
            return;
        }
        if (responseStarted) {
            LOG.atWarn()
                    .addKeyValue("backend", u.backend().name())
                    .addKeyValue("route", route.name())
                    .addKeyValue("cause", String.valueOf(cause))
                    .log("backend closed the connection mid-response");
            // The status and part of the body are out: the response can be neither completed nor replaced by a 502.
            abortExchange(RejectReason.BACKEND_RESPONSE_INCOMPLETE, cause == null ? "backend closed mid-response"
                    : "backend failed mid-response: " + cause);
            closeClient();
            return;
        }
        upstream = null;
        u.backend().release(u, false);
        cancelResponseTimeout();
        if (u.reused() && !retried && !requestHasBody && requestDone && isIdempotent(request.method())) {
            // A pooled connection the backend had already closed: the request never reached it. Retry once.
            retried = true;
            state = State.CONNECTING;
            requestDone = false;
            pending.addFirst(LastHttpContent.EMPTY_LAST_CONTENT);
            u.backend().acquire(client.eventLoop(), true, this);
            return;
        }
        LOG.atWarn()
                .addKeyValue("backend", u.backend().name())
                .addKeyValue("route", route.name())
                .addKeyValue("cause", String.valueOf(cause))
                .log("backend failed before responding");
        failExchange(RejectReason.BACKEND_PROTOCOL_ERROR, HttpResponseStatus.BAD_GATEWAY);
    }

    private static boolean isIdempotent(HttpMethod m) {
        return m == HttpMethod.GET || m == HttpMethod.HEAD || m == HttpMethod.OPTIONS || m == HttpMethod.PUT
                || m == HttpMethod.DELETE || m == HttpMethod.TRACE;
    }

    /**
     * Starts the response clock. The clock is a deadline, not a task per request: one task per connection stays
     * scheduled and, when it fires early (the deadline moved on with later requests), re-arms itself for the time
     * left. Scheduling and cancelling a task per request cost a heap insertion and removal and an allocation each.
     */
    private void scheduleResponseTimeout() {
        long nanos = route.backend().config().responseTimeout().toNanos();
        responseDeadline = System.nanoTime() + nanos;
        if (responseTimeout != null && responseTimerAt - responseDeadline > 0) {
            // The pending check comes too late for this route's (shorter) timeout.
            responseTimeout.cancel(false);
            responseTimeout = null;
        }
        if (responseTimeout == null) {
            armResponseTimeout(nanos);
        }
    }

    private void armResponseTimeout(long nanos) {
        responseTimerAt = System.nanoTime() + nanos;
        responseTimeout = client.eventLoop().schedule(responseTimeoutCheck, nanos, TimeUnit.NANOSECONDS);
    }

    private void checkResponseTimeout() {
        responseTimeout = null;
        if (responseDeadline == 0 || closing) {
            return;
        }
        long left = responseDeadline - System.nanoTime();
        if (left > 0) {
            armResponseTimeout(left);
            return;
        }
        responseDeadline = 0;
        if (!responseStarted && upstream != null) {
            BackendConnection u = upstream;
            upstream = null;
            u.backend().release(u, false);
            LOG.atWarn()
                    .addKeyValue("backend", u.backend().name())
                    .addKeyValue("route", route.name())
                    .addKeyValue("timeout_ms", route.backend().config().responseTimeout().toMillis())
                    .log("backend response timeout");
            failExchange(RejectReason.BACKEND_TIMEOUT, HttpResponseStatus.GATEWAY_TIMEOUT);
        }
    }

    /** Stops the response clock; the connection's check task, if scheduled, finds no deadline and ends. */
    private void cancelResponseTimeout() {
        responseDeadline = 0;
    }

    // ---------------------------------------------------------------- ending exchanges

    /** Answers the current request ourselves (before any backend was involved). */
    private void rejectLocally(HttpResponseStatus s, RejectReason reason, String detail) {
        if (reason == RejectReason.BAD_REQUEST) {
            // A malformed request may be an attempt to desynchronise request boundaries: never reuse the connection.
            clientKeepAlive = false;
        }
        countRejected(reason);
        failure = reason;
        if (decisionText == null) {
            decisionText = detail;
        }
        respondWithError(s);
    }

    /** A backend failure before the response started: answer 502/504 ourselves. */
    private void failExchange(RejectReason reason, HttpResponseStatus s) {
        route.meters().rejected(reason);
        failure = reason;
        respondWithError(s);
    }

    /**
     * Ends an exchange that cannot get a complete response (one has started, so no error response can replace it,
     * or its HTTP/2 stream is being reset): counted, one access-log line with the status and body bytes sent so far
     * and why, the backend connection discarded. The caller then closes the client connection (on HTTP/2: resets
     * the stream).
     */
    private void abortExchange(RejectReason reason, String detail) {
        if (exchangeActive) {
            countRejected(reason);
            failure = reason;
            decisionText = detail;
            clientKeepAlive = false;
            cancelResponseTimeout();
            finishExchangeLine(null);
            exchangeActive = false;
        }
        discardUpstream();
    }

    /** Gives up the backend connection of the exchange, if any, without pooling it (it may carry half an exchange). */
    private void discardUpstream() {
        BackendConnection u = upstream;
        if (u != null) {
            upstream = null;
            u.backend().release(u, false);
        }
    }

    /** Counts a rejection on the route, or on the listener when no route was chosen yet. */
    private void countRejected(RejectReason reason) {
        if (route != null) {
            route.meters().rejected(reason);
        } else {
            listener.meters().rejected(reason);
        }
    }

    /** Closes the client connection at once: a client that does not read would never let a flush complete. */
    private void closeClientNow() {
        closing = true;
        releasePending();
        client.close();
    }

    private void respondWithError(HttpResponseStatus s) {
        if (requestHasBody && !requestDone) {
            // Don't read an unknown amount of body we won't use: answer, then close.
            clientKeepAlive = false;
        }
        status = s.code();
        responseStarted = true;
        responseDone = true;
        state = State.DISCARDING;
        // Drop queued chunks of this request; keep anything after its end for the next exchange.
        while (!requestDone && !pending.isEmpty() && !(pending.peek() instanceof HttpRequest)) {
            Object msg = pending.poll();
            if (msg instanceof LastHttpContent) {
                requestDone = true;
            }
            ReferenceCountUtil.release(msg);
        }
        io.netty.handler.codec.http.FullHttpResponse error = ErrorResponses.of(client.alloc(), s, clientKeepAlive, http10);
        if (retryAfterSeconds > 0) {
            error.headers().set(HttpHeaderNames.RETRY_AFTER, retryAfterSeconds);
            retryAfterSeconds = 0;
        }
        client.writeAndFlush(error)
                .addListener(responseWritten);
        updateClientReading();
    }

    private void onResponseWritten() {
        if (!exchangeActive) {
            return;
        }
        if (!requestDone && state == State.STREAMING) {
            // The backend answered before reading the whole request; it may not expect another one.
            backendReusable = false;
        }
        maybeEndExchange();
    }

    /** Ends the exchange once both sides are complete, or as soon as the response is out when we close anyway. */
    private void maybeEndExchange() {
        if (exchangeActive && responseDone && (requestDone || !clientKeepAlive)) {
            endExchange();
        }
    }

    private void endExchange() {
        finishExchangeLine(null);
        cancelResponseTimeout();
        if (upstream != null) {
            BackendConnection u = upstream;
            upstream = null;
            u.backend().release(u, backendReusable && requestDone && responseDone);
        }
        exchangeActive = false;
        state = State.IDLE;
        request = null;
        route = null;
        if (!clientKeepAlive) {
            closeClient();
            return;
        }
        if (headTimeout != null) {
            headTimeout.awaitNextHead();
        }
        while (!pending.isEmpty() && !closing && !mustQueueAfterDrain()) {
            dispatch(pending.poll());
        }
        updateClientReading();
    }

    private boolean mustQueueAfterDrain() {
        return state == State.CONNECTING || (exchangeActive && requestDone);
    }

    private void closeClient() {
        if (closing) {
            return;
        }
        closing = true;
        releasePending();
        client.writeAndFlush(io.netty.buffer.Unpooled.EMPTY_BUFFER).addListener(ChannelFutureListener.CLOSE);
    }

    private void releasePending() {
        Object msg;
        while ((msg = pending.poll()) != null) {
            ReferenceCountUtil.release(msg);
        }
    }

    // ---------------------------------------------------------------- backpressure

    private void updateClientReading() {
        // Reading goes on after the request is complete: a client that waits for the response sends nothing, and
        // stopping and restarting reads would cost two epoll_ctl calls per request. What a client pipelines
        // meanwhile lands in pending, and that stops reading until the exchange ends.
        boolean want = !closing
                && pending.isEmpty()
                && state != State.CONNECTING
                && (upstream == null || state != State.STREAMING || upstream.channel().isWritable());
        if (client.config().isAutoRead() != want) {
            client.config().setAutoRead(want);
        }
    }

    private void updateBackendReading() {
        BackendConnection u = upstream;
        if (u == null) {
            return;
        }
        boolean want = client.isWritable();
        if (u.channel().config().isAutoRead() != want) {
            u.channel().config().setAutoRead(want);
        }
    }

    // ---------------------------------------------------------------- logging

    /**
     * The end of an exchange, however it ended (completed, rejected by us, cut short, abandoned by the client):
     * counted in the route's requests and request duration with the status and duration its access-log line
     * gives, then that one line written. Every exchange ends here exactly once, so the requests count and the
     * access log agree (an exchange without a route, e.g. {@code no_route}, is counted on the listener's
     * rejections only, as it has no route tag).
     */
    private void finishExchangeLine(String note) {
        long nanos = System.nanoTime() - startNanos;
        if (route != null) {
            route.meters().completed(status, nanos);
        }
        logAccess(note, nanos);
    }

    private void logAccess(String note, long nanos) {
        listener.meters().bytes(bytesIn, bytesOut);
        if (!ACCESS.isInfoEnabled()) {
            return;
        }
        // Read once per connection by the handshake stage; HTTP/2 streams share their connection's.
        ConnectionAttributes.TlsFacts tls = ConnectionAttributes.TlsFacts.of(connection());
        LoggingEventBuilder line = ACCESS.atInfo()
                .addKeyValue("listener", listener.name())
                .addKeyValue("remote", remoteIp)
                .addKeyValue("tls", tls.protocol())
                .addKeyValue("cipher", tls.cipher())
                .addKeyValue("http", client instanceof Http2StreamChannel ? "h2" : "http/1.1")
                .addKeyValue("identity", identity == null ? "" : identity.displayName())
                .addKeyValue("method", request == null ? "" : request.method().name())
                .addKeyValue("path", logPath == null ? "" : logPath)
                .addKeyValue("route", route == null ? "" : route.name())
                .addKeyValue("decision", failure == null ? "allowed" : failure.label())
                .addKeyValue("detail", decisionText == null ? "" : decisionText);
        if (shadowDecision != null) {
            line = line.addKeyValue("shadow", ShadowRules.label(shadowDecision))
                    .addKeyValue("shadow_rule", shadowDecision.allowed() ? shadowDecision.rule() : "");
        }
        line.addKeyValue("status", status)
                .addKeyValue("bytes_in", bytesIn)
                .addKeyValue("bytes_out", bytesOut)
                .addKeyValue("upstream", upstream == null ? "" : upstream.endpoint().toString())
                .addKeyValue("handshake_ms", tls.handshakeMillis())
                .addKeyValue("duration_ms", nanos / 1_000_000.0)
                .log(note == null ? "request" : note);
    }
}
