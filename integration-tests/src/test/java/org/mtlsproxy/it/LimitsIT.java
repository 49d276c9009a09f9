package org.mtlsproxy.it;

import static org.assertj.core.api.Assertions.assertThat;

import java.io.IOException;
import java.nio.file.Files;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;
import org.awaitility.Awaitility;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.mtlsproxy.testing.RecordingBackend;
import org.mtlsproxy.testing.TestHttpClient;
import org.mtlsproxy.testing.TestPki;

/** Every limit and timeout refuses what it should, counts it, and leaves well-behaved clients alone. */
class LimitsIT {

    private static final TestPki PKI = TestPki.get();
    private static final String ALLOW_ANY = "{ spiffe-id = \"spiffe://test.local/**\" }";
    private static RecordingBackend backend;

    @BeforeAll
    static void start() {
        backend = RecordingBackend.start(PKI.backendServer());
    }

    @AfterAll
    static void stop() {
        backend.close();
    }

    private static ProxyFixture.Builder proxy() {
        return ProxyFixture.builder().backend("b", backend.port()).route("all", null, "/", "b", ALLOW_ANY);
    }

    @Test
    void connectionsBeyondMaxConnectionsAreClosedAndCounted() throws Exception {
        try (ProxyFixture proxy = proxy().set("mtls-proxy.defaults.listener.limits.max-connections = 3").start()) {
            List<TestHttpClient> open = new ArrayList<>();
            try {
                for (int i = 0; i < 3; i++) {
                    TestHttpClient c = proxy.client(PKI.goodClient());
                    assertThat(c.get("/" + i).status()).isEqualTo(200);
                    open.add(c);
                }
                try (TestHttpClient fourth = proxy.client(PKI.goodClient())) {
                    fourth.expectConnectionRejected("/4");
                }
                assertThat(proxy.counter("mtls_proxy.connections.refused", "listener", ProxyFixture.LISTENER,
                        "reason", "limit_exceeded")).isEqualTo(1);

                open.remove(0).close();
                Awaitility.await().until(() -> {
                    try (TestHttpClient again = proxy.client(PKI.goodClient())) {
                        return again.get("/again").status() == 200;
                    } catch (IOException stillFull) {
                        return false;
                    }
                });
            } finally {
                open.forEach(TestHttpClient::close);
            }
        }
    }

    @Test
    void clientThatNeverFinishesTheHandshakeIsCutOffAndCounted() throws Exception {
        try (ProxyFixture proxy = proxy().set("mtls-proxy.defaults.listener.tls.handshake-timeout = 500ms").start();
                java.net.Socket silent = new java.net.Socket(java.net.InetAddress.getLoopbackAddress(),
                        proxy.port())) {
            silent.setSoTimeout(5000);
            long start = System.nanoTime();
            // Nothing is sent: no ClientHello. The proxy must close the connection on its own.
            assertThat(silent.getInputStream().read()).isEqualTo(-1);
            assertThat(Duration.ofNanos(System.nanoTime() - start)).isBetween(Duration.ofMillis(300),
                    Duration.ofSeconds(4));
            Awaitility.await().until(() -> proxy.handshakeFailures("handshake_timeout") == 1);
        }
    }

    @Test
    void tooManyHeaderFieldsGet431() throws Exception {
        try (ProxyFixture proxy = proxy().set("mtls-proxy.defaults.listener.limits.max-header-count = 5").start();
                RawTls.Client c = new RawTls.Client(proxy.port(), PKI.goodClient())) {
            StringBuilder req = new StringBuilder("GET /many HTTP/1.1\r\nHost: x\r\n");
            for (int i = 0; i < 6; i++) {
                req.append("X-H").append(i).append(": v\r\n");
            }
            c.send(req.append("\r\n").toString());
            assertThat(c.readAll(3000)).startsWith("HTTP/1.1 431").endsWith("<EOF>");
        }
    }

