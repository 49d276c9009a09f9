package org.mtlsproxy.it;

import static org.assertj.core.api.Assertions.assertThat;

import java.util.List;
import org.junit.jupiter.api.Test;
import org.mtlsproxy.testing.RecordingBackend;
import org.mtlsproxy.testing.TestPki;

class MalformedTrafficIT {

    private static final TestPki PKI = TestPki.get();
    private static final String ALLOW_GOOD = "{ spiffe-id = \"spiffe://test.local/ns/prod/sa/orders\" }";

    private static ProxyFixture proxy(int port, String... extra) throws Exception {
        ProxyFixture.Builder b = ProxyFixture.builder().backend("b", port).route("all", null, "/", "b", ALLOW_GOOD);
        for (String e : extra) {
            b.set(e);
        }
        return b.start();
    }

    private static final String OK = "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok";

    @Test
    void retryWhenPooledConnectionClosedByBackend() throws Exception {
        try (RecordingBackend backend = RecordingBackend.start(PKI.backendServer());
                ProxyFixture p = proxy(backend.port());
                RawTls.Client c = new RawTls.Client(p.port(), PKI.goodClient())) {
            c.send("GET /warm HTTP/1.1\r\nHost: x\r\n\r\n");
            assertThat(c.readUntil("ok GET /warm\n", 3000)).contains("200");
            c.send("GET /close HTTP/1.1\r\nHost: x\r\n\r\n");
            String out = c.readUntil("502 Bad Gateway\n", 3000);
            assertThat(out).contains("502");
            c.send("GET /after HTTP/1.1\r\nHost: x\r\n\r\n");
            assertThat(c.readUntil("ok GET /after\n", 3000)).contains("ok GET /after");
        }
    }

    @Test
    void backendClosesMidResponse() throws Exception {
        try (RawTls.ScriptedBackend b = new RawTls.ScriptedBackend((i, s, in, out) -> {
                    RawTls.ScriptedBackend.write(out, "HTTP/1.1 200 OK\r\nContent-Length: 1000\r\n\r\n0123456789");
                    Thread.sleep(100);
                });
                ProxyFixture p = proxy(b.port());
                RawTls.Client c = new RawTls.Client(p.port(), PKI.goodClient())) {
            // the script never reads the request; it only needs the handshake
            c.send("GET /x HTTP/1.1\r\nHost: x\r\n\r\n");
            String out = c.readAll(3000);
            assertThat(out).contains("0123456789").endsWith("<EOF>");
        }
    }

    @Test
    void responseHopByHopHeadersStripped() throws Exception {
        try (RawTls.ScriptedBackend b = new RawTls.ScriptedBackend((i, s, in, out) -> {
                    readHead(in);
                    RawTls.ScriptedBackend.write(out, "HTTP/1.1 200 OK\r\nConnection: X-Secret, keep-alive\r\n"
                            + "X-Secret: s\r\nKeep-Alive: timeout=5\r\nProxy-Connection: keep-alive\r\n"
                            + "Upgrade: h2c\r\nX-Kept: k\r\nContent-Length: 2\r\n\r\nok");
                    readHead(in);
                });
                ProxyFixture p = proxy(b.port());
                RawTls.Client c = new RawTls.Client(p.port(), PKI.goodClient())) {
            c.send("GET /x HTTP/1.1\r\nHost: x\r\n\r\n");
            String out = c.readUntil("\r\n\r\nok", 3000);
            assertThat(out.toLowerCase()).contains("x-kept").doesNotContain("x-secret").doesNotContain("keep-alive")
                    .doesNotContain("upgrade").doesNotContain("proxy-connection");
        }
    }

