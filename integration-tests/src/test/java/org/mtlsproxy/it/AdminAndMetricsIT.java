package org.mtlsproxy.it;

import static org.assertj.core.api.Assertions.assertThat;

import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.time.Duration;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.mtlsproxy.testing.RecordingBackend;
import org.mtlsproxy.testing.TestHttpClient;
import org.mtlsproxy.testing.TestPki;

/** The admin listener scraped with a real HTTP client: every outcome moves the right Prometheus series. */
class AdminAndMetricsIT {

    private static final TestPki PKI = TestPki.get();
    private static final HttpClient HTTP = HttpClient.newHttpClient();
    private static RecordingBackend backend;
    private static ProxyFixture proxy;

    @BeforeAll
    static void start() throws Exception {
        backend = RecordingBackend.start(PKI.backendServer());
        int closedPort = ProxyProcess.freePort();
        proxy = ProxyFixture.builder()
                .backend("b", backend.port())
                .backend("down", closedPort)
                .route("orders", null, "/orders/", "b", "{ name = prod, spiffe-id = \"spiffe://test.local/ns/prod/**\" }")
                .route("broken", null, "/broken/", "down", "{ spiffe-id = \"spiffe://test.local/**\" }")
                .start();
    }

    @AfterAll
    static void stop() {
        proxy.close();
        backend.close();
    }

    private static HttpResponse<String> admin(String path, String accept) throws Exception {
        HttpRequest.Builder b = HttpRequest.newBuilder(URI.create("http://127.0.0.1:" + proxy.adminPort() + path))
                .timeout(Duration.ofSeconds(5));
        if (accept != null) {
            b.header("Accept", accept);
        }
        return HTTP.send(b.build(), HttpResponse.BodyHandlers.ofString());
    }

    /** The value of one Prometheus series, 0 when absent. */
    private static double scrape(String series) throws Exception {
        String body = admin("/metrics", null).body();
        Matcher m = Pattern.compile("(?m)^" + Pattern.quote(series) + " ([0-9.eE+-]+)$").matcher(body);
        return m.find() ? Double.parseDouble(m.group(1)) : 0;
    }

    @Test
    void everyOutcomeMovesItsCounter() throws Exception {
        String ok = "mtls_proxy_requests_total{listener=\"main\",route=\"orders\",status_class=\"2xx\"}";
        String allowed = "mtls_proxy_authz_decisions_total{result=\"allowed\",route=\"orders\",rule=\"prod\"}";
        String denied = "mtls_proxy_authz_decisions_total{result=\"denied\",route=\"orders\",rule=\"\"}";
        String backendDown = "mtls_proxy_backend_connections_total{backend=\"down\",reason=\"backend_connect_failed\","
                + "result=\"failure\"}";
        String status5xx = "mtls_proxy_requests_total{listener=\"main\",route=\"broken\",status_class=\"5xx\"}";
        String noRoute = "mtls_proxy_request_rejections_total{listener=\"main\",reason=\"no_route\",route=\"\"}";
        double okBefore = scrape(ok);
        double allowedBefore = scrape(allowed);
        double deniedBefore = scrape(denied);
        double downBefore = scrape(backendDown);
        double fiveBefore = scrape(status5xx);
        double noRouteBefore = scrape(noRoute);

        try (TestHttpClient good = proxy.client(PKI.goodClient())) {
            assertThat(good.get("/orders/1").status()).isEqualTo(200);
            assertThat(good.get("/broken/1").status()).isEqualTo(502);
            assertThat(good.get("/elsewhere").status()).isEqualTo(404);
        }
        try (TestHttpClient other = proxy.client(PKI.otherClient())) {
            assertThat(other.get("/orders/1").status()).isEqualTo(403);
        }

        assertThat(scrape(ok)).isEqualTo(okBefore + 1);
        assertThat(scrape(allowed)).isEqualTo(allowedBefore + 1);
        assertThat(scrape(denied)).isEqualTo(deniedBefore + 1);
        assertThat(scrape(backendDown)).isEqualTo(downBefore + 1);
        assertThat(scrape(status5xx)).isEqualTo(fiveBefore + 1);
        assertThat(scrape(noRoute)).isEqualTo(noRouteBefore + 1);
        assertThat(scrape("mtls_proxy_bytes_total{direction=\"out\",listener=\"main\"}")).isPositive();
        double soonest = scrape("mtls_proxy_client_certificate_expiry_seconds{listener=\"main\",route=\"orders\"}");
        double goodClientLeft = (PKI.goodClient().certificate().getNotAfter().getTime()
                - System.currentTimeMillis()) / 1000.0;
        assertThat(soonest).isPositive().isCloseTo(goodClientLeft, org.assertj.core.data.Offset.offset(120.0));
        assertThat(scrape("mtls_proxy_connections_total{listener=\"main\"}")).isGreaterThanOrEqualTo(2);
        assertThat(admin("/metrics", null).body())
                .contains("mtls_proxy_request_duration_seconds_bucket{route=\"orders\"")
                .contains("mtls_proxy_backend_connect_duration_seconds_count{backend=\"b\"}");
    }

