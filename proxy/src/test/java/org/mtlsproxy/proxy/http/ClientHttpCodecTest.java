package org.mtlsproxy.proxy.http;

import static java.nio.charset.StandardCharsets.ISO_8859_1;
import static java.nio.charset.StandardCharsets.US_ASCII;
import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import io.netty.buffer.ByteBuf;
import io.netty.buffer.Unpooled;
import io.netty.channel.ChannelHandler;
import io.netty.channel.embedded.EmbeddedChannel;
import io.netty.handler.codec.DecoderException;
import io.netty.handler.codec.http.DefaultFullHttpRequest;
import io.netty.handler.codec.http.DefaultFullHttpResponse;
import io.netty.handler.codec.http.DefaultHttpContent;
import io.netty.handler.codec.http.DefaultHttpResponse;
import io.netty.handler.codec.http.DefaultLastHttpContent;
import io.netty.handler.codec.http.FullHttpResponse;
import io.netty.handler.codec.http.HttpDecoderConfig;
import io.netty.handler.codec.http.HttpHeaderNames;
import io.netty.handler.codec.http.HttpHeaderValues;
import io.netty.handler.codec.http.HttpMethod;
import io.netty.handler.codec.http.HttpRequest;
import io.netty.handler.codec.http.HttpResponse;
import io.netty.handler.codec.http.HttpResponseStatus;
import io.netty.handler.codec.http.HttpServerCodec;
import io.netty.handler.codec.http.HttpVersion;
import io.netty.handler.codec.http.LastHttpContent;
import io.netty.util.ReferenceCountUtil;
import java.util.ArrayList;
import java.util.List;
import java.util.function.Supplier;
import java.util.stream.Stream;
import org.junit.jupiter.api.Named;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.Arguments;
import org.junit.jupiter.params.provider.MethodSource;
import org.mtlsproxy.proxy.upstream.BackendHttpCodec;

/**
 * {@link ClientHttpCodec} against Netty's {@code HttpServerCodec}: the same bytes on the wire for the same
 * requests and responses, and a whole response in one buffer where Netty's makes two.
 */
class ClientHttpCodecTest {

    private static final HttpDecoderConfig CONFIG = new HttpDecoderConfig()
            .setStrictLineParsing(true)
            .setUseRfc9112TransferEncoding(true);

    private static final String GET = "GET /x HTTP/1.1\r\nHost: a\r\n\r\n";
    private static final String HEAD = "HEAD /x HTTP/1.1\r\nHost: a\r\n\r\n";
    private static final String CONNECT = "CONNECT a:443 HTTP/1.1\r\nHost: a:443\r\n\r\n";

    /** What a codec wrote: the bytes, and in how many buffers that are not empty. */
    private record Written(String bytes, int buffers) {
    }

    /** {@code requests} decoded by {@code codec}, then {@code responses} written through it and flushed. */
    private static Written exchange(ChannelHandler codec, String requests, Supplier<List<Object>> responses) {
        EmbeddedChannel channel = new EmbeddedChannel(codec);
        try {
            channel.writeInbound(Unpooled.copiedBuffer(requests, US_ASCII));
            for (Object o; (o = channel.readInbound()) != null; ) {
                ReferenceCountUtil.release(o);
            }
            for (Object response : responses.get()) {
                channel.write(response);
            }
            channel.flush();
            StringBuilder bytes = new StringBuilder();
            int buffers = 0;
            for (Object o; (o = channel.readOutbound()) != null; ) {
                ByteBuf buf = (ByteBuf) o;
                if (buf.isReadable()) {
                    buffers++;
                }
                bytes.append(buf.toString(ISO_8859_1));
                buf.release();
            }
            return new Written(bytes.toString(), buffers);
        } finally {
            channel.finishAndReleaseAll();
        }
    }

