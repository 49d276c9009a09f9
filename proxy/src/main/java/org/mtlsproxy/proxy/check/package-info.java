/**
 * The {@code check} tool: "why was this client rejected?" and "which routes can this certificate reach?".
 *
 * <p>Start at {@link org.mtlsproxy.proxy.check.AccessCheck}: it runs the runtime's own pieces on a
 * {@link org.mtlsproxy.proxy.runtime.RuntimeSnapshot} (the listener's {@code ClientCertificateVerifier}, the
 * {@code IdentityExtractor}, the listener's {@code RouteTable} with {@code HostNormalizer} and {@code PathNormalizer},
 * each route's {@code Authorizer}) and returns a {@link org.mtlsproxy.proxy.check.CheckReport}; there is no second
 * implementation of any decision here. {@link org.mtlsproxy.proxy.check.CheckCommand} is the CLI on a snapshot
 * built from a config file; the admin server's {@code POST /check} runs the same on the live snapshot. Both render
 * with {@link org.mtlsproxy.proxy.check.CheckReportJson} (and the CLI also with
 * {@link org.mtlsproxy.proxy.check.CheckReportText}).
 */
package org.mtlsproxy.proxy.check;
