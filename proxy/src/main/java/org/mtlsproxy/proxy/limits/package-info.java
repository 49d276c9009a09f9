/**
 * Request-rate limits. {@link org.mtlsproxy.proxy.limits.RateLimiter} is a bounded-memory token bucket per client
 * identity, used by the HTTP stage when a route enables {@code limits.rate-limit}.
 */
package org.mtlsproxy.proxy.limits;
