/**
 * Who may use a route: allow rules compiled into matchers, evaluated against a
 * {@link org.mtlsproxy.proxy.identity.ClientIdentity}.
 *
 * <p>Start reading at {@link org.mtlsproxy.proxy.authz.Authorizer}: {@code compile} turns a route's
 * {@link org.mtlsproxy.config.AllowRule}s into {@link org.mtlsproxy.proxy.authz.IdentityMatcher}s once, at
 * configuration load; {@code decide} runs per request and allocates nothing. Rules are OR'ed in order, the fields
 * of one rule AND'ed; an empty list allows nobody (fail closed, as ghostunnel's {@code auth/auth.go}).
 * {@link org.mtlsproxy.proxy.authz.SpiffeIdPattern} holds the SPIFFE ID glob syntax.
 *
 * <p>Pure Java: imports neither Netty nor the TLS layer.
 */
package org.mtlsproxy.proxy.authz;
