package org.mtlsproxy.it;

import ch.qos.logback.classic.Level;
import ch.qos.logback.classic.Logger;
import ch.qos.logback.classic.spi.ILoggingEvent;
import ch.qos.logback.core.read.ListAppender;
import java.time.Duration;
import java.util.List;
import java.util.Map;
import java.util.function.Predicate;
import java.util.stream.Collectors;
import org.slf4j.LoggerFactory;

/**
 * Captures the lines of logger {@code mtls_proxy.access} written by an in-process proxy while open, each as its
 * key/value pairs plus {@code message}.
 */
final class AccessLog implements AutoCloseable {

    private final Logger logger = (Logger) LoggerFactory.getLogger("mtls_proxy.access");
    private final ListAppender<ILoggingEvent> appender = new ListAppender<>();

    AccessLog() {
        appender.start();
        logger.addAppender(appender);
        logger.setLevel(Level.INFO);
    }

    /** Every line so far, oldest first. */
    List<Map<String, String>> lines() {
        // AppenderBase.doAppend holds the appender's lock while it adds to the list.
        synchronized (appender) {
            return appender.list.stream().map(AccessLog::kv).collect(Collectors.toList());
        }
    }

    /** The lines for which {@code filter} holds, once at least {@code count} of them were written (5 s at most). */
    List<Map<String, String>> await(int count, Predicate<Map<String, String>> filter) {
        org.awaitility.Awaitility.await().atMost(Duration.ofSeconds(5)).until(() -> lines().stream().filter(filter).count() >= count);
        return lines().stream().filter(filter).collect(Collectors.toList());
    }

    /** The lines for the request with this {@code path}, once there is one (5 s at most). */
    List<Map<String, String>> forPath(String path) {
        return await(1, l -> path.equals(l.get("path")));
    }

    private static Map<String, String> kv(ILoggingEvent e) {
        Map<String, String> m = e.getKeyValuePairs() == null ? new java.util.HashMap<>()
                : e.getKeyValuePairs().stream().collect(Collectors.toMap(kv -> kv.key,
                        kv -> String.valueOf(kv.value), (a, b) -> b, java.util.HashMap::new));
        m.put("message", e.getFormattedMessage());
        return m;
    }

    @Override
    public void close() {
        logger.detachAppender(appender);
        logger.setLevel(null);
    }
}
