package org.mtlsproxy.proxy.upstream;

import static java.nio.charset.StandardCharsets.ISO_8859_1;
import static java.nio.charset.StandardCharsets.US_ASCII;
import static org.assertj.core.api.Assertions.assertThat;

import io.netty.buffer.ByteBuf;
import io.netty.buffer.Unpooled;
import io.netty.buffer.UnpooledByteBufAllocator;
import io.netty.channel.embedded.EmbeddedChannel;
import io.netty.handler.codec.DecoderResult;
import io.netty.handler.codec.PrematureChannelClosureException;
import io.netty.handler.codec.http.DefaultFullHttpRequest;
import io.netty.handler.codec.http.DefaultHttpRequest;
import io.netty.handler.codec.http.FullHttpResponse;
import io.netty.handler.codec.http.HttpContent;
import io.netty.handler.codec.http.HttpHeaderNames;
import io.netty.handler.codec.http.HttpHeaders;
import io.netty.handler.codec.http.HttpMethod;
import io.netty.handler.codec.http.HttpResponse;
import io.netty.handler.codec.http.HttpResponseStatus;
import io.netty.handler.codec.http.HttpVersion;
import io.netty.handler.codec.http.InvalidChunkTerminationException;
import io.netty.handler.codec.http.LastHttpContent;
import io.netty.handler.codec.http.TooLongHttpHeaderException;
import io.netty.handler.codec.http.TooLongHttpLineException;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.stream.Collectors;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

class ResponseDecoderTest {

    private static final int MAX_LINE = 8192;
    private static final int MAX_HEAD = 65536;

    private static final String SIMPLE = "HTTP/1.1 200 OK\r\n"
            + "Content-Type: text/plain\r\n"
            + "X-Trace: a b  c\r\n"
            + "Content-Length: 5\r\n"
            + "\r\n"
            + "hello";

    private static final String CHUNKED = "HTTP/1.1 200 OK\r\n"
            + "Transfer-Encoding: chunked\r\n"
            + "Trailer: X-Checksum\r\n"
            + "\r\n"
            + "4;name=value\r\n"
            + "Wiki\r\n"
            + "5 ; a=\"b c\" ;flag\r\n"
            + "pedia\r\n"
            + "E\r\n"
            + " in\r\n\r\nchunks.\r\n"
            + "0;last\r\n"
            + "X-Checksum: abc123\r\n"
            + "Content-Length: 99\r\n"
            + "Transfer-Encoding: chunked\r\n"
            + "Trailer: X-Checksum\r\n"
            + "X-Other:  two \r\n"
            + "\r\n";

    // ------------------------------------------------------------ what the decoder hands on

    /** A content the decoder handed on, read and released. */
    private record Body(String text, boolean last, HttpHeaders trailers, DecoderResult result) {
        @Override
        public String toString() {
            return (last ? "last" : "content") + failure(result) + "[" + text + "]";
        }
    }

    /** Bytes handed on undecoded (after a protocol switch), read and released. */
    private record Raw(String text) {
        @Override
        public String toString() {
            return "raw[" + text + "]";
        }
    }

    private static String failure(DecoderResult result) {
        return result.isFailure() ? "!" + result.cause().getClass().getSimpleName() : "";
    }

    private static String describe(Object item) {
        if (item instanceof HttpResponse response) {
            return "head " + response.status().code() + failure(response.decoderResult());
        }
        return item.toString();
    }

    private static List<String> describe(List<Object> items) {
        return items.stream().map(ResponseDecoderTest::describe).toList();
    }

    /** A last content whose decoding failed: the response was cut short. */
    private static void assertFailedLast(Object item) {
        assertThat(item).isInstanceOfSatisfying(Body.class, b -> {
            assertThat(b.last()).isTrue();
            assertThat(b.result().isFailure()).isTrue();
        });
    }

    private static List<HttpResponse> heads(List<Object> items) {
        return items.stream().filter(HttpResponse.class::isInstance).map(HttpResponse.class::cast).toList();
    }

    private static String body(List<Object> items) {
        return items.stream().filter(Body.class::isInstance).map(b -> ((Body) b).text())
                .collect(Collectors.joining());
    }

    private static List<String> fields(HttpHeaders headers) {
        List<String> fields = new ArrayList<>();
        for (Map.Entry<CharSequence, CharSequence> e : (Iterable<Map.Entry<CharSequence, CharSequence>>)
                headers::iteratorCharSequence) {
            fields.add(e.getKey() + ": " + e.getValue());
        }
        return fields;
    }

    /** A backend connection driven through the codec the proxy uses. */
    private static final class Connection implements AutoCloseable {
        final EmbeddedChannel channel = new EmbeddedChannel(new BackendHttpCodec(MAX_LINE, MAX_HEAD));
        /** Responses handed on as one message with their whole body. */
        int wholeResponses;

        Connection() {
        }

        /**
         * A connection whose buffers Netty's leak detector does not track: the tests run with paranoid detection,
         * which records a stack trace at every access to a tracked buffer, and the decoder reads its cumulation a
         * byte at a time; the loops that decode a message hundreds of times would take seconds. The other tests
         * cover the same code paths with tracked buffers.
         */
        static Connection untracked() {
            Connection c = new Connection();
            c.channel.config().setAllocator(new UnpooledByteBufAllocator(false, true));
            return c;
        }

        Connection send(HttpMethod method) {
            assertThat(channel.writeOutbound(new DefaultFullHttpRequest(HttpVersion.HTTP_1_1, method, "/x")))
                    .isTrue();
            releaseOutbound();
            return this;
        }

        /** As {@link #send}, with a request head and its last content written separately. */
        Connection sendStreamed(HttpMethod method) {
            channel.writeOutbound(new DefaultHttpRequest(HttpVersion.HTTP_1_1, method, "/x"),
                    LastHttpContent.EMPTY_LAST_CONTENT);
            releaseOutbound();
            return this;
        }

        private void releaseOutbound() {
            int buffers = 0;
            for (Object o; (o = channel.readOutbound()) != null; ) {
                assertThat(o).isInstanceOf(ByteBuf.class);
                ((ByteBuf) o).release();
                buffers++;
            }
            assertThat(buffers).as("encoded request buffers").isPositive();
        }

