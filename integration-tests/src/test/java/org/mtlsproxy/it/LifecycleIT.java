package org.mtlsproxy.it;

import static org.assertj.core.api.Assertions.assertThat;

import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.file.Path;
import java.time.Duration;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.mtlsproxy.testing.RecordingBackend;
import org.mtlsproxy.testing.TestHttpClient;
import org.mtlsproxy.testing.TestPki;
import tools.jackson.databind.JsonNode;
import tools.jackson.databind.ObjectMapper;

/** The proxy as a supervised process: JSON logs, SIGTERM drain with readiness, exit status. */
class LifecycleIT {

    private static final TestPki PKI = TestPki.get();
    private static final ObjectMapper JSON = new ObjectMapper();

    @TempDir
    Path dir;

    private static int status(HttpClient http, int adminPort, String path) {
        try {
            return http.send(HttpRequest.newBuilder(URI.create("http://127.0.0.1:" + adminPort + path))
                    .timeout(Duration.ofSeconds(2)).build(), HttpResponse.BodyHandlers.discarding()).statusCode();
        } catch (Exception e) {
            return -1;
        }
    }

    @Test
    void sigtermDrainsInFlightRequestsReportsNotReadyAndExitsZero() throws Exception {
        try (RecordingBackend backend = RecordingBackend.start(PKI.backendServer())) {
            int port = ProxyProcess.freePort();
            int admin = ProxyProcess.freePort();
            Path conf = ProxyProcess.writeConfig(dir, port, admin, backend.port(), TestPki.GOOD_CLIENT_SPIFFE_ID,
                    "mtls-proxy.shutdown.drain-timeout = 20s");
            HttpClient http = HttpClient.newHttpClient();
            try (ProxyProcess p = ProxyProcess.start("run", "--config", conf.toString())) {
                p.awaitServing(port, "/warm-up", Duration.ofSeconds(60));
                assertThat(status(http, admin, "/readyz")).isEqualTo(200);

                CompletableFuture<TestHttpClient.Response> inFlight = CompletableFuture.supplyAsync(() -> {
                    try (TestHttpClient client = ProxyProcess.client(port)) {
                        return client.get("/slow?ms=2500");
                    } catch (Exception e) {
                        throw new IllegalStateException(e);
                    }
                });
                org.awaitility.Awaitility.await().atMost(Duration.ofSeconds(10))
                        .until(() -> backend.received().stream().anyMatch(r -> r.uri().startsWith("/slow")));
                p.terminate();

                // While draining: not ready, and no new connections.
                org.awaitility.Awaitility.await().atMost(Duration.ofSeconds(5))
                        .until(() -> status(http, admin, "/readyz") == 503);
                assertThat(inFlight.get(30, TimeUnit.SECONDS).status()).isEqualTo(200);
                assertThat(p.awaitExit(Duration.ofSeconds(30))).isZero();

                assertThat(p.lines()).anyMatch(l -> l.contains("\"message\":\"draining: not ready, no longer accepting\""))
                        .anyMatch(l -> l.contains("\"message\":\"drained\""));
            }
        }
    }

    @Test
    void sighupReloadsTheConfigFile() throws Exception {
        try (RecordingBackend backend = RecordingBackend.start(PKI.backendServer())) {
            int port = ProxyProcess.freePort();
            Path conf = ProxyProcess.writeConfig(dir, port, ProxyProcess.freePort(), backend.port(),
                    "spiffe://test.local/ns/dev/**", "mtls-proxy.reload { watch = false, check-interval = 1h }");
            try (ProxyProcess p = ProxyProcess.start("run", "--config", conf.toString())) {
                assertThat(p.awaitServing(port, "/before", Duration.ofSeconds(60)).status()).isEqualTo(403);
                java.nio.file.Files.writeString(conf, java.nio.file.Files.readString(conf)
                        .replace("spiffe://test.local/ns/dev/**", TestPki.GOOD_CLIENT_SPIFFE_ID));

                p.hangup();

                p.awaitLine(l -> l.contains("\"message\":\"reloaded\"") && l.contains("\"trigger\":\"SIGHUP\""),
                        Duration.ofSeconds(20));
                try (TestHttpClient client = ProxyProcess.client(port)) {
                    assertThat(client.get("/after").status()).isEqualTo(200);
                }
            }
        }
    }

