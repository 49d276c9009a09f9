package org.mtlsproxy.proxy.upstream;

import static java.nio.charset.StandardCharsets.US_ASCII;
import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import io.netty.buffer.ByteBuf;
import io.netty.buffer.Unpooled;
import io.netty.channel.embedded.EmbeddedChannel;
import io.netty.handler.codec.http.DefaultFullHttpRequest;
import io.netty.handler.codec.http.DefaultHttpHeadersFactory;
import io.netty.handler.codec.http.DefaultHttpResponse;
import io.netty.handler.codec.http.HttpHeaderNames;
import io.netty.handler.codec.http.HttpHeaderValues;
import io.netty.handler.codec.http.HttpHeaders;
import io.netty.handler.codec.http.HttpMethod;
import io.netty.handler.codec.http.HttpResponse;
import io.netty.handler.codec.http.HttpResponseEncoder;
import io.netty.handler.codec.http.HttpResponseStatus;
import io.netty.handler.codec.http.HttpVersion;
import io.netty.handler.codec.http.LastHttpContent;
import io.netty.util.AsciiString;
import java.util.ArrayList;
import java.util.Iterator;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.function.Consumer;
import java.util.stream.Stream;
import org.junit.jupiter.api.Named;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.Arguments;
import org.junit.jupiter.params.provider.MethodSource;

class ReceivedHeadersTest {

    /** Name and value pairs, as a backend sends them. */
    private static final String[] FIELDS = {
        "Content-Type", "text/plain; charset=utf-8",
        "Connection", "Keep-Alive, Upgrade",
        "Set-Cookie", "a=1; Path=/",
        "Vary", "Accept-Encoding,  Origin",
        "set-cookie", "b=2",
        "X-Empty", "",
        "Upgrade", "websocket",
        "SET-COOKIE", "c=3",
        "Cache-Control", "no-cache,  no-store ,max-age=0",
        "Content-Length", "42",
    };

    /** The names looked up: every name of {@link #FIELDS} in several cases, and some absent ones. */
    private static final List<CharSequence> PROBES;

    static {
        Set<CharSequence> probes = new LinkedHashSet<>();
        for (int i = 0; i < FIELDS.length; i += 2) {
            probes.add(FIELDS[i]);
            probes.add(FIELDS[i].toLowerCase());
            probes.add(FIELDS[i].toUpperCase());
            probes.add(new AsciiString(FIELDS[i].toLowerCase()));
        }
        probes.add(HttpHeaderNames.CONTENT_TYPE);
        probes.add(HttpHeaderNames.DATE);
        probes.add("X-Absent");
        probes.add("Set-Cookie2");
        probes.add("Set-Cooki");
        probes.add("");
        PROBES = List.copyOf(probes);
    }

    /** The headers of a response head with these fields, decoded by {@link ResponseDecoder}. */
    private static HttpHeaders received(String... fields) {
        StringBuilder lines = new StringBuilder();
        for (int i = 0; i < fields.length; i += 2) {
            lines.append(fields[i]).append(": ").append(fields[i + 1]).append("\r\n");
        }
        return receivedLines(lines.toString());
    }

    /** The headers of a response head with these field lines (each ending in its line break), as received. */
    private static HttpHeaders receivedLines(String lines) {
        String wire = "HTTP/1.1 200 OK\r\n" + lines + "\r\n";
        EmbeddedChannel channel = new EmbeddedChannel(new BackendHttpCodec(8192, 65536));
        try {
            // A response to HEAD: no body, whatever the fields say.
            channel.writeOutbound(new DefaultFullHttpRequest(HttpVersion.HTTP_1_1, HttpMethod.HEAD, "/"));
            for (Object o; (o = channel.readOutbound()) != null; ) {
                ((ByteBuf) o).release();
            }
            channel.writeInbound(Unpooled.copiedBuffer(wire, US_ASCII));
            HttpResponse response = channel.readInbound();
            LastHttpContent last = channel.readInbound();
            last.release();
            assertThat(response.decoderResult().isSuccess()).isTrue();
            assertThat(response.headers()).isInstanceOf(ReceivedHeaders.class);
            assertThat((Object) channel.readInbound()).isNull();
            return response.headers();
        } finally {
            channel.finishAndReleaseAll();
        }
    }

    /** Netty's ordinary headers with the same fields. */
    private static HttpHeaders ordinary(String... fields) {
        HttpHeaders headers = DefaultHttpHeadersFactory.headersFactory().newHeaders();
        for (int i = 0; i < fields.length; i += 2) {
            headers.add(fields[i], fields[i + 1]);
        }
        return headers;
    }

