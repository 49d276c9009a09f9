package org.mtlsproxy.it;

import static org.assertj.core.api.Assertions.assertThat;
import static org.mtlsproxy.it.ProxyFixture.hocon;

import io.micrometer.core.instrument.Gauge;
import java.net.URI;
import java.nio.file.Path;
import java.time.Duration;
import java.time.Instant;
import java.util.List;
import org.awaitility.Awaitility;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.mtlsproxy.testing.RecordingBackend;
import org.mtlsproxy.testing.TestHttpClient;
import org.mtlsproxy.testing.TestPki;

/**
 * A listener trusting two trust domains keeps them apart, and a stale CRL is refused or tolerated as its bundle's
 * crl-expired-policy says.
 */
class TrustDomainIT {

    private static final TestPki PKI = TestPki.get();
    private static final String PARTNER_SPIFFE_ID = "spiffe://partner-a.test/sa/billing";

    private static RecordingBackend backend;
    private static TestPki.Issued partnerClient;
    private static TestPki.Issued partnerImpostor;
    private static Path staleCrl;
    private static ProxyFixture twoDomains;

    @BeforeAll
    static void start() throws Exception {
        backend = RecordingBackend.start(PKI.backendServer());
        TestPki.Issued partnerRoot = PKI.newRootCa("CN=Partner A Root CA, O=Partner A");
        Path partnerRootPem = PKI.writeCertificates("trust-domain-it-partner-a-root.pem", partnerRoot.certificate());
        partnerClient = PKI.issue(partnerRoot, "CN=billing, O=Partner A", b -> b
                .addSanUriName(URI.create(PARTNER_SPIFFE_ID)).addExtendedKeyUsageClientAuth());
        // The partner CA issuing a certificate with exactly the identity of our own good client.
        partnerImpostor = PKI.issue(partnerRoot, TestPki.GOOD_CLIENT_SUBJECT, b -> b
                .addSanUriName(URI.create(TestPki.GOOD_CLIENT_SPIFFE_ID)).addExtendedKeyUsageClientAuth());
        staleCrl = PKI.writeCrl(PKI.clientIntermediateCa(), List.of(PKI.revokedClient()),
                Instant.now().minus(Duration.ofMinutes(30)));

        twoDomains = ProxyFixture.builder()
                .backend("b", backend.port())
                .clientTrust("""
                        { name = prod, ca-bundle = %s, crls = [%s], trust-domain = "test.local" }
                        { name = partner-a, ca-bundle = %s, trust-domain = "partner-a.test" }
                        """.formatted(hocon(PKI.clientRootPem()), hocon(PKI.clientCrlPem()), hocon(partnerRootPem)))
                .route("prod", null, "/prod/", "b", "{ trust-bundle = prod }")
                .route("partner", null, "/partner/", "b", "{ trust-bundle = partner-a }")
                .route("partner-domain", null, "/by-domain/", "b", "{ trust-domain = \"partner-a.test\" }")
                .start();
    }

    @AfterAll
    static void stop() {
        twoDomains.close();
        backend.close();
    }

    @Test
    void partnerCaCertificateWithAProdSpiffeIdIsRefusedAtHandshakeAsWrongTrustDomain() {
        int receivedBefore = backend.received().size();
        double before = twoDomains.handshakeFailures("wrong_trust_domain");

        try (TestHttpClient client = twoDomains.client(partnerImpostor)) {
            assertThat(client.expectConnectionRejected("/prod/x")).isNotNull();
        }

        Awaitility.await().atMost(Duration.ofSeconds(5))
                .until(() -> twoDomains.handshakeFailures("wrong_trust_domain") == before + 1);
        assertThat(backend.received()).hasSize(receivedBefore);
    }

    @Test
    void prodAndPartnerClientsEachPassAsTheirOwnBundle() throws Exception {
        int receivedBefore = backend.received().size();

        try (TestHttpClient prod = twoDomains.client(PKI.goodClient());
                TestHttpClient partner = twoDomains.client(partnerClient)) {
            assertThat(prod.get("/prod/x").status()).isEqualTo(200);
            assertThat(prod.get("/partner/x").status()).isEqualTo(403);
            assertThat(prod.get("/by-domain/x").status()).isEqualTo(403);
            assertThat(partner.get("/partner/x").status()).isEqualTo(200);
            assertThat(partner.get("/by-domain/x").status()).isEqualTo(200);
            assertThat(partner.get("/prod/x").status()).isEqualTo(403);
        }

        List<RecordingBackend.Received> seen = backend.received().subList(receivedBefore, backend.received().size());
        assertThat(seen).extracting(r -> r.header("x-forwarded-client-cert")).satisfiesExactly(
                xfcc -> assertThat(xfcc).contains("URI=" + TestPki.GOOD_CLIENT_SPIFFE_ID),
                xfcc -> assertThat(xfcc).contains("URI=" + PARTNER_SPIFFE_ID)
                        .startsWith("Hash=" + RecordingBackend.sha256Hex(partnerClient.certificate().getEncoded())),
                xfcc -> assertThat(xfcc).contains("URI=" + PARTNER_SPIFFE_ID));
    }

    @Test
    void staleCrlWithHardFailIsRefusedAtHandshakeAsCrlExpired() throws Exception {
        try (ProxyFixture proxy = ProxyFixture.builder()
                .backend("b", backend.port())
                .route("all", null, "/", "b", "{ trust-bundle = test-clients }")
                .clientCrls(staleCrl)
                .start();
                TestHttpClient client = proxy.client(PKI.goodClient())) {
            assertThat(client.expectConnectionRejected("/x")).isNotNull();

            Awaitility.await().atMost(Duration.ofSeconds(5)).until(() -> proxy.handshakeFailures("crl_expired") == 1);
        }
    }

    @Test
    void staleCrlWithSoftFailIsAcceptedWithinGraceAndCounted() throws Exception {
        try (ProxyFixture proxy = ProxyFixture.builder()
                .backend("b", backend.port())
                .route("all", null, "/", "b", "{ trust-bundle = prod }")
                .clientTrust("{ name = prod, ca-bundle = %s, crls = [%s], crl-expired-policy = soft-fail, "
                        .formatted(hocon(PKI.clientRootPem()), hocon(staleCrl)) + "crl-grace-period = 1h }")
                .start()) {
            try (TestHttpClient client = proxy.client(PKI.goodClient())) {
                assertThat(client.get("/x").status()).isEqualTo(200);
            }
            // The stale CRL still revokes what it lists.
            try (TestHttpClient revoked = proxy.client(PKI.revokedClient())) {
                assertThat(revoked.expectConnectionRejected("/x")).isNotNull();
            }

            assertThat(proxy.counter("mtls_proxy.crl.stale.accepted", "listener", ProxyFixture.LISTENER,
                    "bundle", "prod")).isEqualTo(1);
            Awaitility.await().atMost(Duration.ofSeconds(5)).until(() -> proxy.handshakeFailures("revoked") == 1);
            Gauge nextUpdate = proxy.metrics().registry().find("mtls_proxy.crl.next.update")
                    .tags("listener", ProxyFixture.LISTENER, "bundle", "prod").gauge();
            assertThat(nextUpdate).isNotNull();
            assertThat(nextUpdate.value()).isNegative();
            assertThat(proxy.metrics().scrape("text/plain")).contains("mtls_proxy_crl_stale_accepted_total{",
                    "mtls_proxy_crl_age_seconds{", "mtls_proxy_crl_next_update_seconds{");
        }
    }
}
