package org.mtlsproxy.proxy.upstream;

import io.netty.buffer.ByteBuf;
import io.netty.buffer.Unpooled;
import io.netty.channel.ChannelHandlerContext;
import io.netty.handler.codec.ByteToMessageDecoder;
import io.netty.handler.codec.DecoderResult;
import io.netty.handler.codec.PrematureChannelClosureException;
import io.netty.handler.codec.http.DefaultHttpContent;
import io.netty.handler.codec.http.DefaultHttpHeadersFactory;
import io.netty.handler.codec.http.DefaultFullHttpResponse;
import io.netty.handler.codec.http.DefaultHttpResponse;
import io.netty.handler.codec.http.DefaultLastHttpContent;
import io.netty.handler.codec.http.EmptyHttpHeaders;
import io.netty.handler.codec.http.FullHttpResponse;
import io.netty.handler.codec.http.HttpHeaderNames;
import io.netty.handler.codec.http.HttpMethod;
import io.netty.handler.codec.http.HttpResponseStatus;
import io.netty.handler.codec.http.HttpUtil;
import io.netty.handler.codec.http.HttpVersion;
import io.netty.handler.codec.http.InvalidChunkTerminationException;
import io.netty.handler.codec.http.LastHttpContent;
import io.netty.handler.codec.http.TooLongHttpHeaderException;
import io.netty.handler.codec.http.TooLongHttpLineException;
import java.nio.charset.StandardCharsets;
import java.util.ArrayDeque;
import java.util.Arrays;
import java.util.List;

/**
 * Decodes a backend's HTTP/1.x responses into the objects Netty's {@code HttpResponseDecoder} makes — a head, then
 * content, then a last content, with the same framing rules and the same failure signalling — except that the head's
 * fields stay as the bytes that arrived ({@link ReceivedHeaders}): no string per name and value, no hashed map, and
 * the encoder on the client side copies them back out in runs of those bytes; and that a small body with a
 * {@code Content-Length} that arrived together with its head comes as one {@link FullHttpResponse} (up to
 * {@link #WHOLE_BODY_LIMIT}; an empty one included).
 *
 * <p>It refuses what Netty's decoder refused (several {@code Content-Length} values, {@code Transfer-Encoding} with
 * {@code Content-Length} or in HTTP/1.0, chunked other than once and last) and, where Netty was lenient, what could
 * be read two ways: a field name must be a token followed directly by the colon, a value must not contain control
 * characters (a bare CR included), a folded line ({@code obs-fold}) is refused (RFC 9112 §5.2 lets a proxy answer
 * 502), and a chunk must end with CRLF. A failure is a head or a last content whose {@link DecoderResult} failed,
 * after which everything until the connection closes is discarded.
 *
 * <p>Framing (RFC 9112 §6.3): no body for 1xx, 204, 304 and a response to HEAD (the method comes from
 * {@link #requestSent}, called by the request encoder of the same connection), their {@code Transfer-Encoding}
 * losing its chunked coding as in Netty; a {@code Transfer-Encoding} whose last coding is chunked is chunked; any
 * other reads until the connection closes, as does a response with neither field; otherwise {@code Content-Length}.
 * A 101 switching to a protocol other than HTTP/1.x leaves the rest of the bytes undecoded.
 */
final class ResponseDecoder extends ByteToMessageDecoder {

    /** The largest body slice handed on at once, as Netty's {@code maxChunkSize}. */
    static final int MAX_CONTENT_SLICE = 65536;
    /**
     * A response with a Content-Length up to this whose body arrived with its head is handed on as one
     * {@link FullHttpResponse}: its head and body then leave for the client in one buffer (one write, one TLS
     * record) instead of a head, a body and a copy in {@code SslHandler} to join them.
     */
    static final int WHOLE_BODY_LIMIT = 8192;

    private enum State { HEAD, FIXED, UNTIL_CLOSE, CHUNK_SIZE, CHUNK_DATA, CHUNK_END, TRAILERS, BAD, UPGRADED }

    private static final boolean[] TOKEN = new boolean[256];
    /** The value of an ASCII hex digit, -1 for any other byte. */
    private static final byte[] HEX = new byte[256];

