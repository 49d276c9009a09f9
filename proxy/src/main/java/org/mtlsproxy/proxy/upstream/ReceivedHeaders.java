package org.mtlsproxy.proxy.upstream;

import io.netty.buffer.ByteBuf;
import io.netty.buffer.ByteBufUtil;
import io.netty.handler.codec.http.DefaultHttpHeadersFactory;
import io.netty.handler.codec.http.HttpHeaderValidationUtil;
import io.netty.handler.codec.http.HttpHeaders;
import io.netty.util.AsciiString;
import java.nio.charset.StandardCharsets;
import java.util.AbstractMap;
import java.util.ArrayList;
import java.util.Collections;
import java.util.Iterator;
import java.util.List;
import java.util.Map;
import java.util.NoSuchElementException;
import java.util.Set;

/**
 * The header fields of a backend response, kept as the bytes they arrived in ({@link ResponseDecoder} validated
 * them) instead of being decoded into a hashed map of strings and encoded again for the client.
 *
 * <p>What the proxy does to a response head on its way through — look a field up, test a token of
 * {@code Connection} or {@code Transfer-Encoding}, remove the hop-by-hop fields, add {@code Date} or
 * {@code Connection: close}, and the encoder's iteration over every field — works on the bytes: names compare
 * case-insensitively in place, values come back as {@link AsciiString} views (which Netty's encoder copies with one
 * memory copy each), removed fields are marked, added ones are kept aside and come last. Any other use of the
 * {@link HttpHeaders} API (typed getters, {@link #names}, {@link #entries}, ...) first copies every field into an
 * ordinary validating {@link HttpHeaders} and from then on delegates to it, in the same order: the behaviour is
 * that of Netty's headers whatever is asked; only the common path is cheaper.
 *
 * <p>Confined to one event loop, like the message that carries it.
 */
public final class ReceivedHeaders extends HttpHeaders {

    private final byte[] bytes;
    /** Per field: name start, name end, value start, value end in {@link #bytes}; name start -1 once removed. */
    private final int[] at;
    private final int fields;
    private int live;
    private CharSequence[] added = NO_FIELDS;
    private int addedCount;
    /** Set once something outside the fast path was asked for: every call delegates to it from then on. */
    private HttpHeaders copied;

    private static final CharSequence[] NO_FIELDS = new CharSequence[0];
    /** {@code ": "} and CRLF as the shorts {@link #encodeTo} writes. */
    private static final int COLON_SP = (':' << 8) | ' ';
    private static final int CRLF = ('\r' << 8) | '\n';
    /**
     * Past this many received fields, removals go to the hashed copy: a removal here scans every field, and
     * {@code HopByHop.strip} removes one name per token of {@code Connection}, which a hostile backend can make
     * as long as the head allows.
     */
    private static final int LINEAR_REMOVALS = 64;

    /** {@code at} holds four offsets per field for {@code fields} fields, as {@link ResponseDecoder} found them. */
    ReceivedHeaders(byte[] bytes, int[] at, int fields) {
        this.bytes = bytes;
        this.at = at;
        this.fields = fields;
        this.live = fields;
    }

    // ------------------------------------------------------------ the fast path

    private boolean nameIs(int field, CharSequence name) {
        int start = at[field * 4];
        if (start < 0) {
            return false;
        }
        int len = at[field * 4 + 1] - start;
        if (len != name.length()) {
            return false;
        }
        for (int i = 0; i < len; i++) {
            int a = bytes[start + i];
            int b = name.charAt(i);
            if (a != b && toLower(a) != toLower(b)) {
                return false;
            }
        }
        return true;
    }

    private static int toLower(int c) {
        return c >= 'A' && c <= 'Z' ? c + 32 : c;
    }

    private AsciiString nameView(int field) {
        int start = at[field * 4];
        return new AsciiString(bytes, start, at[field * 4 + 1] - start, false);
    }

    private AsciiString valueView(int field) {
        int start = at[field * 4 + 2];
        return new AsciiString(bytes, start, at[field * 4 + 3] - start, false);
    }

    private String valueString(int field) {
        int start = at[field * 4 + 2];
        return new String(bytes, start, at[field * 4 + 3] - start, StandardCharsets.ISO_8859_1);
    }

    private static boolean sameName(CharSequence a, CharSequence b) {
        return AsciiString.contentEqualsIgnoreCase(a, b);
    }

