package org.mtlsproxy.proxy.limits;

import static java.util.Objects.requireNonNull;

import java.util.Iterator;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.atomic.AtomicLong;
import org.mtlsproxy.config.RouteLimitsConfig.RateLimitConfig;

/**
 * A token bucket per client identity. Memory stays bounded: a bucket that has refilled completely is
 * indistinguishable from a new one, so sweeps drop those; if more than {@code maxIdentities} are active at once,
 * newcomers share one overflow bucket (they are limited together rather than not at all).
 *
 * <p>Thread-safe; each bucket is a small synchronized object, touched once per request.
 */
public final class RateLimiter {

    private static final long SWEEP_INTERVAL_NANOS = 1_000_000_000L;

    private final RateLimitConfig config;
    private final double tokensPerNano;
    private final double burst;
    private final int maxIdentities;
    private final Map<String, Bucket> buckets = new ConcurrentHashMap<>();
    private final Bucket overflow;
    private final AtomicLong lastSweep = new AtomicLong();

    public RateLimiter(RateLimitConfig config, long nowNanos) {
        this.config = requireNonNull(config, "config");
        this.tokensPerNano = config.requestsPerSecond() / 1e9;
        this.burst = config.burst();
        this.maxIdentities = config.maxIdentities();
        this.overflow = new Bucket(burst, nowNanos);
        this.lastSweep.set(nowNanos);
    }

    /** The limit this limiter enforces: a reload with the same limit keeps the limiter, and its buckets. */
    public RateLimitConfig config() {
        return config;
    }

    /**
     * Takes one token for {@code identity}.
     *
     * @return 0 when the request may proceed, else the nanoseconds until a token will be available
     */
    public long tryAcquire(String identity, long nowNanos) {
        Bucket b = buckets.get(identity);
        if (b == null) {
            sweepIfDue(nowNanos);
            b = buckets.size() >= maxIdentities ? overflow
                    : buckets.computeIfAbsent(identity, k -> new Bucket(burst, nowNanos));
        }
        return b.take(nowNanos, tokensPerNano, burst);
    }

    /** Identities currently tracked (for tests and metrics). */
    public int trackedIdentities() {
        return buckets.size();
    }

    private void sweepIfDue(long nowNanos) {
        long last = lastSweep.get();
        if (nowNanos - last < SWEEP_INTERVAL_NANOS || !lastSweep.compareAndSet(last, nowNanos)) {
            return;
        }
        for (Iterator<Bucket> it = buckets.values().iterator(); it.hasNext(); ) {
            if (it.next().isFull(nowNanos, tokensPerNano, burst)) {
                it.remove();
            }
        }
    }

    private static final class Bucket {
        private double tokens;
        private long updated;

        Bucket(double tokens, long now) {
            this.tokens = tokens;
            this.updated = now;
        }

        synchronized long take(long now, double perNano, double burst) {
            refill(now, perNano, burst);
            if (tokens >= 1) {
                tokens -= 1;
                return 0;
            }
            return Math.max(1, (long) Math.ceil((1 - tokens) / perNano));
        }

        synchronized boolean isFull(long now, double perNano, double burst) {
            refill(now, perNano, burst);
            return tokens >= burst;
        }

        private void refill(long now, double perNano, double burst) {
            long elapsed = now - updated;
            if (elapsed > 0) {
                tokens = Math.min(burst, tokens + elapsed * perNano);
                updated = now;
            }
        }
    }
}