    private static List<String> fields(HttpHeaders headers) {
        List<String> fields = new ArrayList<>();
        for (Iterator<Map.Entry<CharSequence, CharSequence>> it = headers.iteratorCharSequence(); it.hasNext(); ) {
            Map.Entry<CharSequence, CharSequence> e = it.next();
            fields.add(e.getKey() + ": " + e.getValue());
        }
        return fields;
    }

    private static List<String> names(HttpHeaders headers) {
        return headers.names().stream().map(String::valueOf).toList();
    }

    private static List<String> entries(HttpHeaders headers) {
        return headers.entries().stream().map(e -> e.getKey() + ": " + e.getValue()).toList();
    }

    private static List<String> strings(Iterator<? extends CharSequence> values) {
        List<String> list = new ArrayList<>();
        values.forEachRemaining(v -> list.add(v.toString()));
        return list;
    }

    /**
     * Asserts that {@code actual} answers as {@code expected} does, through the calls the proxy makes on a
     * response head (none of which leaves the fast path of {@link ReceivedHeaders}).
     */
    private static void assertSameAs(HttpHeaders actual, HttpHeaders expected) {
        Set<CharSequence> names = new LinkedHashSet<>(PROBES);
        for (Iterator<Map.Entry<CharSequence, CharSequence>> it = expected.iteratorCharSequence(); it.hasNext(); ) {
            CharSequence name = it.next().getKey();
            names.add(name);
            names.add(name.toString().toUpperCase());
        }
        assertThat(answers(actual, names)).isEqualTo(answers(expected, names));
    }

    /** What the headers answer about each name, one line per call. */
    private static List<String> answers(HttpHeaders headers, Set<CharSequence> names) {
        List<String> answers = new ArrayList<>(fields(headers));
        answers.add("size " + headers.size() + ", isEmpty " + headers.isEmpty());
        for (CharSequence name : names) {
            answers.add("get(" + name + ") " + headers.get(name) + " / " + headers.get(name.toString()));
            answers.add("getAll(" + name + ") " + headers.getAll(name) + " / " + headers.getAll(name.toString()));
            answers.add("contains(" + name + ") " + headers.contains(name) + " / "
                    + headers.contains(name.toString()));
            // Netty's own headers iterate the values of a name newest first, unlike getAll (which its javadoc
            // calls equivalent): the order is not compared, the values are.
            answers.add("valueCharSequenceIterator(" + name + ") " + sorted(headers.valueCharSequenceIterator(name)));
            answers.add("valueStringIterator(" + name + ") " + sorted(headers.valueStringIterator(name)));
        }
        return answers;
    }

    private static List<String> sorted(Iterator<? extends CharSequence> values) {
        List<String> list = strings(values);
        list.sort(null);
        return list;
    }

    // ------------------------------------------------------------ look-ups

    @Test
    void lookUpsMatchNettysHeadersWhateverTheCaseOfTheName() {
        HttpHeaders actual = received(FIELDS);

        assertSameAs(actual, ordinary(FIELDS));
        assertThat(actual.get("set-COOKIE")).isEqualTo("a=1; Path=/");
        assertThat(actual.getAll(HttpHeaderNames.SET_COOKIE)).containsExactly("a=1; Path=/", "b=2", "c=3");
        assertThat(actual.get("X-Empty")).isEmpty();
        assertThat(actual.get("X-Absent")).isNull();
        assertThat(actual.getAll("X-Absent")).isEmpty();
        assertThat(actual.get("X-Absent", "default")).isEqualTo("default");
        assertThat(actual.getAsString("content-length")).isEqualTo("42");
        assertThat(actual.getAllAsString("SET-cookie")).containsExactly("a=1; Path=/", "b=2", "c=3");
    }

    /** Names and values looked for, each with and without regard to case. */
    private static final String[][] LOOKED_FOR = {
        {"Connection", "upgrade"}, {"Connection", "Upgrade"}, {"connection", "keep-alive"},
        {"Connection", "Keep-Alive"}, {"Connection", "close"}, {"Connection", "Keep-Alive, Upgrade"},
        {"Connection", "keep-alive, upgrade"}, {"Connection", "Keep"}, {"Connection", ""},
        {"Vary", "origin"}, {"VARY", "Origin"}, {"Vary", "Accept-Encoding,  Origin"}, {"Vary", "Accept"},
        {"Cache-Control", "no-store"}, {"Cache-Control", "max-age=0"}, {"Cache-Control", "NO-CACHE"},
        {"Content-Type", "text/plain; charset=utf-8"}, {"content-type", "TEXT/PLAIN; CHARSET=UTF-8"},
        {"Content-Type", "text/plain"}, {"Upgrade", "WebSocket"}, {"Set-Cookie", "b=2"}, {"set-cookie", "C=3"},
        {"X-Empty", ""}, {"X-Absent", ""}, {"X-Absent", "x"}};