    @Override
    public String get(CharSequence name) {
        if (copied != null) {
            return copied.get(name);
        }
        for (int i = 0; i < fields; i++) {
            if (nameIs(i, name)) {
                return valueString(i);
            }
        }
        for (int i = 0; i < addedCount; i += 2) {
            if (sameName(added[i], name)) {
                return added[i + 1].toString();
            }
        }
        return null;
    }

    @Override
    public String get(String name) {
        return get((CharSequence) name);
    }

    @Override
    public List<String> getAll(CharSequence name) {
        if (copied != null) {
            return copied.getAll(name);
        }
        List<String> values = null;
        for (int i = 0; i < fields; i++) {
            if (nameIs(i, name)) {
                if (values == null) {
                    values = new ArrayList<>(2);
                }
                values.add(valueString(i));
            }
        }
        for (int i = 0; i < addedCount; i += 2) {
            if (sameName(added[i], name)) {
                if (values == null) {
                    values = new ArrayList<>(2);
                }
                values.add(added[i + 1].toString());
            }
        }
        return values == null ? Collections.emptyList() : values;
    }

    @Override
    public List<String> getAll(String name) {
        return getAll((CharSequence) name);
    }

    @Override
    public Iterator<? extends CharSequence> valueCharSequenceIterator(CharSequence name) {
        if (copied != null) {
            return copied.valueCharSequenceIterator(name);
        }
        List<CharSequence> values = null;
        for (int i = 0; i < fields; i++) {
            if (nameIs(i, name)) {
                if (values == null) {
                    values = new ArrayList<>(2);
                }
                values.add(valueView(i));
            }
        }
        for (int i = 0; i < addedCount; i += 2) {
            if (sameName(added[i], name)) {
                if (values == null) {
                    values = new ArrayList<>(2);
                }
                values.add(added[i + 1]);
            }
        }
        return values == null ? Collections.emptyIterator() : values.iterator();
    }

    @Override
    public boolean contains(CharSequence name) {
        if (copied != null) {
            return copied.contains(name);
        }
        for (int i = 0; i < fields; i++) {
            if (nameIs(i, name)) {
                return true;
            }
        }
        for (int i = 0; i < addedCount; i += 2) {
            if (sameName(added[i], name)) {
                return true;
            }
        }
        return false;
    }

    @Override
    public boolean contains(String name) {
        return contains((CharSequence) name);
    }

    @Override
    public boolean contains(CharSequence name, CharSequence value, boolean ignoreCase) {
        if (copied != null) {
            return copied.contains(name, value, ignoreCase);
        }
        // As Netty's headers: the whole value, exactly (the decoder trimmed its whitespace).
        for (Iterator<? extends CharSequence> it = valueCharSequenceIterator(name); it.hasNext(); ) {
            CharSequence v = it.next();
            if (ignoreCase ? AsciiString.contentEqualsIgnoreCase(v, value) : AsciiString.contentEquals(v, value)) {
                return true;
            }
        }
        return false;
    }

    @Override
    public boolean contains(String name, String value, boolean ignoreCase) {
        return contains((CharSequence) name, (CharSequence) value, ignoreCase);
    }

    @Override
    public boolean isEmpty() {
        return size() == 0;
    }

    @Override
    public int size() {
        return copied != null ? copied.size() : live + addedCount / 2;
    }

    @Override
    public Iterator<Map.Entry<CharSequence, CharSequence>> iteratorCharSequence() {
        if (copied != null) {
            return copied.iteratorCharSequence();
        }
        return new Fields();
    }

    /**
     * The length of what {@link #encodeTo} writes, or -1 once the fields live in an ordinary map (see there).
     */
    public int encodedLength() {
        if (copied != null) {
            return -1;
        }
        int n = 0;
        for (int i = 0; i < fields; i++) {
            int f = i * 4;
            if (at[f] >= 0) {
                n += at[f + 1] - at[f] + at[f + 3] - at[f + 2] + 4;
            }
        }
        for (int i = 0; i < addedCount; i += 2) {
            n += added[i].length() + added[i + 1].length() + 4;
        }
        return n;
    }

