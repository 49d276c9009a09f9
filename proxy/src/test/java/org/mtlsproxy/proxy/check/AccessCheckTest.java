package org.mtlsproxy.proxy.check;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import java.security.cert.X509Certificate;
import java.util.List;
import java.util.function.Function;
import java.util.stream.Stream;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.Arguments;
import org.junit.jupiter.params.provider.MethodSource;
import org.mtlsproxy.proxy.RejectReason;
import org.mtlsproxy.proxy.check.CheckReport.ListenerCheck;
import org.mtlsproxy.proxy.check.CheckReport.OutcomeResult;
import org.mtlsproxy.proxy.check.CheckReport.RouteCheck;
import org.mtlsproxy.proxy.check.CheckReport.VerificationResult;
import org.mtlsproxy.proxy.runtime.RuntimeSnapshot;
import org.mtlsproxy.proxy.tls.ClientCertificateException;
import org.mtlsproxy.proxy.tls.ClientCertificateVerifier.BundleOutcome;
import org.mtlsproxy.testing.TestPki;
import tools.jackson.databind.JsonNode;
import tools.jackson.databind.json.JsonMapper;

class AccessCheckTest {

    private static final TestPki PKI = TestPki.get();
    private static final String ROUTES = """
            { name = orders, host = "api.test", path-prefix = "/orders/", backend = b,
              allow = [{ name = prod-orders, spiffe-id = "spiffe://test.local/ns/prod/sa/orders" }] }
            { name = admin, path-prefix = "/admin/", backend = b,
              allow = [{ name = admins, subject-cn = "root" }],
              shadow-allow = [{ name = new-admins, spiffe-id = "spiffe://test.local/ns/prod/sa/orders" }] }
            { name = closed, path-prefix = "/closed/", backend = b, allow = [] }
            { name = by-bundle, path-prefix = "/bundle/", backend = b,
              allow = [{ name = bundle-rule, trust-bundle = test-clients }] }
            """;

    private static RuntimeSnapshot snapshot;

    @BeforeAll
    static void build() throws Exception {
        snapshot = CheckConfigs.snapshot(CheckConfigs.hocon("", ROUTES,
                CheckConfigs.tcpListener("{ name = orders-db, dns-san = \"orders.test\" }")));
    }

    @AfterAll
    static void close() {
        snapshot.close();
    }

    private static CheckReport check(TestPki.Issued client, String listener, AccessCheck.Target target) {
        return AccessCheck.certificate(snapshot, List.of(client.chain()), listener, target);
    }

    private static RouteCheck route(ListenerCheck l, String name) {
        return l.routes().stream().filter(r -> name.equals(r.route())).findFirst().orElseThrow();
    }

