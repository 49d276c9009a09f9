package org.mtlsproxy.it;

import static org.assertj.core.api.Assertions.assertThat;

import java.io.PrintWriter;
import java.io.StringWriter;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Set;
import java.util.TreeSet;
import java.util.function.Function;
import org.awaitility.Awaitility;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.mtlsproxy.proxy.CheckCommand;
import org.mtlsproxy.testing.RecordingBackend;
import org.mtlsproxy.testing.TestHttpClient;
import org.mtlsproxy.testing.TestPki;
import picocli.CommandLine;
import tools.jackson.databind.JsonNode;
import tools.jackson.databind.json.JsonMapper;

/**
 * {@code check} and the running proxy, on the same config file and the same certificates, must tell the same story:
 * check says allowed on route R exactly when a real mTLS request to R reaches the backend; denied exactly when the
 * proxy answers 403 without contacting it; no route exactly for 404; and verification refused with reason X exactly
 * when the handshake is refused and the proxy counts reason X.
 */
class CheckAgreesWithProxyIT {

    private static final TestPki PKI = TestPki.get();
    private static final JsonMapper JSON = JsonMapper.builder().build();
    private static final List<String> PATHS = List.of("/orders/1", "/admin/1", "/public/1", "/nowhere");

    private static RecordingBackend backend;
    private static ProxyFixture proxy;
    private static ProxyFixture shallow;

    @BeforeAll
    static void start() throws Exception {
        backend = RecordingBackend.start(PKI.backendServer());
        proxy = routes(ProxyFixture.builder()).start();
        // verify-depth 1: the test clients' chain (intermediate + root) is one CA too long.
        shallow = routes(ProxyFixture.builder()).listenerTls("verify-depth = 1").start();
    }

    private static ProxyFixture.Builder routes(ProxyFixture.Builder b) {
        return b.backend("b", backend.port())
                .route("orders", null, "/orders/", "b",
                        "{ name = prod-orders, spiffe-id = \"" + TestPki.GOOD_CLIENT_SPIFFE_ID + "\" }")
                .route("admin", "localhost", "/admin/", "b", "{ name = admins, subject-cn = root }")
                .route("public", null, "/public/", "b", "{ name = anyone-here, spiffe-id = \"spiffe://test.local/**\" }");
    }

    @AfterAll
    static void stop() {
        proxy.close();
        shallow.close();
        backend.close();
    }

    private record Client(String name, Function<TestPki, TestPki.Issued> issued, Path certFile) {
    }

    private static List<Client> clients() {
        return List.of(
                new Client("good", TestPki::goodClient, PKI.goodClient().chainPem()),
                new Client("other", TestPki::otherClient, PKI.otherClient().chainPem()),
                new Client("expired", TestPki::expiredClient, PKI.expiredClient().chainPem()),
                new Client("not yet valid", TestPki::notYetValidClient, PKI.notYetValidClient().chainPem()),
                new Client("revoked", TestPki::revokedClient, PKI.revokedClient().chainPem()),
                new Client("wrong CA", TestPki::wrongCaClient, PKI.wrongCaClient().chainPem()),
                new Client("no clientAuth EKU", TestPki::serverOnlyEkuClient, PKI.serverOnlyEkuClient().chainPem()),
                new Client("self-signed", TestPki::selfSignedClient, PKI.selfSignedClient().chainPem()),
                new Client("missing intermediate", p -> leafOnly(p.goodClient()), PKI.goodClient().leafPem()));
    }

    /** The good client's leaf without the intermediate the proxy needs to build the chain. */
    private static TestPki.Issued leafOnly(TestPki.Issued full) {
        io.netty.pkitesting.X509Bundle leaf = io.netty.pkitesting.X509Bundle.fromCertificatePath(
                new java.security.cert.X509Certificate[] {full.certificate()}, full.rootCertificate(),
                full.bundle().getKeyPair());
        return new TestPki.Issued(leaf, full.leafPem(), full.leafPem(), full.keyPem());
    }

