package org.mtlsproxy.it;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import java.net.ServerSocket;
import java.time.Duration;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;
import org.mtlsproxy.testing.RecordingBackend;
import org.mtlsproxy.testing.TestHttpClient;
import org.mtlsproxy.testing.TestPki;

/** A backend that cannot be verified, reached or that answers too slowly yields 502/504, counted with a reason. */
class BackendFailureIT {

    private static final TestPki PKI = TestPki.get();
    private static final String ALLOW_GOOD = "{ spiffe-id = \"spiffe://test.local/ns/prod/sa/orders\" }";

    @Test
    void backendWithUntrustedCertificateGets502AndReceivesNoRequest() throws Exception {
        try (RecordingBackend impostor = RecordingBackend.start(PKI.untrustedBackendServer());
                ProxyFixture proxy = ProxyFixture.builder().backend("b", impostor.port())
                        .route("all", null, "/", "b", ALLOW_GOOD).start();
                TestHttpClient client = proxy.client(PKI.goodClient())) {
            assertThat(client.get("/x").status()).isEqualTo(502);
            // The client connection survives a backend failure.
            assertThat(client.get("/y").status()).isEqualTo(502);
            assertThat(impostor.received()).isEmpty();
            assertThat(proxy.counter("mtls_proxy.backend.connections", "backend", "b", "result", "failure",
                    "reason", "backend_tls_failed")).isEqualTo(2);
        }
    }

    @Test
    void backendWhoseCertificateDoesNotNameServerNameGets502() throws Exception {
        try (RecordingBackend backend = RecordingBackend.start(PKI.backendServer());
                ProxyFixture proxy = ProxyFixture.builder().backend("b", backend.port())
                        .set("mtls-proxy.backends.b.tls.server-name = \"other.test\"")
                        .route("all", null, "/", "b", ALLOW_GOOD).start();
                TestHttpClient client = proxy.client(PKI.goodClient())) {
            assertThat(client.get("/x").status()).isEqualTo(502);
            assertThat(backend.received()).isEmpty();
        }
    }

    @Test
    void backendDownGets502() throws Exception {
        int closedPort;
        try (ServerSocket s = new ServerSocket(0, 1, java.net.InetAddress.getLoopbackAddress())) {
            closedPort = s.getLocalPort();
        }
        try (ProxyFixture proxy = ProxyFixture.builder().backend("b", closedPort)
                        .route("all", null, "/", "b", ALLOW_GOOD).start();
                TestHttpClient client = proxy.client(PKI.goodClient())) {
            assertThat(client.get("/x").status()).isEqualTo(502);
            assertThat(proxy.counter("mtls_proxy.backend.connections", "backend", "b", "result", "failure",
                    "reason", "backend_connect_failed")).isEqualTo(1);
            assertThat(proxy.counter("mtls_proxy.request.rejections", "listener", ProxyFixture.LISTENER,
                    "route", "all", "reason", "backend_connect_failed")).isEqualTo(1);
        }
    }

    @Test
    void backendNamedByHostNameIsResolvedAndReached() throws Exception {
        // Resolved by BackendResolver on its own threads, never on the event loop; server-name still decides
        // which name the backend certificate must carry.
        try (RecordingBackend backend = RecordingBackend.start(PKI.backendServer());
                ProxyFixture proxy = ProxyFixture.builder().backend("b", backend.port())
                        .set("mtls-proxy.backends.b.endpoints = [\"localhost:" + backend.port() + "\"]")
                        .route("all", null, "/", "b", ALLOW_GOOD).start();
                TestHttpClient client = proxy.client(PKI.goodClient())) {
            assertThat(client.get("/by-name").status()).isEqualTo(200);
            assertThat(backend.received()).hasSize(1);
        }
    }

    @Test
    void backendNameThatDoesNotResolveGets502WithAReason() throws Exception {
        // .invalid never resolves (RFC 6761).
        try (ProxyFixture proxy = ProxyFixture.builder().backend("b", 443)
                        .set("mtls-proxy.backends.b.endpoints = [\"orders.invalid:443\"]")
                        .route("all", null, "/", "b", ALLOW_GOOD).start();
                TestHttpClient client = proxy.client(PKI.goodClient())) {
            assertThat(client.get("/x").status()).isEqualTo(502);
            assertThat(client.get("/y").status()).isEqualTo(502);
            assertThat(proxy.counter("mtls_proxy.backend.connections", "backend", "b", "result", "failure",
                    "reason", "backend_connect_failed")).isEqualTo(2);
        }
    }

