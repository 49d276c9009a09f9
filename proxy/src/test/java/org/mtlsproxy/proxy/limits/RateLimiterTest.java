package org.mtlsproxy.proxy.limits;

import static org.assertj.core.api.Assertions.assertThat;

import org.junit.jupiter.api.Test;
import org.mtlsproxy.config.RouteLimitsConfig.RateLimitConfig;

class RateLimiterTest {

    private static final long SECOND = 1_000_000_000L;

    @Test
    void burstThenSustainedRate() {
        RateLimiter limiter = new RateLimiter(new RateLimitConfig(2, 3, 100), 0);
        assertThat(limiter.tryAcquire("a", 0)).isZero();
        assertThat(limiter.tryAcquire("a", 0)).isZero();
        assertThat(limiter.tryAcquire("a", 0)).isZero();
        long wait = limiter.tryAcquire("a", 0);
        assertThat(wait).isEqualTo(SECOND / 2);
        assertThat(limiter.tryAcquire("a", SECOND / 2)).isZero();
        assertThat(limiter.tryAcquire("a", SECOND / 2)).isPositive();
    }

    @Test
    void identitiesHaveTheirOwnBuckets() {
        RateLimiter limiter = new RateLimiter(new RateLimitConfig(1, 1, 100), 0);
        assertThat(limiter.tryAcquire("a", 0)).isZero();
        assertThat(limiter.tryAcquire("a", 0)).isPositive();
        assertThat(limiter.tryAcquire("b", 0)).isZero();
    }

    @Test
    void refilledBucketsAreSweptAndNewcomersBeyondTheCapShareOneBucket() {
        RateLimiter limiter = new RateLimiter(new RateLimitConfig(1, 1, 2), 0);
        assertThat(limiter.tryAcquire("a", 0)).isZero();
        assertThat(limiter.tryAcquire("b", 0)).isZero();
        // Cap reached: c and d share the overflow bucket (burst 1).
        assertThat(limiter.tryAcquire("c", 0)).isZero();
        assertThat(limiter.tryAcquire("d", 0)).isPositive();
        assertThat(limiter.trackedIdentities()).isEqualTo(2);

        // Two seconds later a and b have refilled: the sweep drops them and e gets its own bucket.
        assertThat(limiter.tryAcquire("e", 2 * SECOND)).isZero();
        assertThat(limiter.trackedIdentities()).isEqualTo(1);
    }
}
