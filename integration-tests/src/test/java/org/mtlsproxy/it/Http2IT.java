package org.mtlsproxy.it;

import static org.assertj.core.api.Assertions.assertThat;

import io.netty.handler.codec.http.HttpMethod;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.mtlsproxy.testing.RecordingBackend;
import org.mtlsproxy.testing.TestHttpClient;
import org.mtlsproxy.testing.TestPki;

/**
 * HTTP/2 on the listener through ALPN: many streams on one connection, each routed and authorized on its own,
 * translated to HTTP/1.1 towards the backend; 421 when the authority is not the connection's SNI; HTTP/1.1 for
 * clients that do not offer h2.
 */
class Http2IT {

    private static final TestPki PKI = TestPki.get();
    private static final String SNI = TestPki.PROXY_DNS_NAME;
    private static RecordingBackend backend;
    private static ProxyFixture proxy;

    @BeforeAll
    static void start() throws Exception {
        backend = RecordingBackend.start(PKI.backendServer());
        proxy = ProxyFixture.builder()
                .backend("b", backend.port())
                .route("all", null, "/", "b", "{ spiffe-id = \"" + TestPki.GOOD_CLIENT_SPIFFE_ID + "\" }")
                .route("admin", null, "/admin/", "b", "{ spiffe-id = \"" + TestPki.OTHER_CLIENT_SPIFFE_ID + "\" }")
                .set("mtls-proxy.defaults.listener.http.max-concurrent-streams = 50")
                .start();
    }

    @AfterAll
    static void stop() {
        proxy.close();
        backend.close();
    }

    @org.junit.jupiter.api.Test
    void http2ConnectionIsRecycledAfterMaxConnectionLifetime() throws Exception {
        try (ProxyFixture shortLived = ProxyFixture.builder().backend("b", backend.port())
                        .route("all", null, "/", "b", "{ spiffe-id = \"" + TestPki.GOOD_CLIENT_SPIFFE_ID + "\" }")
                        .set("mtls-proxy.defaults.listener.limits.max-connection-lifetime = 500ms").start();
                H2Client client = new H2Client(shortLived.port(), PKI.goodClient(), SNI, List.of("h2"))) {
            org.assertj.core.api.Assertions.assertThat(client.get("/young", SNI).status()).isEqualTo(200);
            org.awaitility.Awaitility.await().atMost(java.time.Duration.ofSeconds(5)).until(() -> !client.isOpen());
        }
    }

    private static H2Client h2(TestPki.Issued identity) throws Exception {
        return new H2Client(proxy.port(), identity, SNI, List.of("h2", "http/1.1"));
    }

    @Test
    void everyStreamsAccessLogLineNamesItsConnectionsTlsProtocolCipherAndHandshakeTime() throws Exception {
        try (AccessLog log = new AccessLog(); H2Client client = h2(PKI.goodClient())) {
            assertThat(client.get("/h2-tls-1", SNI).status()).isEqualTo(200);
            assertThat(client.get("/h2-tls-2", SNI).status()).isEqualTo(200);

            List<Map<String, String>> lines = log.await(2, l -> String.valueOf(l.get("path")).startsWith("/h2-tls-"));
            assertThat(lines).hasSize(2).allSatisfy(l -> assertThat(l).containsEntry("http", "h2")
                    .containsEntry("tls", client.tlsProtocol()).containsEntry("cipher", client.cipherSuite()));
            assertThat(client.cipherSuite()).isNotBlank();
            assertThat(Double.parseDouble(lines.get(0).get("handshake_ms"))).isPositive();
            assertThat(lines.get(1).get("handshake_ms")).isEqualTo(lines.get(0).get("handshake_ms"));
        }
    }

