package org.mtlsproxy.proxy.upstream;

import java.util.ArrayDeque;
import java.util.ArrayList;
import java.util.Iterator;
import java.util.List;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.function.Predicate;

/**
 * The connections open to each endpoint of a backend, summed over every event loop (being opened, in use and idle in
 * a pool all count), and the requests waiting for one while every endpoint is at its cap
 * ({@code max-connections-per-endpoint}). No Netty: {@link Backend} counts a connection with {@link #tryAcquire}
 * before opening it and gives the slot back with {@link #release} once its channel closed (or the attempt failed).
 *
 * <p>Threading. The counts are one {@link AtomicInteger} per endpoint, touched only when a connection opens or
 * closes, never when a pooled one is reused. The queue of waiters is guarded by this object's lock and taken only
 * while the backend is saturated. A released slot goes to the oldest waiter (FIFO) directly, so a newcomer cannot
 * take it from under a waiter: {@link #tryAcquire} fails while anyone waits. No wakeup is lost: a waiter publishes
 * itself ({@link #pending} written) before it looks at the counts again, and a release decrements the count before
 * it looks at {@link #pending}; whichever comes second sees the other and hands the slot over.
 *
 * <p>The cap is not stored here but passed in by the caller (and by each {@link Waiter}), so that a reload can
 * share the counts of a replaced backend with its successor (its connections still count until they close) without
 * changing anything before the new configuration is in force.
 */
final class ConnectionLimiter {

    /** A request waiting for a connection slot. */
    interface Waiter {
        /** The cap this waiter's backend applies (max-connections-per-endpoint). */
        int cap();

        /**
         * Whether this waiter may take a slot of {@code endpoint} (not tried yet, in rotation). Called with the
         * limiter's lock held: quick, and never calls back into the limiter.
         */
        boolean accepts(int endpoint);

        /**
         * A slot of {@code endpoint} is now this waiter's (already counted). Called once, on any thread, without
         * the lock; the waiter must give the slot back with {@link #release} if it no longer needs it.
         */
        void granted(int endpoint);
    }

    private final AtomicInteger[] open;
    /** Guarded by this. */
    private final ArrayDeque<Waiter> waiters = new ArrayDeque<>();
    /** {@code waiters.size()}, readable without the lock. */
    private volatile int pending;

    ConnectionLimiter(int endpoints) {
        open = new AtomicInteger[endpoints];
        for (int i = 0; i < endpoints; i++) {
            open[i] = new AtomicInteger();
        }
    }

    int endpoints() {
        return open.length;
    }

    /** Connections open to {@code endpoint} now (opening, in use, idle). */
    int open(int endpoint) {
        return open[endpoint].get();
    }

    /** Connections open to all endpoints now. */
    int openTotal() {
        int sum = 0;
        for (AtomicInteger c : open) {
            sum += c.get();
        }
        return sum;
    }

    /** Requests waiting for a slot now. */
    int pending() {
        return pending;
    }

    /**
     * Counts a new connection to {@code endpoint} if it is under {@code cap} (0: no cap, always counted) and nobody
     * waits for a slot (they come first).
     *
     * @return true when the slot is the caller's: give it back with {@link #release}
     */
    boolean tryAcquire(int endpoint, int cap) {
        AtomicInteger c = open[endpoint];
        if (cap <= 0) {
            c.incrementAndGet();
            return true;
        }
        if (pending != 0) {
            return false;
        }
        return reserve(c, cap);
    }

    /** A connection to {@code endpoint} closed, or its attempt failed: its slot goes to the oldest waiter. */
    void release(int endpoint) {
        open[endpoint].decrementAndGet();
        if (pending != 0) {
            drain(endpoint);
        }
    }

    /**
     * Queues {@code w} behind the other waiters, unless {@code maxPending} already wait. It may be
     * {@linkplain Waiter#granted granted} before this returns, on this thread.
     *
     * @return false when the queue is full (nothing changed)
     */
    boolean enqueue(Waiter w, int maxPending) {
        synchronized (this) {
            if (waiters.size() >= maxPending) {
                return false;
            }
            waiters.addLast(w);
            pending = waiters.size();
        }
        // A slot may have been released between the caller's failed tryAcquire and the pending write above.
        drain(-1);
        return true;
    }

    /** Takes {@code w} out of the queue (its client left, or it waited too long); false when it is not queued. */
    synchronized boolean remove(Waiter w) {
        boolean removed = waiters.remove(w);
        pending = waiters.size();
        return removed;
    }

    /** Takes the oldest waiter {@code which} accepts out of the queue, or returns null. */
    synchronized Waiter removeFirst(Predicate<Waiter> which) {
        for (Iterator<Waiter> it = waiters.iterator(); it.hasNext(); ) {
            Waiter w = it.next();
            if (which.test(w)) {
                it.remove();
                pending = waiters.size();
                return w;
            }
        }
        return null;
    }

    /**
     * Gives free slots to waiters, oldest first, {@code preferred} (the endpoint just released, or -1) first among
     * the endpoints each accepts. Stops at the first waiter no endpoint has room for: FIFO, and all waiters of one
     * backend accept the same endpoints (retries never wait), so nobody behind it could be served either.
     */
    private void drain(int preferred) {
        List<Waiter> granted = null;
        List<Integer> endpoints = null;
        synchronized (this) {
            Waiter w;
            while ((w = waiters.peekFirst()) != null) {
                int e = reserveFor(w, preferred);
                if (e < 0) {
                    break;
                }
                waiters.pollFirst();
                if (granted == null) {
                    granted = new ArrayList<>(2);
                    endpoints = new ArrayList<>(2);
                }
                granted.add(w);
                endpoints.add(e);
            }
            pending = waiters.size();
        }
        if (granted != null) {
            for (int i = 0; i < granted.size(); i++) {
                granted.get(i).granted(endpoints.get(i));
            }
        }
    }

    private int reserveFor(Waiter w, int preferred) {
        int cap = w.cap();
        if (preferred >= 0 && w.accepts(preferred) && reserveUnder(preferred, cap)) {
            return preferred;
        }
        for (int i = 0; i < open.length; i++) {
            if (i != preferred && w.accepts(i) && reserveUnder(i, cap)) {
                return i;
            }
        }
        return -1;
    }

    private boolean reserveUnder(int endpoint, int cap) {
        if (cap <= 0) {
            open[endpoint].incrementAndGet();
            return true;
        }
        return reserve(open[endpoint], cap);
    }

    private static boolean reserve(AtomicInteger c, int cap) {
        for (;;) {
            int n = c.get();
            if (n >= cap) {
                return false;
            }
            if (c.compareAndSet(n, n + 1)) {
                return true;
            }
        }
    }
}