    /** Both codecs on the same exchange: the same bytes; what {@link ClientHttpCodec} wrote is returned. */
    private static Written assertSameBytesAsNetty(String requests, Supplier<List<Object>> responses) {
        Written netty = exchange(new HttpServerCodec(CONFIG), requests, responses);
        Written ours = exchange(new ClientHttpCodec(CONFIG), requests, responses);
        assertThat(ours.bytes()).isEqualTo(netty.bytes());
        return ours;
    }

    private static FullHttpResponse whole(HttpResponseStatus status, String body, String... fields) {
        FullHttpResponse r = new DefaultFullHttpResponse(HttpVersion.HTTP_1_1, status,
                Unpooled.copiedBuffer(body, ISO_8859_1));
        for (int i = 0; i < fields.length; i += 2) {
            r.headers().add(fields[i], fields[i + 1]);
        }
        return r;
    }

    private static FullHttpResponse ok(String body) {
        return whole(HttpResponseStatus.OK, body, "Content-Type", "text/plain",
                "Content-Length", String.valueOf(body.length()));
    }

    /** The first message {@code BackendHttpCodec} hands on for {@code wire}, the response to a GET. */
    private static Object fromBackend(String wire) {
        EmbeddedChannel backend = new EmbeddedChannel(new BackendHttpCodec(8192, 65536));
        try {
            backend.writeOutbound(new DefaultFullHttpRequest(HttpVersion.HTTP_1_1, HttpMethod.GET, "/x"));
            for (Object o; (o = backend.readOutbound()) != null; ) {
                ReferenceCountUtil.release(o);
            }
            backend.writeInbound(Unpooled.copiedBuffer(wire, ISO_8859_1));
            return backend.readInbound();
        } finally {
            backend.finishAndReleaseAll();
        }
    }

    /** A backend's response with its received header fields and its whole body, in one message. */
    private static FullHttpResponse received(String wire) {
        Object response = fromBackend(wire);
        assertThat(response).isInstanceOf(FullHttpResponse.class);
        return (FullHttpResponse) response;
    }

    /** A backend's response head, with its received header fields, whose body is still to come. */
    private static HttpResponse receivedHead(String wire) {
        Object head = fromBackend(wire);
        assertThat(head).isInstanceOf(HttpResponse.class).isNotInstanceOf(FullHttpResponse.class);
        return (HttpResponse) head;
    }

    private static Arguments exchange(String name, String requests, Supplier<List<Object>> responses) {
        return Arguments.of(Named.of(name, requests), responses);
    }

