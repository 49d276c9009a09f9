package org.mtlsproxy.config;

import static java.util.Objects.requireNonNull;

import java.time.Duration;
import java.util.List;

/**
 * An upstream service reached over verified TLS.
 *
 * @param name                 unique backend name, used in logs and metric tags
 * @param endpoints            host:port of each instance
 * @param tls                  how the backend's certificate is verified and what we present
 * @param connectTimeout       TCP connect plus TLS handshake must finish within this (else 504)
 * @param responseTimeout      the response head must arrive within this after the request was sent (else 504)
 * @param idleTimeout          a pooled idle backend connection is closed after this
 * @param maxIdlePerEndpoint   idle connections kept per endpoint per event loop
 * @param maxConnectionsPerEndpoint open connections per endpoint across all event loops (connecting, in use and
 *                             idle); 0 for no cap. When set, at least {@code maxIdlePerEndpoint}
 * @param maxPendingRequests   requests that may wait for a connection while every endpoint is at its cap; beyond,
 *                             they are refused at once (unused without a cap)
 * @param loadBalancing        how requests are spread over the endpoints
 * @param retries              further endpoints tried when a connection to one cannot be established
 * @param ejection             passive health: when an endpoint is taken out of rotation, and for how long
 */
public record BackendConfig(
        String name,
        List<HostPort> endpoints,
        BackendTlsConfig tls,
        Duration connectTimeout,
        Duration responseTimeout,
        Duration idleTimeout,
        int maxIdlePerEndpoint,
        int maxConnectionsPerEndpoint,
        int maxPendingRequests,
        LoadBalancing loadBalancing,
        int retries,
        EjectionConfig ejection) {

    public BackendConfig {
        requireNonNull(name, "name");
        endpoints = List.copyOf(requireNonNull(endpoints, "endpoints"));
        requireNonNull(tls, "tls");
        requireNonNull(connectTimeout, "connectTimeout");
        requireNonNull(responseTimeout, "responseTimeout");
        requireNonNull(idleTimeout, "idleTimeout");
        requireNonNull(loadBalancing, "loadBalancing");
        requireNonNull(ejection, "ejection");
        if (endpoints.isEmpty()) {
            throw new IllegalArgumentException("a backend needs at least one endpoint");
        }
        if (maxIdlePerEndpoint < 0) {
            throw new IllegalArgumentException("maxIdlePerEndpoint must be >= 0");
        }
        if (maxConnectionsPerEndpoint < 0) {
            throw new IllegalArgumentException("maxConnectionsPerEndpoint must be >= 0");
        }
        if (maxConnectionsPerEndpoint > 0 && maxConnectionsPerEndpoint < maxIdlePerEndpoint) {
            throw new IllegalArgumentException("maxConnectionsPerEndpoint must be >= maxIdlePerEndpoint");
        }
        if (maxPendingRequests < 0) {
            throw new IllegalArgumentException("maxPendingRequests must be >= 0");
        }
        if (retries < 0) {
            throw new IllegalArgumentException("retries must be >= 0");
        }
    }

    /** True when {@code max-connections-per-endpoint} caps the connections to each endpoint. */
    public boolean connectionsCapped() {
        return maxConnectionsPerEndpoint > 0;
    }
}