    @Test
    void slowBackendGets504AfterResponseTimeout() throws Exception {
        try (RecordingBackend backend = RecordingBackend.start(PKI.backendServer());
                ProxyFixture proxy = ProxyFixture.builder().backend("b", backend.port())
                        .set("mtls-proxy.backends.b.response-timeout = 300ms")
                        .route("all", null, "/", "b", ALLOW_GOOD).start();
                TestHttpClient client = proxy.client(PKI.goodClient())) {
            assertThat(client.get("/slow?ms=3000").status()).isEqualTo(504);
            assertThat(client.get("/fast").status()).isEqualTo(200);
            assertThat(proxy.counter("mtls_proxy.request.rejections", "listener", ProxyFixture.LISTENER,
                    "route", "all", "reason", "backend_timeout")).isEqualTo(1);
        }
    }

    @Test
    void eachRoutesResponseTimeoutAppliesOnOneKeptAliveConnection() throws Exception {
        // The response clock is one deadline per connection, re-armed lazily: a long timeout must not delay a
        // shorter one that follows it on the same connection, and a short one must not cut a longer one short.
        try (RecordingBackend backend = RecordingBackend.start(PKI.backendServer());
                ProxyFixture proxy = ProxyFixture.builder().backend("quick", backend.port())
                        .backend("patient", backend.port())
                        .set("mtls-proxy.backends.quick.response-timeout = 400ms")
                        .set("mtls-proxy.backends.patient.response-timeout = 20s")
                        .route("patient", "patient.test", "/", "patient", ALLOW_GOOD)
                        .route("quick", null, "/", "quick", ALLOW_GOOD).start();
                TestHttpClient client = proxy.client(PKI.goodClient())) {
            Map<String, String> patient = Map.of("Host", "patient.test");
            assertThat(client.get("/fast").status()).isEqualTo(200);
            // the 400 ms check armed by the first request fires during this one and re-arms for the time left
            assertThat(client.get("/slow?ms=900", patient).status()).isEqualTo(200);
            long start = System.nanoTime();
            assertThat(client.get("/slow?ms=10000").status()).isEqualTo(504);
            assertThat(Duration.ofNanos(System.nanoTime() - start)).isLessThan(Duration.ofSeconds(5));
            assertThat(client.get("/fast").status()).isEqualTo(200);
            assertThat(proxy.counter("mtls_proxy.request.rejections", "listener", ProxyFixture.LISTENER,
                    "route", "quick", "reason", "backend_timeout")).isEqualTo(1);
            assertThat(proxy.counter("mtls_proxy.request.rejections", "listener", ProxyFixture.LISTENER,
                    "route", "patient", "reason", "backend_timeout")).isZero();
        }
    }

    @Test
    void backendClosingWithoutResponseGets502() throws Exception {
        try (RecordingBackend backend = RecordingBackend.start(PKI.backendServer());
                ProxyFixture proxy = ProxyFixture.builder().backend("b", backend.port())
                        .route("all", null, "/", "b", ALLOW_GOOD).start();
                TestHttpClient client = proxy.client(PKI.goodClient())) {
            assertThat(client.get("/close").status()).isEqualTo(502);
            assertThat(client.get("/after").status()).isEqualTo(200);
        }
    }

