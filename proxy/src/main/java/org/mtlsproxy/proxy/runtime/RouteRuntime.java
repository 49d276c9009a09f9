package org.mtlsproxy.proxy.runtime;

import static java.util.Objects.requireNonNull;

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
 */
public record RouteRuntime(String name, Backend backend, Authorizer authorizer, RouteMeters meters,
        long maxRequestBodySize, RateLimiter rateLimiter, boolean websocket) {

    public RouteRuntime {
        requireNonNull(name, "name");
        requireNonNull(backend, "backend");
        requireNonNull(authorizer, "authorizer");
        requireNonNull(meters, "meters");
    }
}