    @Test
    void clientDribblingItsHeadersGets408ButAnIdleKeepAliveConnectionDoesNot() throws Exception {
        try (ProxyFixture proxy = proxy()
                .set("mtls-proxy.defaults.listener.limits.header-read-timeout = 700ms").start()) {
            try (RawTls.Client slow = new RawTls.Client(proxy.port(), PKI.goodClient())) {
                slow.send("GET /slowloris HTTP/1.1\r\nHost: x\r\n");
                Thread.sleep(300);
                slow.send("X-A: 1\r\n");
                String answer = slow.readAll(3000);
                assertThat(answer).startsWith("HTTP/1.1 408").endsWith("<EOF>");
            }
            assertThat(proxy.counter("mtls_proxy.request.rejections", "listener", ProxyFixture.LISTENER, "route", "",
                    "reason", "request_timeout")).isEqualTo(1);

            try (TestHttpClient idle = proxy.client(PKI.goodClient())) {
                assertThat(idle.get("/first").status()).isEqualTo(200);
                Thread.sleep(1200);
                assertThat(idle.get("/second").status()).isEqualTo(200);
                assertThat(idle.connectionsOpened()).isEqualTo(1);
            }
        }
    }

    @Test
    void headReadTimeoutRestartsForEachRequestOfAKeptAliveConnection() throws Exception {
        // One check task per connection, re-armed for the time left: the second head gets its full timeout from
        // its own first byte, not from the first request's, and is still cut off when it dribbles.
        try (ProxyFixture proxy = proxy()
                .set("mtls-proxy.defaults.listener.limits.header-read-timeout = 800ms").start();
                RawTls.Client client = new RawTls.Client(proxy.port(), PKI.goodClient())) {
            client.send("GET /first HTTP/1.1\r\nHost: x\r\n\r\n");
            assertThat(client.readUntil("ok GET /first\n", 3000)).startsWith("HTTP/1.1 200");
            Thread.sleep(500);
            long start = System.nanoTime();
            client.send("GET /second HTTP/1.1\r\nHost: x\r\n");
            String answer = client.readAll(5000);
            Duration waited = Duration.ofNanos(System.nanoTime() - start);
            assertThat(answer).startsWith("HTTP/1.1 408").endsWith("<EOF>");
            assertThat(waited).isGreaterThanOrEqualTo(Duration.ofMillis(700)).isLessThan(Duration.ofMillis(3000));
        }
    }

    @Test
    void keepAliveConnectionIsClosedAfterIdleTimeoutOfSilenceButNotWhileInUse() throws Exception {
        try (ProxyFixture proxy = proxy().set("mtls-proxy.defaults.listener.http.idle-timeout = 800ms").start();
                RawTls.Client client = new RawTls.Client(proxy.port(), PKI.goodClient())) {
            // 2.4 s of requests, 300 ms apart, on one connection: longer than the timeout, never that silent
            for (int i = 0; i < 8; i++) {
                client.send("GET /n" + i + " HTTP/1.1\r\nHost: x\r\n\r\n");
                assertThat(client.readUntil("ok GET /n" + i + "\n", 3000)).startsWith("HTTP/1.1 200");
                Thread.sleep(300);
            }
            long start = System.nanoTime();
            assertThat(client.readAll(5000)).isEqualTo("<EOF>");
            assertThat(Duration.ofNanos(System.nanoTime() - start)).isLessThan(Duration.ofMillis(2500));
        }
    }

    @Test
    void clientStallingMidBodyGets408AtIdleTimeoutLoggedAndCountedAsATimeout() throws Exception {
        try (AccessLog log = new AccessLog();
                ProxyFixture proxy = proxy().set("mtls-proxy.defaults.listener.http.idle-timeout = 800ms").start();
                RawTls.Client client = new RawTls.Client(proxy.port(), PKI.goodClient())) {
            // Given a request that promises 10 body bytes and sends 3
            client.send("POST /upload-stalled HTTP/1.1\r\nHost: x\r\nContent-Length: 10\r\n\r\nabc");

            // Then the client is told, and the line says which timeout ran out and who stalled
            assertThat(client.readAll(5000)).startsWith("HTTP/1.1 408").endsWith("<EOF>");
            Map<String, String> line = log.forPath("/upload-stalled").get(0);
            assertThat(line).containsEntry("decision", "idle_timeout").containsEntry("status", "408");
            assertThat(line.get("detail")).contains("http.idle-timeout")
                    .contains("the client stopped sending the request body");
            assertThat(proxy.counter("mtls_proxy.request.rejections", "listener", ProxyFixture.LISTENER,
                    "route", "all", "reason", "idle_timeout")).isEqualTo(1);
        }
    }