        List<Object> receive(String wire) {
            return receive(wire.getBytes(US_ASCII));
        }

        List<Object> receive(byte[] wire) {
            channel.writeInbound(Unpooled.copiedBuffer(wire));
            return drain();
        }

        /** Every byte written on its own, everything decoded collected. */
        List<Object> receiveBytewise(String wire) {
            List<Object> items = new ArrayList<>();
            byte[] bytes = wire.getBytes(US_ASCII);
            for (int i = 0; i < bytes.length; i++) {
                items.addAll(receive(new byte[] {bytes[i]}));
            }
            return items;
        }

        /** The backend closes the connection. */
        List<Object> hangUp() {
            channel.finish();
            return drain();
        }

        List<Object> drain() {
            List<Object> items = new ArrayList<>();
            for (Object o; (o = channel.readInbound()) != null; ) {
                if (o instanceof FullHttpResponse whole) {
                    // A small body that came with its head, in one message: described as its head and last content.
                    wholeResponses++;
                    items.add(whole);
                    try {
                        items.add(new Body(whole.content().toString(ISO_8859_1), true, whole.trailingHeaders(),
                                whole.decoderResult()));
                    } finally {
                        whole.release();
                    }
                } else if (o instanceof HttpResponse response) {
                    assertThat(o).isNotInstanceOf(HttpContent.class);
                    items.add(response);
                } else if (o instanceof HttpContent content) {
                    try {
                        items.add(new Body(content.content().toString(ISO_8859_1),
                                content instanceof LastHttpContent,
                                content instanceof LastHttpContent last ? last.trailingHeaders() : null,
                                content.decoderResult()));
                    } finally {
                        content.release();
                    }
                } else if (o instanceof ByteBuf raw) {
                    try {
                        items.add(new Raw(raw.toString(ISO_8859_1)));
                    } finally {
                        raw.release();
                    }
                } else {
                    throw new AssertionError("unexpected inbound message " + o);
                }
            }
            return items;
        }

        /** After a GET, {@code wire} yields one failed head, and then nothing more comes out. */
        void assertRefused(String wire) {
            List<Object> items = send(HttpMethod.GET).receive(wire);

            assertThat(items).hasSize(1);
            assertThat(heads(items).get(0).decoderResult().isFailure()).isTrue();
            assertDiscardsEverything();
        }

        /** Nothing more comes out of the connection, whatever the backend sends, and at the close. */
        void assertDiscardsEverything() {
            assertThat(receive("HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")).isEmpty();
            assertThat(receive("HTTP/1.1 200 OK\r\n\r\n")).isEmpty();
            assertThat(hangUp()).isEmpty();
        }

        @Override
        public void close() {
            channel.finishAndReleaseAll();
        }
    }

    private static List<Object> oneResponse(HttpMethod method, String wire) {
        try (Connection c = new Connection()) {
            return c.send(method).receive(wire);
        }
    }

    // ------------------------------------------------------------ Content-Length

    @Test
    void contentLengthBodyInOneWrite() {
        try (Connection c = new Connection()) {
            List<Object> items = c.send(HttpMethod.GET).receive(SIMPLE);

            assertThat(describe(items)).containsExactly("head 200", "last[hello]");
            HttpResponse head = heads(items).get(0);
            assertThat(head.protocolVersion()).isSameAs(HttpVersion.HTTP_1_1);
            assertThat(head.status()).isSameAs(HttpResponseStatus.OK);
            assertThat(head.decoderResult().isSuccess()).isTrue();
            assertThat(head.headers()).isInstanceOf(ReceivedHeaders.class);
            assertThat(fields(head.headers()))
                    .containsExactly("Content-Type: text/plain", "X-Trace: a b  c", "Content-Length: 5");
            assertThat(head.headers().get(HttpHeaderNames.CONTENT_LENGTH)).isEqualTo("5");
            assertThat(c.hangUp()).as("a complete response ends nothing at the close").isEmpty();
        }
    }

    /** A decoded exchange in a few words, to compare however its bytes arrived. */
    private static String summary(List<Object> items) {
        StringBuilder summary = new StringBuilder();
        for (Object item : items) {
            if (item instanceof HttpResponse head) {
                summary.append(describe(head)).append(' ').append(head.status().reasonPhrase()).append(' ')
                        .append(fields(head.headers())).append('|');
            } else if (item instanceof Body b && b.last()) {
                summary.append(b.text()).append("last").append(failure(b.result())).append(' ')
                        .append(fields(b.trailers())).append('|');
            } else if (item instanceof Body b) {
                summary.append(b.text());
            } else {
                summary.append(item).append('|');
            }
        }
        return summary.toString();
    }

    /**
     * The summaries of {@code wire} split in two at every byte boundary, one response after the other on the same
     * connection (as a keep-alive connection reads them).
     */
    private static List<String> splitEverywhere(String wire) {
        List<String> summaries = new ArrayList<>();
        try (Connection c = Connection.untracked()) {
            for (int split = 1; split < wire.length(); split++) {
                c.send(HttpMethod.GET);
                List<Object> items = new ArrayList<>(c.receive(wire.substring(0, split)));
                items.addAll(c.receive(wire.substring(split)));
                summaries.add("split at " + split + ": " + summary(items));
            }
        }
        return summaries;
    }

    private static List<String> expectedEverywhere(String wire, String summary) {
        List<String> summaries = new ArrayList<>();
        for (int split = 1; split < wire.length(); split++) {
            summaries.add("split at " + split + ": " + summary);
        }
        return summaries;
    }

    @Test
    void contentLengthResponseSplitInTwoAtEveryByteBoundary() {
        String whole = summary(oneResponse(HttpMethod.GET, SIMPLE));
        assertThat(whole).isEqualTo(
                "head 200 OK [Content-Type: text/plain, X-Trace: a b  c, Content-Length: 5]|hellolast []|");

        assertThat(splitEverywhere(SIMPLE)).isEqualTo(expectedEverywhere(SIMPLE, whole));
    }

