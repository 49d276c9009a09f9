package org.mtlsproxy.config;

import static java.util.Objects.requireNonNull;

import java.time.Duration;
import java.util.List;

/**
 * An upstream service reached over verified TLS.
 *
 * @param name                 unique backend name, used in logs and metric tags
 * @param endpoints            host:port of each instance (round robin)
 * @param tls                  how the backend's certificate is verified and what we present
 * @param connectTimeout       TCP connect plus TLS handshake must finish within this (else 504)
 * @param responseTimeout      the response head must arrive within this after the request was sent (else 504)
 * @param idleTimeout          a pooled idle backend connection is closed after this
 * @param maxIdlePerEndpoint   idle connections kept per endpoint per event loop
 */
public record BackendConfig(
        String name,
        List<HostPort> endpoints,
        BackendTlsConfig tls,
        Duration connectTimeout,
        Duration responseTimeout,
        Duration idleTimeout,
        int maxIdlePerEndpoint) {

    public BackendConfig {
        requireNonNull(name, "name");
        endpoints = List.copyOf(requireNonNull(endpoints, "endpoints"));
        requireNonNull(tls, "tls");
        requireNonNull(connectTimeout, "connectTimeout");
        requireNonNull(responseTimeout, "responseTimeout");
        requireNonNull(idleTimeout, "idleTimeout");
        if (endpoints.isEmpty()) {
            throw new IllegalArgumentException("a backend needs at least one endpoint");
        }
        if (maxIdlePerEndpoint < 0) {
            throw new IllegalArgumentException("maxIdlePerEndpoint must be >= 0");
        }
    }
}