    static {
        for (char c = '0'; c <= '9'; c++) {
            TOKEN[c] = true;
        }
        for (char c = 'a'; c <= 'z'; c++) {
            TOKEN[c] = true;
            TOKEN[c - 32] = true;
        }
        for (char c : "!#$%&'*+-.^_`|~".toCharArray()) {
            TOKEN[c] = true;
        }
        Arrays.fill(HEX, (byte) -1);
        for (int i = 0; i < 16; i++) {
            HEX["0123456789abcdef".charAt(i)] = (byte) i;
            HEX["0123456789ABCDEF".charAt(i)] = (byte) i;
        }
    }

    private final int maxLine;
    private final int maxHead;
    private final ArrayDeque<HttpMethod> sent = new ArrayDeque<>(2);
    private State state = State.HEAD;
    /** Bytes of a partial head (or trailer section) already searched for its end, from the reader index. */
    private int scanned;
    /** Lines of the section {@link #sectionEnd} found, its empty last line included. */
    private int lines;
    /** Body bytes left: of the whole body ({@link State#FIXED}) or of the current chunk. */
    private long remaining;

    /**
     * @param maxLine the longest status line (or chunk-size line) accepted
     * @param maxHead the largest head (status line and fields) or trailer section accepted
     */
    ResponseDecoder(int maxLine, int maxHead) {
        this.maxLine = maxLine;
        this.maxHead = maxHead;
    }

    /**
     * No response is being decoded and no byte of a next one is held: a pooled connection whose backend sent more
     * than its response (the start of a head no request asked for) must not carry another exchange, whose own
     * response would be read as that head's continuation.
     */
    boolean betweenResponses() {
        return state == State.HEAD && !internalBuffer().isReadable();
    }

    /** A request went out on this connection; its response is read accordingly (no body for HEAD). */
    void requestSent(HttpMethod method) {
        sent.add(method);
    }

    @Override
    protected void decode(ChannelHandlerContext ctx, ByteBuf in, List<Object> out) {
        switch (state) {
            case HEAD -> readHead(in, out);
            case FIXED -> readFixed(in, out);
            case UNTIL_CLOSE -> {
                int n = Math.min(in.readableBytes(), MAX_CONTENT_SLICE);
                if (n > 0) {
                    out.add(new DefaultHttpContent(in.readRetainedSlice(n)));
                }
            }
            case CHUNK_SIZE -> readChunkSize(in, out);
            case CHUNK_DATA -> readChunkData(in, out);
            case CHUNK_END -> readChunkEnd(in, out);
            case TRAILERS -> readTrailers(in, out);
            case BAD -> in.skipBytes(in.readableBytes());
            case UPGRADED -> {
                int n = in.readableBytes();
                if (n > 0) {
                    out.add(in.readBytes(n));
                }
            }
            default -> throw new IllegalStateException(state.name());
        }
    }

    @Override
    protected void decodeLast(ChannelHandlerContext ctx, ByteBuf in, List<Object> out) throws Exception {
        super.decodeLast(ctx, in, out);
        switch (state) {
            case UNTIL_CLOSE -> {
                // The close ends the body.
                out.add(LastHttpContent.EMPTY_LAST_CONTENT);
                state = State.HEAD;
            }
            case HEAD -> {
                // A status line arrived, its fields did not: as Netty's decoder, a failed head.
                if (in.isReadable() && in.indexOf(in.readerIndex(), in.writerIndex(), (byte) '\n') >= 0) {
                    in.skipBytes(in.readableBytes());
                    out.add(failedHead(new PrematureChannelClosureException(
                            "Connection closed before received headers")));
                    state = State.BAD;
                }
            }
            case FIXED, CHUNK_SIZE, CHUNK_DATA, CHUNK_END, TRAILERS ->
                // The body's end was announced and not reached: nothing ends the response, the proxy sees the
                // close itself (the same as Netty's decoder, which emits nothing here either).
                state = State.BAD;
            default -> {
            }
        }
    }

    // ------------------------------------------------------------ head