    @Test
    void contentLengthResponseFedOneByteAtATime() {
        try (Connection c = new Connection()) {
            c.send(HttpMethod.GET);
            List<Object> items = c.receiveBytewise(SIMPLE + SIMPLE.replace("hello", "world"));

            assertThat(describe(items)).containsExactly(
                    "head 200", "content[h]", "content[e]", "content[l]", "content[l]", "last[o]",
                    "head 200", "content[w]", "content[o]", "content[r]", "content[l]", "last[d]");
            assertThat(fields(heads(items).get(0).headers()))
                    .containsExactly("Content-Type: text/plain", "X-Trace: a b  c", "Content-Length: 5");
            assertThat(fields(heads(items).get(1).headers()))
                    .containsExactly("Content-Type: text/plain", "X-Trace: a b  c", "Content-Length: 5");
        }
    }

    @Test
    void zeroContentLengthEndsTheResponseWithTheHead() {
        List<Object> items = oneResponse(HttpMethod.GET, "HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n");

        assertThat(describe(items)).containsExactly("head 200", "last[]");
    }

    @Test
    void aSmallBodyThatCameWithItsHeadIsHandedOnWithItInOneMessage() {
        try (Connection c = new Connection()) {
            List<Object> items = c.send(HttpMethod.GET).send(HttpMethod.GET)
                    .receive(SIMPLE + SIMPLE.replace("hello", "world"));

            assertThat(describe(items)).containsExactly("head 200", "last[hello]", "head 200", "last[world]");
            assertThat(c.wholeResponses).isEqualTo(2);
            assertThat(c.send(HttpMethod.GET).receive("HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n"))
                    .extracting(ResponseDecoderTest::describe).containsExactly("head 200", "last[]");
            assertThat(c.wholeResponses).isEqualTo(3);
        }
    }

    @Test
    void aBodyThatIsNotAllThereOrOverTheLimitFollowsItsHead() {
        try (Connection c = new Connection()) {
            List<Object> items = c.send(HttpMethod.GET).receive(SIMPLE.replace("hello", "hel"));
            items.addAll(c.receive("lo"));
            String limit = "x".repeat(ResponseDecoder.WHOLE_BODY_LIMIT);
            items.addAll(c.send(HttpMethod.GET).receive(
                    "HTTP/1.1 200 OK\r\nContent-Length: " + (limit.length() + 1) + "\r\n\r\n" + limit + "y"));

            assertThat(describe(items)).containsExactly(
                    "head 200", "content[hel]", "last[lo]", "head 200", "last[" + limit + "y]");
            assertThat(c.wholeResponses).isZero();

            assertThat(describe(c.send(HttpMethod.GET).receive(
                    "HTTP/1.1 200 OK\r\nContent-Length: " + limit.length() + "\r\n\r\n" + limit)))
                    .containsExactly("head 200", "last[" + limit + "]");
            assertThat(c.wholeResponses).as("a body of exactly the limit").isEqualTo(1);
        }
    }

    @Test
    void aLargeBodyIsHandedOnInSlicesOfAtMostMaxContentSlice() {
        String payload = "x".repeat(ResponseDecoder.MAX_CONTENT_SLICE + 10);
        List<Object> items = oneResponse(HttpMethod.GET,
                "HTTP/1.1 200 OK\r\nContent-Length: " + payload.length() + "\r\n\r\n" + payload);

        assertThat(items).hasSize(3);
        assertThat(((Body) items.get(1)).text()).hasSize(ResponseDecoder.MAX_CONTENT_SLICE);
        assertThat(((Body) items.get(1)).last()).isFalse();
        assertThat(((Body) items.get(2)).text()).hasSize(10);
        assertThat(((Body) items.get(2)).last()).isTrue();
    }

    /** Several values, equal or not, listed or repeated: refused, as Netty's decoder refused them. */
    @ParameterizedTest
    @ValueSource(strings = {"Content-Length: 42, 42\r\n", "Content-Length: 42\r\nContent-Length: 42\r\n",
        "Content-Length: 42,42 , 42\r\n", "Content-Length: 42, 43\r\n", "Content-Length: 42\r\nContent-Length: 43\r\n",
        "Content-Length: 42\r\nX-A: b\r\ncontent-length: 4\r\n"})
    void severalContentLengthValuesAreRejected(String fields) {
        try (Connection c = new Connection()) {
            c.assertRefused("HTTP/1.1 200 OK\r\n" + fields + "\r\n" + "p".repeat(42));
        }
    }

    @ParameterizedTest
    @ValueSource(strings = {"abc", "-1", "+5", "1.0", "0x10", "4 2", "5;", "", "42,", ",42", "42,,42",
        "99999999999999999999999"})
    void nonNumericContentLengthIsRejected(String value) {
        try (Connection c = new Connection()) {
            c.assertRefused("HTTP/1.1 200 OK\r\nContent-Length: " + value + "\r\n\r\nhello");
        }
    }

    // ------------------------------------------------------------ chunked

    @Test
    void chunkedBodyWithExtensionsAndTrailers() {
        try (Connection c = new Connection()) {
            List<Object> items = c.send(HttpMethod.GET).receive(CHUNKED);

            assertThat(describe(items)).containsExactly(
                    "head 200", "content[Wiki]", "content[pedia]", "content[ in\r\n\r\nchunks.]", "last[]");
            assertThat(fields(heads(items).get(0).headers()))
                    .containsExactly("Transfer-Encoding: chunked", "Trailer: X-Checksum");
            Body last = (Body) items.get(items.size() - 1);
            assertThat(last.result().isSuccess()).isTrue();
            assertThat(fields(last.trailers()))
                    .as("Content-Length, Transfer-Encoding and Trailer are dropped from the trailers")
                    .containsExactly("X-Checksum: abc123", "X-Other: two");
        }
    }

    @Test
    void chunkedResponseSplitInTwoAtEveryByteBoundary() {
        String whole = summary(oneResponse(HttpMethod.GET, CHUNKED));
        assertThat(whole).isEqualTo("head 200 OK [Transfer-Encoding: chunked, Trailer: X-Checksum]|"
                + "Wikipedia in\r\n\r\nchunks.last [X-Checksum: abc123, X-Other: two]|");

        assertThat(splitEverywhere(CHUNKED)).isEqualTo(expectedEverywhere(CHUNKED, whole));
    }

