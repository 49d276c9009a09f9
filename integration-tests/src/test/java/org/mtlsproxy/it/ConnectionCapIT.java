package org.mtlsproxy.it;

import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

import io.micrometer.core.instrument.Gauge;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;
import org.mtlsproxy.proxy.upstream.Backend;
import org.mtlsproxy.testing.RecordingBackend;
import org.mtlsproxy.testing.TestHttpClient;
import org.mtlsproxy.testing.TestHttpClient.Response;
import org.mtlsproxy.testing.TestPki;

/**
 * {@code max-connections-per-endpoint}: a real TLS backend on loopback that holds its responses ({@code /slow}),
 * and concurrent clients. With a cap, the backend never has more connections than the cap, a request beyond it
 * waits for one to come free, and one that cannot wait (full queue, connect-timeout over) gets 503
 * {@code backend_saturated}; without a cap, nothing waits.
 */
class ConnectionCapIT {

    private static final TestPki PKI = TestPki.get();
    private static final String ALLOW_GOOD = "{ spiffe-id = \"spiffe://test.local/ns/prod/sa/orders\" }";

    @Test
    void withACapOfTwoTheThirdConcurrentRequestWaitsForAConnectionAndSucceeds() throws Exception {
        try (RecordingBackend backend = RecordingBackend.start(PKI.backendServer());
                ProxyFixture proxy = ProxyFixture.builder().backend("b", backend.port())
                        .set("mtls-proxy.backends.b { max-connections-per-endpoint = 2, max-idle-per-endpoint = 2 }")
                        .route("all", null, "/", "b", ALLOW_GOOD).start()) {
            // When: three clients ask at once for a response the backend holds for 1.5 s
            List<TestHttpClient> clients = clients(proxy, 3);
            long start = System.nanoTime();
            List<CompletableFuture<Response>> responses = new ArrayList<>();
            for (int i = 0; i < 2; i++) {
                responses.add(getAsync(clients.get(i), "/slow?ms=1500&n=" + i));
            }
            await().atMost(Duration.ofSeconds(5)).until(() -> backend.received().size() == 2);
            responses.add(getAsync(clients.get(2), "/slow?ms=1500&n=2"));

            // Then: the third waits in the queue while the backend holds two connections
            await().atMost(Duration.ofSeconds(5)).until(() -> gauge(proxy, "mtls_proxy.backend.pending.requests") == 1);
            assertThat(backend.received()).hasSize(2);
            assertThat(openConnections(proxy)).isEqualTo(2);

            // and succeeds once one of them is released, on a connection within the cap
            for (CompletableFuture<Response> r : responses) {
                assertThat(r.get(10, TimeUnit.SECONDS).status()).isEqualTo(200);
            }
            assertThat(TimeUnit.NANOSECONDS.toMillis(System.nanoTime() - start)).isGreaterThanOrEqualTo(3000);
            assertThat(backend.received()).hasSize(3);
            assertThat(backend.connectionsOpenPeak()).isEqualTo(2);
            assertThat(gauge(proxy, "mtls_proxy.backend.pending.requests")).isZero();
            assertThat(rejections(proxy, "backend_saturated")).isZero();
            assertThat(openConnections(proxy)).isLessThanOrEqualTo(2);
            BackendResilienceIT.assertInFlightReturnsToZero(proxy, "b");
            closeAll(clients);
        }
    }

