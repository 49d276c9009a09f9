package org.mtlsproxy.config;

import static java.util.Objects.requireNonNull;

import java.time.Duration;
import java.util.List;

/**
 * HTTP parsing limits, client-side timeouts and protocols of a listener.
 *
 * @param maxInitialLineLength longest request line accepted (longer: 414)
 * @param maxHeaderSize        largest total header block accepted (larger: 431); also the HTTP/2 header list size
 * @param idleTimeout          a keep-alive client connection idle this long is closed
 * @param protocols            ALPN protocols offered, in order of preference: {@code h2} and/or {@code http/1.1}
 * @param maxConcurrentStreams HTTP/2 SETTINGS_MAX_CONCURRENT_STREAMS per connection
 */
public record HttpConfig(int maxInitialLineLength, int maxHeaderSize, Duration idleTimeout, List<String> protocols,
        int maxConcurrentStreams) {

    /** The protocol names {@link #protocols} may hold. */
    public static final List<String> KNOWN_PROTOCOLS = List.of("h2", "http/1.1");

    /** With the reference.conf defaults for {@code protocols} (h2, http/1.1) and {@code max-concurrent-streams}. */
    public HttpConfig(int maxInitialLineLength, int maxHeaderSize, Duration idleTimeout) {
        this(maxInitialLineLength, maxHeaderSize, idleTimeout, List.of("h2", "http/1.1"), 100);
    }

    public HttpConfig {
        requireNonNull(idleTimeout, "idleTimeout");
        protocols = List.copyOf(requireNonNull(protocols, "protocols"));
        if (protocols.isEmpty() || !KNOWN_PROTOCOLS.containsAll(protocols)
                || protocols.stream().distinct().count() != protocols.size()) {
            throw new IllegalArgumentException("protocols must be distinct values of " + KNOWN_PROTOCOLS);
        }
        if (maxConcurrentStreams < 1) {
            throw new IllegalArgumentException("maxConcurrentStreams must be >= 1");
        }
        if (maxInitialLineLength < 64) {
            throw new IllegalArgumentException("maxInitialLineLength must be >= 64");
        }
        if (maxHeaderSize < 256) {
            throw new IllegalArgumentException("maxHeaderSize must be >= 256");
        }
    }
}
