package org.mtlsproxy.testing;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import java.io.IOException;
import java.io.InputStream;
import java.net.URI;
import java.nio.file.Files;
import java.nio.file.Path;
import java.security.GeneralSecurityException;
import java.security.cert.CRL;
import java.security.cert.CertPathValidator;
import java.security.cert.CertPathValidatorException;
import java.security.cert.CertStore;
import java.security.cert.Certificate;
import java.security.cert.CertificateFactory;
import java.security.cert.CollectionCertStoreParameters;
import java.security.cert.PKIXParameters;
import java.security.cert.PKIXRevocationChecker;
import java.security.cert.TrustAnchor;
import java.security.cert.X509CRL;
import java.security.cert.X509Certificate;
import java.time.Duration;
import java.time.Instant;
import java.util.Collection;
import java.util.EnumSet;
import java.util.List;
import java.util.Set;
import java.util.stream.Collectors;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.ExtendWith;

@ExtendWith(TestPki.Resolver.class)
class TestPkiTest {

    private static final String OID_CLIENT_AUTH = "1.3.6.1.5.5.7.3.2";
    private static final String OID_SERVER_AUTH = "1.3.6.1.5.5.7.3.1";
    private static final int SAN_DNS = 2;
    private static final int SAN_URI = 6;
    private static final int SAN_IP = 7;

    @Test
    void everyValidIdentityChainsToItsRoot(TestPki pki) throws Exception {
        // Given each valid identity and the root its peers trust
        // When / Then PKIX accepts the presented chain
        validate(pki.goodClient(), pki.clientRootPem());
        validate(pki.otherClient(), pki.clientRootPem());
        validate(pki.proxyServer(), pki.serverRootPem());
        validate(pki.backendServer(), pki.backendRootPem());
        validate(pki.proxyClientForBackend(), pki.backendRootPem());
    }

    @Test
    void presentedChainsHoldLeafAndIntermediatesButNotTheRoot(TestPki pki) throws Exception {
        assertThat(readCertificates(pki.goodClient().chainPem()))
                .containsExactly(pki.goodClient().certificate(), pki.clientIntermediateCa().certificate());
        assertThat(readCertificates(pki.proxyServer().chainPem()))
                .containsExactly(pki.proxyServer().certificate(), pki.serverIntermediateCa().certificate());
        assertThat(readCertificates(pki.backendServer().chainPem())).containsExactly(pki.backendServer().certificate());
        assertThat(readCertificates(pki.goodClient().leafPem())).containsExactly(pki.goodClient().certificate());
        assertThat(readCertificates(pki.clientRootPem())).containsExactly(pki.clientRootCa().certificate());
        assertThat(readCertificates(pki.serverRootPem())).containsExactly(pki.serverRootCa().certificate());
        assertThat(readCertificates(pki.backendRootPem())).containsExactly(pki.backendRootCa().certificate());
        assertThat(Files.readString(pki.goodClient().keyPem())).startsWith("-----BEGIN PRIVATE KEY-----");
    }

    @Test
    void goodClientCarriesTheAllowedIdentity(TestPki pki) throws Exception {
        X509Certificate good = pki.goodClient().certificate();

        assertThat(good.getSubjectX500Principal().getName()).isEqualTo("CN=orders,OU=prod,O=Acme");
        assertThat(subjectAlternativeNames(good, SAN_URI)).containsExactly(TestPki.GOOD_CLIENT_SPIFFE_ID);
        assertThat(subjectAlternativeNames(good, SAN_DNS)).containsExactly(TestPki.GOOD_CLIENT_DNS_NAME);
        assertThat(good.getExtendedKeyUsage()).containsExactly(OID_CLIENT_AUTH);
        assertThat(good.getPublicKey().getAlgorithm()).isEqualTo("EC");
        assertThat(subjectAlternativeNames(pki.otherClient().certificate(), SAN_URI))
                .containsExactly(TestPki.OTHER_CLIENT_SPIFFE_ID);
    }

    @Test
    void defectiveClientsCopyTheGoodClientsIdentity(TestPki pki) throws Exception {
        for (TestPki.Issued defective : List.of(pki.expiredClient(), pki.notYetValidClient(), pki.revokedClient(),
                pki.serverOnlyEkuClient(), pki.wrongCaClient(), pki.selfSignedClient())) {
            assertThat(defective.subject()).isEqualTo(pki.goodClient().subject());
            assertThat(subjectAlternativeNames(defective.certificate(), SAN_URI))
                    .containsExactly(TestPki.GOOD_CLIENT_SPIFFE_ID);
        }
    }

