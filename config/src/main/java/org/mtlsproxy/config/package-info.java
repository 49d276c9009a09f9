/**
 * The proxy's configuration: HOCON in, immutable validated records out, or one {@link
 * org.mtlsproxy.config.ConfigException} listing every problem with file, line, path and what was expected.
 *
 * <p>Start with {@link org.mtlsproxy.config.ConfigLoader} (the entry points) and {@link
 * org.mtlsproxy.config.ProxyConfig} (the root record); {@code reference.conf} in this module documents every key and
 * holds every default. {@code ConfigMapper} turns the merged HOCON tree into records and does the cross-checks (route
 * to backend, route to listener, rule to trust bundle, key to certificate); {@code ConfigNode} reads single values
 * without throwing, collecting problems instead; {@code Syntax} holds the pure value checks (SPIFFE ID patterns, host
 * names, header names). {@link org.mtlsproxy.config.PemFiles} reads certificates, keys and CRLs for this module and for
 * the TLS runtime.
 *
 * <p>This package never imports Netty: the runtime translates these records into Netty objects, not the other way
 * round.
 */
package org.mtlsproxy.config;
