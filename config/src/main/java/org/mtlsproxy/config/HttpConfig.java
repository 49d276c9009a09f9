package org.mtlsproxy.config;

import static java.util.Objects.requireNonNull;

import java.time.Duration;

/**
 * HTTP/1.1 parsing limits and client-side timeouts of a listener.
 *
 * @param maxInitialLineLength longest request line accepted (longer: 414)
 * @param maxHeaderSize        largest total header block accepted (larger: 431)
 * @param idleTimeout          a keep-alive client connection idle this long is closed
 */
public record HttpConfig(int maxInitialLineLength, int maxHeaderSize, Duration idleTimeout) {

    public HttpConfig {
        requireNonNull(idleTimeout, "idleTimeout");
        if (maxInitialLineLength < 64) {
            throw new IllegalArgumentException("maxInitialLineLength must be >= 64");
        }
        if (maxHeaderSize < 256) {
            throw new IllegalArgumentException("maxHeaderSize must be >= 256");
        }
    }
}