    /**
     * Writes the fields as HTTP/1.1 field lines, {@code name: value CRLF} each, in the order the iterator gives:
     * the received ones still present, then the added ones. Consecutive received lines that arrived in exactly
     * that form (one space after the colon, CRLF, nothing removed between them) go out as one copy of the bytes
     * they arrived in; any other line is written from its name and value. Writes nothing and returns false once
     * the fields live in an ordinary map (a use outside the fast path copied them): encode that map instead.
     */
    public boolean encodeTo(ByteBuf buf) {
        if (copied != null) {
            return false;
        }
        int runStart = 0;
        int runEnd = 0;
        for (int i = 0; i < fields; i++) {
            int f = i * 4;
            int ns = at[f];
            if (ns < 0) {
                continue;
            }
            int ne = at[f + 1];
            int vs = at[f + 2];
            int ve = at[f + 3];
            boolean asReceived = vs == ne + 2 && bytes[ne] == ':' && bytes[ne + 1] == ' '
                    && ve + 1 < bytes.length && bytes[ve] == '\r' && bytes[ve + 1] == '\n';
            if (asReceived && ns == runEnd && runEnd > runStart) {
                runEnd = ve + 2;
                continue;
            }
            buf.writeBytes(bytes, runStart, runEnd - runStart);
            if (asReceived) {
                runStart = ns;
                runEnd = ve + 2;
            } else {
                runStart = 0;
                runEnd = 0;
                buf.writeBytes(bytes, ns, ne - ns);
                buf.writeShort(COLON_SP);
                buf.writeBytes(bytes, vs, ve - vs);
                buf.writeShort(CRLF);
            }
        }
        buf.writeBytes(bytes, runStart, runEnd - runStart);
        for (int i = 0; i < addedCount; i += 2) {
            ByteBufUtil.writeAscii(buf, added[i]);
            buf.writeShort(COLON_SP);
            ByteBufUtil.writeAscii(buf, added[i + 1]);
            buf.writeShort(CRLF);
        }
        return true;
    }

    /** Every field in order, received ones first (removed ones skipped), then added ones; read-only. */
    private final class Fields implements Iterator<Map.Entry<CharSequence, CharSequence>> {
        private int next = advance(0);

        private int advance(int from) {
            int i = from;
            while (i < fields && at[i * 4] < 0) {
                i++;
            }
            return i;
        }

        @Override
        public boolean hasNext() {
            return next < fields + addedCount / 2;
        }

        @Override
        public Map.Entry<CharSequence, CharSequence> next() {
            if (!hasNext()) {
                throw new NoSuchElementException();
            }
            int i = next;
            Map.Entry<CharSequence, CharSequence> e;
            if (i < fields) {
                e = new AbstractMap.SimpleImmutableEntry<>(nameView(i), valueView(i));
                next = advance(i + 1);
            } else {
                int a = (i - fields) * 2;
                e = new AbstractMap.SimpleImmutableEntry<>(added[a], added[a + 1]);
                next = i + 1;
            }
            return e;
        }
    }

    @Override
    public HttpHeaders remove(CharSequence name) {
        if (copied != null || fields > LINEAR_REMOVALS) {
            ordinary().remove(name);
            return this;
        }
        for (int i = 0; i < fields; i++) {
            if (nameIs(i, name)) {
                at[i * 4] = -1;
                live--;
            }
        }
        int kept = 0;
        for (int i = 0; i < addedCount; i += 2) {
            if (!sameName(added[i], name)) {
                added[kept++] = added[i];
                added[kept++] = added[i + 1];
            }
        }
        for (int i = kept; i < addedCount; i++) {
            added[i] = null;
        }
        addedCount = kept;
        return this;
    }

    @Override
    public HttpHeaders remove(String name) {
        return remove((CharSequence) name);
    }

    @Override
    public HttpHeaders add(CharSequence name, Object value) {
        if (copied != null || !(value instanceof CharSequence)) {
            ordinary().add(name, value);
            return this;
        }
        validate(name, (CharSequence) value);
        append(name, (CharSequence) value);
        return this;
    }

    private void append(CharSequence name, CharSequence value) {
        if (addedCount == added.length) {
            CharSequence[] grown = new CharSequence[Math.max(4, added.length * 2)];
            System.arraycopy(added, 0, grown, 0, addedCount);
            added = grown;
        }
        added[addedCount++] = name;
        added[addedCount++] = value;
    }

    @Override
    public HttpHeaders add(String name, Object value) {
        return add((CharSequence) name, value);
    }

