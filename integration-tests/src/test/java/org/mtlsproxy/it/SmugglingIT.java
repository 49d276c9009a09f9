package org.mtlsproxy.it;

import static org.assertj.core.api.Assertions.assertThat;

import java.util.stream.Stream;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.Arguments;
import org.junit.jupiter.params.provider.MethodSource;
import org.mtlsproxy.testing.RecordingBackend;
import org.mtlsproxy.testing.TestPki;

/**
 * Ambiguous or malformed framing never reaches a backend: each request shape is answered with a 4xx and the
 * connection closed (or just closed), and the backend receives nothing. (obs-fold is not refused but unfolded
 * before forwarding, as RFC 9112 §5.2 allows: see HttpSemanticsIT.)
 */
class SmugglingIT {

    private static final TestPki PKI = TestPki.get();
    private static RecordingBackend backend;
    private static ProxyFixture proxy;

    @BeforeAll
    static void start() throws Exception {
        backend = RecordingBackend.start(PKI.backendServer());
        proxy = ProxyFixture.builder().backend("b", backend.port())
                .route("all", null, "/", "b", "{ spiffe-id = \"spiffe://test.local/**\" }").start();
    }

    @AfterAll
    static void stop() {
        proxy.close();
        backend.close();
    }

    static Stream<Arguments> ambiguous() {
        String h = "POST /s HTTP/1.1\r\nHost: x\r\n";
        return Stream.of(
                Arguments.of("Content-Length and Transfer-Encoding",
                        h + "Content-Length: 4\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n"),
                Arguments.of("Transfer-Encoding and Content-Length",
                        h + "Transfer-Encoding: chunked\r\nContent-Length: 4\r\n\r\n0\r\n\r\n"),
                Arguments.of("two different Content-Length", h + "Content-Length: 1\r\nContent-Length: 2\r\n\r\nab"),
                Arguments.of("Content-Length list", h + "Content-Length: 1, 2\r\n\r\nab"),
                Arguments.of("non-numeric Content-Length", h + "Content-Length: 1a\r\n\r\nab"),
                Arguments.of("negative Content-Length", h + "Content-Length: -1\r\n\r\nab"),
                Arguments.of("Transfer-Encoding not ending in chunked", h + "Transfer-Encoding: gzip\r\n\r\nab"),
                Arguments.of("Transfer-Encoding xchunked", h + "Transfer-Encoding: xchunked\r\n\r\n0\r\n\r\n"),
                Arguments.of("Transfer-Encoding chunked twice",
                        h + "Transfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n"),
                Arguments.of("space before colon", h + "Transfer-Encoding : chunked\r\n\r\n0\r\n\r\n"),
                Arguments.of("invalid chunk size", h + "Transfer-Encoding: chunked\r\n\r\nzz\r\nab\r\n0\r\n\r\n"),
                Arguments.of("overflowing chunk size",
                        h + "Transfer-Encoding: chunked\r\n\r\nffffffffffffffffff\r\nab\r\n0\r\n\r\n"),
                Arguments.of("bare CR in a header value", "GET /s HTTP/1.1\r\nHost: x\r\nX-A: a\rb\r\n\r\n"),
                Arguments.of("bare LF line ends", "GET /s HTTP/1.1\nHost: x\n\n"),
                Arguments.of("NUL in a header value", "GET /s HTTP/1.1\r\nHost: x\r\nX-A: a\u0000b\r\n\r\n"),
                Arguments.of("space in a header name", "GET /s HTTP/1.1\r\nHost: x\r\nX A: b\r\n\r\n"),
                Arguments.of("two Host headers", "GET /s HTTP/1.1\r\nHost: x\r\nHost: y\r\n\r\n"),
                Arguments.of("invalid Host", "GET /s HTTP/1.1\r\nHost: a b\r\n\r\n"),
                Arguments.of("HTTP/1.0 with Transfer-Encoding",
                        "POST /s HTTP/1.0\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n"),
                Arguments.of("HTTP major version 2 on an HTTP/1 connection", "GET /s HTTP/2.0\r\nHost: x\r\n\r\n"),
                Arguments.of("HTTP/0.9 request line", "GET /s\r\n\r\n"),
                Arguments.of("control character in the path", "GET /s\u0001x HTTP/1.1\r\nHost: x\r\n\r\n"),
                Arguments.of("CONNECT", "CONNECT backend.test:443 HTTP/1.1\r\nHost: backend.test:443\r\n\r\n"));
    }

    @ParameterizedTest(name = "{0}")
    @MethodSource("ambiguous")
    void ambiguousRequestIsRefusedAndNeverReachesTheBackend(String what, String request) throws Exception {
        int before = backend.received().size();
        String answer;
        try (RawTls.Client c = new RawTls.Client(proxy.port(), PKI.goodClient())) {
            c.send(request);
            answer = c.readAll(3000);
        }
        assertThat(answer).as(what).matches("(?s)(HTTP/1\\.1 (4\\d\\d|505) .*)?<(EOF|SSLException|SocketException)>");
        assertThat(backend.received()).as(what).hasSize(before);
    }
}
