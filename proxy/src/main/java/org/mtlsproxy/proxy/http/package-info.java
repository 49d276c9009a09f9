/**
 * The HTTP request path: the Netty handler that routes, authorizes and forwards each request, and the pure
 * helpers it calls.
 *
 * <p>The helpers have no Netty types, so they are tested with strings alone:
 * <ul>
 *   <li>{@link org.mtlsproxy.proxy.http.PathNormalizer} canonicalises the request target before routing, because
 *       route prefixes are authorization boundaries. Read it first: its Javadoc lists the bypasses it closes.
 *   <li>{@link org.mtlsproxy.proxy.http.Xfcc} renders a client identity as an Envoy-style
 *       {@code x-forwarded-client-cert} element for backends.
 * </ul>
 */
package org.mtlsproxy.proxy.http;