    @Test
    void manyConcurrentStreamsOnOneConnectionAreAuthorizedEachOnTheirOwn() throws Exception {
        try (H2Client client = h2(PKI.goodClient())) {
            assertThat(client.protocol()).isEqualTo("h2");
            // 40 streams at once, within the advertised max-concurrent-streams of 50.
            List<CompletableFuture<H2Client.Response>> allowed = new ArrayList<>();
            List<CompletableFuture<H2Client.Response>> denied = new ArrayList<>();
            for (int i = 0; i < 20; i++) {
                allowed.add(client.request(HttpMethod.GET, "/echo-headers?h2=" + i, SNI, null));
                denied.add(client.request(HttpMethod.GET, "/admin/secret?h2=" + i, SNI, null));
            }
            for (CompletableFuture<H2Client.Response> f : allowed) {
                H2Client.Response r = f.get(20, TimeUnit.SECONDS);
                assertThat(r.status()).isEqualTo(200);
                assertThat(r.bodyText()).contains("x-forwarded-client-cert: ")
                        .contains("URI=" + TestPki.GOOD_CLIENT_SPIFFE_ID)
                        .contains("host: " + SNI)
                        .doesNotContain("x-http2-");
            }
            for (CompletableFuture<H2Client.Response> f : denied) {
                assertThat(f.get(20, TimeUnit.SECONDS).status()).isEqualTo(403);
            }
            assertThat(client.isOpen()).isTrue();
        }
        assertThat(backend.received()).noneMatch(r -> r.path().startsWith("/admin/secret"));
        assertThat(backend.received()).filteredOn(r -> r.uri().startsWith("/echo-headers?h2="))
                .hasSize(20)
                .allSatisfy(r -> assertThat(r.headers().get("x-forwarded-client-cert"))
                        .contains("URI=" + TestPki.GOOD_CLIENT_SPIFFE_ID));
    }

    @Test
    void otherIdentityOnItsOwnConnectionGetsTheOppositeDecisions() throws Exception {
        try (H2Client client = h2(PKI.otherClient())) {
            CompletableFuture<H2Client.Response> admin = client.request(HttpMethod.GET, "/admin/x", SNI, null);
            CompletableFuture<H2Client.Response> other = client.request(HttpMethod.GET, "/x", SNI, null);
            assertThat(admin.get(20, TimeUnit.SECONDS).status()).isEqualTo(200);
            assertThat(other.get(20, TimeUnit.SECONDS).status()).isEqualTo(403);
        }
    }

    @Test
    void megabyteUploadAndDownloadArriveIntact() throws Exception {
        int size = 1024 * 1024;
        byte[] body = RecordingBackend.patternChunk(0, size);
        try (H2Client client = h2(PKI.goodClient())) {
            CompletableFuture<H2Client.Response> up = client.request(HttpMethod.POST, "/upload", SNI, body);
            CompletableFuture<H2Client.Response> down =
                    client.request(HttpMethod.GET, "/download?bytes=" + size, SNI, null);
            CompletableFuture<H2Client.Response> chunked =
                    client.request(HttpMethod.GET, "/download?chunked=true&bytes=" + (size + 3), SNI, null);
            H2Client.Response u = up.get(30, TimeUnit.SECONDS);
            assertThat(u.status()).isEqualTo(200);
            assertThat(u.bodyText().trim()).isEqualTo(size + " " + RecordingBackend.expectedSha256(size));
            H2Client.Response d = down.get(30, TimeUnit.SECONDS);
            assertThat(d.status()).isEqualTo(200);
            assertThat(RecordingBackend.sha256Hex(d.body())).isEqualTo(RecordingBackend.expectedSha256(size));
            H2Client.Response c = chunked.get(30, TimeUnit.SECONDS);
            assertThat(c.status()).isEqualTo(200);
            assertThat(c.headers().get("transfer-encoding")).isNull();
            assertThat(RecordingBackend.sha256Hex(c.body())).isEqualTo(RecordingBackend.expectedSha256(size + 3));
        }
    }

