package org.mtlsproxy.config;

import static java.util.Objects.requireNonNull;

import java.time.Duration;

/**
 * Protection of a listener against too many, too slow or too long-lived clients.
 *
 * @param maxConnections        open client connections beyond this are closed at once (and counted)
 * @param maxConnectionLifetime a client connection older than this closes after its current request
 * @param maxHeaderCount        a request with more header fields is answered 431
 * @param headerReadTimeout     once the first byte of a request head arrived, the whole head must arrive within
 *                              this (slowloris); else 408 and close
 */
public record ListenerLimitsConfig(int maxConnections, Duration maxConnectionLifetime, int maxHeaderCount,
        Duration headerReadTimeout) {

    public ListenerLimitsConfig {
        requireNonNull(maxConnectionLifetime, "maxConnectionLifetime");
        requireNonNull(headerReadTimeout, "headerReadTimeout");
        if (maxConnections < 1 || maxHeaderCount < 1) {
            throw new IllegalArgumentException("limits must be positive");
        }
    }
}