    /**
     * A response head that could be read two ways — by the proxy one way, by the client or a cache another — never
     * reaches the client: 502 {@code backend_protocol_error}, and none of its bytes are passed on.
     */
    @ParameterizedTest
    @ValueSource(strings = {
        "HTTP/1.1 200 OK\r\nX-A: 1\r\n X-Forged: folded\r\nContent-Length: 2\r\n\r\nok",
        "HTTP/1.1 200 OK\r\nX-A: 1\rX-Forged: bare-cr\r\nContent-Length: 2\r\n\r\nok",
        "HTTP/1.1 200 OK\r\nContent-Length: 2\r\nContent-Length: 12\r\n\r\nokX-Forged: 1",
        "HTTP/1.1 200 OK\r\nX-Forged : space\r\nContent-Length: 2\r\n\r\nok",
        "HTTP/1.1 200 OK\r\nX-Forged: nul\u0000\r\nContent-Length: 2\r\n\r\nok",
        "HTTP/1.1 OK 200\r\nX-Forged: status\r\nContent-Length: 2\r\n\r\nok",
        "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nContent-Length: 2\r\n\r\nok",
        "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked, gzip\r\n\r\nokX-Forged: 1",
        "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nokX-Forged: 1\r\n0\r\n\r\n"
    })
    void aResponseThatCanBeReadTwoWaysGets502AndNoneOfItsBytes(String response) throws Exception {
        try (RawTls.ScriptedBackend backend = new RawTls.ScriptedBackend((i, s, in, out) -> {
                    MalformedTrafficIT.readHead(in);
                    RawTls.ScriptedBackend.write(out, response);
                    Thread.sleep(500);
                });
                ProxyFixture proxy = ProxyFixture.builder().backend("b", backend.port())
                        .route("all", null, "/", "b", ALLOW_GOOD).start();
                RawTls.Client client = new RawTls.Client(proxy.port(), PKI.goodClient())) {
            client.send("GET /ambiguous HTTP/1.1\r\nHost: x\r\n\r\n");

            String out = client.readAll(3000);
            if (response.contains("chunked\r\n\r\n")) {
                // The status was out before the bad chunk: the response cannot be replaced, only cut short.
                assertThat(out).startsWith("HTTP/1.1 200").endsWith("<EOF>").doesNotContain("X-Forged");
                assertThat(proxy.counter("mtls_proxy.request.rejections", "listener", ProxyFixture.LISTENER,
                        "route", "all", "reason", "backend_response_incomplete")).isEqualTo(1);
            } else {
                assertThat(out).startsWith("HTTP/1.1 502").doesNotContain("X-Forged").doesNotContain("ok");
                assertThat(proxy.counter("mtls_proxy.request.rejections", "listener", ProxyFixture.LISTENER,
                        "route", "all", "reason", "backend_protocol_error")).isEqualTo(1);
            }
        }
    }

    /**
     * A backend that sends, after a complete response, the start of a head nobody asked for: that connection is not
     * pooled, so the next request's response is never read as the continuation of those bytes.
     */
    @Test
    void aBackendConnectionHoldingBytesBeyondItsResponseIsNotReused() throws Exception {
        try (RawTls.ScriptedBackend backend = new RawTls.ScriptedBackend((i, s, in, out) -> {
                    for (int n = 0; MalformedTrafficIT.readHead(in) != null; n++) {
                        RawTls.ScriptedBackend.write(out, i > 0
                                ? "HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nclean"
                                // The first connection: a response plus the start of another; then, should its
                                // connection be reused, the rest of that other one.
                                : n == 0 ? "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nokHTTP/1.1 200 OK\r\nX-Poison: 1\r\n"
                                : "Content-Length: 6\r\n\r\nsecret");
                    }
                });
                ProxyFixture proxy = ProxyFixture.builder().backend("b", backend.port())
                        .route("all", null, "/", "b", ALLOW_GOOD).start();
                TestHttpClient client = proxy.client(PKI.goodClient())) {
            assertThat(client.get("/first").bodyText()).isEqualTo("ok");

            TestHttpClient.Response second = client.get("/second");
            assertThat(second.status()).isEqualTo(200);
            assertThat(second.bodyText()).isEqualTo("clean");
            assertThat(second.header("X-Poison")).isNull();
            assertThat(backend.accepted.get()).isEqualTo(2);
        }
    }

    /** Answers every request with a head promising 1000 bytes, sends 100 of them and closes the connection. */
    private static RawTls.ScriptedBackend truncatingBackend() throws Exception {
        return new RawTls.ScriptedBackend((i, s, in, out) -> {
            MalformedTrafficIT.readHead(in);
            RawTls.ScriptedBackend.write(out, "HTTP/1.1 200 OK\r\nContent-Length: 1000\r\n\r\n" + "x".repeat(100));
            Thread.sleep(200);
        });
    }

