package org.mtlsproxy.proxy.server;

import static java.util.Objects.requireNonNull;

import io.netty.channel.ChannelHandlerContext;
import io.netty.channel.ChannelInboundHandlerAdapter;
import io.netty.handler.codec.DecoderException;
import io.netty.handler.ssl.NotSslRecordException;
import io.netty.handler.ssl.OpenSslSession;
import io.netty.handler.ssl.SslHandler;
import io.netty.handler.ssl.SslHandshakeCompletionEvent;
import io.netty.handler.ssl.SslHandshakeTimeoutException;
import java.nio.channels.ClosedChannelException;
import java.security.cert.Certificate;
import java.security.cert.X509Certificate;
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
import org.mtlsproxy.proxy.tls.Resumption;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Turns the end of the client TLS handshake into either a {@link ClientIdentity} on the channel (then removes
 * itself) or one log line and one counted reason, and a closed connection. Nothing after this stage runs for a
 * client whose certificate did not verify: the HTTP codec only ever sees decrypted bytes of verified clients.
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
    private long startNanos;
    private boolean done;

    HandshakeHandler(String listener, ListenerMeters meters, ClientCertificateVerifier verifier,
            ExpiryWarnings expiryWarnings, java.time.Duration clientWarnBefore) {
        this.listener = requireNonNull(listener, "listener");
        this.meters = requireNonNull(meters, "meters");
        this.verifier = requireNonNull(verifier, "verifier");
        this.expiryWarnings = requireNonNull(expiryWarnings, "expiryWarnings");
        this.clientWarnBefore = requireNonNull(clientWarnBefore, "clientWarnBefore");
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
        ClientIdentity identity = IdentityCache.shared().identity(leaf, bundle instanceof String s ? s : "");
        ctx.channel().attr(ConnectionAttributes.IDENTITY).set(identity);
        ctx.channel().attr(ConnectionAttributes.HANDSHAKE_NANOS).set(nanos);
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
        ctx.pipeline().remove(this);
        ctx.fireUserEventTriggered(SslHandshakeCompletionEvent.SUCCESS);
    }

    private void failed(ChannelHandlerContext ctx, Throwable cause, long nanos) {
        RejectReason reason = classify(cause);
        ClientCertificateException cert = find(cause, ClientCertificateException.class);
        meters.handshakeFailed(reason, nanos);
        if (reason == RejectReason.HANDSHAKE_ABORTED) {
            LOG.debug("handshake aborted by client listener={} remote={}", listener, ctx.channel().remoteAddress());
        } else {
            ACCESS.atInfo()
                    .addKeyValue("listener", listener)
                    .addKeyValue("remote", ConnectionAttributes.remoteIp(ctx.channel()))
                    .addKeyValue("decision", reason.label())
                    .addKeyValue("subject", cert == null || cert.subject() == null ? "" : cert.subject())
                    .addKeyValue("detail", cert == null ? rootMessage(cause) : cert.getMessage())
                    .addKeyValue("handshake_ms", nanos / 1_000_000.0)
                    .log("handshake rejected");
        }
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
