package org.mtlsproxy.testing;

import java.util.List;
import org.junit.platform.launcher.LauncherSession;
import org.junit.platform.launcher.LauncherSessionListener;

/**
 * Installs the {@link LeakRecorder} when the JUnit Platform opens a launcher session: before any test class is
 * loaded, so before Netty creates its leak detectors. Registered through
 * {@code META-INF/services/org.junit.platform.launcher.LauncherSessionListener}, which the test-jar carries to
 * every module that depends on it.
 *
 * <p>{@link NoLeaksExtension} fails a test class that leaked. Leaks that only become collectable after the last
 * class has finished can no longer fail a test; this listener prints them to standard error when the session
 * closes.
 */
public final class LeakDetectionListener implements LauncherSessionListener {

    /** Created by the JUnit Platform through {@link java.util.ServiceLoader}. */
    public LeakDetectionListener() {
    }

    @Override
    public void launcherSessionOpened(LauncherSession session) {
        LeakRecorder.install();
    }

    @Override
    public void launcherSessionClosed(LauncherSession session) {
        LeakRecorder.collect();
        List<LeakRecorder.Leak> leaks = LeakRecorder.takeAll();
        if (!leaks.isEmpty()) {
            System.err.println("Netty reported " + leaks.size()
                    + " leaked resource(s) after the last test class finished:");
            leaks.forEach(System.err::println);
        }
    }
}
