package org.mtlsproxy.testing;

import static java.util.Objects.requireNonNull;

import io.netty.buffer.ByteBuf;
import io.netty.buffer.ByteBufAllocator;
import io.netty.buffer.PooledByteBufAllocator;
import io.netty.util.ResourceLeakDetector;
import io.netty.util.ResourceLeakDetectorFactory;
import io.netty.util.ResourceLeakTracker;
import java.util.ArrayList;
import java.util.Iterator;
import java.util.List;
import java.util.Queue;
import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.ConcurrentLinkedQueue;
import java.util.function.Predicate;

/**
 * Keeps every resource leak Netty reports in this JVM, so that a test can fail on it instead of a log line
 * scrolling past.
 *
 * <p>{@link LeakDetectionListener} calls {@link #install()} when the JUnit launcher session opens, before any test
 * class touches Netty; {@link NoLeaksExtension} calls {@link #collect()} and {@link #takeAll()} after each test
 * class. Netty reports a leak only when a resource was garbage-collected unreleased <em>and</em> its detector is
 * later asked to track another resource; {@link #collect()} forces both.
 */
public final class LeakRecorder {

    private static final String LEVEL_PROPERTY = "io.netty.leakDetection.level";
    private static final int COLLECTION_ROUNDS = 3;
    private static final long PAUSE_AFTER_GC_MILLIS = 50;

    private static final Queue<Leak> LEAKS = new ConcurrentLinkedQueue<>();
    private static final Set<RecordingDetector<?>> DETECTORS = ConcurrentHashMap.newKeySet();
    private static volatile boolean installed;

    /**
     * A leak as Netty reported it.
     *
     * @param resourceType the leaked type, e.g. {@code ByteBuf}
     * @param records      Netty's access records (allocation and touch points); empty for an untraced leak
     */
    public record Leak(String resourceType, String records) {

        /** Validates that no component is null. */
        public Leak {
            requireNonNull(resourceType, "resourceType");
            requireNonNull(records, "records");
        }

        @Override
        public String toString() {
            return "LEAK: " + resourceType + (records.isEmpty() ? " (untraced)" : records);
        }
    }

    private LeakRecorder() {
    }

    /**
     * Makes every leak detector created from now on record what it reports, and sets the detection level to
     * {@code PARANOID} unless {@value #LEVEL_PROPERTY} chose one. Idempotent.
     *
     * <p>Detectors created before this call (for example the {@code ByteBuf} detector, created when Netty's
     * buffer classes initialise) are not replaced: install before any test code runs.
     */
    public static synchronized void install() {
        if (installed) {
            return;
        }
        if (System.getProperty(LEVEL_PROPERTY) == null) {
            ResourceLeakDetector.setLevel(ResourceLeakDetector.Level.PARANOID);
        }
        ResourceLeakDetectorFactory.setResourceLeakDetectorFactory(new RecordingDetectorFactory());
        installed = true;
    }

    /** Whether {@link #install()} has run in this JVM. */
    public static boolean isInstalled() {
        return installed;
    }

    /**
     * Makes Netty report every leaked resource that is already unreachable: runs the garbage collector a few
     * times and after each run asks every recording detector (and the default allocator's {@code ByteBuf}
     * detector) to track and release one probe, which is when a detector drains its reference queue.
     */
    public static void collect() {
        for (int round = 0; round < COLLECTION_ROUNDS; round++) {
            System.gc();
            try {
                Thread.sleep(PAUSE_AFTER_GC_MILLIS);
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
                return;
            }
            for (RecordingDetector<?> detector : DETECTORS) {
                detector.drainReferenceQueue();
            }
            allocateAndRelease(ByteBufAllocator.DEFAULT);
            allocateAndRelease(PooledByteBufAllocator.DEFAULT);
        }
    }

    /** Removes and returns every leak recorded so far, oldest first. */
    public static List<Leak> takeAll() {
        return takeMatching(leak -> true);
    }

    /**
     * Removes and returns the recorded leaks that match, oldest first; the others stay recorded.
     *
     * @param filter selects the leaks to take
     */
    public static List<Leak> takeMatching(Predicate<Leak> filter) {
        requireNonNull(filter, "filter");
        List<Leak> taken = new ArrayList<>();
        for (Iterator<Leak> it = LEAKS.iterator(); it.hasNext(); ) {
            Leak leak = it.next();
            if (filter.test(leak)) {
                it.remove();
                taken.add(leak);
            }
        }
        return taken;
    }

    private static void allocateAndRelease(ByteBufAllocator allocator) {
        ByteBuf heap = allocator.heapBuffer(1);
        heap.release();
        ByteBuf direct = allocator.directBuffer(1);
        direct.release();
    }

    private static final class RecordingDetectorFactory extends ResourceLeakDetectorFactory {

        @Override
        public <T> ResourceLeakDetector<T> newResourceLeakDetector(Class<T> resource, int samplingInterval) {
            RecordingDetector<T> detector = new RecordingDetector<>(resource, samplingInterval);
            DETECTORS.add(detector);
            return detector;
        }

        /** Still abstract in Netty 4.2; the {@code maxActive} limit it carries has been ignored since 4.1. */
        @Override
        @Deprecated
        public <T> ResourceLeakDetector<T> newResourceLeakDetector(
                Class<T> resource, int samplingInterval, long maxActive) {
            return newResourceLeakDetector(resource, samplingInterval);
        }
    }

    /** Netty's detector, which still logs each leak, plus recording it. */
    private static final class RecordingDetector<T> extends ResourceLeakDetector<T> {

        RecordingDetector(Class<T> resource, int samplingInterval) {
            super(resource, samplingInterval);
        }

        /** Report even when the leak logger's ERROR level is off: the test must fail either way. */
        @Override
        protected boolean needReport() {
            return true;
        }

        @Override
        protected void reportTracedLeak(String resourceType, String records) {
            LEAKS.add(new Leak(resourceType, records));
            super.reportTracedLeak(resourceType, records);
        }

        @Override
        protected void reportUntracedLeak(String resourceType) {
            LEAKS.add(new Leak(resourceType, ""));
            super.reportUntracedLeak(resourceType);
        }

        /**
         * Tracks a throw-away object, closing it at once: {@code trackForcibly} reports the pending leaks first, at
         * any detection level. The cast is safe because the detector never uses the object as a {@code T}.
         */
        @SuppressWarnings("unchecked")
        void drainReferenceQueue() {
            T probe = (T) new Object();
            ResourceLeakTracker<T> tracker = trackForcibly(probe);
            if (tracker != null) {
                tracker.close(probe);
            }
        }
    }
}