    private static List<String> lookUps(HttpHeaders headers, boolean containsValue) {
        List<String> answers = new ArrayList<>();
        for (String[] nv : LOOKED_FOR) {
            for (boolean ignoreCase : new boolean[] {false, true}) {
                String call = (containsValue ? "containsValue" : "contains") + "(" + nv[0] + ", " + nv[1] + ", "
                        + ignoreCase + ") ";
                if (containsValue) {
                    answers.add(call + headers.containsValue(nv[0], nv[1], ignoreCase) + " / "
                            + headers.containsValue(new AsciiString(nv[0]), new AsciiString(nv[1]), ignoreCase));
                } else {
                    answers.add(call + headers.contains(nv[0], nv[1], ignoreCase) + " / "
                            + headers.contains((CharSequence) nv[0], (CharSequence) nv[1], ignoreCase) + " / "
                            + headers.contains(new AsciiString(nv[0]), new AsciiString(nv[1]), ignoreCase));
                }
            }
        }
        return answers;
    }

    @Test
    void containsValueFindsCommaSeparatedTokensAsNettysHeadersDo() {
        HttpHeaders actual = received(FIELDS);

        assertThat(lookUps(actual, true)).isEqualTo(lookUps(ordinary(FIELDS), true));
        assertThat(actual.containsValue("Connection", "upgrade", true)).isTrue();
        assertThat(actual.containsValue("Connection", "upgrade", false)).isFalse();
        assertThat(actual.containsValue("Connection", "Upgrade", false)).isTrue();
        assertThat(actual.containsValue("Cache-Control", "no-store", false)).isTrue();
        assertThat(actual.containsValue("Connection", "close", true)).isFalse();
    }

    @Test
    void containsNameAndValueComparesWholeValuesAsNettysHeadersDo() {
        HttpHeaders actual = received(FIELDS);

        assertThat(lookUps(actual, false)).isEqualTo(lookUps(ordinary(FIELDS), false));
        assertThat(actual.contains("Connection", "Upgrade", false)).isFalse();
        assertThat(actual.contains("connection", "keep-alive, upgrade", true)).isTrue();
        assertThat(actual.contains("set-cookie", "C=3", false)).isFalse();
        assertThat(actual.contains("set-cookie", "C=3", true)).isTrue();
    }

    @Test
    void containsValueSeesTheTokensOfEveryFieldWithTheName() {
        HttpHeaders actual = received("Connection", "keep-alive", "Connection", "Upgrade");

        assertThat(actual.containsValue(HttpHeaderNames.CONNECTION, HttpHeaderValues.UPGRADE, true)).isTrue();
        assertThat(actual.containsValue(HttpHeaderNames.CONNECTION, HttpHeaderValues.KEEP_ALIVE, true)).isTrue();
        assertThat(actual.containsValue(HttpHeaderNames.CONNECTION, HttpHeaderValues.CLOSE, true)).isFalse();
    }

    @Test
    void containsValueFindsTheChunkedCoding() {
        HttpHeaders actual = received("Transfer-Encoding", "gzip, Chunked");

        assertThat(actual.containsValue(HttpHeaderNames.TRANSFER_ENCODING, HttpHeaderValues.CHUNKED, true)).isTrue();
        assertThat(actual.containsValue(HttpHeaderNames.TRANSFER_ENCODING, HttpHeaderValues.CHUNKED, false))
                .isFalse();
        assertThat(actual.containsValue(HttpHeaderNames.TRANSFER_ENCODING, HttpHeaderValues.GZIP, false)).isTrue();
    }

