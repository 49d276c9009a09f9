package org.mtlsproxy.proxy.http;

import io.netty.handler.codec.http.HttpHeaders;
import io.netty.util.AsciiString;
import java.util.ArrayList;
import java.util.List;
import java.util.Set;
import org.mtlsproxy.config.IdentityHeaderConfig;

/**
 * Request trailers pass to the backend, minus every field that must not appear in a trailer (RFC 9110 §6.5.1:
 * framing, routing, request modifiers, authentication, content processing) and every identity header: a backend
 * that merges trailers into headers must not learn a second Host or a spoofed identity from them.
 */
final class Trailers {

    private static final Set<AsciiString> FORBIDDEN = Set.of(
            AsciiString.cached("host"), AsciiString.cached("content-length"), AsciiString.cached("transfer-encoding"),
            AsciiString.cached("content-encoding"), AsciiString.cached("content-type"),
            AsciiString.cached("content-range"), AsciiString.cached("trailer"), AsciiString.cached("te"),
            AsciiString.cached("connection"), AsciiString.cached("keep-alive"), AsciiString.cached("upgrade"),
            AsciiString.cached("authorization"), AsciiString.cached("proxy-authorization"),
            AsciiString.cached("cookie"), AsciiString.cached("expect"), AsciiString.cached("range"),
            AsciiString.cached("max-forwards"), AsciiString.cached("cache-control"),
            AsciiString.cached("if-match"), AsciiString.cached("if-none-match"),
            AsciiString.cached("if-modified-since"), AsciiString.cached("if-unmodified-since"),
            AsciiString.cached("if-range"), AsciiString.cached("forwarded"), AsciiString.cached("x-forwarded-for"),
            AsciiString.cached("x-forwarded-proto"), AsciiString.cached("x-forwarded-host"));

    private Trailers() {
    }

    static void sanitize(HttpHeaders trailers, IdentityHeaderConfig identity) {
        List<String> drop = new ArrayList<>();
        for (String name : trailers.names()) {
            AsciiString lower = AsciiString.of(name).toLowerCase();
            if (FORBIDDEN.contains(lower) || lower.contentEqualsIgnoreCase(identity.name())
                    || identity.strip().stream().anyMatch(lower::contentEqualsIgnoreCase)
                    || identity.signed().isPresent() && lower.contentEqualsIgnoreCase(identity.signed().get().header())) {
                drop.add(name);
            }
        }
        drop.forEach(trailers::remove);
    }
}
