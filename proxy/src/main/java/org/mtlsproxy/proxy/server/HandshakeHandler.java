package org.mtlsproxy.proxy.server;

import static java.util.Objects.requireNonNull;

import io.netty.channel.ChannelHandlerContext;
import io.netty.channel.ChannelInboundHandlerAdapter;
import io.netty.handler.codec.DecoderException;
import io.netty.handler.ssl.ApplicationProtocolNames;
import io.netty.handler.ssl.NotSslRecordException;
import io.netty.handler.ssl.OpenSslSession;
import io.netty.handler.ssl.SslHandler;
import io.netty.handler.ssl.SslHandshakeCompletionEvent;
import io.netty.handler.ssl.SslHandshakeTimeoutException;
import java.nio.channels.ClosedChannelException;
import java.security.cert.Certificate;
import java.security.cert.X509Certificate;
import java.util.List;
import java.util.Locale;
import javax.net.ssl.SSLPeerUnverifiedException;
import javax.net.ssl.SSLSession;
import org.mtlsproxy.proxy.RejectReason;
import org.mtlsproxy.proxy.http.ConnectionAttributes;
import org.mtlsproxy.proxy.identity.ClientIdentity;
import org.mtlsproxy.proxy.identity.IdentityCache;
import org.mtlsproxy.proxy.metrics.ExpiryWarnings;
import org.mtlsproxy.proxy.metrics.ProxyMetrics.ListenerMeters;
import org.mtlsproxy.proxy.tls.ClientCertificateException;
import org.mtlsproxy.proxy.tls.ClientCertificateVerifier;
import org.mtlsproxy.proxy.tls.PeerChain;
import org.mtlsproxy.proxy.tls.PendingTickets;
import org.mtlsproxy.proxy.tls.Resumption;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Turns the end of the client TLS handshake into either a {@link ClientIdentity} on the channel (then removes
 * itself) or one log line and one counted reason, and a closed connection. Nothing after this stage runs for a
 * client whose certificate did not verify: the HTTP codec only ever sees decrypted bytes of verified clients.
 *
 * <p>On an HTTP listener a client that agreed on no protocol the listener enables (no ALPN, or only
 * {@code http/1.1}, on an {@code h2}-only listener) is refused here too, as {@code no_application_protocol}: RFC 7301
 * §3.2 makes that a handshake failure, but BoringSSL through Netty can only leave ALPN unanswered
 * ({@code NO_ADVERTISE}), so the handshake completes and the connection is closed right after it.
 */
final class HandshakeHandler extends ChannelInboundHandlerAdapter {

    private static final Logger LOG = LoggerFactory.getLogger(HandshakeHandler.class);
    /** Rejected handshakes go to the access log: one line each, like a refused request. */
    private static final Logger ACCESS = LoggerFactory.getLogger("mtls_proxy.access");

    private final String listener;
    private final ListenerMeters meters;
    private final ClientCertificateVerifier verifier;
    private final ExpiryWarnings expiryWarnings;
    private final java.time.Duration clientWarnBefore;
    /** The application protocols of an HTTP listener; null for a tcp listener (no ALPN). */
    private final List<String> protocols;
    private long startNanos;
    private boolean done;

    /** @param protocols the ALPN protocols an HTTP listener enables; null for a tcp listener */
    HandshakeHandler(String listener, ListenerMeters meters, ClientCertificateVerifier verifier,
            ExpiryWarnings expiryWarnings, java.time.Duration clientWarnBefore, List<String> protocols) {
        this.listener = requireNonNull(listener, "listener");
        this.meters = requireNonNull(meters, "meters");
        this.verifier = requireNonNull(verifier, "verifier");
        this.expiryWarnings = requireNonNull(expiryWarnings, "expiryWarnings");
        this.clientWarnBefore = requireNonNull(clientWarnBefore, "clientWarnBefore");
        this.protocols = protocols;
    }

    @Override
    public void handlerAdded(ChannelHandlerContext ctx) {
        startNanos = System.nanoTime();
    }