    @Test
    void chunkedResponseFedOneByteAtATime() {
        try (Connection c = new Connection()) {
            c.send(HttpMethod.GET).send(HttpMethod.GET);
            List<Object> items = c.receiveBytewise(CHUNKED + CHUNKED);

            List<HttpResponse> heads = heads(items);
            assertThat(heads).hasSize(2);
            assertThat(heads).allSatisfy(h -> assertThat(h.decoderResult().isSuccess()).isTrue());
            assertThat(body(items)).isEqualTo("Wikipedia in\r\n\r\nchunks.".repeat(2));
            List<Body> lasts = items.stream().filter(i -> i instanceof Body b && b.last()).map(Body.class::cast)
                    .toList();
            assertThat(lasts).hasSize(2);
            assertThat(lasts).allSatisfy(l -> assertThat(fields(l.trailers()))
                    .containsExactly("X-Checksum: abc123", "X-Other: two"));
            assertThat(items.get(items.size() - 1)).isSameAs(lasts.get(1));
        }
    }

    @Test
    void chunkedBodyWithoutTrailersAndBareLfChunkSizeLinesEndsWithAnEmptyLastContent() {
        try (Connection c = new Connection()) {
            List<Object> items = c.send(HttpMethod.GET).send(HttpMethod.GET).receive(
                    "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n"
                            + "HTTP/1.1 200 OK\nTransfer-Encoding: Chunked\n\na\nabcdefghij\r\n0\n\n");

            assertThat(describe(items)).containsExactly(
                    "head 200", "content[abc]", "last[]", "head 200", "content[abcdefghij]", "last[]");
            assertThat(((Body) items.get(2)).trailers().isEmpty()).isTrue();
        }
    }

    /** What a client or cache could frame another way than the proxy: refused, as Netty's decoder refused it. */
    @ParameterizedTest
    @ValueSource(strings = {"Transfer-Encoding: chunked\r\nContent-Length: 100\r\n",
        "Content-Length: 100\r\nTransfer-Encoding: chunked\r\n", "Transfer-Encoding: gzip\r\nContent-Length: 3\r\n",
        "Transfer-Encoding: chunked, gzip\r\n", "Transfer-Encoding: chunked\r\nTransfer-Encoding: gzip\r\n",
        "Transfer-Encoding: chunked, chunked\r\n", "Transfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n"})
    void transferEncodingThatCouldBeFramedTwoWaysIsRejected(String fields) {
        try (Connection c = new Connection()) {
            c.assertRefused("HTTP/1.1 200 OK\r\n" + fields + "X-After: 1\r\n\r\n3\r\nabc\r\n0\r\n\r\n");
        }
    }

    @Test
    void transferEncodingInAnHttp10ResponseIsRejected() {
        try (Connection c = new Connection()) {
            c.assertRefused("HTTP/1.0 200 OK\r\nConnection: keep-alive\r\nTransfer-Encoding: chunked\r\n\r\n"
                    + "3\r\nabc\r\n0\r\n\r\n");
        }
    }

    @Test
    void aResponseWithoutABodyLosesTheChunkedCodingAsWithNetty() {
        try (Connection c = new Connection()) {
            List<Object> items = c.send(HttpMethod.HEAD).send(HttpMethod.GET).receive(
                    "HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip\r\nTransfer-Encoding: chunked\r\nContent-Length: 7\r\n\r\n"
                            + "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok");

            assertThat(describe(items)).containsExactly("head 200", "last[]", "head 200", "last[ok]");
            HttpHeaders headers = heads(items).get(0).headers();
            assertThat(headers.getAll(HttpHeaderNames.TRANSFER_ENCODING)).containsExactly("gzip");
            assertThat(headers.get(HttpHeaderNames.CONTENT_LENGTH)).isEqualTo("7");
        }
    }

    @ParameterizedTest
    @ValueSource(strings = {"Transfer-Encoding: gzip, chunked\r\n",
        "Transfer-Encoding: gzip\r\nTransfer-Encoding: CHUNKED\r\n", "Transfer-Encoding: gzip,chunked , \r\n"})
    void transferEncodingWhoseLastCodingIsChunkedIsChunked(String fields) {
        List<Object> items = oneResponse(HttpMethod.GET,
                "HTTP/1.1 200 OK\r\n" + fields + "\r\n3\r\nabc\r\n0\r\n\r\n");

        assertThat(describe(items)).containsExactly("head 200", "content[abc]", "last[]");
    }

    @ParameterizedTest
    @ValueSource(strings = {"Transfer-Encoding: gzip\r\n", "Transfer-Encoding: xchunked\r\n",
        "Transfer-Encoding: gzip chunked\r\n"})
    void transferEncodingWithoutChunkedIsReadUntilTheClose(String fields) {
        try (Connection c = new Connection()) {
            List<Object> items = c.send(HttpMethod.GET).receive(
                    "HTTP/1.1 200 OK\r\n" + fields + "\r\n3\r\nabc\r\n0\r\n\r\n");
            items.addAll(c.receive("HTTP/1.1 200 OK\r\n\r\n"));

            assertThat(describe(items)).containsExactly(
                    "head 200", "content[3\r\nabc\r\n0\r\n\r\n]", "content[HTTP/1.1 200 OK\r\n\r\n]");
            assertThat(heads(items).get(0).headers().contains(HttpHeaderNames.CONTENT_LENGTH)).isFalse();
            assertThat(describe(c.hangUp())).containsExactly("last[]");
        }
    }

    @ParameterizedTest
    @ValueSource(strings = {"zz", "", " 5", "5 ", "5 x", "-1", "5\u0001;x", "5;a\u0000b", "fffffffff"})
    void badChunkSizeFailsTheLastContentAndDiscardsTheConnection(String sizeLine) {
        try (Connection c = new Connection()) {
            List<Object> items = c.send(HttpMethod.GET).receive(
                    "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n" + sizeLine + "\r\nhello\r\n0\r\n\r\n");

            assertThat(items).hasSize(2);
            assertThat(describe(items.get(0))).isEqualTo("head 200");
            assertFailedLast(items.get(1));
            c.assertDiscardsEverything();
        }
    }

