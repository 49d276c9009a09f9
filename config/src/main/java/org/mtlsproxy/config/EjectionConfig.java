package org.mtlsproxy.config;

import static java.util.Objects.requireNonNull;

import java.time.Duration;

/**
 * Passive health checking of a backend's endpoints (outlier ejection, as Envoy calls it).
 *
 * @param consecutiveFailures network-level failures in a row that eject an endpoint; 0 disables ejection
 * @param baseTime            how long the first ejection lasts; each further ejection without a success in
 *                            between lasts twice as long as the previous one
 * @param maxTime             cap on the ejection time
 * @param maxEjectedPercent   at most this share of the endpoints is ejected at once (at least one endpoint may
 *                            always be ejected, the last one never)
 */
public record EjectionConfig(int consecutiveFailures, Duration baseTime, Duration maxTime, int maxEjectedPercent) {

    public EjectionConfig {
        requireNonNull(baseTime, "baseTime");
        requireNonNull(maxTime, "maxTime");
        if (consecutiveFailures < 0) {
            throw new IllegalArgumentException("consecutiveFailures must be >= 0");
        }
        if (maxEjectedPercent < 0 || maxEjectedPercent > 100) {
            throw new IllegalArgumentException("maxEjectedPercent must be in 0..100");
        }
    }

    /** False when {@code consecutive-failures = 0}. */
    public boolean enabled() {
        return consecutiveFailures > 0;
    }
}
