/**
 * Who the client is, as plain data.
 *
 * <p>The TLS layer calls {@link org.mtlsproxy.proxy.identity.IdentityExtractor#extract} once, when the handshake
 * has verified the client certificate, and keeps the resulting {@link org.mtlsproxy.proxy.identity.ClientIdentity}
 * for the life of the connection. Authorization, logging and the identity headers sent to backends all read that
 * record; none of them goes back to the certificate. Start reading at {@code ClientIdentity}.
 * {@link org.mtlsproxy.proxy.identity.SpiffeIds} reads trust domains out of SPIFFE IDs, for the verifier's trust
 * domain rules and for allow rules alike.
 *
 * <p>This package imports neither Netty nor the TLS configuration, so it can be tested with certificates alone.
 */
package org.mtlsproxy.proxy.identity;
