package org.mtlsproxy.proxy.upstream;

import static java.util.Objects.requireNonNull;

import java.util.concurrent.atomic.AtomicIntegerArray;
import java.util.concurrent.atomic.AtomicLongArray;
import java.util.function.LongSupplier;
import org.mtlsproxy.config.EjectionConfig;

/**
 * Passive health of one backend's endpoints (outlier ejection): network-level failures in a row eject an endpoint
 * for a time that doubles with each ejection not separated by a success, capped; at most a share of the endpoints
 * is out at once, never the last one in rotation. Shared by every event loop: the per-request calls
 * ({@link #available}, {@link #recordSuccess}, {@link #recordFailure} below the threshold) take no lock; ejecting
 * and returning an endpoint, which are rare, synchronize on this object. No Netty: the caller schedules a
 * {@link #refresh()} at the returned ejection end so that returns are logged on time; {@link #refresh()} also runs
 * before each endpoint choice, so a missed timer never keeps an endpoint out.
 */
final class EndpointHealth {

    /** What the owner logs and counts. Called with this object's lock held: keep it short, never call back. */
    interface Events {
        void ejected(int endpoint, long ejectionNanos, int consecutiveFailures, int ejections);

        void returned(int endpoint);

        void ejectionRefused(int endpoint, int ejectedNow);
    }

    private final int size;
    private final EjectionConfig config;
    private final LongSupplier nanoClock;
    private final Events events;
    private final int maxEjected;
    private final AtomicIntegerArray consecutiveFailures;
    /** Ejections since the endpoint's last success: the exponent of its next ejection time. */
    private final AtomicIntegerArray ejections;
    /** {@code nanoClock} time at which an ejected endpoint returns; 0 while it is in rotation. */
    private final AtomicLongArray ejectedUntil;
    private volatile int ejectedCount;

    EndpointHealth(int size, EjectionConfig config, LongSupplier nanoClock, Events events) {
        if (size < 1) {
            throw new IllegalArgumentException("size must be >= 1");
        }
        this.size = size;
        this.config = requireNonNull(config, "config");
        this.nanoClock = requireNonNull(nanoClock, "nanoClock");
        this.events = requireNonNull(events, "events");
        // Envoy: one endpoint may always be ejected whatever the percentage. Ours: but never the last in rotation.
        this.maxEjected = Math.min(size - 1, Math.max(1, size * config.maxEjectedPercent() / 100));
        this.consecutiveFailures = new AtomicIntegerArray(size);
        this.ejections = new AtomicIntegerArray(size);
        this.ejectedUntil = new AtomicLongArray(size);
    }

    /**
     * Takes over the state of {@code previous}, the same endpoints' health before a reload: an ejected endpoint stays
     * out for the rest of its ejection, failure streaks and ejection counts go on. Call before this object is used.
     */
    void inheritFrom(EndpointHealth previous) {
        if (previous.size != size || !previous.config.equals(config)) {
            throw new IllegalArgumentException("health of other endpoints or another ejection policy");
        }
        synchronized (previous) {
            int ejected = 0;
            for (int i = 0; i < size; i++) {
                consecutiveFailures.set(i, previous.consecutiveFailures.get(i));
                ejections.set(i, previous.ejections.get(i));
                long until = previous.ejectedUntil.get(i);
                ejectedUntil.set(i, until);
                if (until != 0) {
                    ejected++;
                }
            }
            synchronized (this) {
                ejectedCount = ejected;
            }
        }
    }

    /** True while {@code endpoint} is in rotation. Call {@link #refresh()} first to return endpoints that are due. */
    boolean available(int endpoint) {
        return ejectedUntil.get(endpoint) == 0;
    }

    /** Endpoints in rotation now. */
    int healthyCount() {
        refresh();
        return size - ejectedCount;
    }

    /** A response head arrived from {@code endpoint}: it works. */
    void recordSuccess(int endpoint) {
        if (consecutiveFailures.get(endpoint) != 0) {
            consecutiveFailures.set(endpoint, 0);
        }
        if (ejections.get(endpoint) != 0) {
            ejections.set(endpoint, 0);
        }
    }

    /**
     * A network-level failure of {@code endpoint}.
     *
     * @return the ejection time in nanoseconds when this failure ejected the endpoint, else 0
     */
    long recordFailure(int endpoint) {
        if (!config.enabled() || size < 2 || ejectedUntil.get(endpoint) != 0) {
            return 0;
        }
        int failures = consecutiveFailures.incrementAndGet(endpoint);
        if (failures < config.consecutiveFailures()) {
            return 0;
        }
        return eject(endpoint, failures);
    }

    private synchronized long eject(int endpoint, int failures) {
        long now = nanoClock.getAsLong();
        returnDue(now);
        if (ejectedUntil.get(endpoint) != 0) {
            return 0;
        }
        if (ejectedCount >= maxEjected) {
            events.ejectionRefused(endpoint, ejectedCount);
            return 0;
        }
        int k = ejections.incrementAndGet(endpoint);
        long nanos = ejectionNanos(k);
        // 0 means "in rotation": never store it as an end time.
        ejectedUntil.set(endpoint, (now + nanos) == 0 ? 1 : now + nanos);
        ejectedCount++;
        events.ejected(endpoint, nanos, failures, k);
        return nanos;
    }

    /** base-time * 2^(k-1), capped at max-time, without overflow. */
    long ejectionNanos(int k) {
        long max = config.maxTime().toNanos();
        long nanos = Math.min(config.baseTime().toNanos(), max);
        for (int i = 1; i < k && nanos < max; i++) {
            nanos = nanos > max / 2 ? max : nanos * 2;
        }
        return nanos;
    }

    /** Returns every endpoint whose ejection time is over to rotation. Cheap when none is ejected. */
    void refresh() {
        if (ejectedCount == 0) {
            return;
        }
        synchronized (this) {
            returnDue(nanoClock.getAsLong());
        }
    }

    private void returnDue(long now) {
        if (ejectedCount == 0) {
            return;
        }
        for (int i = 0; i < size; i++) {
            long until = ejectedUntil.get(i);
            if (until != 0 && now - until >= 0) {
                ejectedUntil.set(i, 0);
                ejectedCount--;
                // On probation: one more failure before a success ejects it again, for twice as long.
                consecutiveFailures.set(i, config.consecutiveFailures() - 1);
                events.returned(i);
            }
        }
    }
}