    @Test
    void surroundingWhitespaceOfAValueIsNotPartOfIt() {
        EmbeddedChannel channel = new EmbeddedChannel(new BackendHttpCodec(8192, 65536));
        channel.writeOutbound(new DefaultFullHttpRequest(HttpVersion.HTTP_1_1, HttpMethod.HEAD, "/"));
        for (Object o; (o = channel.readOutbound()) != null; ) {
            ((ByteBuf) o).release();
        }
        channel.writeInbound(Unpooled.copiedBuffer(
                "HTTP/1.1 200 OK\r\nX-A:plain\r\nX-B: \t two  words\t \r\nX-C:   \r\n\r\n", US_ASCII));
        HttpResponse response = channel.readInbound();
        channel.finishAndReleaseAll();

        assertSameAs(response.headers(), ordinary("X-A", "plain", "X-B", "two  words", "X-C", ""));
        assertThat(response.headers().contains("x-b", "two  words", false)).isTrue();
    }

    // ------------------------------------------------------------ changes

    @Test
    void removeKeepsTheOrderOfTheOtherFields() {
        HttpHeaders actual = received(FIELDS);
        HttpHeaders expected = ordinary(FIELDS);

        for (CharSequence name : List.of("set-cookie", HttpHeaderNames.CONNECTION, "X-Absent", "CONTENT-LENGTH")) {
            assertThat(actual.remove(name)).isSameAs(actual);
            expected.remove(name);
            assertSameAs(actual, expected);
        }
        assertThat(fields(actual)).containsExactly("Content-Type: text/plain; charset=utf-8",
                "Vary: Accept-Encoding,  Origin", "X-Empty: ", "Upgrade: websocket",
                "Cache-Control: no-cache,  no-store ,max-age=0");

        actual.remove("Content-Type").remove("Cache-Control");
        expected.remove("Content-Type").remove("Cache-Control");
        assertSameAs(actual, expected);
        assertThat(fields(actual).get(0)).isEqualTo("Vary: Accept-Encoding,  Origin");
    }

    @Test
    void addedAndSetFieldsComeLastAsInNettysHeaders() {
        HttpHeaders actual = received(FIELDS);
        HttpHeaders expected = ordinary(FIELDS);
        List<Consumer<HttpHeaders>> changes = List.of(
                h -> h.add(HttpHeaderNames.DATE, "Tue, 15 Nov 1994 08:12:31 GMT"),
                h -> h.add("Set-Cookie", "d=4"),
                h -> h.add("x-new", new AsciiString("first")),
                h -> h.add("X-New", "second"),
                h -> h.set(HttpHeaderNames.CONNECTION, HttpHeaderValues.CLOSE),
                h -> h.set("Via", "1.1 proxy"),
                h -> h.set("Via", "1.1 other"),
                h -> h.remove("x-NEW"),
                h -> h.add("X-Empty", ""),
                h -> h.set(new StringBuilder("Content-Type"), "application/json"),
                h -> h.remove("Date"),
                h -> h.add("Date", "Wed, 16 Nov 1994 08:12:31 GMT"));

        for (Consumer<HttpHeaders> change : changes) {
            change.accept(actual);
            change.accept(expected);
            assertSameAs(actual, expected);
        }
        assertThat(fields(actual)).containsExactly(
                "Set-Cookie: a=1; Path=/", "Vary: Accept-Encoding,  Origin", "set-cookie: b=2", "X-Empty: ",
                "Upgrade: websocket", "SET-COOKIE: c=3", "Cache-Control: no-cache,  no-store ,max-age=0",
                "Content-Length: 42", "Set-Cookie: d=4", "connection: close", "Via: 1.1 other", "X-Empty: ",
                "Content-Type: application/json", "Date: Wed, 16 Nov 1994 08:12:31 GMT");
        assertThat(actual.getAll("set-cookie")).containsExactly("a=1; Path=/", "b=2", "c=3", "d=4");
        assertThat(actual.get("x-empty")).isEmpty();
    }

    @Test
    void setOfANameReceivedSeveralTimesReplacesEveryField() {
        HttpHeaders actual = received(FIELDS);
        HttpHeaders expected = ordinary(FIELDS);

        actual.set("SET-COOKIE", "z=9");
        expected.set("SET-COOKIE", "z=9");

        assertSameAs(actual, expected);
        assertThat(actual.getAll("Set-Cookie")).containsExactly("z=9");
    }

