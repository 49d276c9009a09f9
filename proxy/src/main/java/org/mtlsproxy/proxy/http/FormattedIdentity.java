package org.mtlsproxy.proxy.http;

import io.netty.channel.Channel;
import io.netty.util.AsciiString;
import io.netty.util.Attribute;
import io.netty.util.AttributeKey;
import org.mtlsproxy.proxy.identity.ClientIdentity;

/**
 * The header values derived from a connection's identity (the XFCC value, the signed header's identity claims),
 * computed once per connection and identity: on HTTP/2 every stream of the connection shares them instead of
 * formatting them per request. Keyed by the identity object, so a reload that replaces the connection's
 * {@link ConnectionAttributes#IDENTITY} gets fresh values. Confined to the connection's event loop (HTTP/2 streams
 * run on their connection's loop).
 */
final class FormattedIdentity {

    private static final AttributeKey<FormattedIdentity> KEY = AttributeKey.valueOf("mtls-proxy.formatted-identity");

    final ClientIdentity identity;
    /** Printable ASCII ({@link Xfcc}); an {@link AsciiString} so Netty copies its bytes into each request. */
    final AsciiString xfcc;
    private String signedClaims;

    private FormattedIdentity(ClientIdentity identity) {
        this.identity = identity;
        this.xfcc = new AsciiString(Xfcc.format(identity));
    }

    /** The values of {@code identity} on {@code connection}, formatted on first use. */
    static FormattedIdentity of(Channel connection, ClientIdentity identity) {
        Attribute<FormattedIdentity> attr = connection.attr(KEY);
        FormattedIdentity f = attr.get();
        if (f == null || f.identity != identity) {
            f = new FormattedIdentity(identity);
            attr.set(f);
        }
        return f;
    }

    /** The identity claims of the signed identity header (only needed where signing is on). */
    String signedClaims() {
        if (signedClaims == null) {
            signedClaims = IdentitySigner.identityClaims(identity);
        }
        return signedClaims;
    }
}
