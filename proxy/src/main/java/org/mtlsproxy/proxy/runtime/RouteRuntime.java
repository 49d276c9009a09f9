package org.mtlsproxy.proxy.runtime;

import static java.util.Objects.requireNonNull;

import java.util.Optional;
import org.mtlsproxy.proxy.authz.Authorizer;
import org.mtlsproxy.proxy.limits.RateLimiter;
import org.mtlsproxy.proxy.metrics.ProxyMetrics.RouteMeters;
import org.mtlsproxy.proxy.upstream.Backend;

/**
 * A compiled route on one listener: its authorizer, backend and pre-registered meters.
 *
 * @param name       the configured route name
 * @param backend    where allowed requests go
 * @param authorizer the compiled allow rules
 * @param meters     the route's meters on this listener
 * @param maxRequestBodySize request bodies larger than this are refused (413)
 * @param rateLimiter per-identity rate limit, or null when the route has none
 * @param websocket  whether WebSocket upgrades are relayed on this route
 * @param shadow     the dry-run shadow-allow rules, or null when the route has none (nothing to evaluate)
 */
public record RouteRuntime(String name, Backend backend, Authorizer authorizer, RouteMeters meters,
        long maxRequestBodySize, RateLimiter rateLimiter, boolean websocket, ShadowRules shadow) {

    public RouteRuntime {
        requireNonNull(name, "name");
        requireNonNull(backend, "backend");
        requireNonNull(authorizer, "authorizer");
        requireNonNull(meters, "meters");
    }

    /**
     * The compiled shadow-allow rules, empty when the route has none. What they decide is never enforced; a tool
     * that reports per-route decisions (e.g. {@code check}) can show it beside {@link #authorizer()}.
     */
    public Optional<Authorizer> shadowAuthorizer() {
        return shadow == null ? Optional.empty() : Optional.of(shadow.authorizer());
    }
}
