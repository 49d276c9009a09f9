package org.mtlsproxy.config;

import static java.util.Objects.requireNonNull;

import java.time.Duration;
import java.util.List;
import java.util.Locale;
import java.util.Optional;

/**
 * What a {@code protocol = tcp} listener does after the client's mTLS handshake: authorize the identity against
 * {@code allow}, then relay raw bytes to {@code backend} over TLS.
 *
 * @param backend       name of a configured backend
 * @param allow         rules of which any one must match the client identity; empty allows nobody
 * @param proxyProtocol whether the backend connection starts with a PROXY protocol header
 * @param idleTimeout   a relay on which no byte moved in either direction for this long is closed
 * @param shadowAllow   dry-run rules evaluated beside {@code allow} for every connection, counted and logged, never
 *                      enforced; empty evaluates nothing
 */
public record TcpListenerConfig(String backend, List<AllowRule> allow, ProxyProtocol proxyProtocol,
        Duration idleTimeout, List<AllowRule> shadowAllow) {

    /** A tcp listener without shadow rules. */
    public TcpListenerConfig(String backend, List<AllowRule> allow, ProxyProtocol proxyProtocol,
            Duration idleTimeout) {
        this(backend, allow, proxyProtocol, idleTimeout, List.of());
    }

    public TcpListenerConfig {
        requireNonNull(backend, "backend");
        allow = List.copyOf(requireNonNull(allow, "allow"));
        requireNonNull(proxyProtocol, "proxyProtocol");
        requireNonNull(idleTimeout, "idleTimeout");
        shadowAllow = List.copyOf(requireNonNull(shadowAllow, "shadowAllow"));
    }

    /** The PROXY protocol header sent to the backend first, if any. */
    public enum ProxyProtocol {
        /** Nothing: the backend sees the proxy's address and the client's bytes only. */
        NONE,
        /** A binary PROXY protocol v2 header with the client address and the client identity as TLVs. */
        V2;

        public String label() {
            return name().toLowerCase(Locale.ROOT);
        }

        @Override
        public String toString() {
            return label();
        }

        static Optional<ProxyProtocol> of(String written) {
            for (ProxyProtocol p : values()) {
                if (p.label().equals(written)) {
                    return Optional.of(p);
                }
            }
            return Optional.empty();
        }
    }
}
