package org.mtlsproxy.it;

import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

import io.micrometer.core.instrument.Gauge;
import java.net.ServerSocket;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;
import org.mtlsproxy.proxy.upstream.Backend;
import org.mtlsproxy.testing.RecordingBackend;
import org.mtlsproxy.testing.TestHttpClient;
import org.mtlsproxy.testing.TestHttpClient.Response;
import org.mtlsproxy.testing.TestPki;

/**
 * Several endpoints per backend: retries on another endpoint when a connection cannot be established, passive
 * ejection of a dead endpoint and its return, least-outstanding balancing, in-flight counts that always go back to
 * zero.
 */
class BackendResilienceIT {

    private static final TestPki PKI = TestPki.get();
    private static final String ALLOW_GOOD = "{ spiffe-id = \"spiffe://test.local/ns/prod/sa/orders\" }";

    @Test
    void deadEndpointIsRetriedAroundEjectedAndTakenBackAfterTheEjectionTime() throws Exception {
        RecordingBackend one = RecordingBackend.start(PKI.backendServer());
        RecordingBackend two = RecordingBackend.start(PKI.backendServer());
        int twoPort = two.port();
        String twoEndpoint = "127.0.0.1:" + twoPort;
        try (ProxyFixture proxy = ProxyFixture.builder().backend("b", one.port(), twoPort)
                        .set("mtls-proxy.backends.b.ejection.base-time = 2s")
                        .route("all", null, "/", "b", ALLOW_GOOD).start();
                TestHttpClient client = proxy.client(PKI.goodClient())) {
            for (int i = 0; i < 4; i++) {
                assertThat(client.get("/warm" + i).status()).isEqualTo(200);
            }
            assertThat(one.received()).hasSize(2);
            assertThat(two.received()).hasSize(2);
            assertThat(healthy(proxy)).isEqualTo(2);

            // When: endpoint two dies (its pooled connections with it)
            two.close();
            // Let the proxy see its pooled connections to two close (a POST on a connection that turns out dead
            // after sending is never retried: that is not what this test is about).
            Thread.sleep(300);

            // Then: no request fails, whatever the method; the dead endpoint is ejected after 5 failures in a row
            byte[] body = "payload that must arrive once".getBytes(StandardCharsets.UTF_8);
            for (int i = 0; i < 12; i++) {
                assertThat(client.get("/during" + i).status()).isEqualTo(200);
                Response post = client.request("POST", "/upload", List.of(Map.entry("content-type", "text/plain")),
                        body);
                assertThat(post.status()).isEqualTo(200);
                assertThat(post.bodyText()).isEqualTo(body.length + " " + RecordingBackend.sha256Hex(body));
            }
            assertThat(proxy.counter("mtls_proxy.backend.ejections", "backend", "b", "endpoint", twoEndpoint))
                    .isEqualTo(1);
            assertThat(proxy.counter("mtls_proxy.backend.ejections", "backend", "b", "endpoint",
                    "127.0.0.1:" + one.port())).isZero();
            assertThat(healthy(proxy)).isEqualTo(1);
            // Ejected at the 5th connect failure in a row: 5 retries, none afterwards.
            assertThat(proxy.counter("mtls_proxy.backend.retries", "backend", "b")).isEqualTo(5);
            assertThat(proxy.counter("mtls_proxy.backend.connections", "backend", "b", "result", "failure",
                    "reason", "backend_connect_failed")).isEqualTo(5);
            assertThat(proxy.counter("mtls_proxy.request.rejections", "listener", ProxyFixture.LISTENER, "route",
                    "all", "reason", "backend_connect_failed")).isZero();
            // Each POST reached exactly one backend, exactly once.
            assertThat(one.received().stream().filter(r -> r.method().equals("POST")).count()).isEqualTo(12);

            // When: a backend comes back on the same port
            two = RecordingBackend.startOnPort(PKI.backendServer(), twoPort);
            RecordingBackend revived = two;

            // Then: once the ejection time is over it receives traffic again, and the backend is whole
            await().atMost(Duration.ofSeconds(10)).pollInterval(Duration.ofMillis(100)).untilAsserted(() -> {
                assertThat(client.get("/after").status()).isEqualTo(200);
                assertThat(revived.received()).isNotEmpty();
            });
            assertThat(healthy(proxy)).isEqualTo(2);
            int before = revived.received().size();
            for (int i = 0; i < 6; i++) {
                assertThat(client.get("/back" + i).status()).isEqualTo(200);
            }
            assertThat(revived.received().size() - before).isEqualTo(3);
            assertInFlightReturnsToZero(proxy, "b");
        } finally {
            one.close();
            two.close();
        }
    }

