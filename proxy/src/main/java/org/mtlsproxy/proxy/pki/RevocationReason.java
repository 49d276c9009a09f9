package org.mtlsproxy.proxy.pki;

import java.util.Arrays;
import java.util.Locale;
import java.util.stream.Collectors;
import org.bouncycastle.asn1.x509.CRLReason;

/**
 * The CRL reason codes of RFC 5280 section 5.3.1 that apply to a leaf. {@code certificateHold} is left out: this
 * PKI has no way to take a revocation back.
 */
public enum RevocationReason {
    UNSPECIFIED("unspecified", CRLReason.unspecified),
    KEY_COMPROMISE("key-compromise", CRLReason.keyCompromise),
    AFFILIATION_CHANGED("affiliation-changed", CRLReason.affiliationChanged),
    SUPERSEDED("superseded", CRLReason.superseded),
    CESSATION_OF_OPERATION("cessation-of-operation", CRLReason.cessationOfOperation),
    PRIVILEGE_WITHDRAWN("privilege-withdrawn", CRLReason.privilegeWithdrawn);

    private final String label;
    private final int code;

    RevocationReason(String label, int code) {
        this.label = label;
        this.code = code;
    }

    public String label() {
        return label;
    }

    /** The reasonCode value written into the CRL entry. */
    public int code() {
        return code;
    }

    /**
     * Parses a label such as {@code key-compromise} (case-insensitive; {@code _} works as {@code -}).
     *
     * @throws PkiException naming the accepted labels
     */
    public static RevocationReason parse(String label) throws PkiException {
        String l = label.toLowerCase(Locale.ROOT).replace('_', '-');
        for (RevocationReason r : values()) {
            if (r.label.equals(l)) {
                return r;
            }
        }
        throw new PkiException("revocation reason \"" + label + "\" (expected one of: " + labels() + ")");
    }

    static String labels() {
        return Arrays.stream(values()).map(RevocationReason::label).collect(Collectors.joining(", "));
    }
}