    @Override
    public HttpHeaders set(CharSequence name, Object value) {
        if (copied != null || !(value instanceof CharSequence)) {
            ordinary().set(name, value);
            return this;
        }
        // Validated before anything is removed: a refused field leaves the headers as they were, as Netty's do.
        validate(name, (CharSequence) value);
        remove(name);
        if (copied != null) {
            // The removal moved the fields into the ordinary copy (a head with many fields): add it there, or it
            // would be kept here, where nothing reads any more.
            copied.add(name, value);
        } else {
            append(name, (CharSequence) value);
        }
        return this;
    }

    /** As Netty's validating headers do: a field the encoder would write must be a token and a field value. */
    private static void validate(CharSequence name, CharSequence value) {
        if (name.length() == 0 || HttpHeaderValidationUtil.validateToken(name) != -1) {
            throw new IllegalArgumentException("a header name can only contain \"token\" characters, but found "
                    + "invalid character in: " + name);
        }
        if (HttpHeaderValidationUtil.validateValidHeaderValue(value) != -1) {
            throw new IllegalArgumentException("a header value contains prohibited character(s): " + value);
        }
    }

    @Override
    public HttpHeaders set(String name, Object value) {
        return set((CharSequence) name, value);
    }

    // ------------------------------------------------------------ everything else: an ordinary copy

    /** The fields as ordinary validating headers, made on first use; this object delegates to them from then on. */
    private HttpHeaders ordinary() {
        HttpHeaders c = copied;
        if (c == null) {
            c = DefaultHttpHeadersFactory.headersFactory().newHeaders();
            for (int i = 0; i < fields; i++) {
                if (at[i * 4] >= 0) {
                    c.add(new AsciiString(bytes, at[i * 4], at[i * 4 + 1] - at[i * 4], true), valueString(i));
                }
            }
            for (int i = 0; i < addedCount; i += 2) {
                c.add(added[i], added[i + 1]);
            }
            copied = c;
            added = NO_FIELDS;
            addedCount = 0;
        }
        return c;
    }

    @Override
    public Integer getInt(CharSequence name) {
        return ordinary().getInt(name);
    }

    @Override
    public int getInt(CharSequence name, int defaultValue) {
        return ordinary().getInt(name, defaultValue);
    }

    @Override
    public Short getShort(CharSequence name) {
        return ordinary().getShort(name);
    }

    @Override
    public short getShort(CharSequence name, short defaultValue) {
        return ordinary().getShort(name, defaultValue);
    }

    @Override
    public Long getTimeMillis(CharSequence name) {
        return ordinary().getTimeMillis(name);
    }

    @Override
    public long getTimeMillis(CharSequence name, long defaultValue) {
        return ordinary().getTimeMillis(name, defaultValue);
    }

    @Override
    public List<Map.Entry<String, String>> entries() {
        return ordinary().entries();
    }

    @Override
    public Iterator<Map.Entry<String, String>> iterator() {
        return ordinary().iterator();
    }

    @Override
    public Set<String> names() {
        return ordinary().names();
    }

    @Override
    public HttpHeaders add(String name, Iterable<?> values) {
        ordinary().add(name, values);
        return this;
    }

    @Override
    public HttpHeaders add(CharSequence name, Iterable<?> values) {
        ordinary().add(name, values);
        return this;
    }

    @Override
    public HttpHeaders addInt(CharSequence name, int value) {
        ordinary().addInt(name, value);
        return this;
    }

    @Override
    public HttpHeaders addShort(CharSequence name, short value) {
        ordinary().addShort(name, value);
        return this;
    }

    @Override
    public HttpHeaders set(String name, Iterable<?> values) {
        ordinary().set(name, values);
        return this;
    }

    @Override
    public HttpHeaders set(CharSequence name, Iterable<?> values) {
        ordinary().set(name, values);
        return this;
    }

    @Override
    public HttpHeaders setInt(CharSequence name, int value) {
        ordinary().setInt(name, value);
        return this;
    }

    @Override
    public HttpHeaders setShort(CharSequence name, short value) {
        ordinary().setShort(name, value);
        return this;
    }

    @Override
    public HttpHeaders clear() {
        ordinary().clear();
        return this;
    }

    @Override
    public HttpHeaders copy() {
        // HttpHeaders.copy() is public API ("a deep copy"): a new ordinary object, this one unchanged in form.
        return DefaultHttpHeadersFactory.headersFactory().newHeaders().set(this);
    }
}