    @Test
    void sizeAndIsEmptyFollowRemovalsAndAdditions() {
        HttpHeaders none = received();
        assertThat(none.size()).isZero();
        assertThat(none.isEmpty()).isTrue();
        assertThat(none.iteratorCharSequence().hasNext()).isFalse();
        assertSameAs(none, ordinary());

        HttpHeaders actual = received("A", "1", "B", "2", "a", "3");
        HttpHeaders expected = ordinary("A", "1", "B", "2", "a", "3");
        assertThat(actual.size()).isEqualTo(3);
        actual.add("C", "4");
        expected.add("C", "4");
        assertThat(actual.size()).isEqualTo(4);
        actual.remove("a");
        expected.remove("a");
        assertThat(actual.size()).isEqualTo(2);
        assertSameAs(actual, expected);
        actual.remove("B").remove("c");
        expected.remove("B").remove("c");
        assertThat(actual.size()).isZero();
        assertThat(actual.isEmpty()).isTrue();
        assertSameAs(actual, expected);
        actual.set("D", "5");
        expected.set("D", "5");
        assertThat(actual.isEmpty()).isFalse();
        assertSameAs(actual, expected);
    }

    static Stream<Arguments> invalidFields() {
        return Stream.of(
                Arguments.of("", "v"),
                Arguments.of("Bad Name", "v"),
                Arguments.of("Bad:Name", "v"),
                Arguments.of("Bad\r\nX-Injected", "v"),
                Arguments.of("Caf\u00e9", "v"),
                Arguments.of("X-Ok", "a\r\nX-Injected: b"),
                Arguments.of("X-Ok", "a\rb"),
                Arguments.of("X-Ok", "a\nb"),
                Arguments.of("X-Ok", "a\u0000b"),
                Arguments.of("X-Ok", "a\u007fb"),
                Arguments.of("X-Ok", " leading space"),
                Arguments.of("Connection", "close\r\n"));
    }

    @ParameterizedTest
    @MethodSource("invalidFields")
    void anInvalidNameOrValueIsRefusedAndChangesNothing(String name, String value) {
        HttpHeaders actual = received(FIELDS);
        HttpHeaders expected = ordinary(FIELDS);

        assertThatThrownBy(() -> expected.add(name, value)).isInstanceOf(IllegalArgumentException.class);
        assertThatThrownBy(() -> actual.add(name, value)).isInstanceOf(IllegalArgumentException.class);
        assertThatThrownBy(() -> actual.add((CharSequence) name, new AsciiString(value)))
                .isInstanceOf(IllegalArgumentException.class);
        assertSameAs(actual, expected);

        assertThatThrownBy(() -> expected.set(name, value)).isInstanceOf(IllegalArgumentException.class);
        assertThatThrownBy(() -> actual.set(name, value)).isInstanceOf(IllegalArgumentException.class);
        assertThatThrownBy(() -> actual.set((CharSequence) name, new AsciiString(value)))
                .isInstanceOf(IllegalArgumentException.class);
        assertSameAs(actual, expected);

        // The same once the fields were copied into ordinary headers.
        assertThat(names(actual)).isEqualTo(names(expected));
        assertThatThrownBy(() -> actual.add(name, value)).isInstanceOf(IllegalArgumentException.class);
        assertThatThrownBy(() -> actual.set(name, value)).isInstanceOf(IllegalArgumentException.class);
        assertSameAs(actual, expected);
    }

    @Test
    void aValueThatIsNotACharSequenceIsConvertedAsByNettysHeaders() {
        HttpHeaders actual = received(FIELDS);
        HttpHeaders expected = ordinary(FIELDS);

        actual.add("X-Int", 5).set("X-Long", 7L).add("Content-Length", 43);
        expected.add("X-Int", 5).set("X-Long", 7L).add("Content-Length", 43);

        assertSameAs(actual, expected);
        assertThat(actual.getAll("content-length")).containsExactly("42", "43");
    }

    // ------------------------------------------------------------ the ordinary copy

    static Stream<Arguments> slowCalls() {
        return Stream.of(
                slow("names", h -> h.names()),
                slow("getInt", h -> h.getInt("Content-Length")),
                slow("getInt with default", h -> h.getInt("X-Absent", 3)),
                slow("getShort", h -> h.getShort("Content-Length")),
                slow("getTimeMillis", h -> h.getTimeMillis("Date")),
                slow("entries", h -> h.entries()),
                slow("iterator", h -> h.iterator().hasNext()),
                slow("iteratorAsString", h -> h.iteratorAsString().hasNext()),
                slow("addInt", h -> h.addInt("X-Int", 1)),
                slow("setShort", h -> h.setShort("X-Short", (short) 2)),
                slow("add iterable", h -> h.add("X-List", List.of("a", "b"))),
                slow("set iterable", h -> h.set("Connection", List.of("close"))),
                slow("add Integer", h -> h.add("X-Integer", 9)),
                slow("add headers", h -> h.add(ordinary("X-More", "m"))),
                slow("setAll headers", h -> h.setAll(ordinary("Upgrade", "h2c"))));
    }