    private void readHead(ByteBuf in, List<Object> out) {
        int start = in.readerIndex();
        int end = in.writerIndex();
        if (scanned == 0) {
            // CR and LF between messages are skipped (RFC 9112 §2.2).
            while (start < end) {
                byte b = in.getByte(start);
                if (b != '\r' && b != '\n') {
                    break;
                }
                start++;
            }
            in.readerIndex(start);
            if (start == end) {
                return;
            }
        }
        int headEnd = completeSection(in, out, true);
        if (headEnd < 0) {
            return;
        }
        byte[] head = new byte[headEnd - start];
        in.getBytes(start, head);
        in.readerIndex(headEnd);
        try {
            parseHead(head, in, out);
        } catch (InvalidResponseException e) {
            fail(in, out, e, false);
        }
    }

    /**
     * The end of the head ({@code head}) or trailer section starting at the reader index, or -1 while it is
     * incomplete or when it is over the limits (then the response has failed).
     */
    private int completeSection(ByteBuf in, List<Object> out, boolean head) {
        int start = in.readerIndex();
        int end = in.writerIndex();
        int sectionEnd = sectionEnd(in, start, end, head);
        if (sectionEnd == -2) {
            fail(in, out, new TooLongHttpLineException("the status line is over " + maxLine + " bytes"), false);
            return -1;
        }
        if ((sectionEnd < 0 ? end : sectionEnd) - start > maxHead) {
            fail(in, out, new TooLongHttpHeaderException((head ? "the response head" : "the trailer section")
                    + " is over " + maxHead + " bytes"), !head);
            return -1;
        }
        return sectionEnd;
    }

    /**
     * The index just past the empty line that ends the section starting at {@code start}, or -1 while it is
     * incomplete (what was searched is remembered), or -2 when its first line is over {@link #maxLine}.
     */
    private int sectionEnd(ByteBuf in, int start, int end, boolean firstLineLimited) {
        int lineStart = start + scanned;
        if (scanned == 0) {
            lines = 0;
        }
        while (true) {
            int lf = in.indexOf(lineStart, end, (byte) '\n');
            if (lf < 0) {
                scanned = lineStart - start;
                return firstLineLimited && lineStart == start && lineOver(in, start, end) ? -2 : -1;
            }
            int len = lf - lineStart;
            lines++;
            if (firstLineLimited && lineStart == start && lineOver(in, start, lf)) {
                return -2;
            }
            if (len == 0 || (len == 1 && in.getByte(lineStart) == '\r')) {
                if (lineStart > start || !firstLineLimited) {
                    scanned = 0;
                    return lf + 1;
                }
            }
            lineStart = lf + 1;
        }
    }

    /**
     * Whether the line (or the start of one) from {@code start} to {@code end} is over {@link #maxLine}, not counting
     * its CR: the limit is on the line itself, as Netty's, whether or not its LF has arrived yet.
     */
    private boolean lineOver(ByteBuf in, int start, int end) {
        int len = end - start;
        if (len > 0 && in.getByte(end - 1) == '\r') {
            len--;
        }
        return len > maxLine;
    }