    @Test
    void serverCertificatesNameTheirHosts(TestPki pki) throws Exception {
        X509Certificate proxy = pki.proxyServer().certificate();
        assertThat(subjectAlternativeNames(proxy, SAN_DNS)).containsExactly("localhost", TestPki.PROXY_DNS_NAME);
        assertThat(subjectAlternativeNames(proxy, SAN_IP)).hasSize(2).contains("127.0.0.1");
        assertThat(proxy.getExtendedKeyUsage()).containsExactly(OID_SERVER_AUTH);

        for (TestPki.Issued backend : List.of(pki.backendServer(), pki.untrustedBackendServer())) {
            assertThat(subjectAlternativeNames(backend.certificate(), SAN_DNS))
                    .containsExactly(TestPki.BACKEND_DNS_NAME);
            assertThat(subjectAlternativeNames(backend.certificate(), SAN_IP)).containsExactly("127.0.0.1");
        }
        assertThat(pki.proxyClientForBackend().subject()).isEqualTo(TestPki.PROXY_CLIENT_SUBJECT);
        assertThat(pki.proxyClientForBackend().certificate().getExtendedKeyUsage()).containsExactly(OID_CLIENT_AUTH);
    }

    @Test
    void expiredAndNotYetValidClientsFailOnDates(TestPki pki) {
        assertThatThrownBy(() -> validate(pki.expiredClient(), pki.clientRootPem()))
                .isInstanceOfSatisfying(CertPathValidatorException.class,
                        e -> assertThat(e.getReason()).isEqualTo(CertPathValidatorException.BasicReason.EXPIRED));
        assertThatThrownBy(() -> validate(pki.notYetValidClient(), pki.clientRootPem()))
                .isInstanceOfSatisfying(CertPathValidatorException.class, e -> assertThat(e.getReason())
                        .isEqualTo(CertPathValidatorException.BasicReason.NOT_YET_VALID));
    }

    @Test
    void serverOnlyEkuClientLacksClientAuth(TestPki pki) throws Exception {
        assertThat(pki.serverOnlyEkuClient().certificate().getExtendedKeyUsage()).containsExactly(OID_SERVER_AUTH);
    }

    @Test
    void foreignChainsDoNotValidate(TestPki pki) {
        assertThatThrownBy(() -> validate(pki.wrongCaClient(), pki.clientRootPem()))
                .isInstanceOf(CertPathValidatorException.class);
        assertThatThrownBy(() -> validate(pki.selfSignedClient(), pki.clientRootPem()))
                .isInstanceOf(CertPathValidatorException.class);
        assertThatThrownBy(() -> validate(pki.untrustedBackendServer(), pki.backendRootPem()))
                .isInstanceOf(CertPathValidatorException.class);
        assertThatThrownBy(() -> validate(pki.goodClient(), pki.serverRootPem()))
                .isInstanceOf(CertPathValidatorException.class);
    }

    @Test
    void wrongCaClientImitatesTheRealIssuerNames(TestPki pki) {
        assertThat(pki.wrongCaClient().certificate().getIssuerX500Principal())
                .isEqualTo(pki.clientIntermediateCa().certificate().getSubjectX500Principal());
        assertThat(pki.wrongCaClient().chain()[1].getPublicKey())
                .isNotEqualTo(pki.clientIntermediateCa().certificate().getPublicKey());
    }

    @Test
    void clientCrlIsSignedByTheIntermediateAndListsOnlyTheRevokedClient(TestPki pki) throws Exception {
        // Given the CRL file
        String pem = Files.readString(pki.clientCrlPem());
        X509CRL crl = readCrl(pki.clientCrlPem());

        // Then
        assertThat(pem).startsWith("-----BEGIN X509 CRL-----");
        crl.verify(pki.clientIntermediateCa().certificate().getPublicKey());
        assertThat(crl.getIssuerX500Principal())
                .isEqualTo(pki.clientIntermediateCa().certificate().getSubjectX500Principal());
        assertThat(crl.getRevokedCertificates()).hasSize(1);
        assertThat(crl.getRevokedCertificate(pki.revokedClient().serialNumber())).isNotNull();
        assertThat(crl.getRevokedCertificate(pki.goodClient().serialNumber())).isNull();
        assertThat(crl.getNextUpdate().toInstant())
                .isBetween(Instant.now().plus(Duration.ofDays(6)), Instant.now().plus(Duration.ofDays(8)));
    }

