package org.mtlsproxy.testing;

import java.util.List;
import java.util.stream.Collectors;
import org.junit.jupiter.api.extension.AfterAllCallback;
import org.junit.jupiter.api.extension.BeforeAllCallback;
import org.junit.jupiter.api.extension.ExtensionContext;

/**
 * Fails a test class when Netty reports a leaked resource (a {@code ByteBuf} never released, an SSL engine never
 * freed, ...) during or before it.
 *
 * <p>Registered for every test class through {@code META-INF/services/org.junit.jupiter.api.extension.Extension},
 * which JUnit reads when {@code junit.jupiter.extensions.autodetection.enabled=true} (set in
 * {@code junit-platform.properties}). After each class it forces the garbage collector and Netty's detectors to
 * report ({@link LeakRecorder#collect()}), then throws an {@link AssertionError} listing every leak with Netty's
 * access records. Before each class it fails on leaks reported since the previous check, which a previous class
 * left behind (for example in an event loop that finished shutting down after that class ended).
 *
 * <p>Run the tests with {@code -Dio.netty.leakDetection.level=paranoid} so that every buffer is tracked; the
 * parent POM's {@code test.argLine} does.
 */
public final class NoLeaksExtension implements BeforeAllCallback, AfterAllCallback {

    /** Created by JUnit through {@link java.util.ServiceLoader} or {@code @ExtendWith}. */
    public NoLeaksExtension() {
    }

    @Override
    public void beforeAll(ExtensionContext context) {
        // Covers runners that bypass the launcher session listener; detectors created earlier stay unrecorded.
        LeakRecorder.install();
        failOnLeaks(LeakRecorder.takeAll(),
                "before " + context.getDisplayName() + " started; an earlier test class leaked them");
    }

    @Override
    public void afterAll(ExtensionContext context) {
        LeakRecorder.collect();
        failOnLeaks(LeakRecorder.takeAll(), "while " + context.getDisplayName() + " ran");
    }

    private static void failOnLeaks(List<LeakRecorder.Leak> leaks, String when) {
        if (leaks.isEmpty()) {
            return;
        }
        String details = leaks.stream().map(LeakRecorder.Leak::toString).collect(Collectors.joining("\n\n"));
        throw new AssertionError("Netty reported " + leaks.size() + " leaked resource(s) " + when + ":\n" + details);
    }
}