    static Stream<Arguments> exchanges() {
        String big = "b".repeat(ClientHttpCodec.WHOLE_BODY_LIMIT + 1);
        return Stream.of(
                exchange("whole 200 to GET", GET, () -> List.of(ok("hello"))),
                exchange("whole 200 to HEAD: head only", HEAD, () -> List.of(ok("hello"))),
                exchange("whole empty 200", GET, () -> List.of(ok(""))),
                exchange("whole 404 without Content-Length", GET,
                        () -> List.of(whole(HttpResponseStatus.NOT_FOUND, "nope"))),
                exchange("204 loses Content-Length and Transfer-Encoding", GET, () -> List.of(
                        whole(HttpResponseStatus.NO_CONTENT, "", "Content-Length", "0", "Transfer-Encoding", "gzip"))),
                exchange("205 gets Content-Length 0", GET, () -> List.of(
                        whole(HttpResponseStatus.RESET_CONTENT, "", "Transfer-Encoding", "chunked"))),
                exchange("304 without its body", GET, () -> List.of(
                        whole(HttpResponseStatus.NOT_MODIFIED, "hello", "Content-Length", "5"))),
                exchange("2xx to CONNECT loses Transfer-Encoding", CONNECT, () -> List.of(
                        whole(HttpResponseStatus.OK, "", "Transfer-Encoding", "chunked"))),
                exchange("whole response with a chunked coding", GET, () -> List.of(
                        whole(HttpResponseStatus.OK, "hello", "Transfer-Encoding", "chunked"))),
                exchange("whole body over the limit", GET, () -> List.of(ok(big))),
                exchange("streamed chunked with trailers", GET, () -> {
                    DefaultHttpResponse head = new DefaultHttpResponse(HttpVersion.HTTP_1_1, HttpResponseStatus.OK);
                    head.headers().set(HttpHeaderNames.TRANSFER_ENCODING, HttpHeaderValues.CHUNKED);
                    LastHttpContent last = new DefaultLastHttpContent(Unpooled.copiedBuffer("lo", US_ASCII));
                    last.trailingHeaders().add("X-Sum", "1");
                    return List.of(head, new DefaultHttpContent(Unpooled.copiedBuffer("hel", US_ASCII)), last);
                }),
                exchange("100 Continue, then the whole final response", GET, () -> List.of(
                        new DefaultHttpResponse(HttpVersion.HTTP_1_1, HttpResponseStatus.CONTINUE),
                        LastHttpContent.EMPTY_LAST_CONTENT, ok("hello"))),
                exchange("pipelined GET, HEAD, GET", GET + HEAD + GET,
                        () -> List.of(ok("one"), ok("two"), ok("three"))),
                exchange("pipelined HEAD then GET, streamed and whole", HEAD + GET, () -> List.of(
                        new DefaultHttpResponse(HttpVersion.HTTP_1_1, HttpResponseStatus.OK),
                        LastHttpContent.EMPTY_LAST_CONTENT, ok("after"))),
                exchange("a backend's streamed head with received fields, then its chunks", GET, () -> {
                    HttpResponse head = receivedHead("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n"
                            + "Keep-Alive: timeout=5\r\nX-A:a\r\nX-B: b\r\n\r\n");
                    head.headers().remove("Keep-Alive").add("X-Added", "1");
                    return List.of(head, new DefaultHttpContent(Unpooled.copiedBuffer("hel", US_ASCII)),
                            new DefaultLastHttpContent(Unpooled.copiedBuffer("lo", US_ASCII)));
                }),
                exchange("a backend's received fields, some removed and some added", GET, () -> {
                    FullHttpResponse r = received("HTTP/1.1 200 OK\r\nConnection: keep-alive\r\n"
                            + "Content-Type: text/plain\r\nKeep-Alive: timeout=5\r\nX-A:a\r\nX-B:  b \r\n"
                            + "Content-Length: 5\r\n\r\nhello");
                    r.headers().remove(HttpHeaderNames.CONNECTION).remove("Keep-Alive")
                            .set(HttpHeaderNames.DATE, "Tue, 15 Nov 1994 08:12:31 GMT");
                    return List.of(r);
                }));
    }

    @ParameterizedTest(name = "{0}")
    @MethodSource("exchanges")
    void writesTheBytesNettysServerCodecWrites(String requests, Supplier<List<Object>> responses) {
        assertSameBytesAsNetty(requests, responses);
    }

    @Test
    void aWholeResponseLeavesInOneBuffer() {
        String body = "x".repeat(1024);
        Written ours = assertSameBytesAsNetty(GET, () -> List.of(ok(body)));

        assertThat(ours.buffers()).isEqualTo(1);
        assertThat(ours.bytes()).startsWith("HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 1024\r\n\r\n")
                .endsWith(body);
    }

    @Test
    void aBackendsReceivedFieldsGoOutAsTheyCameWhereTheyCameInTheUsualForm() {
        Written ours = assertSameBytesAsNetty(GET, () -> List.of(received(
                "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nX-A:a\r\nContent-Length: 2\r\n\r\nok")));

        assertThat(ours.buffers()).isEqualTo(1);
        assertThat(ours.bytes()).isEqualTo(
                "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nX-A: a\r\nContent-Length: 2\r\n\r\nok");
    }