    @Test
    void authorityOtherThanTheSniIsMisdirected() throws Exception {
        try (H2Client client = h2(PKI.goodClient())) {
            assertThat(client.get("/x", "other.test").status()).isEqualTo(421);
            assertThat(client.get("/x", SNI + ":443").status()).isEqualTo(200);
            assertThat(client.get("/x", "PROXY.test").status()).isEqualTo(200);
        }
        try (TestHttpClient http1 = TestHttpClient.builder(proxy.port()).trustRootPem(PKI.serverRootPem())
                .clientCertificate(PKI.goodClient()).serverName(SNI).build()) {
            assertThat(http1.get("/x", Map.of("Host", "other.test")).status()).isEqualTo(421);
            assertThat(http1.get("/x", Map.of("Host", SNI)).status()).isEqualTo(200);
        }
        assertThat(backend.received()).noneMatch(r -> "other.test".equals(r.headers().get("host")));
    }

    @Test
    void clientsWithoutH2GetHttp11() throws Exception {
        try (H2Client client = new H2Client(proxy.port(), PKI.goodClient(), SNI, List.of("http/1.1"))) {
            assertThat(client.protocol()).isEqualTo("http/1.1");
        }
        // The JDK client offers no ALPN at all.
        try (TestHttpClient http1 = proxy.client(PKI.goodClient())) {
            assertThat(http1.get("/x").status()).isEqualTo(200);
            assertThat(http1.get("/admin/x").status()).isEqualTo(403);
            assertThat(http1.connectionsOpened()).isEqualTo(1);
        }
    }

    @Test
    void clientsWithoutH2OnAnH2OnlyListenerAreRefusedCountedAndLogged() throws Exception {
        try (AccessLog log = new AccessLog();
                ProxyFixture h2Only = ProxyFixture.builder()
                        .backend("b", backend.port())
                        .route("all", null, "/", "b", "{ spiffe-id = \"" + TestPki.GOOD_CLIENT_SPIFFE_ID + "\" }")
                        .set("mtls-proxy.defaults.listener.http.protocols = [\"h2\"]")
                        .start()) {
            // A client offering only http/1.1: BoringSSL answers no ALPN, the handshake itself completes
            try (H2Client http1Alpn = new H2Client(h2Only.port(), PKI.goodClient(), SNI, List.of("http/1.1"))) {
                org.awaitility.Awaitility.await().atMost(java.time.Duration.ofSeconds(5))
                        .until(() -> !http1Alpn.isOpen());
            }
            // A client sending no ALPN at all
            try (RawTls.Client noAlpn = new RawTls.Client(h2Only.port(), PKI.goodClient())) {
                try {
                    noAlpn.send("GET /x HTTP/1.1\r\nHost: " + SNI + "\r\n\r\n");
                } catch (java.io.IOException alreadyClosed) {
                    // fine: refused
                }
                assertThat(noAlpn.readAll(3000)).doesNotContain("HTTP/1.1").endsWith(">");
            }
            assertThat(h2Only.handshakeFailures("no_application_protocol")).isEqualTo(2);
            assertThat(h2Only.counter("mtls_proxy.handshakes", "listener", ProxyFixture.LISTENER,
                    "result", "success")).isZero();
            List<Map<String, String>> lines = log.await(2, l -> "handshake rejected".equals(l.get("message")));
            assertThat(lines).allSatisfy(l -> assertThat(l).containsEntry("decision", "no_application_protocol")
                    .containsEntry("subject", PKI.goodClient().certificate().getSubjectX500Principal().getName()));
            assertThat(lines.get(0).get("detail")).contains("[h2]");
        }
    }

