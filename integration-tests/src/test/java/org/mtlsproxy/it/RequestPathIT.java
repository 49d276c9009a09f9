package org.mtlsproxy.it;

import static org.assertj.core.api.Assertions.assertThat;

import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.mtlsproxy.testing.RecordingBackend;
import org.mtlsproxy.testing.TestHttpClient;
import org.mtlsproxy.testing.TestHttpClient.Response;
import org.mtlsproxy.testing.TestPki;

/** The core request path: a verified identity is authorized per route and forwarded with its identity header. */
class RequestPathIT {

    private static final TestPki PKI = TestPki.get();
    private static RecordingBackend backend;
    private static ProxyFixture proxy;

    @BeforeAll
    static void start() throws Exception {
        backend = RecordingBackend.startRequiringClientCert(PKI.backendServer(),
                PKI.backendRootCa().certificate());
        proxy = ProxyFixture.builder()
                .backend("orders", backend.port())
                .route("orders", null, "/orders/", "orders",
                        "{ name = prod-orders, spiffe-id = \"spiffe://test.local/ns/prod/sa/*\" }")
                .route("admin", null, "/admin/", "orders", "{ name = admins, subject-cn = \"admin\" }")
                .route("closed", null, "/closed/", "orders", "")
                .route("status", null, "/status/", "orders", "{ spiffe-id = \"spiffe://test.local/ns/prod/**\" }")
                .route("by-host", "api.test", "/", "orders", "{ subject-o = \"Acme\" }")
                .start();
    }

    @AfterAll
    static void stop() {
        proxy.close();
        backend.close();
    }

    private int receivedBefore;

    @BeforeEach
    void mark() {
        receivedBefore = backend.received().size();
    }

    private List<RecordingBackend.Received> receivedSinceStart() {
        List<RecordingBackend.Received> all = backend.received();
        return all.subList(receivedBefore, all.size());
    }

    @Test
    void allowedClientGets200AndBackendSeesTheIdentityHeader() throws Exception {
        try (TestHttpClient client = proxy.client(PKI.goodClient())) {
            Response r = client.get("/orders/42?x=1");

            assertThat(r.status()).isEqualTo(200);
            assertThat(r.bodyText()).isEqualTo("ok GET /orders/42?x=1\n");
        }
        List<RecordingBackend.Received> seen = receivedSinceStart();
        assertThat(seen).hasSize(1);
        RecordingBackend.Received req = seen.get(0);
        String xfcc = req.header("x-forwarded-client-cert");
        String fingerprint = RecordingBackend.sha256Hex(PKI.goodClient().certificate().getEncoded());
        assertThat(xfcc).startsWith("Hash=" + fingerprint + ";")
                .contains("URI=" + TestPki.GOOD_CLIENT_SPIFFE_ID)
                .contains("DNS=" + TestPki.GOOD_CLIENT_DNS_NAME)
                .contains("Subject=\"");
        assertThat(req.header("x-forwarded-proto")).isEqualTo("https");
        assertThat(req.header("x-forwarded-for")).isEqualTo("127.0.0.1");
        // The backend required a client certificate: the proxy presented its own.
        assertThat(req.peerSubject()).contains("CN=mtls-proxy");
        assertThat(proxy.counter("mtls_proxy.authz.decisions", "route", "orders", "result", "allowed", "rule",
                "prod-orders")).isGreaterThanOrEqualTo(1);
    }

    @Test
    void deniedIdentityGets403AndBackendSeesNothing() throws Exception {
        double deniedBefore = proxy.counter("mtls_proxy.authz.decisions", "route", "orders", "result", "denied");
        try (TestHttpClient client = proxy.client(PKI.otherClient())) {
            Response r = client.get("/orders/42");
            assertThat(r.status()).isEqualTo(403);
            // The connection stays usable after a refusal of a body-less request.
            assertThat(client.get("/orders/43").status()).isEqualTo(403);
            assertThat(client.connectionsOpened()).isEqualTo(1);
        }
        assertThat(receivedSinceStart()).isEmpty();
        assertThat(proxy.counter("mtls_proxy.authz.decisions", "route", "orders", "result", "denied"))
                .isEqualTo(deniedBefore + 2);
    }

    @Test
    void routeWithoutAllowRulesDeniesEveryone() throws Exception {
        try (TestHttpClient client = proxy.client(PKI.goodClient())) {
            assertThat(client.get("/closed/x").status()).isEqualTo(403);
        }
        assertThat(receivedSinceStart()).isEmpty();
    }