    @Test
    void closeDelimitedResponseIsReframedAndNotPooled() throws Exception {
        try (RawTls.ScriptedBackend b = new RawTls.ScriptedBackend((i, s, in, out) -> {
                    readHead(in);
                    RawTls.ScriptedBackend.write(out, "HTTP/1.1 200 OK\r\n\r\nbody-until-close-" + i);
                });
                ProxyFixture p = proxy(b.port());
                RawTls.Client c = new RawTls.Client(p.port(), PKI.goodClient())) {
            c.send("GET /x HTTP/1.1\r\nHost: x\r\n\r\n");
            String out = c.readUntil("\r\n0\r\n\r\n", 3000);
            assertThat(out).containsIgnoringCase("transfer-encoding: chunked").contains("body-until-close-0");
            c.send("GET /y HTTP/1.1\r\nHost: x\r\n\r\n");
            assertThat(c.readUntil("\r\n0\r\n\r\n", 3000)).contains("body-until-close-1");
        }
    }

    /** A backend answering one request with two responses: the second must not reach the client. */
    @Test
    void extraResponseFromBackendIsNotForwarded() throws Exception {
        try (RawTls.ScriptedBackend b = new RawTls.ScriptedBackend((i, s, in, out) -> {
                    readHead(in);
                    RawTls.ScriptedBackend.write(out, OK + "HTTP/1.1 200 OK\r\nContent-Length: 8\r\n\r\ninjected");
                    while (readHead(in) != null) {
                        RawTls.ScriptedBackend.write(out, OK);
                    }
                });
                ProxyFixture p = proxy(b.port());
                RawTls.Client c = new RawTls.Client(p.port(), PKI.goodClient())) {
            c.send("GET /one HTTP/1.1\r\nHost: x\r\n\r\n");
            String out = c.readAll(1500);
            assertThat(out).doesNotContain("injected");
        }
    }

    /** Garbage after a complete response: the connection must not go back to the pool. */
    @Test
    void garbageAfterResponseDoesNotPoisonThePool() throws Exception {
        try (RawTls.ScriptedBackend b = new RawTls.ScriptedBackend((i, s, in, out) -> {
                    readHead(in);
                    RawTls.ScriptedBackend.write(out, OK + "garbage\r\n\r\n");
                    while (readHead(in) != null) {
                        RawTls.ScriptedBackend.write(out, OK);
                    }
                });
                ProxyFixture p = proxy(b.port(), "mtls-proxy.backends.b.response-timeout = 1s");
                RawTls.Client c = new RawTls.Client(p.port(), PKI.goodClient())) {
            c.send("GET /one HTTP/1.1\r\nHost: x\r\n\r\n");
            c.send("GET /two HTTP/1.1\r\nHost: x\r\n\r\n");
            String out = c.readUntil("\r\n\r\nok", 3000);
            assertThat(out).startsWith("HTTP/1.1 200");
        }
    }

    @Test
    void chunkedRequestTrailersAsSeenByBackend() throws Exception {
        List<String> seen = new java.util.concurrent.CopyOnWriteArrayList<>();
        RawTls.ScriptedBackend[] ref = new RawTls.ScriptedBackend[1];
        try (RawTls.ScriptedBackend b = new RawTls.ScriptedBackend((i, s, in, out) -> {
                    seen.add(ref[0].readUntil(in, "\r\n0\r\n"));
                    seen.add(ref[0].readUntil(in, "\r\n\r\n"));
                    RawTls.ScriptedBackend.write(out, OK);
                    readHead(in);
                })) {
            ref[0] = b;
            try (ProxyFixture p = proxy(b.port());
                    RawTls.Client c = new RawTls.Client(p.port(), PKI.goodClient())) {
                c.send("POST /t HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\n"
                        + "X-Forwarded-Client-Cert: spoof\r\nx-FORWARDED-client-cert: spoof2\r\nX-Other: kept\r\n"
                        + "Host: evil\r\nContent-Length: 99\r\n\r\n");
                String out = c.readUntil("\r\n\r\nok", 3000);
                assertThat(out).startsWith("HTTP/1.1 200");
            }
        }
        assertThat(String.join("", seen)).doesNotContain("spoof").doesNotContain("evil")
                .doesNotContain("Content-Length: 99").contains("X-Other: kept");
    }

