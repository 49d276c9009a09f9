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

    /** The client's IP address as text (for logs and x-forwarded-for), or the socket address when it has none. */
    public static String remoteIp(io.netty.channel.Channel channel) {
        java.net.SocketAddress remote = channel.remoteAddress();
        return remote instanceof java.net.InetSocketAddress isa && isa.getAddress() != null
                ? isa.getAddress().getHostAddress() : String.valueOf(remote);
    }
}
