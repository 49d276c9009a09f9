package org.mtlsproxy.proxy.http;

import io.netty.util.AttributeKey;
import org.mtlsproxy.proxy.identity.ClientIdentity;

/** Channel attributes set once per client connection. */
public final class ConnectionAttributes {

    /** The verified client identity, set by the handshake stage before any request is read. */
    public static final AttributeKey<ClientIdentity> IDENTITY = AttributeKey.valueOf("mtls-proxy.identity");

    /** The connection's TLS facts for the access log, set by the handshake stage with {@link #IDENTITY}. */
    public static final AttributeKey<TlsFacts> TLS = AttributeKey.valueOf("mtls-proxy.tls");

    /**
     * What the access log says about a connection's TLS: read from the session once, when the handshake completes,
     * instead of from the engine for every request (and every HTTP/2 stream). Neither can change afterwards: the
     * listener allows no renegotiation, and a TLS 1.3 key update keeps the cipher suite.
     *
     * @param protocol       the session's protocol, e.g. {@code TLSv1.3}
     * @param cipher         the session's cipher suite
     * @param handshakeNanos accept to end of handshake
     */
    public record TlsFacts(String protocol, String cipher, long handshakeNanos) {
        /** For a channel without them (the handshake stage always sets them before a request is read). */
        public static final TlsFacts NONE = new TlsFacts("", "", 0);

        /** The facts of {@code channel}, or {@link #NONE}. */
        public static TlsFacts of(io.netty.channel.Channel channel) {
            TlsFacts facts = channel.attr(TLS).get();
            return facts == null ? NONE : facts;
        }

        /** {@link #handshakeNanos} in milliseconds, as the access log writes it. */
        public double handshakeMillis() {
            return handshakeNanos / 1_000_000.0;
        }
    }

    private ConnectionAttributes() {
    }

    /** The client's IP address as text (for logs and x-forwarded-for), or the socket address when it has none. */
    public static String remoteIp(io.netty.channel.Channel channel) {
        java.net.SocketAddress remote = channel.remoteAddress();
        return remote instanceof java.net.InetSocketAddress isa && isa.getAddress() != null
                ? isa.getAddress().getHostAddress() : String.valueOf(remote);
    }
}