    @Test
    void earlyResponseWhileUploading() throws Exception {
        try (RawTls.ScriptedBackend b = new RawTls.ScriptedBackend((i, s, in, out) -> {
                    readHead(in);
                    RawTls.ScriptedBackend.write(out, "HTTP/1.1 413 Too Large\r\nContent-Length: 2\r\n\r\nno");
                    Thread.sleep(2000);
                });
                ProxyFixture p = proxy(b.port());
                RawTls.Client c = new RawTls.Client(p.port(), PKI.goodClient())) {
            c.send("POST /u HTTP/1.1\r\nHost: x\r\nContent-Length: 100000\r\n\r\nabc");
            String out = c.readAll(3000);
            assertThat(out).startsWith("HTTP/1.1 413").endsWith("<EOF>");
            assertThat(b.accepted.get()).isEqualTo(1);
        }
    }

    @Test
    void clientClosesMidDownloadBackendConnectionNotReused() throws Exception {
        try (RecordingBackend backend = RecordingBackend.start(PKI.backendServer());
                ProxyFixture p = proxy(backend.port())) {
            try (RawTls.Client c = new RawTls.Client(p.port(), PKI.goodClient())) {
                c.send("GET /download?bytes=50000000 HTTP/1.1\r\nHost: x\r\n\r\n");
                c.readUntil("\r\n\r\n", 3000);
            }
            Thread.sleep(300);
            int before = backend.connectionsAccepted();
            try (RawTls.Client c = new RawTls.Client(p.port(), PKI.goodClient())) {
                c.send("GET /after HTTP/1.1\r\nHost: x\r\n\r\n");
                assertThat(c.readUntil("ok GET /after\n", 3000)).contains("ok GET /after");
            }
            assertThat(backend.connectionsAccepted()).isEqualTo(before + 1);
        }
    }

    @Test
    void clientClosesMidUploadBackendConnectionNotReused() throws Exception {
        try (RecordingBackend backend = RecordingBackend.start(PKI.backendServer());
                ProxyFixture p = proxy(backend.port())) {
            try (RawTls.Client c = new RawTls.Client(p.port(), PKI.goodClient())) {
                c.send("POST /upload HTTP/1.1\r\nHost: x\r\nContent-Length: 1000\r\n\r\nabc");
                Thread.sleep(300);
            }
            Thread.sleep(300);
            int before = backend.connectionsAccepted();
            try (RawTls.Client c = new RawTls.Client(p.port(), PKI.goodClient())) {
                c.send("GET /after HTTP/1.1\r\nHost: x\r\n\r\n");
                assertThat(c.readUntil("ok GET /after\n", 3000)).contains("ok GET /after");
            }
            assertThat(backend.connectionsAccepted()).isEqualTo(before + 1);
        }
    }

    @Test
    void http10ClientGetsNoInterimResponse() throws Exception {
        try (RecordingBackend backend = RecordingBackend.start(PKI.backendServer());
                ProxyFixture p = proxy(backend.port());
                RawTls.Client c = new RawTls.Client(p.port(), PKI.goodClient())) {
            c.send("POST /upload HTTP/1.0\r\nContent-Length: 5\r\nExpect: 100-continue\r\n\r\n");
            String first = c.readUntil("\r\n\r\n", 1500);
            c.send("hello");
            String rest = c.readAll(2000);
            assertThat(first).doesNotStartWith("HTTP/1.1 100");
        }
    }

