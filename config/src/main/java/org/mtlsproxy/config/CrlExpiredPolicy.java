package org.mtlsproxy.config;

import java.util.Optional;

/** What a client trust bundle does with a certificate whose issuer's CRL is past its nextUpdate. */
public enum CrlExpiredPolicy {
    /** Refuse the client: revocation status is unknown, so the answer is no. */
    HARD_FAIL("hard-fail"),
    /**
     * Accept the client (still applying the revocations the stale CRL lists) until nextUpdate plus the bundle's
     * grace period, warning and counting each acceptance; refuse after that.
     */
    SOFT_FAIL("soft-fail");

    private final String label;

    CrlExpiredPolicy(String label) {
        this.label = label;
    }

    /** The configuration spelling, e.g. {@code hard-fail}. */
    public String label() {
        return label;
    }

    /** The policy spelled {@code label}, or empty. */
    static Optional<CrlExpiredPolicy> of(String label) {
        for (CrlExpiredPolicy p : values()) {
            if (p.label.equals(label)) {
                return Optional.of(p);
            }
        }
        return Optional.empty();
    }

    @Override
    public String toString() {
        return label;
    }
}