    @Test
    void everyHandshakeFailureReasonIsCountedWithItsReason() throws Exception {
        String[][] cases = {
            {"revoked", "revoked"}, {"expired", "expired"}, {"wrong-ca", "untrusted_ca"},
            {"server-eku", "bad_key_usage"}, {"none", "no_client_cert"}, {"early", "not_yet_valid"},
        };
        for (String[] c : cases) {
            String series = "mtls_proxy_handshakes_total{listener=\"main\",protocol=\"\",reason=\"" + c[1]
                    + "\",result=\"failure\"}";
            double before = scrape(series);
            TestPki.Issued id = switch (c[0]) {
                case "revoked" -> PKI.revokedClient();
                case "expired" -> PKI.expiredClient();
                case "wrong-ca" -> PKI.wrongCaClient();
                case "server-eku" -> PKI.serverOnlyEkuClient();
                case "early" -> PKI.notYetValidClient();
                default -> null;
            };
            try (TestHttpClient client = proxy.client(id)) {
                client.expectConnectionRejected("/orders/1");
            }
            org.awaitility.Awaitility.await().atMost(Duration.ofSeconds(5)).until(() -> scrape(series) == before + 1);
        }
        String success = "mtls_proxy_handshakes_total{listener=\"main\",protocol=\"TLSv1.3\",reason=\"\","
                + "result=\"success\"}";
        double successBefore = scrape(success);
        try (TestHttpClient good = proxy.client(PKI.goodClient())) {
            good.connect();
        }
        org.awaitility.Awaitility.await().atMost(Duration.ofSeconds(5))
                .until(() -> scrape(success) == successBefore + 1);
    }

    @Test
    void openMetricsIsServedWhenAsked() throws Exception {
        HttpResponse<String> r = admin("/metrics", "application/openmetrics-text; version=1.0.0");
        assertThat(r.statusCode()).isEqualTo(200);
        assertThat(r.headers().firstValue("content-type")).hasValueSatisfying(
                ct -> assertThat(ct).startsWith("application/openmetrics-text"));
        assertThat(r.body()).contains("# EOF");
        assertThat(admin("/metrics", null).headers().firstValue("content-type"))
                .hasValueSatisfying(ct -> assertThat(ct).startsWith("text/plain"));
    }

    @Test
    void certificateExpiryIsPublishedForEveryConfiguredCertificate() throws Exception {
        String body = admin("/metrics", null).body();
        assertThat(body).containsPattern("mtls_proxy_certificate_expiry_seconds\\{kind=\"listener\",name=\"main\"")
                .containsPattern("mtls_proxy_certificate_expiry_seconds\\{kind=\"client_ca\",name=\"test-clients\"")
                .containsPattern("mtls_proxy_certificate_expiry_seconds\\{kind=\"backend_ca\",name=\"b\"")
                .containsPattern("mtls_proxy_certificate_expiry_seconds\\{kind=\"backend_client\",name=\"b\"");
    }

    @Test
    void healthConfigAndUnknownPaths() throws Exception {
        assertThat(admin("/healthz", null).statusCode()).isEqualTo(200);
        assertThat(admin("/readyz", null).statusCode()).isEqualTo(200);
        assertThat(admin("/nope", null).statusCode()).isEqualTo(404);
        HttpResponse<String> config = admin("/config", null);
        assertThat(config.statusCode()).isEqualTo(200);
        assertThat(config.body()).contains("\"listeners\"", "\"private-key\"",
                PKI.proxyServer().keyPem().toAbsolutePath().toString(), "\"drain-timeout\": \"30s\"")
                .doesNotContain("BEGIN");
        new tools.jackson.databind.ObjectMapper().readTree(config.body());
    }

    @Test
    void readyzTurns503WhileDrainingAndInFlightRequestsFinish() throws Exception {
        try (RecordingBackend slowBackend = RecordingBackend.start(PKI.backendServer());
                ProxyFixture draining = ProxyFixture.builder().backend("b", slowBackend.port())
                        .route("all", null, "/", "b", "{ spiffe-id = \"spiffe://test.local/ns/prod/**\" }").start()) {
            CompletableFuture<Integer> inFlight = CompletableFuture.supplyAsync(() -> {
                try (TestHttpClient client = draining.client(PKI.goodClient())) {
                    return client.get("/slow?ms=1500").status();
                } catch (Exception e) {
                    return -1;
                }
            });
            org.awaitility.Awaitility.await().atMost(Duration.ofSeconds(10))
                    .until(() -> !slowBackend.received().isEmpty());
            CompletableFuture<Boolean> drained = CompletableFuture.supplyAsync(
                    () -> draining.server().drain(Duration.ofSeconds(10)));
            org.awaitility.Awaitility.await().atMost(Duration.ofSeconds(5)).until(() -> HTTP.send(
                    HttpRequest.newBuilder(URI.create("http://127.0.0.1:" + draining.adminPort() + "/readyz")).build(),
                    HttpResponse.BodyHandlers.discarding()).statusCode() == 503);
            assertThat(inFlight.get(10, TimeUnit.SECONDS)).isEqualTo(200);
            assertThat(drained.get(10, TimeUnit.SECONDS)).isTrue();
        }
    }
}
