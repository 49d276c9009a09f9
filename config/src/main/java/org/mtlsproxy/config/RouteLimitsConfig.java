package org.mtlsproxy.config;

import static java.util.Objects.requireNonNull;

import java.util.Optional;

/**
 * Per-route request limits.
 *
 * @param maxRequestBodySize a request body larger than this many bytes is refused with 413
 * @param rateLimit          per-identity request rate, when enabled
 */
public record RouteLimitsConfig(long maxRequestBodySize, Optional<RateLimitConfig> rateLimit) {

    public RouteLimitsConfig {
        requireNonNull(rateLimit, "rateLimit");
        if (maxRequestBodySize < 0) {
            throw new IllegalArgumentException("maxRequestBodySize must not be negative");
        }
    }

    /**
     * A token bucket per client identity.
     *
     * @param requestsPerSecond sustained rate
     * @param burst             bucket size: requests allowed at once after a quiet period
     * @param maxIdentities     identities tracked at once; beyond, new identities share one bucket
     */
    public record RateLimitConfig(double requestsPerSecond, int burst, int maxIdentities) {

        public RateLimitConfig {
            if (requestsPerSecond <= 0 || burst < 1 || maxIdentities < 1) {
                throw new IllegalArgumentException("rate limit values must be positive");
            }
        }
    }
}