    @Test
    void goodClientIsVerifiedAndEveryRouteSaysWhy() {
        CheckReport report = check(PKI.goodClient(), "main", null);

        assertThat(report.allowed()).isTrue();
        ListenerCheck main = report.listeners().get(0);
        assertThat(main.verification().result()).isEqualTo(VerificationResult.VERIFIED);
        assertThat(main.verification().trustBundle()).isEqualTo("test-clients");
        assertThat(main.verification().bundles()).extracting(BundleOutcome::result)
                .containsExactly(BundleOutcome.Result.ACCEPTED);
        CheckReport.Identity id = main.identity();
        assertThat(id.spiffeId()).isEqualTo(TestPki.GOOD_CLIENT_SPIFFE_ID);
        assertThat(id.uriSans()).containsExactly(TestPki.GOOD_CLIENT_SPIFFE_ID);
        assertThat(id.dnsSans()).containsExactly(TestPki.GOOD_CLIENT_DNS_NAME);
        assertThat(id.commonName()).isEqualTo("orders");
        assertThat(id.organizationalUnits()).containsExactly("prod");
        assertThat(id.organizations()).containsExactly("Acme");
        assertThat(id.subject()).isEqualTo("CN=orders,OU=prod,O=Acme");
        assertThat(id.issuer()).isEqualTo(PKI.clientIntermediateCa().certificate().getSubjectX500Principal()
                .getName());
        assertThat(id.serial()).isEqualTo(PKI.goodClient().serialNumber().toString(16));
        assertThat(id.sha256Fingerprint()).hasSize(64);
        assertThat(id.notAfter()).isEqualTo(PKI.goodClient().certificate().getNotAfter().toInstant());
        assertThat(id.trustBundle()).isEqualTo("test-clients");

        assertThat(main.routes()).extracting(RouteCheck::route).containsExactly("orders", "admin", "closed",
                "by-bundle");
        assertThat(route(main, "orders").decision().result()).isEqualTo(OutcomeResult.ALLOWED);
        assertThat(route(main, "orders").decision().rule()).isEqualTo("prod-orders");
        assertThat(route(main, "orders").host()).isEqualTo("api.test");
        assertThat(route(main, "orders").pathPrefix()).isEqualTo("/orders/");
        assertThat(route(main, "admin").decision().result()).isEqualTo(OutcomeResult.DENIED);
        assertThat(route(main, "admin").decision().reason()).isEqualTo("no allow rule matched");
        assertThat(route(main, "closed").decision().reason()).isEqualTo("route has no allow rules");
        assertThat(route(main, "by-bundle").decision().rule()).isEqualTo("bundle-rule");
        // shadow-allow: what the dry-run rules would decide, beside (never instead of) the enforced decision
        assertThat(route(main, "admin").shadow().result()).isEqualTo(OutcomeResult.ALLOWED);
        assertThat(route(main, "admin").shadow().rule()).isEqualTo("new-admins");
        assertThat(route(main, "orders").shadow()).isNull();
    }

    @Test
    void otherClientIsVerifiedButDeniedEverywhereItHasNoRule() {
        CheckReport report = check(PKI.otherClient(), "main", null);

        ListenerCheck main = report.listeners().get(0);
        assertThat(main.verification().result()).isEqualTo(VerificationResult.VERIFIED);
        assertThat(route(main, "orders").decision().result()).isEqualTo(OutcomeResult.DENIED);
        // The trust-bundle rule is the one thing it matches: verified by the same bundle.
        assertThat(route(main, "by-bundle").decision().allowed()).isTrue();
    }

    static Stream<Arguments> refusedClients() {
        return Stream.of(
                Arguments.of("expired", (Function<TestPki, TestPki.Issued>) TestPki::expiredClient,
                        RejectReason.EXPIRED),
                Arguments.of("not yet valid", (Function<TestPki, TestPki.Issued>) TestPki::notYetValidClient,
                        RejectReason.NOT_YET_VALID),
                Arguments.of("revoked by CRL", (Function<TestPki, TestPki.Issued>) TestPki::revokedClient,
                        RejectReason.REVOKED),
                Arguments.of("issued by an untrusted CA", (Function<TestPki, TestPki.Issued>) TestPki::wrongCaClient,
                        RejectReason.UNTRUSTED_CA),
                Arguments.of("without clientAuth usage",
                        (Function<TestPki, TestPki.Issued>) TestPki::serverOnlyEkuClient, RejectReason.BAD_KEY_USAGE),
                Arguments.of("self-signed", (Function<TestPki, TestPki.Issued>) TestPki::selfSignedClient,
                        RejectReason.UNTRUSTED_CA));
    }