    private void parseHead(byte[] head, ByteBuf in, List<Object> out) throws InvalidResponseException {
        int eol = indexOf(head, 0);
        int lineEnd = lineEnd(head, 0, eol);
        // status-line = HTTP-version SP status-code SP [ reason-phrase ]  (RFC 9112 §4)
        if (lineEnd < 12 || head[0] != 'H' || head[1] != 'T' || head[2] != 'T' || head[3] != 'P' || head[4] != '/'
                || head[5] != '1' || head[6] != '.' || head[8] != ' ' || (head[7] != '0' && head[7] != '1')) {
            throw new InvalidResponseException("invalid status line (not HTTP/1.0 or HTTP/1.1)");
        }
        HttpVersion version = head[7] == '1' ? HttpVersion.HTTP_1_1 : HttpVersion.HTTP_1_0;
        int code = 0;
        for (int i = 9; i < 12; i++) {
            int d = head[i] - '0';
            if (d < 0 || d > 9) {
                throw new InvalidResponseException("invalid status code");
            }
            code = code * 10 + d;
        }
        if (code < 100) {
            throw new InvalidResponseException("invalid status code " + code);
        }
        int reasonStart = lineEnd;
        if (lineEnd > 12) {
            if (head[12] != ' ') {
                throw new InvalidResponseException("invalid status line (no space after the status code)");
            }
            reasonStart = 13;
            for (int i = reasonStart; i < lineEnd; i++) {
                int b = head[i] & 0xFF;
                if ((b < 0x20 && b != '\t') || b == 0x7F) {
                    throw new InvalidResponseException("invalid character in the reason phrase");
                }
            }
        }
        HttpResponseStatus status = status(code, head, reasonStart, lineEnd);

        // One field per line: the section's lines but its first (status) line and the empty one.
        int[] at = new int[Math.max(0, lines - 2) * 4];
        int count = parseFields(head, eol + 1, at);
        framing(head, at, count);
        ReceivedHeaders headers = new ReceivedHeaders(head, at, count);

        // Framing, decided (and refused) before the head is handed on. As Netty's decoder: a message that never
        // has a body is not checked for Transfer-Encoding, whose chunked coding is dropped from it.
        if (code < 200 && code != 101) {
            // 1xx: the final response follows; its request is still waiting.
            noBody(new DefaultHttpResponse(version, status, headers), out);
            return;
        }
        HttpMethod method = sent.poll();
        if (code == 101) {
            noBody(new DefaultHttpResponse(version, status, headers), out);
            String upgrade = headers.get(HttpHeaderNames.UPGRADE);
            if (upgrade == null || (!upgrade.contains("HTTP/1.0") && !upgrade.contains("HTTP/1.1"))) {
                state = State.UPGRADED;
            }
            return;
        }
        if (HttpMethod.HEAD.equals(method) || code == 204 || code == 304) {
            noBody(new DefaultHttpResponse(version, status, headers), out);
            return;
        }
        if (transferEncodingSeen) {
            // RFC 9112 §6.1/§6.3, and what Netty's decoder refused: a response that could be framed two ways.
            if (version != HttpVersion.HTTP_1_1) {
                throw new InvalidResponseException("Transfer-Encoding in an HTTP/1.0 response");
            }
            if (contentLengthSeen) {
                throw new InvalidResponseException("both Transfer-Encoding and Content-Length");
            }
            if (chunkedCodings > 1 || (chunkedCodings == 1 && !lastCodingChunked)) {
                throw new InvalidResponseException("chunked must be the last transfer coding, and only once");
            }
            out.add(new DefaultHttpResponse(version, status, headers));
            state = lastCodingChunked ? State.CHUNK_SIZE : State.UNTIL_CLOSE;
            return;
        }
        if (contentLengthSeen && contentLength <= WHOLE_BODY_LIMIT && in.readableBytes() >= contentLength) {
            // The whole (small) body is here: one message, which the client side writes as one buffer.
            ByteBuf body = contentLength == 0 ? Unpooled.EMPTY_BUFFER : in.readRetainedSlice((int) contentLength);
            out.add(new DefaultFullHttpResponse(version, status, body, headers, EmptyHttpHeaders.INSTANCE));
            return;
        }
        out.add(new DefaultHttpResponse(version, status, headers));
        if (contentLengthSeen) {
            remaining = contentLength;
            state = State.FIXED;
            return;
        }
        state = State.UNTIL_CLOSE;
    }

    private void noBody(DefaultHttpResponse response, List<Object> out) {
        if (transferEncodingSeen) {
            HttpUtil.setTransferEncodingChunked(response, false);
        }
        out.add(response);
        out.add(LastHttpContent.EMPTY_LAST_CONTENT);
    }

    // What framing found in the head it read last.
    private boolean contentLengthSeen;
    private long contentLength;
    private boolean transferEncodingSeen;
    private boolean lastCodingChunked;
    private int chunkedCodings;