    @Test
    void overlongChunkSizeLineFails() {
        try (Connection c = new Connection()) {
            List<Object> items = c.send(HttpMethod.GET).receive(
                    "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5;" + "e".repeat(MAX_LINE));

            assertThat(describe(items)).containsExactly("head 200", "last!TooLongHttpLineException[]");
            c.assertDiscardsEverything();
        }
    }

    @Test
    void chunkSizeLineOfExactlyMaxLineBytesIsAcceptedHoweverItArrives() {
        String line = "5;";
        line += "e".repeat(MAX_LINE - line.length());
        String head = "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n";
        for (int split : new int[] {0, line.length(), line.length() + 1}) {
            String wire = line + "\r\nhello\r\n0\r\n\r\n";
            try (Connection c = Connection.untracked()) {
                List<Object> items = new ArrayList<>(c.send(HttpMethod.GET).receive(head + wire.substring(0, split)));
                items.addAll(c.receive(wire.substring(split)));

                assertThat(describe(items)).as("split at %d", split)
                        .containsExactly("head 200", "content[hello]", "last[]");
            }
        }
    }

    @Test
    void chunkSizeLineOverMaxLineFailsHoweverItArrives() {
        String line = "5;";
        line += "e".repeat(MAX_LINE + 1 - line.length());
        String head = "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n";
        for (int split : new int[] {0, line.length(), line.length() + 1}) {
            String wire = line + "\r\nhello\r\n0\r\n\r\n";
            try (Connection c = Connection.untracked()) {
                List<Object> items = new ArrayList<>(c.send(HttpMethod.GET).receive(head + wire.substring(0, split)));
                items.addAll(c.receive(wire.substring(split)));

                assertThat(describe(items)).as("split at %d", split)
                        .containsExactly("head 200", "last!TooLongHttpLineException[]");
                c.assertDiscardsEverything();
            }
        }
    }

    @ParameterizedTest
    @ValueSource(strings = {"helloXY0\r\n\r\n", "hello\n0\r\n\r\n", "hello\r0\r\n\r\n", "hello0\r\n\r\n"})
    void missingCrlfAfterChunkDataFails(String afterSize) {
        try (Connection c = new Connection()) {
            List<Object> items = c.send(HttpMethod.GET).receive(
                    "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\n" + afterSize);

            assertThat(describe(items)).containsExactly(
                    "head 200", "content[hello]", "last!InvalidChunkTerminationException[]");
            assertThat(((Body) items.get(2)).result().cause()).isInstanceOf(InvalidChunkTerminationException.class);
            c.assertDiscardsEverything();
        }
    }

    @Test
    void missingCrlfAfterChunkDataFailsWhenFedOneByteAtATime() {
        try (Connection c = new Connection()) {
            List<Object> items = c.send(HttpMethod.GET).receiveBytewise(
                    "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nhi\rX");

            assertThat(describe(items)).containsExactly(
                    "head 200", "content[h]", "content[i]", "last!InvalidChunkTerminationException[]");
            c.assertDiscardsEverything();
        }
    }

    @ParameterizedTest
    @ValueSource(strings = {" X-Folded: a\r\n", "X-A: b\r\n c\r\n", "X-A: b\r\n\tc\r\n", "X-A : b\r\n",
        "X-A: b\rc\r\n", "X-A\r\n"})
    void malformedTrailersFailTheLastContent(String trailers) {
        try (Connection c = new Connection()) {
            List<Object> items = c.send(HttpMethod.GET).receive(
                    "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nhi\r\n0\r\n" + trailers + "\r\n");

            assertThat(items).hasSize(3);
            assertThat(describe(items.subList(0, 2))).containsExactly("head 200", "content[hi]");
            assertFailedLast(items.get(2));
            c.assertDiscardsEverything();
        }
    }

    @Test
    void trailerSectionOverMaxHeadFails() {
        try (Connection c = new Connection()) {
            List<Object> items = c.send(HttpMethod.GET).receive(
                    "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n0\r\nX-Big: " + "b".repeat(MAX_HEAD));

            assertThat(describe(items)).containsExactly("head 200", "last!TooLongHttpHeaderException[]");
            c.assertDiscardsEverything();
        }
    }

    // ------------------------------------------------------------ read until close, premature close

    @Test
    void closeDelimitedBodyEndsAtTheClose() {
        try (Connection c = new Connection()) {
            c.send(HttpMethod.GET);
            List<Object> items = new ArrayList<>(c.receive("HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\n\r\nab"));
            items.addAll(c.receive("cd"));
            items.addAll(c.hangUp());

            assertThat(describe(items)).containsExactly("head 200", "content[ab]", "content[cd]", "last[]");
        }
    }

    @Test
    void http10ResponseWithoutLengthIsReadUntilTheClose() {
        try (Connection c = new Connection()) {
            List<Object> items = new ArrayList<>(c.send(HttpMethod.GET).receive("HTTP/1.0 200 OK\r\n\r\nbody"));
            items.addAll(c.hangUp());

            assertThat(describe(items)).containsExactly("head 200", "content[body]", "last[]");
            assertThat(heads(items).get(0).protocolVersion()).isSameAs(HttpVersion.HTTP_1_0);
        }
    }

    @Test
    void closeMidFixedLengthBodyEmitsNoLastContent() {
        try (Connection c = new Connection()) {
            List<Object> items = new ArrayList<>(c.send(HttpMethod.GET)
                    .receive("HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nhello"));
            items.addAll(c.hangUp());

            assertThat(describe(items)).containsExactly("head 200", "content[hello]");
        }
    }

    @Test
    void closeMidChunkedBodyEmitsNoLastContent() {
        try (Connection c = new Connection()) {
            List<Object> items = new ArrayList<>(c.send(HttpMethod.GET)
                    .receive("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhel"));
            items.addAll(c.hangUp());

            assertThat(describe(items)).containsExactly("head 200", "content[hel]");
        }
    }