    private record Checked(int exit, JsonNode report) {
    }

    /** {@code mtls-proxy check --format json}, the command as the CLI runs it, on the proxy's own config file. */
    private static Checked check(ProxyFixture fixture, Path cert, String path) {
        StringWriter out = new StringWriter();
        StringWriter err = new StringWriter();
        int exit = new CommandLine(new CheckCommand()).setOut(new PrintWriter(out)).setErr(new PrintWriter(err))
                .execute("--config", fixture.configFile().toString(), "--cert", cert.toString(),
                        "--host", "localhost", "--path", path, "--format", "json");
        assertThat(err.toString()).as("check stderr").isEmpty();
        return new Checked(exit, JSON.readTree(out.toString()));
    }

    @Test
    void checkPredictsEveryOutcomeOfTheLiveProxy() throws Exception {
        Set<String> seen = new TreeSet<>();
        for (Client client : clients()) {
            for (String path : PATHS) {
                seen.add(compare(proxy, client, path));
            }
        }
        seen.add(compare(shallow, clients().get(0), "/orders/1"));

        // Every kind of outcome was compared, so agreement is not vacuous.
        assertThat(seen).containsExactlyInAnyOrder("allowed", "denied", "no_route", "refused:untrusted_ca",
                "refused:expired", "refused:not_yet_valid", "refused:revoked", "refused:bad_key_usage",
                "refused:chain_too_long");
    }

    /** Compares one client on one path; returns what happened. */
    private static String compare(ProxyFixture fixture, Client client, String path) throws Exception {
        String what = client.name() + " " + path;
        Checked checked = check(fixture, client.certFile(), path);
        JsonNode listener = checked.report().get("listeners").get(0);
        JsonNode verification = listener.get("verification");
        int receivedBefore = backend.received().size();
        TestHttpClient http = fixture.client(client.issued().apply(PKI));
        try (http) {
            if ("refused".equals(verification.get("result").asString())) {
                String reason = verification.get("reason").asString();
                double before = fixture.handshakeFailures(reason);
                assertThat(http.expectConnectionRejected(path)).as(what).isNotNull();
                Awaitility.await().atMost(Duration.ofSeconds(5))
                        .untilAsserted(() -> assertThat(fixture.handshakeFailures(reason)).as(what + ": " + reason)
                                .isEqualTo(before + 1));
                assertThat(backend.received()).as(what).hasSize(receivedBefore);
                assertThat(checked.exit()).as(what).isEqualTo(3);
                return "refused:" + reason;
            }
            assertThat(verification.get("result").asString()).isEqualTo("verified");
            JsonNode route = listener.get("routes").get(0);
            String result = route.get("decision").get("result").asString();
            TestHttpClient.Response response = http.get(path);
            switch (result) {
                case "allowed" -> {
                    assertThat(response.status()).as(what).isEqualTo(200);
                    List<RecordingBackend.Received> received = new ArrayList<>(backend.received());
                    assertThat(received).as(what).hasSize(receivedBefore + 1);
                    assertThat(received.get(received.size() - 1).path()).isEqualTo(path);
                    assertThat(checked.exit()).as(what).isZero();
                    assertThat(checked.report().get("allowed").asBoolean()).isTrue();
                }
                case "denied" -> {
                    assertThat(response.status()).as(what).isEqualTo(403);
                    assertThat(backend.received()).as(what).hasSize(receivedBefore);
                    assertThat(checked.exit()).as(what).isEqualTo(3);
                }
                case "no_route" -> {
                    assertThat(response.status()).as(what).isEqualTo(404);
                    assertThat(backend.received()).as(what).hasSize(receivedBefore);
                    assertThat(checked.exit()).as(what).isEqualTo(3);
                }
                default -> throw new AssertionError(what + ": unexpected check result " + result);
            }
            return result;
        }
    }
}
