package org.mtlsproxy.config;

import static java.util.Objects.requireNonNull;

import java.util.List;
import java.util.Optional;

/**
 * Matches requests by host and path prefix, names the backend that serves them and who may use it.
 *
 * @param name       unique route name, used in logs and metric tags
 * @param listeners  listener names this route applies to; empty means every listener
 * @param host       the Host (without port, lower case) to match; {@code *.example.org} matches one label; empty
 *                   matches any host
 * @param pathPrefix the request path must start with this (longest prefix wins)
 * @param backend    name of a configured backend
 * @param allow      rules of which any one must match the client identity; empty allows nobody
 * @param limits     request body size and per-identity rate limits
 * @param websocket  whether an HTTP/1.1 WebSocket upgrade is passed to the backend and, once it answers 101,
 *                   relayed as a byte tunnel; when false the {@code Upgrade} header is stripped like any
 *                   hop-by-hop field
 * @param shadowAllow dry-run rules evaluated beside {@code allow} on every authorized request and only counted and
 *                   logged, never enforced; empty evaluates nothing
 */
public record RouteConfig(
        String name,
        List<String> listeners,
        Optional<String> host,
        String pathPrefix,
        String backend,
        List<AllowRule> allow,
        RouteLimitsConfig limits,
        boolean websocket,
        List<AllowRule> shadowAllow) {

    /** A route without WebSocket. */
    public RouteConfig(String name, List<String> listeners, Optional<String> host, String pathPrefix, String backend,
            List<AllowRule> allow, RouteLimitsConfig limits) {
        this(name, listeners, host, pathPrefix, backend, allow, limits, false, List.of());
    }

    public RouteConfig {
        requireNonNull(name, "name");
        listeners = List.copyOf(requireNonNull(listeners, "listeners"));
        requireNonNull(host, "host");
        requireNonNull(pathPrefix, "pathPrefix");
        requireNonNull(backend, "backend");
        allow = List.copyOf(requireNonNull(allow, "allow"));
        requireNonNull(limits, "limits");
        shadowAllow = List.copyOf(requireNonNull(shadowAllow, "shadowAllow"));
        if (!pathPrefix.startsWith("/")) {
            throw new IllegalArgumentException("pathPrefix must start with /");
        }
    }
}