    @Test
    void revocationCheckingWithTheCrlRejectsOnlyTheRevokedClient(TestPki pki) throws Exception {
        // Given the client CRL
        X509CRL crl = readCrl(pki.clientCrlPem());

        // When / Then
        validate(pki.goodClient(), pki.clientRootPem(), crl);
        assertThatThrownBy(() -> validate(pki.revokedClient(), pki.clientRootPem(), crl))
                .isInstanceOfSatisfying(CertPathValidatorException.class,
                        e -> assertThat(e.getReason()).isEqualTo(CertPathValidatorException.BasicReason.REVOKED));
    }

    @Test
    void writeCrlListsTheGivenCertificates(TestPki pki) throws Exception {
        // Given
        Instant nextUpdate = Instant.now().plus(Duration.ofHours(2));

        // When
        Path file = pki.writeCrl(pki.clientIntermediateCa(), List.of(pki.goodClient(), pki.otherClient()), nextUpdate);

        // Then
        X509CRL crl = readCrl(file);
        crl.verify(pki.clientIntermediateCa().certificate().getPublicKey());
        assertThat(crl.getRevokedCertificates().stream().map(entry -> entry.getSerialNumber()))
                .containsExactlyInAnyOrder(pki.goodClient().serialNumber(), pki.otherClient().serialNumber());
        assertThat(crl.getNextUpdate().getTime() / 1000).isEqualTo(nextUpdate.getEpochSecond());
        assertThat(pki.writeCrl(pki.clientIntermediateCa(), List.of(), nextUpdate)).isNotEqualTo(file);
    }

    @Test
    void issueMakesAnExtraClientUnderTheIntermediate(TestPki pki) throws Exception {
        // When
        TestPki.Issued billing = pki.issue("CN=billing, OU=prod, O=Acme",
                builder -> builder.addSanUriName(URI.create("spiffe://test.local/ns/prod/sa/billing")));

        // Then
        validate(billing, pki.clientRootPem());
        assertThat(billing.certificate().getExtendedKeyUsage()).containsExactly(OID_CLIENT_AUTH);
        assertThat(subjectAlternativeNames(billing.certificate(), SAN_URI))
                .containsExactly("spiffe://test.local/ns/prod/sa/billing");
    }

    @Test
    void thePkiIsBuiltOncePerJvm(TestPki pki) {
        assertThat(TestPki.get()).isSameAs(pki);
        assertThat(pki.directory()).isDirectory();
    }

    private static void validate(TestPki.Issued identity, Path trustedRootPem, CRL... crls)
            throws GeneralSecurityException, IOException {
        CertificateFactory factory = CertificateFactory.getInstance("X.509");
        Set<TrustAnchor> anchors = readCertificates(trustedRootPem).stream()
                .map(root -> new TrustAnchor(root, null))
                .collect(Collectors.toSet());
        PKIXParameters parameters = new PKIXParameters(anchors);
        CertPathValidator validator = CertPathValidator.getInstance("PKIX");
        if (crls.length == 0) {
            parameters.setRevocationEnabled(false);
        } else {
            parameters.addCertStore(CertStore.getInstance("Collection", new CollectionCertStoreParameters(List.of(crls))));
            PKIXRevocationChecker revocation = (PKIXRevocationChecker) validator.getRevocationChecker();
            revocation.setOptions(EnumSet.of(PKIXRevocationChecker.Option.ONLY_END_ENTITY,
                    PKIXRevocationChecker.Option.PREFER_CRLS, PKIXRevocationChecker.Option.NO_FALLBACK));
            parameters.addCertPathChecker(revocation);
        }
        validator.validate(factory.generateCertPath(readCertificates(identity.chainPem())), parameters);
    }

    private static List<X509Certificate> readCertificates(Path pem) throws IOException, GeneralSecurityException {
        try (InputStream in = Files.newInputStream(pem)) {
            Collection<? extends Certificate> certificates = CertificateFactory.getInstance("X.509")
                    .generateCertificates(in);
            return certificates.stream().map(X509Certificate.class::cast).toList();
        }
    }

    private static X509CRL readCrl(Path pem) throws IOException, GeneralSecurityException {
        try (InputStream in = Files.newInputStream(pem)) {
            return (X509CRL) CertificateFactory.getInstance("X.509").generateCRL(in);
        }
    }

    private static List<String> subjectAlternativeNames(X509Certificate certificate, int type) throws Exception {
        Collection<List<?>> names = certificate.getSubjectAlternativeNames();
        if (names == null) {
            return List.of();
        }
        return names.stream()
                .filter(name -> (Integer) name.get(0) == type)
                .map(name -> (String) name.get(1))
                .toList();
    }
}
