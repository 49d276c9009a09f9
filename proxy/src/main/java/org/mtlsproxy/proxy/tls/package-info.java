/**
 * TLS for listeners and backends: {@link org.mtlsproxy.proxy.tls.SslContextFactory} (the only user of Netty's
 * {@code SslContextBuilder}; start here), client-certificate verification
 * ({@link org.mtlsproxy.proxy.tls.ClientCertificateVerifier} over {@link org.mtlsproxy.proxy.tls.TrustBundle}s),
 * and session resumption: {@link org.mtlsproxy.proxy.tls.SessionTicketKeys} gives each listener's contexts their
 * ticket keys (a shared key file, or generated keys rotated on a schedule), {@link
 * org.mtlsproxy.proxy.tls.Resumption} tells whether a handshake resumed.
 */
package org.mtlsproxy.proxy.tls;
