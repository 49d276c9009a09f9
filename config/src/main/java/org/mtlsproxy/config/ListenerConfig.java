package org.mtlsproxy.config;

import static java.util.Objects.requireNonNull;

/**
 * One listening socket terminating client mTLS and speaking HTTP/1.1.
 *
 * @param name unique listener name, used in logs and metric tags
 * @param bind address and port to bind
 * @param tls  the server certificate and how client certificates are verified
 * @param http HTTP parsing limits and client-side timeouts
 * @param limits connection count, lifetime, header count and header-read timeout
 */
public record ListenerConfig(String name, HostPort bind, ServerTlsConfig tls, HttpConfig http,
        ListenerLimitsConfig limits) {

    public ListenerConfig {
        requireNonNull(name, "name");
        requireNonNull(bind, "bind");
        requireNonNull(tls, "tls");
        requireNonNull(http, "http");
        requireNonNull(limits, "limits");
    }
}