    private static Arguments slow(String name, Consumer<HttpHeaders> call) {
        return Arguments.of(Named.of(name, call));
    }

    @ParameterizedTest
    @MethodSource("slowCalls")
    void afterAnyOtherCallEverythingIsStillTheSame(Consumer<HttpHeaders> slowCall) {
        HttpHeaders actual = received(FIELDS);
        HttpHeaders expected = ordinary(FIELDS);
        actual.remove("Set-Cookie").add("Date", "Tue, 15 Nov 1994 08:12:31 GMT").set("Upgrade", "h2c")
                .add("X-Added", "x");
        expected.remove("Set-Cookie").add("Date", "Tue, 15 Nov 1994 08:12:31 GMT").set("Upgrade", "h2c")
                .add("X-Added", "x");

        slowCall.accept(actual);
        slowCall.accept(expected);

        assertSameAs(actual, expected);
        assertThat(names(actual)).isEqualTo(names(expected));
        assertThat(entries(actual)).isEqualTo(entries(expected));
        for (CharSequence name : PROBES) {
            assertThat(actual.names().contains(name.toString())).as("names() contains %s", name)
                    .isEqualTo(expected.names().contains(name.toString()));
        }
        assertThat(actual.getInt("Content-Length")).isEqualTo(expected.getInt("Content-Length"));
        assertThat(actual.getTimeMillis("Date")).isEqualTo(expected.getTimeMillis("Date"));
        for (String[] change : new String[][] {{"remove", "x-added"}, {"add", "Set-Cookie", "e=5"},
            {"set", "Content-Type", "text/html"}, {"add", "X-Added", "y"}}) {
            switch (change[0]) {
                case "remove" -> {
                    actual.remove(change[1]);
                    expected.remove(change[1]);
                }
                case "add" -> {
                    actual.add(change[1], change[2]);
                    expected.add(change[1], change[2]);
                }
                default -> {
                    actual.set(change[1], change[2]);
                    expected.set(change[1], change[2]);
                }
            }
            assertSameAs(actual, expected);
            assertThat(entries(actual)).isEqualTo(entries(expected));
        }
        assertThat(actual.containsValue("connection", "upgrade", true))
                .isEqualTo(expected.containsValue("connection", "upgrade", true));
    }

    @Test
    void clearEmptiesTheHeaders() {
        HttpHeaders actual = received(FIELDS).add("X-Added", "x");

        actual.clear();

        assertSameAs(actual, ordinary());
        actual.add("X-After", "1");
        assertSameAs(actual, ordinary("X-After", "1"));
    }

    @Test
    void copyIsAnOrdinaryDeepCopy() {
        HttpHeaders actual = received(FIELDS).remove("Connection").add("X-Added", "x");
        HttpHeaders expected = ordinary(FIELDS).remove("Connection").add("X-Added", "x");

        HttpHeaders copy = actual.copy();
        actual.remove("X-Added").set("Upgrade", "h2c");

        assertThat(copy).isNotInstanceOf(ReceivedHeaders.class);
        assertSameAs(copy, expected);
        assertThat(fields(actual)).doesNotContain("X-Added: x").contains("Upgrade: h2c");
    }

    // ------------------------------------------------------------ the encoder's view

    @Test
    void iterationGivesAsciiStringNamesAndValues() {
        HttpHeaders actual = received(FIELDS);

        for (Iterator<Map.Entry<CharSequence, CharSequence>> it = actual.iteratorCharSequence(); it.hasNext(); ) {
            Map.Entry<CharSequence, CharSequence> e = it.next();
            assertThat(e.getKey()).isInstanceOf(AsciiString.class);
            assertThat(e.getValue()).isInstanceOf(AsciiString.class);
        }
        assertThat(actual.valueCharSequenceIterator("Set-Cookie").next()).isInstanceOf(AsciiString.class);
    }

    @Test
    void valueIteratorsGiveTheValuesInTheOrderOfGetAll() {
        HttpHeaders actual = received(FIELDS).add("Set-Cookie", "d=4");

        assertThat(strings(actual.valueCharSequenceIterator("set-cookie")))
                .containsExactly("a=1; Path=/", "b=2", "c=3", "d=4");
        assertThat(strings(actual.valueStringIterator("set-cookie")))
                .containsExactly("a=1; Path=/", "b=2", "c=3", "d=4");
        assertThat(actual.valueCharSequenceIterator("X-Absent").hasNext()).isFalse();
    }

