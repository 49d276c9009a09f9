package org.mtlsproxy.config;

import static java.util.Objects.requireNonNull;

import java.util.Locale;
import java.util.Optional;

/**
 * One listening socket terminating client mTLS and speaking HTTP/1.1 ({@link Protocol#HTTP}, requests go to
 * routes) or relaying raw bytes to one backend ({@link Protocol#TCP}).
 *
 * @param name     unique listener name, used in logs and metric tags
 * @param bind     address and port to bind
 * @param tls      the server certificate and how client certificates are verified
 * @param http     HTTP parsing limits and client-side timeouts (used by HTTP listeners only)
 * @param protocol what the listener speaks after the TLS handshake
 * @param tcp      the backend, allow rules and relay settings; present exactly for TCP listeners
 * @param limits   connection count, lifetime, header count and header-read timeout
 */
public record ListenerConfig(String name, HostPort bind, ServerTlsConfig tls, HttpConfig http, Protocol protocol,
        Optional<TcpListenerConfig> tcp, ListenerLimitsConfig limits) {

    public ListenerConfig {
        requireNonNull(name, "name");
        requireNonNull(bind, "bind");
        requireNonNull(tls, "tls");
        requireNonNull(http, "http");
        requireNonNull(limits, "limits");
        requireNonNull(protocol, "protocol");
        requireNonNull(tcp, "tcp");
        if ((protocol == Protocol.TCP) != tcp.isPresent()) {
            throw new IllegalArgumentException("a tcp listener needs its tcp settings, an http listener has none");
        }
    }

    /** An HTTP listener. */
    public ListenerConfig(String name, HostPort bind, ServerTlsConfig tls, HttpConfig http,
            ListenerLimitsConfig limits) {
        this(name, bind, tls, http, Protocol.HTTP, Optional.empty(), limits);
    }

    public boolean isTcp() {
        return protocol == Protocol.TCP;
    }

    /** What a listener speaks inside TLS. */
    public enum Protocol {
        /** HTTP/1.1, routed by host and path. */
        HTTP,
        /** Raw bytes relayed to one backend. */
        TCP;

        public String label() {
            return name().toLowerCase(Locale.ROOT);
        }

        @Override
        public String toString() {
            return label();
        }

        static Optional<Protocol> of(String written) {
            for (Protocol p : values()) {
                if (p.label().equals(written)) {
                    return Optional.of(p);
                }
            }
            return Optional.empty();
        }
    }
}