    @Override
    public void userEventTriggered(ChannelHandlerContext ctx, Object evt) {
        if (!(evt instanceof SslHandshakeCompletionEvent event)) {
            ctx.fireUserEventTriggered(evt);
            return;
        }
        done = true;
        long nanos = System.nanoTime() - startNanos;
        if (event.isSuccess()) {
            succeeded(ctx, nanos);
        } else {
            failed(ctx, event.cause(), nanos);
        }
    }

    private void succeeded(ChannelHandlerContext ctx, long nanos) {
        SslHandler ssl = ctx.pipeline().get(SslHandler.class);
        SSLSession session = ssl.engine().getSession();
        X509Certificate leaf;
        try {
            Certificate[] peer = session.getPeerCertificates();
            leaf = (X509Certificate) peer[0];
        } catch (SSLPeerUnverifiedException | RuntimeException e) {
            // Client auth is REQUIRED, so this means the TLS layer let through what it must not: fail closed.
            failed(ctx, new ClientCertificateExceptionHolder(e), nanos);
            return;
        }
        // A full handshake ran the verifier, which named its trust bundle in the session. A resumed one did not:
        // the chain was verified when the session began, possibly by another replica (shared ticket keys), before
        // a reload, or long enough ago for the certificate to have expired. Verify it again against this listener's
        // current trust bundles and CRLs (a remembered verification makes that cheap), which also names the bundle.
        Object bundle = session.getValue(ClientCertificateVerifier.BUNDLE_SESSION_KEY);
        boolean resumed = Resumption.isResumed(ssl.engine()) || !(bundle instanceof String);
        if (resumed) {
            try {
                bundle = verifier.verify(PeerChain.of(ctx.channel()));
            } catch (ClientCertificateException e) {
                failed(ctx, e, nanos);
                return;
            }
        }
        if (protocols != null) {
            // No ALPN agreed means HTTP/1.1 (ProtocolSelector's fallback).
            String alpn = ssl.applicationProtocol();
            String protocol = alpn == null ? ApplicationProtocolNames.HTTP_1_1 : alpn;
            if (!protocols.contains(protocol)) {
                reject(ctx, RejectReason.NO_APPLICATION_PROTOCOL, leaf.getSubjectX500Principal().getName(),
                        (alpn == null ? "no ALPN protocol agreed (HTTP/1.1)" : "ALPN agreed on " + alpn)
                                + "; the listener enables " + protocols, nanos);
                return;
            }
        }
        ClientIdentity identity = IdentityCache.shared().identity(leaf, bundle instanceof String s ? s : "");
        ctx.channel().attr(ConnectionAttributes.IDENTITY).set(identity);
        ctx.channel().attr(ConnectionAttributes.TLS).set(new ConnectionAttributes.TlsFacts(session.getProtocol(),
                session.getCipherSuite(), nanos));
        meters.handshakeSucceeded(session.getProtocol(), nanos);
        if (resumed) {
            meters.handshakeResumed();
        }
        expiryWarnings.clientSeen(listener, identity, clientWarnBefore, java.time.Instant.now());
        if (LOG.isDebugEnabled()) {
            LOG.debug("handshake ok listener={} remote={} identity={} protocol={} cipher={} group={} resumed={}",
                    listener, ctx.channel().remoteAddress(), identity.displayName(), session.getProtocol(),
                    session.getCipherSuite(), session instanceof OpenSslSession s ? s.getNamedGroup() : null,
                    resumed);
        }
        // Without this, a client that does not set TCP_NODELAY waited ~40 ms before its first request (see there).
        PendingTickets.send(ctx, ssl);
        ctx.pipeline().remove(this);
        ctx.fireUserEventTriggered(SslHandshakeCompletionEvent.SUCCESS);
    }

    private void failed(ChannelHandlerContext ctx, Throwable cause, long nanos) {
        RejectReason reason = classify(cause);
        ClientCertificateException cert = find(cause, ClientCertificateException.class);
        if (reason == RejectReason.HANDSHAKE_ABORTED) {
            meters.handshakeFailed(reason, nanos);
            LOG.debug("handshake aborted by client listener={} remote={}", listener, ctx.channel().remoteAddress());
            ctx.close();
            return;
        }
        reject(ctx, reason, cert == null || cert.subject() == null ? "" : cert.subject(),
                cert == null ? rootMessage(cause) : cert.getMessage(), nanos);
    }