    @Test
    void backendStallingMidResponseIsCutAtIdleTimeoutAndLoggedAsABackendTimeout() throws Exception {
        try (AccessLog log = new AccessLog();
                RawTls.ScriptedBackend stalling = new RawTls.ScriptedBackend((i, s, in, out) -> {
                    MalformedTrafficIT.readHead(in);
                    RawTls.ScriptedBackend.write(out, "HTTP/1.1 200 OK\r\nContent-Length: 1000\r\n\r\n"
                            + "x".repeat(100));
                    Thread.sleep(6000);
                });
                ProxyFixture proxy = ProxyFixture.builder().backend("slow", stalling.port())
                        .route("all", null, "/", "slow", ALLOW_ANY)
                        .set("mtls-proxy.defaults.listener.http.idle-timeout = 800ms").start();
                RawTls.Client client = new RawTls.Client(proxy.port(), PKI.goodClient())) {
            long start = System.nanoTime();
            client.send("GET /stalls HTTP/1.1\r\nHost: x\r\n\r\n");

            assertThat(client.readAll(5000)).startsWith("HTTP/1.1 200").endsWith("x".repeat(100) + "<EOF>");
            assertThat(Duration.ofNanos(System.nanoTime() - start)).isLessThan(Duration.ofSeconds(4));
            Map<String, String> line = log.forPath("/stalls").get(0);
            assertThat(line).containsEntry("decision", "backend_timeout").containsEntry("status", "200")
                    .containsEntry("bytes_out", "100");
            assertThat(line.get("detail")).contains("http.idle-timeout")
                    .contains("the backend stopped sending the response");
            assertThat(proxy.counter("mtls_proxy.request.rejections", "listener", ProxyFixture.LISTENER,
                    "route", "all", "reason", "backend_timeout")).isEqualTo(1);
        }
    }

    @Test
    void clientNotReadingItsResponseIsClosedAtIdleTimeout() throws Exception {
        try (AccessLog log = new AccessLog();
                ProxyFixture proxy = proxy().set("mtls-proxy.defaults.listener.http.idle-timeout = 800ms").start();
                RawTls.Client client = new RawTls.Client(proxy.port(), PKI.goodClient())) {
            // Given a client that asks for more than the socket buffers hold and then reads nothing
            client.send("GET /download?bytes=" + (256 * 1024 * 1024) + " HTTP/1.1\r\nHost: x\r\n\r\n");

            // Then the proxy closes the connection on its own: a close that waited for the client to take the
            // rest first would hold the connection for as long as the client likes
            Awaitility.await().atMost(Duration.ofSeconds(5)).until(() -> proxy.metrics().registry()
                    .find("mtls_proxy.connections.active").tag("listener", ProxyFixture.LISTENER).gauge()
                    .value() == 0);
            Map<String, String> line = log.forPath("/download").get(0);
            assertThat(line).containsEntry("decision", "idle_timeout").containsEntry("status", "200");
            assertThat(line.get("detail")).contains("http.idle-timeout")
                    .contains("the client stopped reading the response");
            assertThat(proxy.counter("mtls_proxy.request.rejections", "listener", ProxyFixture.LISTENER,
                    "route", "all", "reason", "idle_timeout")).isEqualTo(1);
        }
    }

