package org.mtlsproxy.proxy;

import org.slf4j.LoggerFactory;

/**
 * SIGHUP means "reload" for a Unix daemon. The JDK has no public API for it; {@code sun.misc.Signal} (module
 * jdk.unsupported) is the one supported way, and where it is missing (or the JVM reserves HUP) the other reload
 * triggers remain: file watching and {@code POST /reload}.
 */
final class Signals {

    private Signals() {
    }

    static void onHangup(Runnable action) {
        try {
            sun.misc.Signal.handle(new sun.misc.Signal("HUP"), signal -> action.run());
        } catch (IllegalArgumentException | LinkageError e) {
            LoggerFactory.getLogger(Signals.class).atWarn().addKeyValue("cause", e.toString())
                    .log("SIGHUP reload unavailable; use the file watcher or POST /reload");
        }
    }
}