    @ParameterizedTest(name = "{0} -> {2}")
    @MethodSource("refusedClients")
    void refusedCertificateReachesNoRouteAndNamesTheReasonTheHandshakeGives(String what,
            Function<TestPki, TestPki.Issued> client, RejectReason reason) {
        TestPki.Issued issued = client.apply(PKI);

        CheckReport report = check(issued, null, null);

        assertThat(report.allowed()).isFalse();
        assertThat(report.listeners()).hasSize(2).allSatisfy(l -> {
            assertThat(l.verification().result()).isEqualTo(VerificationResult.REFUSED);
            assertThat(l.verification().reason()).isEqualTo(reason);
            assertThat(l.verification().trustBundle()).isNull();
            assertThat(l.routes()).isEmpty();
            // Who it was is still shown, without a trust bundle.
            assertThat(l.identity().spiffeId()).isEqualTo(TestPki.GOOD_CLIENT_SPIFFE_ID);
            assertThat(l.identity().trustBundle()).isNull();
        });
        // The runtime's verifier, as the TLS handshake calls it, refuses with the same reason.
        ClientCertificateException thrown = org.junit.jupiter.api.Assertions.assertThrows(
                ClientCertificateException.class, () -> snapshot.listener("main").verifier().verify(issued.chain()));
        assertThat(thrown.reason()).isEqualTo(reason);
    }

    @Test
    void revocationIsReportedPerBundle() {
        CheckReport report = check(PKI.revokedClient(), "main", null);

        BundleOutcome bundle = report.listeners().get(0).verification().bundles().get(0);
        assertThat(bundle.bundle()).isEqualTo("test-clients");
        assertThat(bundle.result()).isEqualTo(BundleOutcome.Result.REFUSED);
        assertThat(bundle.reason()).isEqualTo(RejectReason.REVOKED);
        assertThat(bundle.detail()).contains("revoked at");
    }

    @Test
    void chainLongerThanVerifyDepthIsChainTooLong() throws Exception {
        RuntimeSnapshot shallow = CheckConfigs.snapshot(CheckConfigs.hocon("verify-depth = 1", ROUTES, ""));
        try {
            CheckReport report = AccessCheck.certificate(shallow, List.of(PKI.goodClient().chain()), "main", null);

            assertThat(report.allowed()).isFalse();
            assertThat(report.listeners().get(0).verification().reason()).isEqualTo(RejectReason.CHAIN_TOO_LONG);
        } finally {
            shallow.close();
        }
    }

    @Test
    void firstBundleThatAcceptsIsTheOneRecordedAndOthersSayWhyNot() throws Exception {
        String trust = "client-trust = [{ name = partners, ca-bundle = %s }, { name = test-clients, ca-bundle = %s }]"
                .formatted(CheckConfigs.q(PKI.serverRootPem()), CheckConfigs.q(PKI.clientRootPem()));
        // A second client-trust key in the listener's tls block replaces the first (HOCON: last one wins).
        RuntimeSnapshot two = CheckConfigs.snapshot(CheckConfigs.hocon(trust, ROUTES, ""));
        try {
            CheckReport report = AccessCheck.certificate(two, List.of(PKI.goodClient().chain()), "main", null);

            CheckReport.Verification v = report.listeners().get(0).verification();
            assertThat(v.trustBundle()).isEqualTo("test-clients");
            assertThat(v.bundles()).extracting(BundleOutcome::bundle).containsExactly("partners", "test-clients");
            assertThat(v.bundles().get(0).reason()).isEqualTo(RejectReason.UNTRUSTED_CA);
            assertThat(v.bundles().get(1).result()).isEqualTo(BundleOutcome.Result.ACCEPTED);
            assertThat(two.listener("main").verifier().verify(PKI.goodClient().chain())).isEqualTo("test-clients");
        } finally {
            two.close();
        }
    }

    @Test
    void requestSelectsOneRouteWithTheProxysNormalisation() {
        AccessCheck.Target target = new AccessCheck.Target("API.test:8443", "/%6Frders//list?x=1");

        CheckReport report = check(PKI.goodClient(), "main", target);

        assertThat(report.allowed()).isTrue();
        assertThat(report.request().routingHost()).isEqualTo("api.test");
        assertThat(report.request().normalizedPath()).isEqualTo("/orders/list");
        assertThat(report.listeners().get(0).routes()).singleElement().satisfies(r -> {
            assertThat(r.route()).isEqualTo("orders");
            assertThat(r.decision().rule()).isEqualTo("prod-orders");
        });
    }