    @Test
    void drainTimeoutCutsOffSlowRequestsAndExitsNonZero() throws Exception {
        try (RecordingBackend backend = RecordingBackend.start(PKI.backendServer())) {
            int port = ProxyProcess.freePort();
            Path conf = ProxyProcess.writeConfig(dir, port, ProxyProcess.freePort(), backend.port(),
                    TestPki.GOOD_CLIENT_SPIFFE_ID, "mtls-proxy.shutdown.drain-timeout = 500ms");
            try (ProxyProcess p = ProxyProcess.start("run", "--config", conf.toString())) {
                p.awaitServing(port, "/warm-up", Duration.ofSeconds(60));
                CompletableFuture<Object> inFlight = CompletableFuture.supplyAsync(() -> {
                    try (TestHttpClient client = ProxyProcess.client(port)) {
                        return client.get("/slow?ms=8000");
                    } catch (Exception e) {
                        return e;
                    }
                });
                org.awaitility.Awaitility.await().atMost(Duration.ofSeconds(10))
                        .until(() -> backend.received().stream().anyMatch(r -> r.uri().startsWith("/slow")));
                p.terminate();

                assertThat(p.awaitExit(Duration.ofSeconds(30))).isEqualTo(1);
                assertThat(inFlight.get(10, TimeUnit.SECONDS)).isInstanceOf(Exception.class);
                assertThat(p.lines()).anyMatch(l -> l.contains("drain timeout"));
            }
        }
    }

    @Test
    void accessLogIsOneJsonObjectPerRequestWithTheDocumentedFields() throws Exception {
        try (RecordingBackend backend = RecordingBackend.start(PKI.backendServer())) {
            int port = ProxyProcess.freePort();
            Path conf = ProxyProcess.writeConfig(dir, port, ProxyProcess.freePort(), backend.port(),
                    TestPki.GOOD_CLIENT_SPIFFE_ID, "");
            try (ProxyProcess p = ProxyProcess.start("run", "--config", conf.toString())) {
                p.awaitServing(port, "/logged?x=1", Duration.ofSeconds(60));
                try (TestHttpClient intruder = TestHttpClient.builder(port).trustRootPem(PKI.serverRootPem())
                        .clientCertificate(PKI.otherClient()).build()) {
                    assertThat(intruder.get("/logged").status()).isEqualTo(403);
                }
                try (TestHttpClient expired = TestHttpClient.builder(port).trustRootPem(PKI.serverRootPem())
                        .clientCertificate(PKI.expiredClient()).build()) {
                    expired.expectConnectionRejected("/logged");
                }

                JsonNode allowed = JSON.readTree(p.awaitLine(
                        l -> l.contains("\"logger_name\":\"mtls_proxy.access\"") && l.contains("\"status\":200"),
                        Duration.ofSeconds(10)));
                assertThat(allowed.get("message").asString()).isEqualTo("request");
                assertThat(allowed.get("listener").asString()).isEqualTo("main");
                assertThat(allowed.get("remote").asString()).isEqualTo("127.0.0.1");
                assertThat(allowed.get("tls").asString()).isEqualTo("TLSv1.3");
                assertThat(allowed.get("cipher").asString()).isNotEmpty();
                assertThat(allowed.get("identity").asString()).isEqualTo(TestPki.GOOD_CLIENT_SPIFFE_ID);
                assertThat(allowed.get("route").asString()).isEqualTo("all");
                assertThat(allowed.get("path").asString()).isEqualTo("/logged");
                assertThat(allowed.get("decision").asString()).isEqualTo("allowed");
                assertThat(allowed.get("upstream").asString()).isEqualTo("127.0.0.1:" + backend.port());
                assertThat(allowed.get("bytes_out").asLong()).isPositive();
                assertThat(allowed.get("duration_ms").asDouble()).isPositive();
                assertThat(allowed.has("handshake_ms")).isTrue();
                assertThat(allowed.has("time")).isTrue();

                JsonNode denied = JSON.readTree(p.awaitLine(
                        l -> l.contains("\"logger_name\":\"mtls_proxy.access\"") && l.contains("\"status\":403"),
                        Duration.ofSeconds(10)));
                assertThat(denied.get("decision").asString()).isEqualTo("denied");
                assertThat(denied.get("identity").asString()).isEqualTo(TestPki.OTHER_CLIENT_SPIFFE_ID);

                JsonNode rejected = JSON.readTree(p.awaitLine(
                        l -> l.contains("\"message\":\"handshake rejected\""), Duration.ofSeconds(10)));
                assertThat(rejected.get("decision").asString()).isEqualTo("expired");
                assertThat(rejected.get("subject").asString()).contains("CN=orders");
                // Never key material, a whole certificate or a query string in a log line.
                assertThat(p.lines()).noneMatch(l -> l.contains("BEGIN")).noneMatch(l -> l.contains("x=1"));
            }
        }
    }
}