    /** A malformed chunk in the request body must not be forwarded as a clean end of the body. */
    @Test
    void malformedRequestChunkIsNotForwardedAsCompleteBody() throws Exception {
        try (RecordingBackend backend = RecordingBackend.start(PKI.backendServer());
                ProxyFixture p = proxy(backend.port());
                RawTls.Client c = new RawTls.Client(p.port(), PKI.goodClient())) {
            c.send("POST /upload HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n"
                    + "3\r\nabc\r\nnot-a-chunk-size\r\nmore\r\n0\r\n\r\n");
            String out = c.readAll(2000);
            assertThat(backend.received()).isEmpty();
            assertThat(out).startsWith("HTTP/1.1 400").endsWith("<EOF>");
        }
    }

    /** A malformed chunk in the response must not reach the client as a clean end of the response. */
    @Test
    void malformedResponseChunkIsNotForwardedAsCompleteResponse() throws Exception {
        try (RawTls.ScriptedBackend b = new RawTls.ScriptedBackend((i, s, in, out) -> {
                    readHead(in);
                    if (i == 0) {
                        RawTls.ScriptedBackend.write(out, "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
                                + "5\r\nhello\r\nnot-a-size\r\n");
                        Thread.sleep(200);
                        RawTls.ScriptedBackend.write(out, "3\r\nabc\r\n0\r\n\r\n");
                    }
                    while (readHead(in) != null) {
                        RawTls.ScriptedBackend.write(out, OK);
                    }
                });
                ProxyFixture p = proxy(b.port(), "mtls-proxy.backends.b.response-timeout = 1s");
                RawTls.Client c = new RawTls.Client(p.port(), PKI.goodClient())) {
            c.send("GET /one HTTP/1.1\r\nHost: x\r\n\r\n");
            String first = c.readUntil("\r\n0\r\n\r\n", 2000);
            c.send("GET /two HTTP/1.1\r\nHost: x\r\n\r\n");
            String second = c.readUntil("\r\n\r\nok", 3000);
            // a truncated response must end with the connection closing, not with a chunked terminator
            assertThat(first).doesNotEndWith("\r\n0\r\n\r\n");
        }
    }

    /** After a malformed chunk the client connection's decoder discards everything: the next request hangs. */
    @Test
    void connectionAfterMalformedRequestChunkIsNotLeftOpen() throws Exception {
        try (RecordingBackend backend = RecordingBackend.start(PKI.backendServer());
                ProxyFixture p = proxy(backend.port());
                RawTls.Client c = new RawTls.Client(p.port(), PKI.goodClient())) {
            c.send("POST /upload HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n"
                    + "3\r\nabc\r\nnot-a-chunk-size\r\n");
            c.readUntil("\r\n\r\n", 2000);
            c.send("GET /next HTTP/1.1\r\nHost: x\r\n\r\n");
            String out = c.readAll(3000);
            assertThat(out).as("either answered or closed").matches("(?s).*(ok GET /next|<EOF>).*");
        }
    }

    /** A client that sends a head promising a body and then stalls holds its backend connection forever. */
    @Test
    void stalledUploadIsEventuallyClosed() throws Exception {
        try (RecordingBackend backend = RecordingBackend.start(PKI.backendServer());
                ProxyFixture p = ProxyFixture.builder().backend("b", backend.port())
                        .route("all", null, "/", "b", ALLOW_GOOD)
                        .set("mtls-proxy.defaults.listener.http.idle-timeout = 1s")
                        .set("mtls-proxy.defaults.backend.idle-timeout = 1s")
                        .start();
                RawTls.Client c = new RawTls.Client(p.port(), PKI.goodClient())) {
            c.send("POST /upload HTTP/1.1\r\nHost: x\r\nContent-Length: 10\r\n\r\nabc");
            String out = c.readAll(5000);
            assertThat(out).endsWith("<EOF>");
        }
    }

    static String readHead(java.io.InputStream in) throws java.io.IOException {
        StringBuilder sb = new StringBuilder();
        int b;
        while ((b = in.read()) >= 0) {
            sb.append((char) b);
            if (sb.length() >= 4 && sb.substring(sb.length() - 4).equals("\r\n\r\n")) {
                return sb.toString();
            }
        }
        return null;
    }
}