    @ParameterizedTest
    @ValueSource(strings = {"HTTP/1.1 200 OK\r\n", "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\n",
        "HTTP/1.1 200 OK\r\nContent-Type: text/pl", "HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r"})
    void closeAfterTheStatusLineButBeforeTheEndOfTheHeadEmitsAFailedHead(String partial) {
        try (Connection c = new Connection()) {
            assertThat(c.send(HttpMethod.GET).receive(partial)).isEmpty();

            List<Object> items = c.hangUp();

            assertThat(describe(items)).containsExactly("head 502!PrematureChannelClosureException");
            assertThat(heads(items).get(0).decoderResult().cause())
                    .isInstanceOf(PrematureChannelClosureException.class);
        }
    }

    @ParameterizedTest
    @ValueSource(strings = {"", "\r\n", "HTTP/1.1 20"})
    void closeBeforeAStatusLineEmitsNothing(String partial) {
        try (Connection c = new Connection()) {
            assertThat(c.send(HttpMethod.GET).receive(partial)).isEmpty();

            assertThat(c.hangUp()).isEmpty();
        }
    }

    // ------------------------------------------------------------ responses without a body

    @Test
    void responseToHeadHasNoBodyAndTheNextResponseDecodes() {
        try (Connection c = new Connection()) {
            List<Object> items = c.sendStreamed(HttpMethod.HEAD).send(HttpMethod.GET).receive(
                    "HTTP/1.1 200 OK\r\nContent-Length: 1000\r\n\r\n"
                            + "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok");

            assertThat(describe(items)).containsExactly("head 200", "last[]", "head 200", "last[ok]");
            assertThat(heads(items).get(0).headers().get(HttpHeaderNames.CONTENT_LENGTH)).isEqualTo("1000");
        }
    }

    @Test
    void chunkedResponseToHeadHasNoBody() {
        try (Connection c = new Connection()) {
            List<Object> items = c.send(HttpMethod.HEAD).send(HttpMethod.GET).receive(
                    "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
                            + "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok");

            assertThat(describe(items)).containsExactly("head 200", "last[]", "head 200", "last[ok]");
        }
    }

    @Test
    void noContentAndNotModifiedHaveNoBody() {
        try (Connection c = new Connection()) {
            List<Object> items = c.send(HttpMethod.GET).send(HttpMethod.GET).send(HttpMethod.GET).receive(
                    "HTTP/1.1 204 No Content\r\nContent-Length: 10\r\n\r\n"
                            + "HTTP/1.1 304 Not Modified\r\nContent-Length: 42\r\nETag: \"x\"\r\n\r\n"
                            + "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok");

            assertThat(describe(items)).containsExactly(
                    "head 204", "last[]", "head 304", "last[]", "head 200", "last[ok]");
            assertThat(heads(items).get(0).status()).isSameAs(HttpResponseStatus.NO_CONTENT);
            assertThat(heads(items).get(1).status()).isSameAs(HttpResponseStatus.NOT_MODIFIED);
        }
    }

    @Test
    void informationalResponsesDoNotConsumeTheQueuedMethod() {
        try (Connection c = new Connection()) {
            List<Object> items = c.send(HttpMethod.HEAD).send(HttpMethod.GET).receive(
                    "HTTP/1.1 100 Continue\r\n\r\n"
                            + "HTTP/1.1 103 Early Hints\r\nLink: </a.css>; rel=preload\r\n\r\n"
                            + "HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\n"
                            + "HTTP/1.1 100 Continue\r\n\r\n"
                            + "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok");

            assertThat(describe(items)).containsExactly(
                    "head 100", "last[]", "head 103", "last[]",
                    "head 200", "last[]",
                    "head 100", "last[]", "head 200", "last[ok]");
            assertThat(heads(items).get(0).status()).isSameAs(HttpResponseStatus.CONTINUE);
        }
    }

    @Test
    void switchingToWebSocketPassesTheLaterBytesThroughRaw() {
        try (Connection c = new Connection()) {
            List<Object> items = new ArrayList<>(c.send(HttpMethod.GET).receive(
                    "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n"
                            + "frame-1"));
            items.addAll(c.receive("HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n"));
            items.addAll(c.hangUp());

            assertThat(describe(items)).containsExactly("head 101", "last[]", "raw[frame-1]",
                    "raw[HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n]");
            assertThat(heads(items).get(0).status()).isSameAs(HttpResponseStatus.SWITCHING_PROTOCOLS);
        }
    }

    @Test
    void switchingToHttp11KeepsDecodingHttp() {
        try (Connection c = new Connection()) {
            List<Object> items = c.send(HttpMethod.GET).send(HttpMethod.GET).receive(
                    "HTTP/1.1 101 Switching Protocols\r\nUpgrade: HTTP/1.1\r\n\r\n"
                            + "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok");

            assertThat(describe(items)).containsExactly("head 101", "last[]", "head 200", "last[ok]");
        }
    }

    // ------------------------------------------------------------ keep-alive

    @Test
    void twoResponsesBackToBackInOneBufferWithExtraCrlfBetween() {
        try (Connection c = new Connection()) {
            List<Object> items = c.send(HttpMethod.GET).send(HttpMethod.GET).send(HttpMethod.GET).receive(
                    SIMPLE + "\r\n\r\n\n" + "HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n"
                            + "HTTP/1.1 200 OK\r\nContent-Length: 3\r\n\r\nabc");

            assertThat(describe(items)).containsExactly(
                    "head 200", "last[hello]", "head 404", "last[]", "head 200", "last[abc]");
            assertThat(heads(items).get(1).status()).isSameAs(HttpResponseStatus.NOT_FOUND);
            assertThat(c.hangUp()).isEmpty();
        }
    }

    // ------------------------------------------------------------ status line

    @Test
    void standardReasonPhraseGivesTheSameStatusConstant() {
        List<Object> items = oneResponse(HttpMethod.GET,
                "HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n");

        assertThat(heads(items).get(0).status()).isSameAs(HttpResponseStatus.NOT_FOUND);
    }

    @Test
    void customReasonPhraseIsKept() {
        List<Object> items = oneResponse(HttpMethod.GET,
                "HTTP/1.1 200 All\tGood ~\r\nContent-Length: 0\r\n\r\n");

        HttpResponseStatus status = heads(items).get(0).status();
        assertThat(status).isNotSameAs(HttpResponseStatus.OK);
        assertThat(status.code()).isEqualTo(200);
        assertThat(status.reasonPhrase()).isEqualTo("All\tGood ~");
    }