    @Test
    void bodyOverTheRoutesLimitGets413WhetherDeclaredOrStreamed() throws Exception {
        try (ProxyFixture proxy = proxy().set("mtls-proxy.defaults.route.limits.max-request-body-size = 1k").start()) {
            int before = backend.received().size();
            try (TestHttpClient c = proxy.client(PKI.goodClient())) {
                assertThat(c.request("POST", "/upload", List.of(), new byte[2000]).status()).isEqualTo(413);
            }
            assertThat(backend.received()).hasSize(before);
            try (TestHttpClient c = proxy.client(PKI.goodClient())) {
                TestHttpClient.Response r = c.uploadChunked("/upload",
                        RecordingBackend.patternStream(5000));
                assertThat(r.status()).isEqualTo(413);
            }
            try (TestHttpClient c = proxy.client(PKI.goodClient())) {
                assertThat(c.request("POST", "/upload", List.of(), new byte[1024]).status()).isEqualTo(200);
            }
            assertThat(proxy.counter("mtls_proxy.request.rejections", "listener", ProxyFixture.LISTENER,
                    "route", "all", "reason", "body_too_large")).isEqualTo(2);
        }
    }

    @Test
    void connectionIsClosedAfterMaxConnectionLifetime() throws Exception {
        try (ProxyFixture proxy = proxy()
                .set("mtls-proxy.defaults.listener.limits.max-connection-lifetime = 500ms").start();
                TestHttpClient c = proxy.client(PKI.goodClient())) {
            assertThat(c.get("/young").status()).isEqualTo(200);
            Thread.sleep(1000);
            try {
                c.get("/old");
                throw new AssertionError("a connection past its lifetime still served a request");
            } catch (IOException expected) {
                // closed by the proxy
            }
            assertThat(c.get("/reconnected").status()).isEqualTo(200);
            assertThat(c.connectionsOpened()).isEqualTo(2);
        }
    }

    @Test
    void aReloadKeepingTheLimitKeepsTheBucketsOneChangingItStartsAfresh() throws Exception {
        // Reloads are frequent (CRL refreshes, certificate rotation): each must not hand every client a new burst.
        try (ProxyFixture proxy = proxy().set("mtls-proxy.defaults.route.limits.rate-limit { enabled = true, "
                + "requests-per-second = 0.1, burst = 1 }").start();
                TestHttpClient good = proxy.client(PKI.goodClient())) {
            assertThat(good.get("/1").status()).isEqualTo(200);
            assertThat(good.get("/2").status()).isEqualTo(429);

            // New connections after each reload take the new snapshot at once (an open one adopts it from its event
            // loop, possibly after a request already read); the buckets are per identity, not per connection.
            assertThat(proxy.server().reload("test").get(10, TimeUnit.SECONDS).success()).isTrue();
            try (TestHttpClient again = proxy.client(PKI.goodClient())) {
                assertThat(again.get("/3").status()).isEqualTo(429);
            }

            Files.writeString(proxy.configFile(), Files.readString(proxy.configFile())
                    + "\nmtls-proxy.defaults.route.limits.rate-limit.burst = 3\n");
            assertThat(proxy.server().reload("test").get(10, TimeUnit.SECONDS).success()).isTrue();
            try (TestHttpClient afresh = proxy.client(PKI.goodClient())) {
                assertThat(afresh.get("/4").status()).isEqualTo(200);
            }
            assertThat(good.connectionsOpened()).isEqualTo(1);
        }
    }

    @Test
    void identityOverTheRateGets429WithRetryAfterWhileOthersPass() throws Exception {
        try (ProxyFixture proxy = proxy().set("mtls-proxy.defaults.route.limits.rate-limit { enabled = true, "
                + "requests-per-second = 0.5, burst = 2 }").start();
                TestHttpClient good = proxy.client(PKI.goodClient());
                TestHttpClient other = proxy.client(PKI.otherClient())) {
            assertThat(good.get("/1").status()).isEqualTo(200);
            assertThat(good.get("/2").status()).isEqualTo(200);
            TestHttpClient.Response limited = good.get("/3");
            assertThat(limited.status()).isEqualTo(429);
            assertThat(Integer.parseInt(limited.header("retry-after"))).isBetween(1, 2);
            assertThat(good.connectionsOpened()).isEqualTo(1);

            assertThat(other.get("/1", Map.of()).status()).isEqualTo(200);
            assertThat(proxy.counter("mtls_proxy.request.rejections", "listener", ProxyFixture.LISTENER,
                    "route", "all", "reason", "rate_limited")).isEqualTo(1);
        }
    }
}
