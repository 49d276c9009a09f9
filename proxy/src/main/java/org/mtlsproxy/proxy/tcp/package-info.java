/**
 * The {@code protocol = tcp} listener: after the mTLS handshake, authorize the identity against the listener's
 * allow rules and relay raw bytes to one backend over TLS, optionally behind a PROXY protocol v2 header.
 */
package org.mtlsproxy.proxy.tcp;
