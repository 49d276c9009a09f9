package org.mtlsproxy.proxy.http;

import io.netty.util.AttributeKey;
import org.mtlsproxy.proxy.identity.ClientIdentity;

/** Channel attributes set once per client connection. */
public final class ConnectionAttributes {

    /** The verified client identity, set by the handshake stage before any request is read. */
    public static final AttributeKey<ClientIdentity> IDENTITY = AttributeKey.valueOf("mtls-proxy.identity");

    /** Nanoseconds the TLS handshake took, for the access log. */
    public static final AttributeKey<Long> HANDSHAKE_NANOS = AttributeKey.valueOf("mtls-proxy.handshake-nanos");

    private ConnectionAttributes() {
    }
}
