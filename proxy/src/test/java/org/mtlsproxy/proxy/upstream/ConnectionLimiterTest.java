package org.mtlsproxy.proxy.upstream;

import static org.assertj.core.api.Assertions.assertThat;

import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.ConcurrentLinkedQueue;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.ThreadLocalRandom;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.function.IntPredicate;
import org.junit.jupiter.api.Test;

class ConnectionLimiterTest {

    /** A waiter that records the slots it is granted. */
    private static final class Recorder implements ConnectionLimiter.Waiter {
        final int cap;
        final IntPredicate accepts;
        final List<Integer> granted = new ArrayList<>();

        Recorder(int cap) {
            this(cap, e -> true);
        }

        Recorder(int cap, IntPredicate accepts) {
            this.cap = cap;
            this.accepts = accepts;
        }

        @Override
        public int cap() {
            return cap;
        }

        @Override
        public boolean accepts(int endpoint) {
            return accepts.test(endpoint);
        }

        @Override
        public synchronized void granted(int endpoint) {
            granted.add(endpoint);
        }
    }

    @Test
    void aCappedEndpointCountsConnectionsUpToItsCapAndAClosedOneFreesItsSlot() {
        ConnectionLimiter limiter = new ConnectionLimiter(2);

        assertThat(limiter.tryAcquire(0, 2)).isTrue();
        assertThat(limiter.tryAcquire(0, 2)).isTrue();
        assertThat(limiter.tryAcquire(0, 2)).as("third connection to a cap of 2").isFalse();
        assertThat(limiter.tryAcquire(1, 2)).as("another endpoint has its own cap").isTrue();
        assertThat(limiter.open(0)).isEqualTo(2);
        assertThat(limiter.openTotal()).isEqualTo(3);

        limiter.release(0);

        assertThat(limiter.open(0)).isEqualTo(1);
        assertThat(limiter.tryAcquire(0, 2)).isTrue();
    }

    @Test
    void withoutACapEveryConnectionIsCountedAndAllowed() {
        ConnectionLimiter limiter = new ConnectionLimiter(1);

        for (int i = 0; i < 1000; i++) {
            assertThat(limiter.tryAcquire(0, 0)).isTrue();
        }

        assertThat(limiter.open(0)).isEqualTo(1000);
        limiter.release(0);
        assertThat(limiter.open(0)).isEqualTo(999);
    }

    @Test
    void releasedSlotsGoToWaitersOldestFirstAndStayCounted() {
        ConnectionLimiter limiter = new ConnectionLimiter(1);
        limiter.tryAcquire(0, 1);
        Recorder first = new Recorder(1);
        Recorder second = new Recorder(1);

        assertThat(limiter.enqueue(first, 10)).isTrue();
        assertThat(limiter.enqueue(second, 10)).isTrue();
        assertThat(limiter.pending()).isEqualTo(2);
        assertThat(first.granted).isEmpty();

        limiter.release(0);

        assertThat(first.granted).containsExactly(0);
        assertThat(second.granted).isEmpty();
        assertThat(limiter.open(0)).as("the slot passed to the waiter, never free").isEqualTo(1);
        assertThat(limiter.pending()).isEqualTo(1);

        limiter.release(0);

        assertThat(second.granted).containsExactly(0);
        assertThat(limiter.pending()).isZero();
        assertThat(limiter.open(0)).isEqualTo(1);
    }

    @Test
    void aNewcomerCannotTakeASlotWhileOthersWait() {
        ConnectionLimiter limiter = new ConnectionLimiter(2);
        limiter.tryAcquire(0, 1);
        limiter.tryAcquire(1, 1);
        Recorder waiting = new Recorder(1, e -> e == 0);
        limiter.enqueue(waiting, 10);

        // Endpoint 1 frees, but the waiter only takes endpoint 0: the slot stays free...
        limiter.release(1);
        assertThat(waiting.granted).isEmpty();
        // ...and a newcomer still queues behind the waiter rather than overtaking it.
        assertThat(limiter.tryAcquire(1, 1)).isFalse();

        limiter.release(0);
        assertThat(waiting.granted).containsExactly(0);
        assertThat(limiter.tryAcquire(1, 1)).as("nobody waits any more").isTrue();
    }

    @Test
    void aWaiterTakesAnotherEndpointItAcceptsWhenThatOneFrees() {
        ConnectionLimiter limiter = new ConnectionLimiter(3);
        for (int e = 0; e < 3; e++) {
            limiter.tryAcquire(e, 1);
        }
        Recorder notOne = new Recorder(1, e -> e != 1);
        limiter.enqueue(notOne, 10);

        limiter.release(1);
        assertThat(notOne.granted).isEmpty();
        limiter.release(2);

        assertThat(notOne.granted).containsExactly(2);
    }