    /** Counts and logs a refused handshake, then closes the connection. */
    private void reject(ChannelHandlerContext ctx, RejectReason reason, String subject, String detail, long nanos) {
        meters.handshakeFailed(reason, nanos);
        ACCESS.atInfo()
                .addKeyValue("listener", listener)
                .addKeyValue("remote", ConnectionAttributes.remoteIp(ctx.channel()))
                .addKeyValue("decision", reason.label())
                .addKeyValue("subject", subject)
                .addKeyValue("detail", detail)
                .addKeyValue("handshake_ms", nanos / 1_000_000.0)
                .log("handshake rejected");
        ctx.close();
    }

    /** Maps a handshake failure to the reason vocabulary. */
    static RejectReason classify(Throwable cause) {
        ClientCertificateException cert = find(cause, ClientCertificateException.class);
        if (cert != null) {
            return cert.reason();
        }
        if (find(cause, SslHandshakeTimeoutException.class) != null) {
            return RejectReason.HANDSHAKE_TIMEOUT;
        }
        if (find(cause, ClosedChannelException.class) != null) {
            return RejectReason.HANDSHAKE_ABORTED;
        }
        if (find(cause, NotSslRecordException.class) != null) {
            return RejectReason.HANDSHAKE_ERROR;
        }
        for (Throwable t = cause; t != null; t = t.getCause()) {
            String m = String.valueOf(t.getMessage()).toUpperCase(Locale.ROOT);
            // BoringSSL: PEER_DID_NOT_RETURN_A_CERTIFICATE / CERTIFICATE_REQUIRED; JDK: "Empty client certificate
            // chain" and "null cert chain".
            if (m.contains("PEER_DID_NOT_RETURN_A_CERTIFICATE") || m.contains("CERTIFICATE_REQUIRED")
                    || m.contains("EMPTY CLIENT CERTIFICATE CHAIN") || m.contains("NULL CERT CHAIN")) {
                return RejectReason.NO_CLIENT_CERT;
            }
            if (m.contains("CONNECTION RESET") || m.contains("BROKEN PIPE")) {
                return RejectReason.HANDSHAKE_ABORTED;
            }
        }
        return RejectReason.HANDSHAKE_ERROR;
    }

    private static <T extends Throwable> T find(Throwable t, Class<T> type) {
        for (Throwable c = t; c != null; c = c.getCause()) {
            if (type.isInstance(c)) {
                return type.cast(c);
            }
            for (Throwable s : c.getSuppressed()) {
                if (type.isInstance(s)) {
                    return type.cast(s);
                }
            }
        }
        return null;
    }

    private static String rootMessage(Throwable t) {
        Throwable c = t;
        while (c.getCause() != null && c.getCause() != c) {
            c = c.getCause();
        }
        return c.getClass().getSimpleName() + ": " + c.getMessage();
    }

    @Override
    public void exceptionCaught(ChannelHandlerContext ctx, Throwable cause) {
        if (!done) {
            // SslHandler reports the same failure as a handshake completion event, which counts it; here it is
            // only swallowed so it does not reach the tail of the pipeline.
            if (!(cause instanceof DecoderException) && !(cause instanceof javax.net.ssl.SSLException)) {
                LOG.debug("error during handshake listener={} remote={} : {}", listener,
                        ctx.channel().remoteAddress(), cause.toString());
            }
            ctx.close();
            return;
        }
        ctx.fireExceptionCaught(cause);
    }

    /** Wraps an unexpected missing-peer-certificate condition so it classifies as NO_CLIENT_CERT. */
    private static final class ClientCertificateExceptionHolder extends Exception {
        ClientCertificateExceptionHolder(Throwable cause) {
            super("PEER_DID_NOT_RETURN_A_CERTIFICATE: " + cause.getMessage(), cause);
        }
    }
}