    @Test
    void streamsTheCodecRefusesAreCountedWithAReason() throws Exception {
        try (ProxyFixture strict = ProxyFixture.builder()
                        .backend("b", backend.port())
                        .route("all", null, "/", "b", "{ spiffe-id = \"" + TestPki.GOOD_CLIENT_SPIFFE_ID + "\" }")
                        .set("mtls-proxy.defaults.listener.http.max-concurrent-streams = 1")
                        .set("mtls-proxy.defaults.listener.http.max-header-size = 4096")
                        .start();
                H2Client client = new H2Client(strict.port(), PKI.goodClient(), SNI, List.of("h2"))) {
            assertThat(client.get("/first", SNI).status()).isEqualTo(200);

            // A header list over max-header-size (within Netty's stream-error margin): 431 from the codec
            H2Client.Response tooLarge = client.requestWithHeader(HttpMethod.GET, "/big-headers", SNI, null, "x-big",
                    "v".repeat(4500)).get(10, TimeUnit.SECONDS);
            assertThat(tooLarge.status()).isEqualTo(431);
            assertThat(rejections(strict, "bad_request")).isEqualTo(1);

            // A stream beyond max-concurrent-streams: RST_STREAM(REFUSED_STREAM) from the codec
            client.ignoreServerStreamLimit();
            CompletableFuture<H2Client.Response> slow = client.request(HttpMethod.GET, "/slow?ms=1500", SNI, null);
            Thread.sleep(300);
            CompletableFuture<H2Client.Response> refused = client.request(HttpMethod.GET, "/refused", SNI, null);
            org.assertj.core.api.Assertions.assertThatThrownBy(() -> refused.get(10, TimeUnit.SECONDS))
                    .isInstanceOf(java.util.concurrent.ExecutionException.class);
            assertThat(slow.get(10, TimeUnit.SECONDS).status()).isEqualTo(200);
            assertThat(rejections(strict, "limit_exceeded")).isEqualTo(1);

            // Neither reached a backend; the connection serves on
            assertThat(backend.received()).noneMatch(r -> r.uri().equals("/refused") || r.uri().equals("/big-headers"));
            assertThat(client.get("/after", SNI).status()).isEqualTo(200);
            assertThat(rejections(strict, "bad_request")).isEqualTo(1);
        }
    }

    @Test
    void aStreamBreakingTheProtocolMidRequestIsResetAloneAndCounted() throws Exception {
        try (AccessLog log = new AccessLog();
                H2Client client = h2(PKI.goodClient())) {
            double before = proxy.counter("mtls_proxy.request.rejections", "listener", ProxyFixture.LISTENER,
                    "route", "all", "reason", "bad_request");
            // Given a stream whose DATA is longer than the content-length its HEADERS declared
            CompletableFuture<H2Client.Response> lying = client.requestWithHeader(HttpMethod.POST, "/lying", SNI,
                    new byte[10], "content-length", "3");
            org.assertj.core.api.Assertions.assertThatThrownBy(() -> lying.get(10, TimeUnit.SECONDS))
                    .isInstanceOf(java.util.concurrent.ExecutionException.class);

            // Then that stream alone is reset, logged and counted; the connection takes new streams
            assertThat(client.get("/after-lying", SNI).status()).isEqualTo(200);
            assertThat(log.forPath("/lying").get(0)).containsEntry("decision", "bad_request")
                    .containsEntry("http", "h2");
            assertThat(proxy.counter("mtls_proxy.request.rejections", "listener", ProxyFixture.LISTENER,
                    "route", "all", "reason", "bad_request")).isEqualTo(before + 1);
        }
    }

    private static double rejections(ProxyFixture proxy, String reason) {
        return proxy.counter("mtls_proxy.request.rejections", "listener", ProxyFixture.LISTENER, "route", "",
                "reason", reason);
    }

    @Test
    void listenerWithoutH2NegotiatesHttp11() throws Exception {
        try (ProxyFixture http1Only = ProxyFixture.builder()
                .backend("b", backend.port())
                .route("all", null, "/", "b", "{ spiffe-id = \"" + TestPki.GOOD_CLIENT_SPIFFE_ID + "\" }")
                .set("mtls-proxy.defaults.listener.http.protocols = [\"http/1.1\"]")
                .start();
                H2Client client = new H2Client(http1Only.port(), PKI.goodClient(), SNI, List.of("h2", "http/1.1"))) {
            assertThat(client.protocol()).isEqualTo("http/1.1");
        }
    }
}