    /**
     * Parses the fields from {@code pos} to the empty line into {@code at} (name start, name end, value start,
     * value end per field; sized by the caller from the section's lines) and returns how many there were.
     */
    private static int parseFields(byte[] b, int pos, int[] at) throws InvalidResponseException {
        int count = 0;
        int p = pos;
        // One pass per line. The section ends with the empty line's LF, which stops every loop below.
        while (true) {
            int i = p;
            while (TOKEN[b[i] & 0xFF]) {
                i++;
            }
            int nameEnd = i;
            byte c = b[i];
            if (nameEnd == p) {
                if (c == '\n' || (c == '\r' && b[i + 1] == '\n')) {
                    break;
                }
                throw new InvalidResponseException(c == ' ' || c == '\t' ? "folded header line (obs-fold)"
                        : "invalid character in a header name");
            }
            if (c != ':') {
                throw new InvalidResponseException(c == '\n' || c == '\r' ? "header line without a colon"
                        : "invalid character in a header name");
            }
            i++;
            while ((c = b[i]) == ' ' || c == '\t') {
                i++;
            }
            int vs = i;
            int ve = i;
            while (true) {
                int u = b[i] & 0xFF;
                if (u > 0x20 && u != 0x7F) {
                    ve = ++i; // VCHAR or obs-text: the value runs at least to here
                } else if (u == ' ' || u == '\t') {
                    i++; // inside the value, or trailing whitespace (not part of it)
                } else if (u == '\n') {
                    break;
                } else if (u == '\r' && b[i + 1] == '\n') {
                    i++;
                    break;
                } else {
                    throw new InvalidResponseException(u == '\r' ? "bare CR in the response head"
                            : "invalid character in a header value");
                }
            }
            at[count * 4] = p;
            at[count * 4 + 1] = nameEnd;
            at[count * 4 + 2] = vs;
            at[count * 4 + 3] = ve;
            count++;
            p = i + 1;
        }
        return count;
    }

    /** Notes the framing fields of a head's {@code count} fields at {@code at}: Content-Length, Transfer-Encoding. */
    private void framing(byte[] b, int[] at, int count) throws InvalidResponseException {
        contentLengthSeen = false;
        contentLength = -1;
        transferEncodingSeen = false;
        lastCodingChunked = false;
        chunkedCodings = 0;
        for (int f = 0; f < count * 4; f += 4) {
            int nameLen = at[f + 1] - at[f];
            if (nameLen == 14 && nameIs(b, at[f], HttpHeaderNames.CONTENT_LENGTH)) {
                contentLength(b, at[f + 2], at[f + 3]);
            } else if (nameLen == 17 && nameIs(b, at[f], HttpHeaderNames.TRANSFER_ENCODING)) {
                transferEncodingSeen = true;
                transferCodings(b, at[f + 2], at[f + 3]);
            }
        }
    }

    /**
     * Content-Length = 1*DIGIT, in one field. RFC 9110 §8.6 lets a recipient reject a list or repeated field, as
     * Netty's decoder did: passing one on would give clients (HTTP/2 ones especially) a length they refuse.
     */
    private void contentLength(byte[] b, int vs, int ve) throws InvalidResponseException {
        if (contentLengthSeen) {
            throw new InvalidResponseException("several Content-Length fields");
        }
        if (vs == ve) {
            throw new InvalidResponseException("empty Content-Length");
        }
        long v = 0;
        for (int i = vs; i < ve; i++) {
            if (b[i] < '0' || b[i] > '9') {
                throw new InvalidResponseException("invalid Content-Length");
            }
            if (v > (Long.MAX_VALUE - 9) / 10) {
                throw new InvalidResponseException("Content-Length too large");
            }
            v = v * 10 + (b[i] - '0');
        }
        contentLengthSeen = true;
        contentLength = v;
    }