    @Test
    void theQueueIsBoundedAndZeroMeansNoWaiting() {
        ConnectionLimiter limiter = new ConnectionLimiter(1);
        limiter.tryAcquire(0, 1);

        assertThat(limiter.enqueue(new Recorder(1), 0)).isFalse();
        assertThat(limiter.enqueue(new Recorder(1), 2)).isTrue();
        assertThat(limiter.enqueue(new Recorder(1), 2)).isTrue();
        assertThat(limiter.enqueue(new Recorder(1), 2)).isFalse();
        assertThat(limiter.pending()).isEqualTo(2);
    }

    @Test
    void aRemovedWaiterIsNeverGrantedAndLeavesTheCount() {
        ConnectionLimiter limiter = new ConnectionLimiter(1);
        limiter.tryAcquire(0, 1);
        Recorder gone = new Recorder(1);
        Recorder next = new Recorder(1);
        limiter.enqueue(gone, 10);
        limiter.enqueue(next, 10);

        assertThat(limiter.remove(gone)).isTrue();
        assertThat(limiter.remove(gone)).isFalse();
        assertThat(limiter.pending()).isEqualTo(1);
        assertThat(limiter.removeFirst(w -> w == gone)).isNull();
        limiter.release(0);

        assertThat(gone.granted).isEmpty();
        assertThat(next.granted).containsExactly(0);
        assertThat(limiter.pending()).isZero();
    }

    @Test
    void aWaiterQueuedWhileASlotIsFreeIsGrantedAtOnce() {
        // The race enqueue guards against: the slot freed between the caller's failed tryAcquire and its enqueue.
        ConnectionLimiter limiter = new ConnectionLimiter(1);
        Recorder late = new Recorder(1);

        assertThat(limiter.enqueue(late, 10)).isTrue();

        assertThat(late.granted).containsExactly(0);
        assertThat(limiter.pending()).isZero();
        assertThat(limiter.open(0)).isEqualTo(1);
    }

    @Test
    void waitersOfASuccessorWithAnotherCapUseItAgainstTheSharedCounts() {
        // A reload shares the counts; each backend's waiters carry their own cap.
        ConnectionLimiter limiter = new ConnectionLimiter(1);
        limiter.tryAcquire(0, 2);
        limiter.tryAcquire(0, 2);
        Recorder lowerCap = new Recorder(1);
        limiter.enqueue(lowerCap, 10);

        limiter.release(0);
        assertThat(lowerCap.granted).as("1 open: the new cap of 1 is still reached").isEmpty();
        limiter.release(0);

        assertThat(lowerCap.granted).containsExactly(0);
    }

    @Test
    void underContentionTheCapHoldsAndNoWaiterIsForgotten() throws Exception {
        int cap = 3;
        int endpoints = 2;
        int threads = 8;
        int rounds = 5_000;
        ConnectionLimiter limiter = new ConnectionLimiter(endpoints);
        AtomicInteger[] peak = {new AtomicInteger(), new AtomicInteger()};
        ConcurrentLinkedQueue<String> violations = new ConcurrentLinkedQueue<>();
        AtomicInteger refused = new AtomicInteger();
        ExecutorService pool = Executors.newFixedThreadPool(threads);
        try {
            List<Future<?>> done = new ArrayList<>();
            for (int t = 0; t < threads; t++) {
                done.add(pool.submit(() -> {
                    for (int r = 0; r < rounds; r++) {
                        int endpoint = ThreadLocalRandom.current().nextInt(endpoints);
                        int held;
                        if (limiter.tryAcquire(endpoint, cap)) {
                            held = endpoint;
                        } else {
                            CountDownLatch granted = new CountDownLatch(1);
                            int[] slot = {-1};
                            ConnectionLimiter.Waiter w = new ConnectionLimiter.Waiter() {
                                @Override
                                public int cap() {
                                    return cap;
                                }

                                @Override
                                public boolean accepts(int e) {
                                    return true;
                                }

                                @Override
                                public void granted(int e) {
                                    slot[0] = e;
                                    granted.countDown();
                                }
                            };
                            if (!limiter.enqueue(w, 4)) {
                                refused.incrementAndGet();
                                continue;
                            }
                            try {
                                if (!granted.await(10, TimeUnit.SECONDS)) {
                                    violations.add("a waiter was never granted a slot");
                                    limiter.remove(w);
                                    return;
                                }
                            } catch (InterruptedException e) {
                                Thread.currentThread().interrupt();
                                return;
                            }
                            held = slot[0];
                        }
                        int now = limiter.open(held);
                        peak[held].accumulateAndGet(now, Math::max);
                        if (now > cap) {
                            violations.add("endpoint " + held + " had " + now + " open");
                        }
                        Thread.yield();
                        limiter.release(held);
                    }
                }));
            }
            for (Future<?> f : done) {
                f.get(60, TimeUnit.SECONDS);
            }
        } finally {
            pool.shutdownNow();
        }

        assertThat(violations).isEmpty();
        assertThat(peak[0].get()).isLessThanOrEqualTo(cap);
        assertThat(peak[1].get()).isLessThanOrEqualTo(cap);
        assertThat(limiter.openTotal()).isZero();
        assertThat(limiter.pending()).isZero();
    }
}