    @Test
    void obsTextInTheReasonPhraseIsKept() {
        try (Connection c = new Connection()) {
            List<Object> items = c.send(HttpMethod.GET)
                    .receive("HTTP/1.1 200 Tr\u00e8s bien\r\nContent-Length: 0\r\n\r\n".getBytes(ISO_8859_1));

            assertThat(heads(items).get(0).status().reasonPhrase()).isEqualTo("Tr\u00e8s bien");
        }
    }

    @ParameterizedTest
    @ValueSource(strings = {"HTTP/1.1 200\r\n", "HTTP/1.1 200 \r\n"})
    void emptyReasonPhraseIsAccepted(String statusLine) {
        List<Object> items = oneResponse(HttpMethod.GET, statusLine + "Content-Length: 2\r\n\r\nok");

        assertThat(describe(items)).containsExactly("head 200", "last[ok]");
        HttpResponseStatus status = heads(items).get(0).status();
        assertThat(status.code()).isEqualTo(200);
        assertThat(status.reasonPhrase()).isEmpty();
    }

    @Test
    void unknownStatusCodeIsAccepted() {
        List<Object> items = oneResponse(HttpMethod.GET, "HTTP/1.1 299 Custom\r\nContent-Length: 0\r\n\r\n");

        assertThat(describe(items)).containsExactly("head 299", "last[]");
        assertThat(heads(items).get(0).status().reasonPhrase()).isEqualTo("Custom");
    }

    @Test
    void bareLfLineEndingsAreAcceptedInTheHead() {
        try (Connection c = new Connection()) {
            List<Object> items = c.send(HttpMethod.GET).send(HttpMethod.GET).receive(
                    "HTTP/1.1 200 OK\nContent-Length: 2\nX-A: b\r\nX-C: d\n\nok"
                            + "\nHTTP/1.1 201 Created\nContent-Length: 0\n\n");

            assertThat(describe(items)).containsExactly("head 200", "last[ok]", "head 201", "last[]");
            assertThat(heads(items).get(0).status()).isSameAs(HttpResponseStatus.OK);
            assertThat(fields(heads(items).get(0).headers()))
                    .containsExactly("Content-Length: 2", "X-A: b", "X-C: d");
        }
    }

    @Test
    void fieldValuesAreTrimmedAndMayBeEmptyOrCarryObsText() {
        try (Connection c = new Connection()) {
            List<Object> items = c.send(HttpMethod.GET).receive(
                    ("HTTP/1.1 200 OK\r\nX-A:a\r\nX-B: \t b  c \t \r\nX-Empty:\r\nX-Blank:   \r\n"
                            + "X-Obs: caf\u00e9\r\n\r\n")
                            .getBytes(ISO_8859_1));

            HttpHeaders headers = heads(items).get(0).headers();
            assertThat(fields(headers))
                    .containsExactly("X-A: a", "X-B: b  c", "X-Empty: ", "X-Blank: ", "X-Obs: caf\u00e9");
        }
    }

    // ------------------------------------------------------------ failures in the head

    @ParameterizedTest
    @ValueSource(strings = {
        // obs-fold
        "HTTP/1.1 200 OK\r\nX-A: b\r\n c\r\nContent-Length: 0\r\n\r\n",
        "HTTP/1.1 200 OK\r\n X-A: b\r\nContent-Length: 0\r\n\r\n",
        "HTTP/1.1 200 OK\r\nX-A: b\r\n\tc\r\n\r\n",
        // whitespace or other non-token bytes in or after a name
        "HTTP/1.1 200 OK\r\nContent-Length : 0\r\n\r\n",
        "HTTP/1.1 200 OK\r\nContent-Length\t: 0\r\n\r\n",
        "HTTP/1.1 200 OK\r\nX A: b\r\n\r\n",
        "HTTP/1.1 200 OK\r\nX(A): b\r\n\r\n",
        "HTTP/1.1 200 OK\r\n: b\r\n\r\n",
        "HTTP/1.1 200 OK\r\nX-No-Colon\r\n\r\n",
        // control characters in a value
        "HTTP/1.1 200 OK\r\nX-A: a\rb\r\n\r\n",
        "HTTP/1.1 200 OK\r\nX-A: a\r\r\n\r\n",
        "HTTP/1.1 200 OK\r\nX-A: a\u0000b\r\n\r\n",
        "HTTP/1.1 200 OK\r\nX-A: a\u007fb\r\n\r\n",
        "HTTP/1.1 200 OK\r\nX-A: a\u000bb\r\n\r\n",
        "HTTP/1.1 200 OK\r\nX-A: b\r\n\r\r\n",
        // status line
        "HTTP/2.0 200 OK\r\n\r\n",
        "HTTP/1.2 200 OK\r\n\r\n",
        "HTTP/1.1 OK\r\n\r\n",
        "HTTP/1.1  200 OK\r\n\r\n",
        "HTTP/1.1 20 OK\r\n\r\n",
        "HTTP/1.1 20\r\n\r\n",
        "HTTP/1.1 2000 OK\r\n\r\n",
        "HTTP/1.1 099 Low\r\n\r\n",
        "HTTP/1.1 2x0 OK\r\n\r\n",
        "HTTP/1.1\t200 OK\r\n\r\n",
        "http/1.1 200 OK\r\n\r\n",
        "ICY 200 OK\r\n\r\n",
        "HTTP/1.1 200 O\rK\r\n\r\n",
        "HTTP/1.1 200 O\u0000K\r\n\r\n",
        "garbage\r\n\r\n"})
    void malformedHeadFailsAndTheConnectionIsDiscarded(String wire) {
        try (Connection c = new Connection()) {
            List<Object> items = c.send(HttpMethod.GET).receive(wire + "HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n");

            assertThat(items).hasSize(1);
            HttpResponse head = heads(items).get(0);
            assertThat(head.decoderResult().isFailure()).isTrue();
            assertThat(head.decoderResult().cause()).isNotNull();
            c.assertDiscardsEverything();
        }
    }

