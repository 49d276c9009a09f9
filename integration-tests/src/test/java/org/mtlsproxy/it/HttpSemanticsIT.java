package org.mtlsproxy.it;

import static org.assertj.core.api.Assertions.assertThat;

import java.time.ZonedDateTime;
import java.time.format.DateTimeFormatter;
import java.util.List;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.mtlsproxy.testing.RecordingBackend;
import org.mtlsproxy.testing.TestHttpClient;
import org.mtlsproxy.testing.TestPki;

class HttpSemanticsIT {

    private static final TestPki PKI = TestPki.get();
    private static RecordingBackend backend;
    private static ProxyFixture proxy;

    @BeforeAll
    static void start() throws Exception {
        backend = RecordingBackend.start(PKI.backendServer());
        proxy = ProxyFixture.builder()
                .backend("b", backend.port())
                .route("denied", null, "/denied", "b", "{ spiffe-id = \"spiffe://test.local/ns/x/sa/nobody\" }")
                .route("all", null, "/", "b", "{ spiffe-id = \"spiffe://test.local/ns/prod/sa/orders\" }")
                .start();
    }

    @AfterAll
    static void stop() {
        proxy.close();
        backend.close();
    }

    private RawTls.Client raw() throws Exception {
        return new RawTls.Client(proxy.port(), PKI.goodClient());
    }

    @Test
    void responsesCarryADateHeaderAndTheBackendsOwnIsKept() throws Exception {
        // RFC 9110 §6.6.1: a recipient with a clock forwarding a response without Date adds one.
        try (TestHttpClient client = proxy.client(PKI.goodClient())) {
            long before = System.currentTimeMillis() / 1000 * 1000;
            TestHttpClient.Response proxied = client.get("/no-date-from-backend");
            TestHttpClient.Response denied = client.get("/denied");
            long after = System.currentTimeMillis();
            for (TestHttpClient.Response r : List.of(proxied, denied)) {
                String date = r.header("date");
                assertThat(date).as("Date of %s", r).matches(
                        "(Mon|Tue|Wed|Thu|Fri|Sat|Sun), \\d{2} [A-Z][a-z]{2} \\d{4} \\d{2}:\\d{2}:\\d{2} GMT");
                long millis = ZonedDateTime.parse(date, DateTimeFormatter.RFC_1123_DATE_TIME).toInstant().toEpochMilli();
                assertThat(millis).isBetween(before, after);
            }
            assertThat(denied.status()).isEqualTo(403);
            assertThat(client.get("/dated").header("date")).isEqualTo(RecordingBackend.DATED);
        }
    }

    @Test
    void targetsReachTheBackendInOriginFormAndNormalised() throws Exception {
        try (RawTls.Client c = raw()) {
            // absolute-form (RFC 9112 §3.2.2): the authority replaces Host; then an origin-form target left as is,
            // and one the normaliser rewrites.
            c.send("GET https://abs.example:8443/abs/path?q=1 HTTP/1.1\r\nHost: ignored\r\n\r\n"
                    + "GET /plain/path?x=%41 HTTP/1.1\r\nHost: x\r\n\r\n"
                    + "GET /a//b/%7Ec HTTP/1.1\r\nHost: x\r\n\r\n");
            String out = c.readUntil("ok GET /a/b/~c\n", 3000);
            assertThat(out).contains("ok GET /abs/path?q=1\n").contains("ok GET /plain/path?x=%41\n");
        }
        List<RecordingBackend.Received> seen = backend.received();
        RecordingBackend.Received abs = seen.stream().filter(r -> r.path().equals("/abs/path")).findFirst().orElseThrow();
        assertThat(abs.uri()).isEqualTo("/abs/path?q=1");
        assertThat(abs.header("host")).isEqualTo("abs.example:8443");
        assertThat(seen).extracting(RecordingBackend.Received::uri).contains("/plain/path?x=%41", "/a/b/~c");
    }

    @Test
    void pipelinedTwoGets() throws Exception {
        try (RawTls.Client c = raw()) {
            c.send("GET /a HTTP/1.1\r\nHost: x\r\n\r\nGET /b HTTP/1.1\r\nHost: x\r\n\r\n");
            String out = c.readUntil("ok GET /b\n", 3000);
            assertThat(out).contains("ok GET /a\n").contains("ok GET /b\n");
        }
    }

    @Test
    void pipelinedPostThenGet() throws Exception {
        try (RawTls.Client c = raw()) {
            c.send("POST /upload HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n\r\nhelloGET /b HTTP/1.1\r\nHost: x\r\n\r\n");
            String out = c.readUntil("ok GET /b\n", 3000);
            assertThat(out).contains("ok GET /b\n").contains("5 ");
        }
    }

    @Test
    void pipelinedDeniedThenAllowed() throws Exception {
        try (RawTls.Client c = raw()) {
            c.send("GET /denied HTTP/1.1\r\nHost: x\r\n\r\nGET /b HTTP/1.1\r\nHost: x\r\n\r\n");
            String out = c.readUntil("ok GET /b\n", 3000);
            assertThat(out).contains("403").contains("ok GET /b\n");
        }
    }

    @Test
    void headThenGet() throws Exception {
        try (RawTls.Client c = raw()) {
            c.send("HEAD /download?bytes=100 HTTP/1.1\r\nHost: x\r\n\r\nGET /b HTTP/1.1\r\nHost: x\r\n\r\n");
            String out = c.readUntil("ok GET /b\n", 3000);
            assertThat(out).startsWith("HTTP/1.1 200").contains("ok GET /b\n");
        }
    }

