package org.mtlsproxy.proxy.http;

import io.netty.handler.codec.http.HttpHeaders;
import java.util.ArrayList;
import java.util.Collection;
import java.util.Iterator;
import java.util.List;
import java.util.Locale;
import java.util.Map;

/**
 * A fixed set of header field names, matched without case and without allocating. It lets a message be scanned
 * once for "does it carry any field we would remove?" instead of one hashed lookup per name: requests and
 * responses almost never carry hop-by-hop or client-sent identity fields, so the removals are skipped.
 */
public final class FieldNameSet {

    /** Lower-case ASCII names by length; a name longer than the longest member cannot match. */
    private final byte[][][] byLength;

    public FieldNameSet(Collection<? extends CharSequence> names) {
        int longest = 0;
        for (CharSequence n : names) {
            longest = Math.max(longest, n.length());
        }
        List<List<byte[]>> lists = new ArrayList<>();
        for (int i = 0; i <= longest; i++) {
            lists.add(new ArrayList<>());
        }
        for (CharSequence n : names) {
            String lower = n.toString().toLowerCase(Locale.ROOT);
            for (int i = 0; i < lower.length(); i++) {
                if (lower.charAt(i) > 0x7e || lower.charAt(i) <= ' ') {
                    throw new IllegalArgumentException("not a header field name: " + n);
                }
            }
            lists.get(lower.length()).add(lower.getBytes(java.nio.charset.StandardCharsets.US_ASCII));
        }
        byLength = new byte[longest + 1][][];
        for (int i = 0; i <= longest; i++) {
            byLength[i] = lists.get(i).isEmpty() ? null : lists.get(i).toArray(new byte[0][]);
        }
    }

    /** True when {@code name}, compared without ASCII case, is in the set. */
    public boolean contains(CharSequence name) {
        int len = name.length();
        if (len >= byLength.length) {
            return false;
        }
        byte[][] candidates = byLength[len];
        if (candidates == null) {
            return false;
        }
        next:
        for (byte[] c : candidates) {
            for (int i = 0; i < len; i++) {
                char ch = name.charAt(i);
                if (ch >= 'A' && ch <= 'Z') {
                    ch += 'a' - 'A';
                }
                if (ch != c[i]) {
                    continue next;
                }
            }
            return true;
        }
        return false;
    }

    /** True when any field of {@code headers} has a name in the set. */
    public boolean anyIn(HttpHeaders headers) {
        for (Iterator<Map.Entry<CharSequence, CharSequence>> it = headers.iteratorCharSequence(); it.hasNext(); ) {
            if (contains(it.next().getKey())) {
                return true;
            }
        }
        return false;
    }
}