    /** Requests (strings) and responses in the order given, through {@code codec}: what it wrote. */
    private static String interleaved(ChannelHandler codec, List<Object> steps) {
        EmbeddedChannel channel = new EmbeddedChannel(codec);
        try {
            StringBuilder bytes = new StringBuilder();
            for (Object step : steps) {
                if (step instanceof String requests) {
                    channel.writeInbound(Unpooled.copiedBuffer(requests, US_ASCII));
                    for (Object o; (o = channel.readInbound()) != null; ) {
                        ReferenceCountUtil.release(o);
                    }
                } else {
                    channel.writeOutbound(step);
                }
                for (Object o; (o = channel.readOutbound()) != null; ) {
                    bytes.append(((ByteBuf) o).toString(ISO_8859_1));
                    ((ByteBuf) o).release();
                }
            }
            return bytes.toString();
        } finally {
            channel.finishAndReleaseAll();
        }
    }

    @Test
    void methodsOfPipelinedRequestsAreRememberedInOrderWhileAnsweredAndGrown() {
        // The queue of waiting methods wraps around and grows while requests keep coming: each response must
        // still meet its own request's method (a HEAD's response goes without its body).
        Supplier<List<Object>> steps = () -> {
            List<Object> list = new ArrayList<>();
            list.add(GET + HEAD);
            list.add(ok("1"));
            list.add(GET + HEAD + GET + HEAD + GET);
            for (int i = 2; i <= 7; i++) {
                list.add(ok(String.valueOf(i)));
            }
            return list;
        };
        String ours = interleaved(new ClientHttpCodec(CONFIG), steps.get());

        assertThat(ours).isEqualTo(interleaved(new HttpServerCodec(CONFIG), steps.get()));
        assertThat(ours.split("HTTP/1.1 200 OK", -1)).hasSize(8);
        assertThat(ours).contains("\r\n\r\n1HTTP", "\r\n\r\nHTTP", "\r\n\r\n3HTTP", "\r\n\r\n5HTTP")
                .endsWith("\r\n\r\n7").doesNotContain("\r\n\r\n2", "\r\n\r\n4", "\r\n\r\n6");
    }

    @Test
    void aWholeResponseInTheMiddleOfAStreamedOneIsRefusedAsByNetty() {
        EmbeddedChannel channel = new EmbeddedChannel(new ClientHttpCodec(CONFIG));
        try {
            channel.writeInbound(Unpooled.copiedBuffer(GET + GET, US_ASCII));
            for (Object o; (o = channel.readInbound()) != null; ) {
                ReferenceCountUtil.release(o);
            }
            channel.write(new DefaultHttpResponse(HttpVersion.HTTP_1_1, HttpResponseStatus.OK));
            assertThatThrownBy(() -> channel.writeOutbound(ok("early"))).hasRootCauseInstanceOf(
                    IllegalStateException.class);
        } finally {
            channel.finishAndReleaseAll();
        }
    }

    @Test
    void moreRequestsAwaitingAnswersThanThePipelineDepthAreRefusedAsByNetty() {
        String tooMany = GET.repeat(ClientHttpCodec.MAX_PIPELINE_DEPTH + 1);
        for (ChannelHandler codec : List.of(new HttpServerCodec(CONFIG), new ClientHttpCodec(CONFIG))) {
            EmbeddedChannel channel = new EmbeddedChannel(codec);
            List<Object> decoded = new ArrayList<>();
            try {
                assertThatThrownBy(() -> channel.writeInbound(Unpooled.copiedBuffer(tooMany, US_ASCII)))
                        .isInstanceOf(DecoderException.class).hasMessageContaining("maxPipelineDepth");
                for (Object o; (o = channel.readInbound()) != null; ) {
                    decoded.add(o);
                }
                // What was decoded before the limit is handed on and answered; the connection closes after the
                // next response.
                assertThat(decoded).filteredOn(HttpRequest.class::isInstance)
                        .hasSize(ClientHttpCodec.MAX_PIPELINE_DEPTH);
                channel.writeOutbound(ok("a"));
                assertThat(channel.isOpen()).as(codec.getClass().getSimpleName()).isFalse();
            } finally {
                decoded.forEach(ReferenceCountUtil::release);
                channel.finishAndReleaseAll();
            }
        }
    }
}