    /**
     * Notes the codings of one Transfer-Encoding field (a comma-separated list; empty elements and the whitespace
     * around them ignored): how many are chunked, and whether the last one so far is.
     */
    private void transferCodings(byte[] b, int vs, int ve) {
        int start = vs;
        while (start <= ve) {
            int comma = start;
            while (comma < ve && b[comma] != ',') {
                comma++;
            }
            int s0 = start;
            int e0 = comma;
            while (s0 < e0 && (b[s0] == ' ' || b[s0] == '\t')) {
                s0++;
            }
            while (e0 > s0 && (b[e0 - 1] == ' ' || b[e0 - 1] == '\t')) {
                e0--;
            }
            if (s0 < e0) {
                lastCodingChunked = e0 - s0 == 7 && nameIs(b, s0, "chunked");
                if (lastCodingChunked) {
                    chunkedCodings++;
                }
            }
            start = comma + 1;
        }
    }

    private static boolean nameIs(byte[] b, int at, CharSequence lowerCase) {
        for (int i = 0; i < lowerCase.length(); i++) {
            int c = b[at + i];
            if (c >= 'A' && c <= 'Z') {
                c += 32;
            }
            if (c != lowerCase.charAt(i)) {
                return false;
            }
        }
        return true;
    }

    private static HttpResponseStatus status(int code, byte[] head, int start, int end) {
        HttpResponseStatus known = HttpResponseStatus.valueOf(code);
        String phrase = known.reasonPhrase();
        if (phrase.length() == end - start) {
            boolean same = true;
            for (int i = 0; i < phrase.length() && same; i++) {
                same = phrase.charAt(i) == head[start + i];
            }
            if (same) {
                return known;
            }
        }
        return new HttpResponseStatus(code, new String(head, start, end - start, StandardCharsets.ISO_8859_1));
    }

    /** The index of the next LF at or after {@code from}; the section always ends with one. */
    private static int indexOf(byte[] b, int from) {
        for (int i = from; i < b.length; i++) {
            if (b[i] == '\n') {
                return i;
            }
        }
        return b.length;
    }

    /** The end of the line before {@code lf}, without its CR; a CR anywhere else in it is an error. */
    private static int lineEnd(byte[] b, int start, int lf) throws InvalidResponseException {
        int end = lf > start && b[lf - 1] == '\r' ? lf - 1 : lf;
        for (int i = start; i < end; i++) {
            if (b[i] == '\r') {
                throw new InvalidResponseException("bare CR in the response head");
            }
        }
        return end;
    }

    // ------------------------------------------------------------ body

    private void readFixed(ByteBuf in, List<Object> out) {
        int n = (int) Math.min(Math.min(in.readableBytes(), MAX_CONTENT_SLICE), remaining);
        if (n == 0) {
            return;
        }
        ByteBuf content = in.readRetainedSlice(n);
        remaining -= n;
        if (remaining == 0) {
            out.add(new DefaultLastHttpContent(content));
            state = State.HEAD;
        } else {
            out.add(new DefaultHttpContent(content));
        }
    }

    private void readChunkSize(ByteBuf in, List<Object> out) {
        int start = in.readerIndex();
        int lf = in.indexOf(start, in.writerIndex(), (byte) '\n');
        if (lf < 0 ? lineOver(in, start, in.writerIndex()) : lineOver(in, start, lf)) {
            fail(in, out, new TooLongHttpLineException("a chunk-size line is over " + maxLine + " bytes"), true);
            return;
        }
        if (lf < 0) {
            return;
        }
        int end = lf > start && in.getByte(lf - 1) == '\r' ? lf - 1 : lf;
        long size = 0;
        int i = start;
        while (i < end) {
            int d = HEX[in.getByte(i) & 0xFF];
            if (d < 0) {
                break;
            }
            size = size * 16 + d;
            if (size > Integer.MAX_VALUE) {
                fail(in, out, new InvalidResponseException("chunk size too large"), true);
                return;
            }
            i++;
        }
        boolean valid = i > start;
        if (valid && i < end) {
            // chunk-ext = *( BWS ";" BWS chunk-ext-name [ BWS "=" BWS chunk-ext-val ] ): ignored, but no controls.
            while (i < end && (in.getByte(i) == ' ' || in.getByte(i) == '\t')) {
                i++;
            }
            valid = i < end && in.getByte(i) == ';';
            for (; valid && i < end; i++) {
                int c = in.getByte(i) & 0xFF;
                valid = !((c < 0x20 && c != '\t') || c == 0x7F);
            }
        }
        if (!valid) {
            fail(in, out, new InvalidResponseException("invalid chunk-size line"), true);
            return;
        }
        in.readerIndex(lf + 1);
        if (size == 0) {
            state = State.TRAILERS;
        } else {
            remaining = size;
            state = State.CHUNK_DATA;
        }
    }

