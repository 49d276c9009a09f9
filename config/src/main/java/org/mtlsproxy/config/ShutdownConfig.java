package org.mtlsproxy.config;

import static java.util.Objects.requireNonNull;

import java.time.Duration;

/**
 * What happens on SIGTERM/SIGINT.
 *
 * @param drainTimeout how long in-flight requests may take to finish after the listeners stop accepting
 */
public record ShutdownConfig(Duration drainTimeout) {

    public ShutdownConfig {
        requireNonNull(drainTimeout, "drainTimeout");
        if (drainTimeout.isNegative()) {
            throw new IllegalArgumentException("drainTimeout must not be negative");
        }
    }
}
