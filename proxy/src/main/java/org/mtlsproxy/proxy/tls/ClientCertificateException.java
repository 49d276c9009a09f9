package org.mtlsproxy.proxy.tls;

import static java.util.Objects.requireNonNull;

import java.security.cert.CertificateException;
import org.mtlsproxy.proxy.RejectReason;

/**
 * Thrown by {@link ClientCertificateVerifier} when a client chain is refused. Carries the reason from our vocabulary
 * and the subject of the leaf, so the handshake handler can log and count it without re-parsing anything.
 */
public final class ClientCertificateException extends CertificateException {

    private final RejectReason reason;
    private final String subject;
    private final String detail;

    ClientCertificateException(RejectReason reason, String subject, String detail) {
        super(reason.label() + ": " + detail);
        this.reason = requireNonNull(reason, "reason");
        this.subject = subject;
        this.detail = detail;
    }

    /** What exactly failed, for a person, without the reason label the message starts with. */
    public String detail() {
        return detail;
    }

    public RejectReason reason() {
        return reason;
    }

    /** The RFC 2253 subject of the client leaf, or null when the client sent none. */
    public String subject() {
        return subject;
    }
}