    private void readChunkData(ByteBuf in, List<Object> out) {
        int n = (int) Math.min(Math.min(in.readableBytes(), MAX_CONTENT_SLICE), remaining);
        if (n == 0) {
            return;
        }
        out.add(new DefaultHttpContent(in.readRetainedSlice(n)));
        remaining -= n;
        if (remaining == 0) {
            state = State.CHUNK_END;
        }
    }

    private void readChunkEnd(ByteBuf in, List<Object> out) {
        int r = in.readerIndex();
        if (in.readableBytes() < 2) {
            if (in.getByte(r) != '\r') {
                fail(in, out, new InvalidChunkTerminationException(), true);
            }
            return;
        }
        if (in.getByte(r) != '\r' || in.getByte(r + 1) != '\n') {
            fail(in, out, new InvalidChunkTerminationException(), true);
            return;
        }
        in.skipBytes(2);
        state = State.CHUNK_SIZE;
    }

    private void readTrailers(ByteBuf in, List<Object> out) {
        int start = in.readerIndex();
        int sectionEnd = completeSection(in, out, false);
        if (sectionEnd < 0) {
            return;
        }
        if (sectionEnd - start <= 2) {
            in.readerIndex(sectionEnd);
            out.add(LastHttpContent.EMPTY_LAST_CONTENT);
        } else {
            byte[] section = new byte[sectionEnd - start];
            in.getBytes(start, section);
            in.readerIndex(sectionEnd);
            LastHttpContent last = new DefaultLastHttpContent(Unpooled.EMPTY_BUFFER,
                    DefaultHttpHeadersFactory.trailersFactory());
            // One field per line but the empty last one.
            int[] at = new int[(lines - 1) * 4];
            int count;
            try {
                count = parseFields(section, 0, at);
            } catch (InvalidResponseException e) {
                fail(in, out, e, true);
                return;
            }
            for (int f = 0; f < count * 4; f += 4) {
                String name = new String(section, at[f], at[f + 1] - at[f], StandardCharsets.ISO_8859_1);
                // As Netty's decoder: framing fields are not trailers (RFC 9110 §6.5.1).
                if (!HttpHeaderNames.CONTENT_LENGTH.contentEqualsIgnoreCase(name)
                        && !HttpHeaderNames.TRANSFER_ENCODING.contentEqualsIgnoreCase(name)
                        && !HttpHeaderNames.TRAILER.contentEqualsIgnoreCase(name)) {
                    last.trailingHeaders().add(name,
                            new String(section, at[f + 2], at[f + 3] - at[f + 2], StandardCharsets.ISO_8859_1));
                }
            }
            out.add(last);
        }
        state = State.HEAD;
    }

    // ------------------------------------------------------------ failures

    private void fail(ByteBuf in, List<Object> out, Exception cause, boolean headSent) {
        in.skipBytes(in.readableBytes());
        state = State.BAD;
        scanned = 0;
        if (headSent) {
            LastHttpContent last = new DefaultLastHttpContent(Unpooled.EMPTY_BUFFER);
            last.setDecoderResult(DecoderResult.failure(cause));
            out.add(last);
        } else {
            out.add(failedHead(cause));
        }
    }

    private static DefaultHttpResponse failedHead(Exception cause) {
        DefaultHttpResponse failed = new DefaultHttpResponse(HttpVersion.HTTP_1_1, HttpResponseStatus.BAD_GATEWAY);
        failed.setDecoderResult(DecoderResult.failure(cause));
        return failed;
    }

    /** A response that cannot be read one way only. */
    static final class InvalidResponseException extends Exception {
        private static final long serialVersionUID = 1L;

        InvalidResponseException(String message) {
            super(message, null, false, false);
        }
    }
}