    @Test
    void anEjectedEndpointStaysEjectedAcrossAReload() throws Exception {
        int dead = closedPorts(1)[0];
        try (RecordingBackend alive = RecordingBackend.start(PKI.backendServer());
                ProxyFixture proxy = ProxyFixture.builder().backend("b", alive.port(), dead)
                        .set("mtls-proxy.backends.b.ejection.base-time = 60s")
                        .route("all", null, "/", "b", ALLOW_GOOD).start();
                TestHttpClient client = proxy.client(PKI.goodClient())) {
            for (int i = 0; i < 12; i++) {
                assertThat(client.get("/before" + i).status()).isEqualTo(200);
            }
            assertThat(healthy(proxy)).isEqualTo(1);
            double failures = proxy.counter("mtls_proxy.backend.connections", "backend", "b", "result", "failure",
                    "reason", "backend_connect_failed");
            assertThat(failures).isEqualTo(5);

            // A reload that rebuilds the backend (another response-timeout) but keeps its endpoints and ejection
            // settings keeps the ejection. A new connection: it takes the new snapshot at once (an open one adopts it
            // from its event loop, possibly after a request already read).
            Files.writeString(proxy.configFile(), Files.readString(proxy.configFile())
                    + "\nmtls-proxy.backends.b.response-timeout = 29s\n");
            assertThat(proxy.server().reload("test").get(10, TimeUnit.SECONDS).success()).isTrue();
            assertThat(healthy(proxy)).isEqualTo(1);
            try (TestHttpClient after = proxy.client(PKI.goodClient())) {
                for (int i = 0; i < 6; i++) {
                    assertThat(after.get("/after" + i).status()).isEqualTo(200);
                }
            }
            assertThat(proxy.counter("mtls_proxy.backend.connections", "backend", "b", "result", "failure",
                    "reason", "backend_connect_failed")).isEqualTo(failures);
        }
    }

    @Test
    void aReloadKeepsPooledBackendConnectionsUntilTheBackendsTlsFilesChange() throws Exception {
        Path ca = Files.copy(PKI.backendRootPem(), Files.createTempDirectory(PKI.directory(), "reload-ca-")
                .resolve("backend-ca.pem"));
        try (RecordingBackend backend = RecordingBackend.start(PKI.backendServer());
                ProxyFixture proxy = ProxyFixture.builder().backend("b", backend.port())
                        .set("mtls-proxy.backends.b.tls.ca-bundle = " + ProxyFixture.hocon(ca))
                        .route("all", null, "/", "b", ALLOW_GOOD).start();
                TestHttpClient client = proxy.client(PKI.goodClient())) {
            assertThat(client.get("/1").status()).isEqualTo(200);
            assertThat(newBackendConnections(proxy)).isEqualTo(1);

            // Nothing about the backend changed (a CRL refresh, say): its pooled connection serves on.
            assertThat(proxy.server().reload("test").get(10, TimeUnit.SECONDS).success()).isTrue();
            assertThat(client.get("/2").status()).isEqualTo(200);
            assertThat(newBackendConnections(proxy)).isEqualTo(1);

            // The CA bundle's bytes changed: a new TLS context, and new connections verified with it.
            // (A new client connection: it takes the new snapshot at once.)
            Files.writeString(ca, Files.readString(ca) + "\n");
            assertThat(proxy.server().reload("test").get(10, TimeUnit.SECONDS).success()).isTrue();
            try (TestHttpClient after = proxy.client(PKI.goodClient())) {
                assertThat(after.get("/3").status()).isEqualTo(200);
            }
            assertThat(newBackendConnections(proxy)).isEqualTo(2);
        }
    }

    private static double newBackendConnections(ProxyFixture proxy) {
        return proxy.counter("mtls_proxy.backend.connections", "backend", "b", "result", "success");
    }

