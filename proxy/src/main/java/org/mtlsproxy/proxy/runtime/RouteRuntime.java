package org.mtlsproxy.proxy.runtime;

import static java.util.Objects.requireNonNull;

import org.mtlsproxy.proxy.authz.Authorizer;
import org.mtlsproxy.proxy.metrics.ProxyMetrics.RouteMeters;
import org.mtlsproxy.proxy.upstream.Backend;

/**
 * A compiled route on one listener: its authorizer, backend and pre-registered meters.
 *
 * @param name       the configured route name
 * @param backend    where allowed requests go
 * @param authorizer the compiled allow rules
 * @param meters     the route's meters on this listener
 * @param websocket  whether WebSocket upgrades are relayed on this route
 */
public record RouteRuntime(String name, Backend backend, Authorizer authorizer, RouteMeters meters,
        boolean websocket) {

    /** A route without WebSocket. */
    public RouteRuntime(String name, Backend backend, Authorizer authorizer, RouteMeters meters) {
        this(name, backend, authorizer, meters, false);
    }

    public RouteRuntime {
        requireNonNull(name, "name");
        requireNonNull(backend, "backend");
        requireNonNull(authorizer, "authorizer");
        requireNonNull(meters, "meters");
    }
}