    @Test
    void aFullQueueAndAWaitLongerThanConnectTimeoutAnswer503BackendSaturated() throws Exception {
        try (RecordingBackend backend = RecordingBackend.start(PKI.backendServer());
                ProxyFixture proxy = ProxyFixture.builder().backend("b", backend.port())
                        .set("mtls-proxy.backends.b { max-connections-per-endpoint = 1, max-idle-per-endpoint = 1 }")
                        .set("mtls-proxy.backends.b { max-pending-requests = 1, connect-timeout = 1s }")
                        .route("all", null, "/", "b", ALLOW_GOOD).start()) {
            List<TestHttpClient> clients = clients(proxy, 4);
            // Given: the one connection allowed is busy for 4 s, and one request waits for it
            CompletableFuture<Response> holder = getAsync(clients.get(0), "/slow?ms=4000");
            await().atMost(Duration.ofSeconds(5)).until(() -> backend.received().size() == 1);
            long waitStart = System.nanoTime();
            CompletableFuture<Response> waiter = getAsync(clients.get(1), "/waits");
            await().atMost(Duration.ofSeconds(5)).until(() -> gauge(proxy, "mtls_proxy.backend.pending.requests") == 1);

            // When: another request arrives while the queue is full
            long fullStart = System.nanoTime();
            Response full = clients.get(2).get("/queue-full");

            // Then: it is refused at once, and the waiting one once connect-timeout is over; never a hang
            assertThat(full.status()).isEqualTo(503);
            assertThat(TimeUnit.NANOSECONDS.toMillis(System.nanoTime() - fullStart)).isLessThan(900);
            Response timedOut = waiter.get(10, TimeUnit.SECONDS);
            assertThat(timedOut.status()).isEqualTo(503);
            assertThat(TimeUnit.NANOSECONDS.toMillis(System.nanoTime() - waitStart)).isBetween(900L, 3500L);
            assertThat(rejections(proxy, "backend_saturated")).isEqualTo(2);
            assertThat(gauge(proxy, "mtls_proxy.backend.pending.requests")).isZero();
            assertThat(backend.received()).extracting(RecordingBackend.Received::path).containsExactly("/slow");

            // When the connection comes free, the backend is served again, on that one connection
            assertThat(holder.get(10, TimeUnit.SECONDS).status()).isEqualTo(200);
            assertThat(clients.get(3).get("/after").status()).isEqualTo(200);
            assertThat(backend.connectionsOpenPeak()).isEqualTo(1);
            BackendResilienceIT.assertInFlightReturnsToZero(proxy, "b");
            closeAll(clients);
        }
    }

    @Test
    void aWaitingRequestWhoseClientLeavesIsTakenOutOfTheQueue() throws Exception {
        try (RecordingBackend backend = RecordingBackend.start(PKI.backendServer());
                ProxyFixture proxy = ProxyFixture.builder().backend("b", backend.port())
                        .set("mtls-proxy.backends.b { max-connections-per-endpoint = 1, max-idle-per-endpoint = 1 }")
                        .set("mtls-proxy.backends.b { max-pending-requests = 1, connect-timeout = 20s }")
                        .route("all", null, "/", "b", ALLOW_GOOD).start()) {
            List<TestHttpClient> clients = clients(proxy, 3);
            CompletableFuture<Response> holder = getAsync(clients.get(0), "/slow?ms=4000");
            await().atMost(Duration.ofSeconds(5)).until(() -> backend.received().size() == 1);
            CompletableFuture<Response> leaving = getAsync(clients.get(1), "/leaves");
            await().atMost(Duration.ofSeconds(5)).until(() -> gauge(proxy, "mtls_proxy.backend.pending.requests") == 1);

            // When: the waiting client disconnects
            clients.get(1).disconnect();

            // Then: its place in the queue is free at once, long before the connection is (the queue holds one: a
            // new request may wait again instead of being refused)
            await().atMost(Duration.ofSeconds(1)).until(() -> gauge(proxy, "mtls_proxy.backend.pending.requests") == 0);
            assertThat(holder).isNotDone();
            assertThat(leaving).failsWithin(Duration.ofSeconds(5));
            Response next = clients.get(2).get("/next");
            assertThat(next.status()).isEqualTo(200);
            assertThat(holder.get(10, TimeUnit.SECONDS).status()).isEqualTo(200);
            assertThat(backend.received()).extracting(RecordingBackend.Received::path)
                    .containsExactly("/slow", "/next");
            assertThat(rejections(proxy, "backend_saturated")).isZero();
            closeAll(clients);
        }
    }