    @Test
    void whenEveryEndpointIsDownTheRequestFailsAfterTryingEachOnce() throws Exception {
        int[] ports = closedPorts(3);
        try (ProxyFixture proxy = ProxyFixture.builder().backend("b", ports)
                        .route("all", null, "/", "b", ALLOW_GOOD).start();
                TestHttpClient client = proxy.client(PKI.goodClient())) {
            assertThat(client.get("/x").status()).isEqualTo(502);
            assertThat(proxy.counter("mtls_proxy.backend.connections", "backend", "b", "result", "failure",
                    "reason", "backend_connect_failed")).isEqualTo(3);
            assertThat(proxy.counter("mtls_proxy.backend.retries", "backend", "b")).isEqualTo(2);
            assertThat(proxy.counter("mtls_proxy.request.rejections", "listener", ProxyFixture.LISTENER, "route",
                    "all", "reason", "backend_connect_failed")).isEqualTo(1);
            assertInFlightReturnsToZero(proxy, "b");
        }
    }

    @Test
    void retriesZeroDisablesRetrying() throws Exception {
        int[] ports = closedPorts(2);
        try (ProxyFixture proxy = ProxyFixture.builder().backend("b", ports)
                        .set("mtls-proxy.backends.b.retries = 0")
                        .route("all", null, "/", "b", ALLOW_GOOD).start();
                TestHttpClient client = proxy.client(PKI.goodClient())) {
            assertThat(client.get("/x").status()).isEqualTo(502);
            assertThat(proxy.counter("mtls_proxy.backend.connections", "backend", "b", "result", "failure",
                    "reason", "backend_connect_failed")).isEqualTo(1);
            assertThat(proxy.counter("mtls_proxy.backend.retries", "backend", "b")).isZero();
        }
    }

    @Test
    void leastOutstandingSendsNewRequestsAwayFromABusyEndpoint() throws Exception {
        try (RecordingBackend one = RecordingBackend.start(PKI.backendServer());
                RecordingBackend two = RecordingBackend.start(PKI.backendServer());
                ProxyFixture proxy = ProxyFixture.builder().backend("b", one.port(), two.port())
                        .set("mtls-proxy.backends.b.load-balancing = least-outstanding")
                        .route("all", null, "/", "b", ALLOW_GOOD).start();
                TestHttpClient slowClient = proxy.client(PKI.goodClient());
                TestHttpClient client = proxy.client(PKI.goodClient())) {
            // Given: one request in flight for 2 s
            CompletableFuture<Response> slow = CompletableFuture.supplyAsync(() -> {
                try {
                    return slowClient.get("/slow?ms=2000");
                } catch (java.io.IOException e) {
                    throw new java.io.UncheckedIOException(e);
                }
            });
            await().atMost(Duration.ofSeconds(5)).until(() -> one.received().size() + two.received().size() == 1);
            RecordingBackend busy = one.received().isEmpty() ? two : one;
            RecordingBackend idle = busy == one ? two : one;

            // When: more requests arrive meanwhile
            for (int i = 0; i < 6; i++) {
                assertThat(client.get("/fast" + i).status()).isEqualTo(200);
            }

            // Then: all of them went to the idle endpoint (round robin would have sent half to the busy one)
            assertThat(idle.received()).hasSize(6);
            assertThat(busy.received()).hasSize(1);
            assertThat(slow.get().status()).isEqualTo(200);

            // Once both are idle, ties are broken round robin.
            assertInFlightReturnsToZero(proxy, "b");
            for (int i = 0; i < 4; i++) {
                assertThat(client.get("/tie" + i).status()).isEqualTo(200);
            }
            assertThat(idle.received()).hasSize(8);
            assertThat(busy.received()).hasSize(3);
            assertInFlightReturnsToZero(proxy, "b");
        }
    }

    private static double healthy(ProxyFixture proxy) {
        Gauge g = proxy.metrics().registry().find("mtls_proxy.backend.endpoints.healthy").tags("backend", "b")
                .gauge();
        return g == null ? Double.NaN : g.value();
    }

    static void assertInFlightReturnsToZero(ProxyFixture proxy, String backendName) {
        Backend backend = proxy.server().snapshot().backendOrNull(backendName);
        int endpoints = backend.config().endpoints().size();
        await().atMost(Duration.ofSeconds(5)).untilAsserted(() -> {
            for (int i = 0; i < endpoints; i++) {
                assertThat(backend.outstanding(i)).as("in flight on endpoint %d", i).isZero();
            }
        });
    }

    private static int[] closedPorts(int n) throws Exception {
        int[] ports = new int[n];
        ServerSocket[] sockets = new ServerSocket[n];
        for (int i = 0; i < n; i++) {
            sockets[i] = new ServerSocket(0, 1, java.net.InetAddress.getLoopbackAddress());
            ports[i] = sockets[i].getLocalPort();
        }
        for (ServerSocket s : sockets) {
            s.close();
        }
        return ports;
    }
}