    @Test
    void backendClosingMidResponseClosesTheClientWithOneAccessLogLineAndIsCounted() throws Exception {
        try (AccessLog log = new AccessLog();
                RawTls.ScriptedBackend backend = truncatingBackend();
                ProxyFixture proxy = ProxyFixture.builder().backend("b", backend.port())
                        .route("all", null, "/", "b", ALLOW_GOOD).start();
                RawTls.Client client = new RawTls.Client(proxy.port(), PKI.goodClient())) {
            // Given a backend that stops after 100 of the 1000 bytes it announced
            client.send("GET /truncated HTTP/1.1\r\nHost: x\r\n\r\n");

            // Then the client gets what there was, and the connection ends: the response cannot be completed
            String out = client.readAll(5000);
            assertThat(out).startsWith("HTTP/1.1 200").endsWith("x".repeat(100) + "<EOF>");
            // and exactly one access-log line says so, with the status sent and the bytes sent
            Map<String, String> line = log.forPath("/truncated").get(0);
            assertThat(line).containsEntry("decision", "backend_response_incomplete")
                    .containsEntry("detail", "backend closed mid-response")
                    .containsEntry("status", "200").containsEntry("bytes_out", "100")
                    .containsEntry("route", "all").containsEntry("http", "http/1.1");
            Thread.sleep(300);
            assertThat(log.lines()).filteredOn(l -> "/truncated".equals(l.get("path"))).hasSize(1);
            assertThat(proxy.counter("mtls_proxy.request.rejections", "listener", ProxyFixture.LISTENER,
                    "route", "all", "reason", "backend_response_incomplete")).isEqualTo(1);
            // and it is one request, counted with the status it logged, and timed, like a completed one
            assertCountedOnce(proxy, "2xx");
        }
    }

    @Test
    void backendClosingMidResponseResetsTheHttp2StreamWithOneAccessLogLine() throws Exception {
        try (AccessLog log = new AccessLog();
                RawTls.ScriptedBackend backend = truncatingBackend();
                ProxyFixture proxy = ProxyFixture.builder().backend("b", backend.port())
                        .route("all", null, "/", "b", ALLOW_GOOD).start();
                H2Client client = new H2Client(proxy.port(), PKI.goodClient(), TestPki.PROXY_DNS_NAME,
                        List.of("h2"))) {
            assertThatThrownBy(() -> client.request(io.netty.handler.codec.http.HttpMethod.GET, "/truncated-h2",
                    TestPki.PROXY_DNS_NAME, null).get(10, TimeUnit.SECONDS))
                    .as("a stream whose response cannot be completed is reset, never ended as if complete")
                    .isInstanceOf(java.util.concurrent.ExecutionException.class);
            Map<String, String> line = log.forPath("/truncated-h2").get(0);
            assertThat(line).containsEntry("decision", "backend_response_incomplete")
                    .containsEntry("detail", "backend closed mid-response")
                    .containsEntry("status", "200").containsEntry("bytes_out", "100")
                    .containsEntry("http", "h2");
            // The connection itself survives: only the stream was reset.
            assertThat(client.isOpen()).isTrue();
            Thread.sleep(300);
            assertThat(log.lines()).filteredOn(l -> "/truncated-h2".equals(l.get("path"))).hasSize(1);
            assertThat(proxy.counter("mtls_proxy.request.rejections", "listener", ProxyFixture.LISTENER,
                    "route", "all", "reason", "backend_response_incomplete")).isEqualTo(1);
            assertCountedOnce(proxy, "2xx");
        }
    }

