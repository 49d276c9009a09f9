package org.mtlsproxy.it;

import static org.assertj.core.api.Assertions.assertThat;

import java.io.IOException;
import java.util.function.Function;
import java.util.stream.Stream;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.Arguments;
import org.junit.jupiter.params.provider.MethodSource;
import org.mtlsproxy.testing.RecordingBackend;
import org.mtlsproxy.testing.TestHttpClient;
import org.mtlsproxy.testing.TestPki;

/**
 * Every way a client certificate can be wrong is refused at the TLS layer, over TLS 1.3 and 1.2, with the right
 * reason counted, and the backend never sees a byte.
 */
class HandshakeRejectionIT {

    private static final TestPki PKI = TestPki.get();
    private static RecordingBackend backend;
    private static ProxyFixture proxy;

    @BeforeAll
    static void start() throws Exception {
        backend = RecordingBackend.start(PKI.backendServer());
        proxy = ProxyFixture.builder()
                .backend("b", backend.port())
                .route("all", null, "/", "b", "{ spiffe-id = \"spiffe://test.local/**\" }")
                .start();
    }

    @AfterAll
    static void stop() {
        proxy.close();
        backend.close();
    }

    static Stream<Arguments> rejectedClients() {
        return Stream.of("TLSv1.3", "TLSv1.2").flatMap(protocol -> Stream.of(
                Arguments.of(protocol, "no client certificate", (Function<TestPki, TestPki.Issued>) p -> null,
                        "no_client_cert"),
                Arguments.of(protocol, "issued by an untrusted CA",
                        (Function<TestPki, TestPki.Issued>) TestPki::wrongCaClient, "untrusted_ca"),
                Arguments.of(protocol, "self-signed", (Function<TestPki, TestPki.Issued>) TestPki::selfSignedClient,
                        "untrusted_ca"),
                Arguments.of(protocol, "expired", (Function<TestPki, TestPki.Issued>) TestPki::expiredClient,
                        "expired"),
                Arguments.of(protocol, "not yet valid",
                        (Function<TestPki, TestPki.Issued>) TestPki::notYetValidClient, "not_yet_valid"),
                Arguments.of(protocol, "revoked by CRL", (Function<TestPki, TestPki.Issued>) TestPki::revokedClient,
                        "revoked"),
                Arguments.of(protocol, "without clientAuth usage",
                        (Function<TestPki, TestPki.Issued>) TestPki::serverOnlyEkuClient, "bad_key_usage"),
                Arguments.of(protocol, "missing its intermediate",
                        (Function<TestPki, TestPki.Issued>) p -> leafOnly(p.goodClient()), "untrusted_ca")));
    }

    /** The good client's leaf without the intermediate the proxy needs to build the chain. */
    private static TestPki.Issued leafOnly(TestPki.Issued full) {
        io.netty.pkitesting.X509Bundle leaf = io.netty.pkitesting.X509Bundle.fromCertificatePath(
                new java.security.cert.X509Certificate[] {full.certificate()}, full.rootCertificate(),
                full.bundle().getKeyPair());
        return new TestPki.Issued(leaf, full.leafPem(), full.leafPem(), full.keyPem());
    }

    @ParameterizedTest(name = "{0}: client certificate {1} -> {3}")
    @MethodSource("rejectedClients")
    void badClientCertificateIsRejectedAtHandshake(String protocol, String what,
            Function<TestPki, TestPki.Issued> identity, String reason) {
        int receivedBefore = backend.received().size();
        double before = proxy.handshakeFailures(reason);
        TestHttpClient.Builder b = TestHttpClient.builder(proxy.port()).trustRootPem(PKI.serverRootPem())
                .protocol(protocol);
        TestPki.Issued id = identity.apply(PKI);
        if (id != null) {
            b.clientCertificate(id);
        }
        try (TestHttpClient client = b.build()) {
            IOException e = client.expectConnectionRejected("/anything");
            assertThat(e).isNotNull();
        }
        org.awaitility.Awaitility.await().atMost(java.time.Duration.ofSeconds(5))
                .until(() -> proxy.handshakeFailures(reason) == before + 1);
        assertThat(backend.received()).hasSize(receivedBefore);
    }
}
