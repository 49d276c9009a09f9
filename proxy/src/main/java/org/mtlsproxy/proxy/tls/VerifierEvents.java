package org.mtlsproxy.proxy.tls;

import java.time.Instant;
import java.util.Optional;

/**
 * What {@link ClientCertificateVerifier} reports about its CRLs, so that metrics can be kept without the verifier
 * knowing about them. Implementations must be thread-safe and quick: {@link #staleCrlAccepted} runs inside TLS
 * handshakes on event-loop threads.
 */
public interface VerifierEvents {

    /** Reports nothing. */
    VerifierEvents NONE = new VerifierEvents() {
    };

    /**
     * The CRL that decides freshness for {@code issuer} in {@code bundle} (of those configured for that issuer,
     * the one with the latest nextUpdate), reported once when the verifier is built.
     *
     * @param bundle     the trust bundle name
     * @param issuer     the CRL issuer's distinguished name in RFC 2253 form
     * @param thisUpdate when the CRL was issued
     * @param nextUpdate when the next CRL is due; empty when the CRL gives none (never stale)
     */
    default void crlLoaded(String bundle, String issuer, Instant thisUpdate, Optional<Instant> nextUpdate) {
    }

    /**
     * {@code bundle} accepted a client chain although a CRL it relied on is past its nextUpdate (soft-fail, within
     * the grace period). Reported once per accepted chain.
     */
    default void staleCrlAccepted(String bundle) {
    }
}