    @Test
    void malformedHeadFailsWhenFedOneByteAtATime() {
        try (Connection c = new Connection()) {
            List<Object> items = c.send(HttpMethod.GET)
                    .receiveBytewise("HTTP/1.1 200 OK\r\nX-A: b\r\n c\r\n\r\nHTTP/1.1 200 OK\r\n\r\n");

            assertThat(items).hasSize(1);
            assertThat(heads(items).get(0).decoderResult().isFailure()).isTrue();
            c.assertDiscardsEverything();
        }
    }

    @Test
    void headOverMaxHeadFails() {
        StringBuilder head = new StringBuilder("HTTP/1.1 200 OK\r\n");
        for (int i = 0; head.length() <= MAX_HEAD; i++) {
            head.append("X-Field-").append(i).append(": ").append("v".repeat(100)).append("\r\n");
        }
        head.append("Content-Length: 0\r\n\r\n");
        try (Connection c = new Connection()) {
            List<Object> items = c.send(HttpMethod.GET).receive(head.toString());

            assertThat(describe(items)).containsExactly("head 502!TooLongHttpHeaderException");
            assertThat(heads(items).get(0).decoderResult().cause()).isInstanceOf(TooLongHttpHeaderException.class);
            c.assertDiscardsEverything();
        }
    }

    @Test
    void headOverMaxHeadFailsBeforeItsEndArrives() {
        try (Connection c = new Connection()) {
            c.send(HttpMethod.GET);
            assertThat(c.receive("HTTP/1.1 200 OK\r\n")).isEmpty();
            List<Object> items = new ArrayList<>();
            for (int i = 0; items.isEmpty() && i < 100; i++) {
                items.addAll(c.receive("X-Field-" + i + ": " + "v".repeat(2000) + "\r\n"));
            }

            assertThat(describe(items)).containsExactly("head 502!TooLongHttpHeaderException");
            c.assertDiscardsEverything();
        }
    }

    @Test
    void headOfExactlyMaxHeadBytesIsAccepted() {
        String start = "HTTP/1.1 200 OK\r\nContent-Length: 2\r\nX-Pad: ";
        String end = "\r\n\r\n";
        String head = start + "p".repeat(MAX_HEAD - start.length() - end.length()) + end;
        assertThat(head).hasSize(MAX_HEAD);

        List<Object> items = oneResponse(HttpMethod.GET, head + "ok");

        assertThat(describe(items)).containsExactly("head 200", "last[ok]");
    }

    @Test
    void statusLineOverMaxLineFails() {
        try (Connection c = new Connection()) {
            List<Object> items = c.send(HttpMethod.GET)
                    .receive("HTTP/1.1 200 " + "r".repeat(MAX_LINE) + "\r\nContent-Length: 0\r\n\r\n");

            assertThat(describe(items)).containsExactly("head 502!TooLongHttpLineException");
            assertThat(heads(items).get(0).decoderResult().cause()).isInstanceOf(TooLongHttpLineException.class);
            c.assertDiscardsEverything();
        }
    }

    @Test
    void statusLineOverMaxLineFailsBeforeItsEndArrives() {
        try (Connection c = new Connection()) {
            c.send(HttpMethod.GET);
            assertThat(c.receive("HTTP/1.1 200 " + "r".repeat(MAX_LINE / 2))).isEmpty();

            List<Object> items = c.receive("r".repeat(MAX_LINE / 2));

            assertThat(describe(items)).containsExactly("head 502!TooLongHttpLineException");
            c.assertDiscardsEverything();
        }
    }

    @Test
    void statusLineOfExactlyMaxLineBytesIsAccepted() {
        String line = "HTTP/1.1 200 ";
        line += "r".repeat(MAX_LINE - line.length());
        assertThat(line).hasSize(MAX_LINE);
        String wire = line + "\r\nContent-Length: 2\r\n\r\nok";

        assertThat(describe(oneResponse(HttpMethod.GET, wire))).containsExactly("head 200", "last[ok]");
        try (Connection c = new Connection()) {
            c.send(HttpMethod.GET);
            List<Object> items = new ArrayList<>(c.receive(line + "\r"));
            items.addAll(c.receive("\nContent-Length: 2\r\n\r\nok"));

            assertThat(describe(items)).as("the CR of the status line arriving before its LF")
                    .containsExactly("head 200", "last[ok]");
        }
    }

    @Test
    void failureInASecondResponseComesAfterTheFirstOne() {
        try (Connection c = new Connection()) {
            List<Object> items = c.send(HttpMethod.GET).send(HttpMethod.GET).receive(
                    SIMPLE + "HTTP/1.1 200 OK\r\nX-A : b\r\n\r\n");

            assertThat(describe(items))
                    .containsExactly("head 200", "last[hello]", "head 502!InvalidResponseException");
            c.assertDiscardsEverything();
        }
    }

    @Test
    void headersOfAResponseAreIndependentOfTheNextResponse() {
        try (Connection c = new Connection()) {
            List<Object> items = c.send(HttpMethod.GET).send(HttpMethod.GET).receive(
                    "HTTP/1.1 200 OK\r\nX-First: 1\r\nContent-Length: 0\r\n\r\n"
                            + "HTTP/1.1 200 OK\r\nX-Second: 2\r\nContent-Length: 0\r\n\r\n");

            List<HttpResponse> heads = heads(items);
            heads.get(1).headers().remove("X-Second");
            assertThat(fields(heads.get(0).headers())).containsExactly("X-First: 1", "Content-Length: 0");
            assertThat(fields(heads.get(1).headers())).containsExactly("Content-Length: 0");
        }
    }

    @Test
    void manyFieldsAreAllKept() {
        StringBuilder wire = new StringBuilder("HTTP/1.1 200 OK\r\n");
        List<String> expected = new ArrayList<>();
        for (int i = 0; i < 100; i++) {
            wire.append("X-F").append(i).append(": v").append(i).append("\r\n");
            expected.add("X-F" + i + ": v" + i);
        }
        wire.append("Content-Length: 0\r\n\r\n");
        expected.add("Content-Length: 0");

        List<Object> items = oneResponse(HttpMethod.GET, wire.toString());

        assertThat(fields(heads(items).get(0).headers())).containsExactlyElementsOf(expected);
        assertThat(heads(items).get(0).headers().size()).isEqualTo(101);
    }
}