    @Test
    void theIteratorIsReadOnlyAndEndsCleanly() {
        HttpHeaders actual = received("A", "1").add("B", "2");
        Iterator<Map.Entry<CharSequence, CharSequence>> it = actual.iteratorCharSequence();

        Map.Entry<CharSequence, CharSequence> first = it.next();
        assertThatThrownBy(() -> first.setValue("x")).isInstanceOf(UnsupportedOperationException.class);
        assertThat(it.next().getKey()).hasToString("B");
        assertThat(it.hasNext()).isFalse();
        assertThatThrownBy(it::next).isInstanceOf(java.util.NoSuchElementException.class);
    }

    private static String encode(HttpResponseStatus status, HttpHeaders headers) {
        EmbeddedChannel encoder = new EmbeddedChannel(new HttpResponseEncoder());
        try {
            assertThat(encoder.writeOutbound(new DefaultHttpResponse(HttpVersion.HTTP_1_1, status, headers),
                    LastHttpContent.EMPTY_LAST_CONTENT)).isTrue();
            StringBuilder bytes = new StringBuilder();
            for (Object o; (o = encoder.readOutbound()) != null; ) {
                ByteBuf buf = (ByteBuf) o;
                bytes.append(buf.toString(US_ASCII));
                buf.release();
            }
            return bytes.toString();
        } finally {
            encoder.finishAndReleaseAll();
        }
    }

    @Test
    void theEncoderWritesTheSameBytesAsForNettysHeaders() {
        HttpHeaders actual = received(FIELDS);
        HttpHeaders expected = ordinary(FIELDS);
        String unchanged = encode(HttpResponseStatus.OK, expected);
        assertThat(encode(HttpResponseStatus.OK, actual)).isEqualTo(unchanged);
        assertThat(unchanged).startsWith("HTTP/1.1 200 OK\r\nContent-Type: text/plain; charset=utf-8\r\n");

        // What the proxy does on the way through: hop-by-hop fields out, its own in.
        for (HttpHeaders h : List.of(actual, expected)) {
            h.remove(HttpHeaderNames.CONNECTION).remove(HttpHeaderNames.UPGRADE).remove(HttpHeaderNames.VARY)
                    .add(HttpHeaderNames.DATE, "Tue, 15 Nov 1994 08:12:31 GMT")
                    .set(HttpHeaderNames.CONNECTION, HttpHeaderValues.CLOSE)
                    .add("X-Proxy", new AsciiString("mtls-proxy"));
        }

        String changed = encode(HttpResponseStatus.OK, expected);
        assertThat(encode(HttpResponseStatus.OK, actual)).isEqualTo(changed);
        assertThat(changed).endsWith("Content-Length: 42\r\ndate: Tue, 15 Nov 1994 08:12:31 GMT\r\n"
                + "connection: close\r\nX-Proxy: mtls-proxy\r\n\r\n");
    }

    @Test
    void theEncoderWritesTheSameBytesForANoContentResponseItSanitizes() {
        String[] fields = {"Content-Length", "0", "X-A", "b", "Transfer-Encoding", "gzip"};

        assertThat(encode(HttpResponseStatus.NO_CONTENT, received(fields)))
                .isEqualTo(encode(HttpResponseStatus.NO_CONTENT, ordinary(fields)));
    }

    /** Past 64 received fields removals go to a hashed copy (a scan per removal would be quadratic): same result. */
    @Test
    void removalsFromAHeadWithManyFieldsGiveWhatNettysHeadersGive() {
        String[] fields = new String[2 * 200];
        for (int i = 0; i < 200; i++) {
            fields[2 * i] = "X-F" + (i % 150);
            fields[2 * i + 1] = "v" + i;
        }
        HttpHeaders actual = received(fields);
        HttpHeaders expected = ordinary(fields);
        for (int i = 0; i < 150; i += 3) {
            actual.remove("x-f" + i);
            expected.remove("x-f" + i);
        }
        actual.add("X-New", "n");
        expected.add("X-New", "n");

        assertSameAs(actual, expected);
        assertThat(actual.size()).isEqualTo(200 - 67 + 1);
    }

