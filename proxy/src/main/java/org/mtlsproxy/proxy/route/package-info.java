/**
 * Which route serves a request, by host and path prefix.
 *
 * <p>{@link org.mtlsproxy.proxy.route.RouteTable} is the whole package: built once per configuration snapshot,
 * matched per request without allocation. It is generic in what a route is, so it knows nothing of backends or
 * authorization and imports neither Netty nor the TLS layer.
 */
package org.mtlsproxy.proxy.route;
