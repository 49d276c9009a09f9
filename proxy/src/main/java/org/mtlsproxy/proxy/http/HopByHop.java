package org.mtlsproxy.proxy.http;

import io.netty.handler.codec.http.HttpHeaderNames;
import io.netty.handler.codec.http.HttpHeaders;
import io.netty.util.AsciiString;
import java.util.ArrayList;
import java.util.List;

/**
 * Removes connection-specific ("hop-by-hop") header fields, RFC 9110 §7.6.1: {@code Connection} and every field
 * it names, plus the fields that are hop-by-hop by definition. {@code Transfer-Encoding} is left to the codecs,
 * which re-frame the body on each side.
 */
public final class HopByHop {

    private static final AsciiString[] ALWAYS = {
        HttpHeaderNames.KEEP_ALIVE,
        AsciiString.cached("proxy-connection"),
        HttpHeaderNames.TE,
        HttpHeaderNames.TRAILER,
        HttpHeaderNames.UPGRADE,
        HttpHeaderNames.PROXY_AUTHENTICATE,
    };

    /** {@code Connection} and the fields that are hop-by-hop by definition (the ones it names vary). */
    static final List<AsciiString> NAMES = names();

    private static final FieldNameSet SET = new FieldNameSet(NAMES);

    private HopByHop() {
    }

    private static List<AsciiString> names() {
        List<AsciiString> all = new ArrayList<>(List.of(ALWAYS));
        all.add(HttpHeaderNames.CONNECTION);
        return List.copyOf(all);
    }

    /**
     * True when {@code headers} has a field that {@link #strip} would remove: the fields a {@code Connection}
     * header names are only removed when it is present, and it is in the set.
     */
    static boolean present(HttpHeaders headers) {
        return SET.anyIn(headers);
    }

    /** The fields of {@link #present} and {@code more}, for a scan that covers both at once. */
    public static FieldNameSet with(List<String> more) {
        List<CharSequence> all = new ArrayList<>(NAMES);
        all.addAll(more);
        return new FieldNameSet(all);
    }

    /**
     * Removes the hop-by-hop fields. Messages rarely carry any: one pass over the names finds that out, and only
     * then are the fields the {@code Connection} header names and the dozen fixed ones removed one by one.
     */
    static void strip(HttpHeaders headers) {
        if (!present(headers)) {
            return;
        }
        List<String> connection = headers.getAll(HttpHeaderNames.CONNECTION);
        for (String value : connection) {
            int start = 0;
            int len = value.length();
            while (start < len) {
                int comma = value.indexOf(',', start);
                int end = comma < 0 ? len : comma;
                String token = value.substring(start, end).trim();
                // Never let a client use Connection to drop framing or our own headers' meaning.
                if (!token.isEmpty() && !token.equalsIgnoreCase("transfer-encoding")
                        && !token.equalsIgnoreCase("content-length") && !token.equalsIgnoreCase("host")) {
                    headers.remove(token);
                }
                start = end + 1;
            }
        }
        headers.remove(HttpHeaderNames.CONNECTION);
        for (AsciiString name : ALWAYS) {
            headers.remove(name);
        }
    }
}