    @Test
    void aReloadThatRebuildsTheBackendKeepsCountingItsOpenConnections() throws Exception {
        try (RecordingBackend backend = RecordingBackend.start(PKI.backendServer());
                ProxyFixture proxy = ProxyFixture.builder().backend("b", backend.port())
                        .set("mtls-proxy.backends.b { max-connections-per-endpoint = 1, max-idle-per-endpoint = 1 }")
                        .set("mtls-proxy.backends.b { max-pending-requests = 0 }")
                        .route("all", null, "/", "b", ALLOW_GOOD).start()) {
            List<TestHttpClient> clients = clients(proxy, 1);
            CompletableFuture<Response> holder = getAsync(clients.get(0), "/slow?ms=2000");
            await().atMost(Duration.ofSeconds(5)).until(() -> backend.received().size() == 1);
            Backend before = proxy.server().snapshot().backendOrNull("b");

            // When: a reload rebuilds the backend (another response-timeout) while its connection is in use
            Files.writeString(proxy.configFile(), Files.readString(proxy.configFile())
                    + "\nmtls-proxy.backends.b.response-timeout = 29s\n");
            assertThat(proxy.server().reload("test").get(10, TimeUnit.SECONDS).success()).isTrue();
            Backend after = proxy.server().snapshot().backendOrNull("b");
            assertThat(after).isNotSameAs(before);

            // Then: the old backend's connection still counts against the cap (no waiting allowed here: 503)
            assertThat(after.openConnections(0)).isEqualTo(1);
            try (TestHttpClient fresh = proxy.client(PKI.goodClient())) {
                assertThat(fresh.get("/during").status()).isEqualTo(503);
            }
            // and once it is released (and closed: its backend was replaced), the new backend may connect
            assertThat(holder.get(10, TimeUnit.SECONDS).status()).isEqualTo(200);
            await().atMost(Duration.ofSeconds(5)).until(() -> after.openConnections(0) == 0);
            try (TestHttpClient fresh = proxy.client(PKI.goodClient())) {
                assertThat(fresh.get("/after").status()).isEqualTo(200);
            }
            assertThat(backend.connectionsOpenPeak()).isEqualTo(1);
            assertThat(rejections(proxy, "backend_saturated")).isEqualTo(1);
            closeAll(clients);
        }
    }

    @Test
    void withoutACapConcurrentRequestsOpenAsManyConnectionsAndNothingWaits() throws Exception {
        try (RecordingBackend backend = RecordingBackend.start(PKI.backendServer());
                ProxyFixture proxy = ProxyFixture.builder().backend("b", backend.port())
                        .route("all", null, "/", "b", ALLOW_GOOD).start()) {
            List<TestHttpClient> clients = clients(proxy, 3);
            long start = System.nanoTime();
            List<CompletableFuture<Response>> responses = new ArrayList<>();
            for (int i = 0; i < 3; i++) {
                responses.add(getAsync(clients.get(i), "/slow?ms=1500&n=" + i));
            }
            for (CompletableFuture<Response> r : responses) {
                assertThat(r.get(10, TimeUnit.SECONDS).status()).isEqualTo(200);
            }

            assertThat(TimeUnit.NANOSECONDS.toMillis(System.nanoTime() - start)).isLessThan(2900);
            assertThat(backend.connectionsOpenPeak()).isEqualTo(3);
            assertThat(gauge(proxy, "mtls_proxy.backend.pending.requests")).isZero();
            assertThat(openConnections(proxy)).isEqualTo(3);
            assertThat(rejections(proxy, "backend_saturated")).isZero();
            closeAll(clients);
        }
    }

    private static List<TestHttpClient> clients(ProxyFixture proxy, int n) throws IOException {
        List<TestHttpClient> clients = new ArrayList<>();
        for (int i = 0; i < n; i++) {
            TestHttpClient c = proxy.client(PKI.goodClient());
            // Handshake now, so that the requests race only for backend connections.
            c.connect();
            clients.add(c);
        }
        return clients;
    }

    private static void closeAll(List<TestHttpClient> clients) {
        clients.forEach(TestHttpClient::close);
    }

    private static CompletableFuture<Response> getAsync(TestHttpClient client, String path) {
        return CompletableFuture.supplyAsync(() -> {
            try {
                return client.get(path);
            } catch (IOException e) {
                throw new UncheckedIOException(e);
            }
        });
    }

    private static double gauge(ProxyFixture proxy, String name) {
        Gauge g = proxy.metrics().registry().find(name).tags("backend", "b").gauge();
        return g == null ? Double.NaN : g.value();
    }

    private static double openConnections(ProxyFixture proxy) {
        return gauge(proxy, "mtls_proxy.backend.connections.open");
    }

    private static double rejections(ProxyFixture proxy, String reason) {
        return proxy.counter("mtls_proxy.request.rejections", "listener", ProxyFixture.LISTENER, "route", "all",
                "reason", reason);
    }
}