    /**
     * The first {@code set} on a head with many fields moves them into the hashed copy (through its removal): the
     * value set must land there, not in the fast path's list that nothing reads any more. (A lost
     * {@code Transfer-Encoding: chunked} would send a close-delimited body unframed to a keep-alive client.)
     */
    @Test
    void aFirstSetOnAHeadWithManyFieldsIsKept() {
        String[] fields = new String[2 * 66];
        fields[0] = "Date";
        fields[1] = "Tue, 15 Nov 1994 08:12:31 GMT";
        for (int i = 1; i < 66; i++) {
            fields[2 * i] = "X-" + i;
            fields[2 * i + 1] = "v";
        }
        HttpHeaders actual = received(fields);
        HttpHeaders expected = ordinary(fields);
        for (HttpHeaders h : List.of(actual, expected)) {
            h.set(HttpHeaderNames.TRANSFER_ENCODING, HttpHeaderValues.CHUNKED)
                    .set(HttpHeaderNames.DATE, "Wed, 16 Nov 1994 08:12:31 GMT");
        }

        assertSameAs(actual, expected);
        assertThat(actual.get(HttpHeaderNames.TRANSFER_ENCODING)).isEqualTo("chunked");
        assertThat(encode(HttpResponseStatus.OK, actual)).isEqualTo(encode(HttpResponseStatus.OK, expected))
                .endsWith("transfer-encoding: chunked\r\ndate: Wed, 16 Nov 1994 08:12:31 GMT\r\n\r\n0\r\n\r\n");
    }

    /** What {@link ReceivedHeaders#encodeTo} writes, checked against {@link ReceivedHeaders#encodedLength}. */
    private static String encodeTo(HttpHeaders headers) {
        ReceivedHeaders received = (ReceivedHeaders) headers;
        ByteBuf buf = Unpooled.buffer();
        try {
            assertThat(received.encodeTo(buf)).isTrue();
            assertThat(buf.readableBytes()).as("encodedLength").isEqualTo(received.encodedLength());
            return buf.toString(US_ASCII);
        } finally {
            buf.release();
        }
    }

    /** The field lines Netty's encoder writes for these headers: its head without status line and last CRLF. */
    private static String nettysFieldLines(HttpHeaders headers) {
        String head = encode(HttpResponseStatus.OK, headers);
        return head.substring(head.indexOf("\r\n") + 2, head.length() - 2);
    }

    @Test
    void encodeToWritesTheFieldLinesNettysEncoderWrites() {
        HttpHeaders actual = received(FIELDS);
        HttpHeaders expected = ordinary(FIELDS);
        assertThat(encodeTo(actual)).isEqualTo(nettysFieldLines(expected))
                .startsWith("Content-Type: text/plain; charset=utf-8\r\nConnection: Keep-Alive, Upgrade\r\n");

        // Removed fields in the middle and at the ends split the runs; added fields come last.
        for (HttpHeaders h : List.of(actual, expected)) {
            h.remove(HttpHeaderNames.CONTENT_TYPE).remove(HttpHeaderNames.UPGRADE).remove(HttpHeaderNames.CONTENT_LENGTH)
                    .add(HttpHeaderNames.DATE, "Tue, 15 Nov 1994 08:12:31 GMT")
                    .set(HttpHeaderNames.CONNECTION, HttpHeaderValues.CLOSE)
                    .add("X-Proxy", new AsciiString("mtls-proxy"));
        }
        assertThat(encodeTo(actual)).isEqualTo(nettysFieldLines(expected))
                .startsWith("Set-Cookie: a=1; Path=/\r\nVary: Accept-Encoding,  Origin\r\n")
                .endsWith("Cache-Control: no-cache,  no-store ,max-age=0\r\ndate: Tue, 15 Nov 1994 08:12:31 GMT\r\n"
                        + "connection: close\r\nX-Proxy: mtls-proxy\r\n");
    }

    @Test
    void encodeToWritesLinesThatArrivedInAnotherFormInTheUsualOne() {
        HttpHeaders actual = receivedLines("A: 1\r\nB:2\r\nC:   3  \r\nD: 4\nE: \r\nF:\r\nG:\t7\t\r\nH: 8\r\n");

        assertThat(encodeTo(actual)).isEqualTo("A: 1\r\nB: 2\r\nC: 3\r\nD: 4\r\nE: \r\nF: \r\nG: 7\r\nH: 8\r\n");
    }

    @Test
    void encodeToLeavesHeadersCopiedIntoAnOrdinaryMapToTheUsualEncoder() {
        HttpHeaders actual = received(FIELDS);
        actual.names();
        ByteBuf buf = Unpooled.buffer();
        try {
            assertThat(((ReceivedHeaders) actual).encodeTo(buf)).isFalse();
            assertThat(buf.readableBytes()).isZero();
            assertThat(((ReceivedHeaders) actual).encodedLength()).isEqualTo(-1);
        } finally {
            buf.release();
        }
    }
}