    @Test
    void aRequestTheClientAbandonsBeforeTheAnswerIsLoggedAndCountedWithoutAStatus() throws Exception {
        java.util.concurrent.CountDownLatch received = new java.util.concurrent.CountDownLatch(1);
        try (AccessLog log = new AccessLog();
                RawTls.ScriptedBackend backend = new RawTls.ScriptedBackend((i, s, in, out) -> {
                    MalformedTrafficIT.readHead(in);
                    received.countDown();
                    Thread.sleep(3000); // never answers in time
                });
                ProxyFixture proxy = ProxyFixture.builder().backend("b", backend.port())
                        .route("all", null, "/", "b", ALLOW_GOOD).start()) {
            // Given a request the backend is working on
            try (RawTls.Client client = new RawTls.Client(proxy.port(), PKI.goodClient())) {
                client.send("GET /abandoned HTTP/1.1\r\nHost: x\r\n\r\n");
                assertThat(received.await(5, TimeUnit.SECONDS)).isTrue();
            } // When the client leaves

            // Then its one line says so, with no status sent, and it is counted as such
            Map<String, String> line = log.forPath("/abandoned").get(0);
            assertThat(line).containsEntry("message", "client closed the connection").containsEntry("status", "0")
                    .containsEntry("route", "all");
            assertCountedOnce(proxy, "none");
        }
    }

    @Test
    void completedAndLocallyRefusedRequestsAreCountedOnceEach() throws Exception {
        try (RecordingBackend backend = RecordingBackend.start(PKI.backendServer());
                ProxyFixture proxy = ProxyFixture.builder().backend("b", backend.port())
                        .route("all", null, "/", "b", ALLOW_GOOD).start()) {
            try (TestHttpClient client = proxy.client(PKI.goodClient())) {
                assertThat(client.get("/ok").status()).isEqualTo(200);
            }
            assertCountedOnce(proxy, "2xx");
            try (TestHttpClient other = proxy.client(PKI.otherClient())) {
                assertThat(other.get("/denied").status()).isEqualTo(403);
            }
            org.awaitility.Awaitility.await().atMost(Duration.ofSeconds(5))
                    .until(() -> requestsOfRouteAll(proxy) == 2 && timedOfRouteAll(proxy) == 2);
            assertThat(proxy.counter("mtls_proxy.requests", "listener", ProxyFixture.LISTENER, "route", "all",
                    "status_class", "4xx")).isEqualTo(1);
        }
    }

    /**
     * The route's only exchange is counted once in mtls_proxy_requests_total, with {@code statusClass}, and timed
     * once (the line is written as it is counted; a little later nothing more was added).
     */
    private static void assertCountedOnce(ProxyFixture proxy, String statusClass) throws InterruptedException {
        org.awaitility.Awaitility.await().atMost(Duration.ofSeconds(5))
                .until(() -> requestsOfRouteAll(proxy) >= 1);
        Thread.sleep(200);
        assertThat(proxy.counter("mtls_proxy.requests", "listener", ProxyFixture.LISTENER, "route", "all",
                "status_class", statusClass)).isEqualTo(1);
        assertThat(requestsOfRouteAll(proxy)).isEqualTo(1);
        assertThat(timedOfRouteAll(proxy)).isEqualTo(1);
    }

    private static double requestsOfRouteAll(ProxyFixture proxy) {
        return proxy.metrics().registry().find("mtls_proxy.requests").tags("route", "all").counters().stream()
                .mapToDouble(io.micrometer.core.instrument.Counter::count).sum();
    }

    private static long timedOfRouteAll(ProxyFixture proxy) {
        io.micrometer.core.instrument.Timer t = proxy.metrics().registry().find("mtls_proxy.request.duration")
                .tags("route", "all").timer();
        return t == null ? 0 : t.count();
    }

    @Test
    void requestsAreSpreadOverEveryEndpoint() throws Exception {
        try (RecordingBackend one = RecordingBackend.start(PKI.backendServer());
                RecordingBackend two = RecordingBackend.start(PKI.backendServer());
                ProxyFixture proxy = ProxyFixture.builder().backend("b", one.port(), two.port())
                        .route("all", null, "/", "b", ALLOW_GOOD).start()) {
            for (int i = 0; i < 6; i++) {
                try (TestHttpClient client = proxy.client(PKI.goodClient())) {
                    assertThat(client.get("/x" + i).status()).isEqualTo(200);
                }
            }
            assertThat(one.received()).isNotEmpty();
            assertThat(two.received()).isNotEmpty();
        }
    }
}