    @Test
    void headChunkedThenGet() throws Exception {
        try (RawTls.Client c = raw()) {
            c.send("HEAD /download?bytes=100&chunked=true HTTP/1.1\r\nHost: x\r\n\r\nGET /b HTTP/1.1\r\nHost: x\r\n\r\n");
            String out = c.readUntil("ok GET /b\n", 3000);
            assertThat(out).startsWith("HTTP/1.1 200").contains("ok GET /b\n");
        }
    }

    @Test
    void status204And304ThenGet() throws Exception {
        try (RawTls.Client c = raw()) {
            c.send("GET /status/204 HTTP/1.1\r\nHost: x\r\n\r\nGET /status/304 HTTP/1.1\r\nHost: x\r\n\r\n"
                    + "GET /b HTTP/1.1\r\nHost: x\r\n\r\n");
            String out = c.readUntil("ok GET /b\n", 3000);
            assertThat(out).contains("204").contains("304").contains("ok GET /b\n");
            assertThat(out).doesNotContain("Transfer-Encoding");
        }
    }

    @Test
    void expectContinue() throws Exception {
        try (RawTls.Client c = raw()) {
            c.send("POST /upload HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\nExpect: 100-continue\r\n\r\n");
            String interim = c.readUntil("\r\n\r\n", 3000);
            assertThat(interim).startsWith("HTTP/1.1 100");
            c.send("hello");
            String out = c.readUntil(RecordingBackend.sha256Hex("hello".getBytes()), 3000);
            assertThat(out).startsWith("HTTP/1.1 200");
            c.send("GET /b HTTP/1.1\r\nHost: x\r\n\r\n");
            assertThat(c.readUntil("ok GET /b\n", 3000)).contains("ok GET /b\n");
        }
    }

    @Test
    void expectContinueDenied() throws Exception {
        try (RawTls.Client c = raw()) {
            c.send("POST /denied HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\nExpect: 100-continue\r\n\r\n");
            String out = c.readAll(3000);
            assertThat(out).startsWith("HTTP/1.1 403").endsWith("<EOF>");
        }
    }

    @Test
    void http10NoKeepAlive() throws Exception {
        try (RawTls.Client c = raw()) {
            c.send("GET /a HTTP/1.0\r\n\r\n");
            String out = c.readAll(3000);
            assertThat(out).contains("ok GET /a").endsWith("<EOF>");
        }
    }

    @Test
    void http10KeepAlive() throws Exception {
        try (RawTls.Client c = raw()) {
            c.send("GET /a HTTP/1.0\r\nConnection: keep-alive\r\n\r\n");
            String out = c.readUntil("ok GET /a\n", 3000);
            assertThat(out).containsIgnoringCase("connection: keep-alive");
            c.send("GET /b HTTP/1.0\r\nConnection: keep-alive\r\n\r\n");
            assertThat(c.readUntil("ok GET /b\n", 3000)).contains("ok GET /b\n");
        }
    }

    @Test
    void http10ChunkedDownload() throws Exception {
        try (RawTls.Client c = raw()) {
            c.send("GET /download?bytes=10&chunked=true HTTP/1.0\r\nConnection: keep-alive\r\n\r\n");
            String out = c.readAll(3000);
            assertThat(out).endsWith("<EOF>").doesNotContainIgnoringCase("transfer-encoding");
        }
    }

    @Test
    void http10KeepAliveLocalError() throws Exception {
        try (RawTls.Client c = raw()) {
            c.send("GET /denied HTTP/1.0\r\nConnection: keep-alive\r\n\r\n");
            String out = c.readAll(2000);
        }
    }

    @Test
    void deniedWithBodyNotSent() throws Exception {
        try (RawTls.Client c = raw()) {
            c.send("POST /denied HTTP/1.1\r\nHost: x\r\nContent-Length: 100000\r\n\r\nabc");
            String out = c.readAll(3000);
            assertThat(out).startsWith("HTTP/1.1 403").endsWith("<EOF>");
        }
    }

    @Test
    void notFoundChunkedBody() throws Exception {
        // no route for host? all matches "/", use a bad path
        try (RawTls.Client c = raw()) {
            c.send("POST /denied HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n");
            String out = c.readAll(3000);
            assertThat(out).startsWith("HTTP/1.1 403").endsWith("<EOF>");
        }
    }

    @Test
    void clientConnectionClose() throws Exception {
        try (RawTls.Client c = raw()) {
            c.send("GET /a HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
            String out = c.readAll(3000);
            assertThat(out).containsIgnoringCase("connection: close").endsWith("<EOF>");
        }
    }

    @Test
    void largeHeaders431() throws Exception {
        try (RawTls.Client c = raw()) {
            c.send("GET /a HTTP/1.1\r\nHost: x\r\nX-Big: " + "a".repeat(20000) + "\r\n\r\n");
            String out = c.readAll(3000);
            assertThat(out).startsWith("HTTP/1.1 431").endsWith("<EOF>");
        }
    }

    @Test
    void longLine414() throws Exception {
        try (RawTls.Client c = raw()) {
            c.send("GET /" + "a".repeat(20000) + " HTTP/1.1\r\nHost: x\r\n\r\n");
            String out = c.readAll(3000);
            assertThat(out).startsWith("HTTP/1.1 414").endsWith("<EOF>");
        }
    }

    @Test
    void trailerSpoofAndObsFold() throws Exception {
        try (RawTls.Client c = raw()) {
            c.send("POST /echo-headers HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n"
                    + "X-Foo: a\r\n X-Forwarded-Client-Cert: spoof-fold\r\n"
                    + "\r\n3\r\nabc\r\n0\r\nX-Forwarded-Client-Cert: spoof-trailer\r\nx-FORWARDED-client-CERT: spoof2\r\n\r\n");
            String out = c.readUntil("\r\n0\r\n\r\n", 3000);
        }
        RecordingBackend.Received last = backend.received().get(backend.received().size() - 1);
    }
}
