package org.mtlsproxy.proxy.pki;

import static java.util.Objects.requireNonNull;

import java.math.BigInteger;
import java.time.Instant;
import java.util.Optional;

/**
 * One leaf the PKI issued, as recorded in {@code pki.json}.
 *
 * @param serial    the certificate serial number
 * @param kind      server or client
 * @param name      the file name stem it was written under
 * @param subject   the subject DN (RFC 2253)
 * @param notBefore start of validity
 * @param notAfter  end of validity
 * @param revokedAt when it was revoked; empty while not revoked
 * @param reason    why; present exactly when {@code revokedAt} is
 */
public record CertificateEntry(BigInteger serial, LeafRequest.Kind kind, String name, String subject,
        Instant notBefore, Instant notAfter, Optional<Instant> revokedAt, Optional<RevocationReason> reason) {

    public CertificateEntry {
        requireNonNull(serial, "serial");
        requireNonNull(kind, "kind");
        requireNonNull(name, "name");
        requireNonNull(subject, "subject");
        requireNonNull(notBefore, "notBefore");
        requireNonNull(notAfter, "notAfter");
        requireNonNull(revokedAt, "revokedAt");
        requireNonNull(reason, "reason");
        if (revokedAt.isPresent() != reason.isPresent()) {
            throw new IllegalArgumentException("serial " + serial.toString(16)
                    + ": revoked-at and revocation-reason go together");
        }
    }

    public boolean revoked() {
        return revokedAt.isPresent();
    }

    CertificateEntry revoke(Instant at, RevocationReason why) {
        return new CertificateEntry(serial, kind, name, subject, notBefore, notAfter, Optional.of(at),
                Optional.of(why));
    }

    /** The serial as the CLI prints and accepts it: lower-case hex, the form the proxy's logs use too. */
    public String serialHex() {
        return serial.toString(16);
    }
}
