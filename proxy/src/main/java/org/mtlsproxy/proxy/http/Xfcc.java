package org.mtlsproxy.proxy.http;

import static java.util.Objects.requireNonNull;

import java.util.List;
import org.mtlsproxy.proxy.identity.ClientIdentity;

/**
 * Renders a client identity as one element of an Envoy {@code x-forwarded-client-cert} header.
 *
 * <p>Form: {@code Hash=<sha256 hex>;Subject="<subject DN>";URI=<uri san>;...;DNS=<dns san>;...}. Hash and Subject
 * are always present; there is one {@code URI=} per URI SAN and one {@code DNS=} per DNS SAN, in certificate order
 * (Envoy emits only the first URI; we emit all so backends need not guess which one is the SPIFFE ID).
 *
 * <p>Quoting follows Envoy's header documentation: a value containing {@code ,} {@code ;} {@code =} or {@code "}
 * is double-quoted, and Subject always is. Inside quotes {@code "} and {@code \} are backslash-escaped, as an
 * HTTP quoted-string (RFC 9110 section 5.6.4); escaping only the quote would let a value ending in {@code \} swallow
 * the closing quote.
 *
 * <p>Certificate fields are attacker-influenced text. A CR or LF would split the header, and Netty writes each
 * {@code char} as one byte, so a non-ASCII character such as U+010A would become LF on the wire. Every character
 * outside printable ASCII is therefore replaced with {@code ?}.
 */
public final class Xfcc {

    private Xfcc() {
    }

    /**
     * The XFCC element for {@code identity}; printable ASCII only.
     */
    public static String format(ClientIdentity identity) {
        requireNonNull(identity, "identity");
        StringBuilder out = new StringBuilder(160);
        out.append("Hash=");
        appendSafe(out, identity.sha256Fingerprint());
        out.append(";Subject=");
        appendQuoted(out, identity.subjectDn());
        appendAll(out, ";URI=", identity.uriSans());
        appendAll(out, ";DNS=", identity.dnsSans());
        return out.toString();
    }

    private static void appendAll(StringBuilder out, String key, List<String> values) {
        for (String value : values) {
            out.append(key);
            if (needsQuotes(value)) {
                appendQuoted(out, value);
            } else {
                appendSafe(out, value);
            }
        }
    }

    private static boolean needsQuotes(String value) {
        for (int i = 0; i < value.length(); i++) {
            char c = value.charAt(i);
            if (c == ',' || c == ';' || c == '=' || c == '"') {
                return true;
            }
        }
        return false;
    }

    private static void appendQuoted(StringBuilder out, String value) {
        out.append('"');
        for (int i = 0; i < value.length(); i++) {
            char c = value.charAt(i);
            if (c == '"' || c == '\\') {
                out.append('\\').append(c);
            } else {
                out.append(safe(c));
            }
        }
        out.append('"');
    }

    private static void appendSafe(StringBuilder out, String value) {
        for (int i = 0; i < value.length(); i++) {
            out.append(safe(value.charAt(i)));
        }
    }

    private static char safe(char c) {
        return c >= 0x20 && c < 0x7F ? c : '?';
    }
}
