package org.mtlsproxy.proxy.http;

import java.time.Duration;
import java.util.concurrent.atomic.AtomicLong;
import java.util.concurrent.atomic.LongAdder;

/**
 * At most one log line per interval for a condition that can repeat on every request, and the count of those left
 * out, so that a persistent fault cannot fill the log while its meter still counts every occurrence. Thread-safe,
 * allocation-free.
 */
public final class LogThrottle {

    private final long intervalNanos;
    private final AtomicLong lastLogged;
    private final LongAdder suppressed = new LongAdder();

    public LogThrottle(Duration interval) {
        this.intervalNanos = interval.toNanos();
        this.lastLogged = new AtomicLong(System.nanoTime() - intervalNanos);
    }

    /** True when a line may be written now; otherwise the occurrence is counted as suppressed. */
    public boolean mayLog() {
        long now = System.nanoTime();
        long last = lastLogged.get();
        if (now - last >= intervalNanos && lastLogged.compareAndSet(last, now)) {
            return true;
        }
        suppressed.increment();
        return false;
    }

    /** The occurrences not logged since the last call, for the line being written. */
    public long suppressed() {
        return suppressed.sumThenReset();
    }
}