    @Test
    void requestToADeniedRouteIsNotAllowedEvenWhenAnotherRouteWouldBe() {
        CheckReport report = check(PKI.goodClient(), "main", new AccessCheck.Target("api.test", "/admin/x"));

        assertThat(report.allowed()).isFalse();
        assertThat(report.listeners().get(0).routes()).singleElement()
                .satisfies(r -> assertThat(r.decision().result()).isEqualTo(OutcomeResult.DENIED));
    }

    @Test
    void requestWithoutRouteOrWithARefusedPathSaysSo() {
        RouteCheck none = check(PKI.goodClient(), "main", new AccessCheck.Target("other.test", "/nothing"))
                .listeners().get(0).routes().get(0);
        assertThat(none.route()).isNull();
        assertThat(none.decision().result()).isEqualTo(OutcomeResult.NO_ROUTE);

        RouteCheck dots = check(PKI.goodClient(), "main", new AccessCheck.Target("api.test", "/orders/../admin/"))
                .listeners().get(0).routes().get(0);
        assertThat(dots.decision().result()).isEqualTo(OutcomeResult.BAD_REQUEST);

        RouteCheck badHost = check(PKI.goodClient(), "main", new AccessCheck.Target("user@api.test", "/orders/"))
                .listeners().get(0).routes().get(0);
        assertThat(badHost.decision().result()).isEqualTo(OutcomeResult.BAD_REQUEST);
    }

    @Test
    void tcpListenerIsItsOwnRoute() {
        CheckReport report = check(PKI.goodClient(), "db", null);

        assertThat(report.listeners()).singleElement().satisfies(l -> {
            assertThat(l.protocol()).isEqualTo("tcp");
            assertThat(l.routes()).singleElement().satisfies(r -> {
                assertThat(r.route()).isEqualTo("db");
                assertThat(r.kind()).isEqualTo("tcp");
                assertThat(r.decision().rule()).isEqualTo("orders-db");
            });
        });
        assertThat(check(PKI.otherClient(), "db", null).allowed()).isFalse();
    }

    @Test
    void identityOnlyChecksRulesAndSaysWhatItCannotSee() {
        AccessCheck.DeclaredIdentity declared = new AccessCheck.DeclaredIdentity(TestPki.GOOD_CLIENT_SPIFFE_ID,
                List.of(), List.of(), null, List.of(), List.of());

        CheckReport report = AccessCheck.identity(snapshot, declared, "main", null);

        assertThat(report.mode()).isEqualTo(CheckReport.Mode.IDENTITY);
        assertThat(report.allowed()).isTrue();
        assertThat(report.notes()).contains(AccessCheck.IDENTITY_ONLY_NOTE);
        ListenerCheck main = report.listeners().get(0);
        assertThat(main.verification().result()).isEqualTo(VerificationResult.NOT_CHECKED);
        assertThat(main.identity().sha256Fingerprint()).isNull();
        assertThat(main.identity().trustBundle()).isNull();
        assertThat(route(main, "orders").decision().allowed()).isTrue();
        // With a certificate this route allows the same client; without, its trust-bundle rule cannot match.
        assertThat(route(main, "by-bundle").decision().allowed()).isFalse();
        assertThat(route(main, "by-bundle").notes()).singleElement().asString().contains("bundle-rule")
                .contains("cannot match without a certificate");
    }

    @Test
    void identityFieldsCombineAsInACertificate() {
        AccessCheck.DeclaredIdentity root = new AccessCheck.DeclaredIdentity(null, List.of(),
                List.of("orders.test"), "root", List.of(), List.of());

        CheckReport report = AccessCheck.identity(snapshot, root, null, null);

        assertThat(route(report.listeners().get(0), "admin").decision().rule()).isEqualTo("admins");
        assertThat(route(report.listeners().get(1), "db").decision().rule()).isEqualTo("orders-db");
        assertThat(report.listeners().get(0).identity().subject()).isEqualTo("CN=root");
    }