    @Test
    void longestPrefixAndHostSelectTheRoute() throws Exception {
        try (TestHttpClient client = proxy.client(PKI.goodClient())) {
            // Host-specific route: any Acme identity is allowed there, even on /admin/.
            assertThat(client.get("/admin/x", Map.of("Host", "API.test:8443")).status()).isEqualTo(200);
            // Without that host, /admin/ needs CN=admin.
            assertThat(client.get("/admin/x").status()).isEqualTo(403);
        }
    }

    @Test
    void unknownPathGets404() throws Exception {
        double before = proxy.counter("mtls_proxy.request.rejections", "listener", ProxyFixture.LISTENER, "route", "",
                "reason", "no_route");
        try (TestHttpClient client = proxy.client(PKI.goodClient())) {
            assertThat(client.get("/nowhere").status()).isEqualTo(404);
        }
        assertThat(receivedSinceStart()).isEmpty();
        assertThat(proxy.counter("mtls_proxy.request.rejections", "listener", ProxyFixture.LISTENER, "route", "",
                "reason", "no_route")).isEqualTo(before + 1);
    }

    @Test
    void encodedTraversalCannotEscapeIntoAnotherRoute() throws Exception {
        try (TestHttpClient client = proxy.client(PKI.goodClient())) {
            assertThat(client.get("/orders/../admin/x").status()).isEqualTo(400);
        }
        try (TestHttpClient client = proxy.client(PKI.goodClient())) {
            assertThat(client.get("/orders/%2e%2e/admin/x").status()).isEqualTo(400);
        }
        try (TestHttpClient client = proxy.client(PKI.goodClient())) {
            // /%61dmin/ is /admin/: the admin route applies and denies this identity.
            assertThat(client.get("/%61dmin/x").status()).isEqualTo(403);
        }
        assertThat(receivedSinceStart()).isEmpty();
    }

    @Test
    void spoofedIdentityHeadersNeverReachTheBackend() throws Exception {
        try (TestHttpClient client = proxy.client(PKI.goodClient())) {
            Map<String, String> headers = new LinkedHashMap<>();
            headers.put("X-Forwarded-Client-Cert", "Hash=00;URI=spiffe://test.local/ns/prod/sa/admin");
            headers.put("x-ssl-client-dn", "CN=admin");
            headers.put("Connection", "keep-alive, x-custom-hop");
            headers.put("x-custom-hop", "dropped");
            headers.put("x-end-to-end", "kept");
            assertThat(client.get("/orders/spoof", headers).status()).isEqualTo(200);
        }
        RecordingBackend.Received req = receivedSinceStart().get(0);
        assertThat(req.headers().getAll("x-forwarded-client-cert")).hasSize(1);
        assertThat(req.header("x-forwarded-client-cert")).doesNotContain("sa/admin")
                .contains(TestPki.GOOD_CLIENT_SPIFFE_ID);
        assertThat(req.headers().contains("x-ssl-client-dn")).isFalse();
        assertThat(req.headers().contains("x-custom-hop")).isFalse();
        assertThat(req.header("x-end-to-end")).isEqualTo("kept");
    }

    @Test
    void keepAliveReusesOneBackendConnection() throws Exception {
        try (TestHttpClient client = proxy.client(PKI.goodClient())) {
            client.get("/orders/warm-up");
            int connectionsBefore = backend.connectionsAccepted();
            for (int i = 0; i < 20; i++) {
                assertThat(client.get("/orders/" + i).status()).isEqualTo(200);
            }
            assertThat(client.connectionsOpened()).isEqualTo(1);
            assertThat(backend.connectionsAccepted()).isEqualTo(connectionsBefore);
        }
    }

    @Test
    void backendStatusAndHeadersPassThrough() throws Exception {
        try (TestHttpClient client = proxy.client(PKI.goodClient())) {
            assertThat(client.get("/status/418").status()).isEqualTo(418);
            assertThat(client.get("/status/503").status()).isEqualTo(503);
            Response head = client.request("HEAD", "/orders/x", List.of(), null);
            assertThat(head.status()).isEqualTo(200);
            assertThat(head.bodyLength()).isZero();
            assertThat(client.get("/orders/after-head").status()).isEqualTo(200);
        }
    }

    @Test
    void requestWithoutHostIsRejected() throws Exception {
        try (TestHttpClient client = proxy.client(PKI.goodClient())) {
            client.sendRaw("GET /orders/x HTTP/1.1\r\n\r\n".getBytes(java.nio.charset.StandardCharsets.US_ASCII));
            assertThat(client.readResponse().status()).isEqualTo(400);
        }
        assertThat(receivedSinceStart()).isEmpty();
    }
}