    @Test
    void badInputIsRefusedWithTheReason() {
        assertThatThrownBy(() -> check(PKI.goodClient(), "nope", null))
                .isInstanceOf(IllegalArgumentException.class).hasMessageContaining("no listener named nope")
                .hasMessageContaining("main, db");
        assertThatThrownBy(() -> new AccessCheck.DeclaredIdentity("https://x", List.of(), List.of(), null,
                List.of(), List.of())).hasMessageContaining("\"https://x\" does not start with spiffe://");
        assertThatThrownBy(() -> new AccessCheck.DeclaredIdentity(null, List.of(), List.of(), null, List.of(),
                List.of())).hasMessageContaining("no identity field");
        assertThatThrownBy(() -> AccessCheck.certificate(snapshot, List.<X509Certificate>of(), null, null))
                .hasMessageContaining("no certificate");
    }

    @Test
    void jsonHasTheDocumentedShape() {
        String json = CheckReportJson.render(check(PKI.revokedClient(), "main", null));

        JsonNode root = JsonMapper.builder().build().readTree(json);
        assertThat(root.get("allowed").asBoolean()).isFalse();
        assertThat(root.get("mode").asString()).isEqualTo("certificate");
        assertThat(root.get("request").isNull()).isTrue();
        JsonNode main = root.get("listeners").get(0);
        assertThat(main.get("listener").asString()).isEqualTo("main");
        assertThat(main.get("verification").get("result").asString()).isEqualTo("refused");
        assertThat(main.get("verification").get("reason").asString()).isEqualTo("revoked");
        assertThat(main.get("verification").get("bundles").get(0).get("result").asString()).isEqualTo("refused");
        assertThat(main.get("identity").get("spiffe_id").asString()).isEqualTo(TestPki.GOOD_CLIENT_SPIFFE_ID);
        assertThat(main.get("identity").get("trust_bundle").isNull()).isTrue();
        assertThat(main.get("routes").size()).isZero();

        JsonNode good = JsonMapper.builder().build().readTree(CheckReportJson.render(
                check(PKI.goodClient(), "main", new AccessCheck.Target("api.test", "/orders/1"))));
        JsonNode route = good.get("listeners").get(0).get("routes").get(0);
        assertThat(route.get("route").asString()).isEqualTo("orders");
        assertThat(route.get("decision").get("result").asString()).isEqualTo("allowed");
        assertThat(route.get("decision").get("rule").asString()).isEqualTo("prod-orders");
        assertThat(good.get("request").get("normalized_path").asString()).isEqualTo("/orders/1");
        assertThat(route.get("shadow").isNull()).isTrue();
        JsonNode admin = JsonMapper.builder().build().readTree(CheckReportJson.render(
                check(PKI.goodClient(), "main", new AccessCheck.Target("api.test", "/admin/x"))))
                .get("listeners").get(0).get("routes").get(0);
        assertThat(admin.get("decision").get("result").asString()).isEqualTo("denied");
        assertThat(admin.get("shadow").get("result").asString()).isEqualTo("allowed");
        assertThat(admin.get("shadow").get("rule").asString()).isEqualTo("new-admins");
    }

    @Test
    void textSaysTheReasonOnItsLastLine() {
        String refused = CheckReportText.render(check(PKI.expiredClient(), "main", null));
        assertThat(refused).contains("verification   REFUSED expired: client certificate expired at");
        assertThat(refused.strip()).endsWith("REJECTED at the TLS handshake: expired");

        String good = CheckReportText.render(check(PKI.goodClient(), "main", null));
        assertThat(good).containsPattern("ALLOWED +orders +api\\.test /orders/ +allowed by prod-orders")
                .containsPattern("DENIED +admin +\\* /admin/ +no allow rule matched")
                .contains("shadow: allowed (allowed by new-admins; shadow-allow is never enforced)");
        assertThat(good.strip()).endsWith("ALLOWED on 2 routes");

        String denied = CheckReportText.render(check(PKI.goodClient(), "main",
                new AccessCheck.Target("api.test", "/admin/")));
        assertThat(denied.strip()).endsWith("DENIED on route admin: no allow rule matched");
    }
}
