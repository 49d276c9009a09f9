package org.mtlsproxy.proxy.identity;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import io.netty.pkitesting.CertificateBuilder;
import io.netty.pkitesting.X509Bundle;
import java.math.BigInteger;
import java.security.MessageDigest;
import java.security.cert.X509Certificate;
import java.time.Instant;
import java.time.temporal.ChronoUnit;
import java.util.HexFormat;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

class IdentityExtractorTest {

    private static X509Bundle ca;

    @BeforeAll
    static void createCa() throws Exception {
        ca = new CertificateBuilder()
                .subject("CN=Test CA, O=mtls-proxy tests")
                .setIsCertificateAuthority(true)
                .ecp256()
                .buildSelfSigned();
    }

    private static CertificateBuilder client(String subject) {
        return new CertificateBuilder().subject(subject).ecp256().addExtendedKeyUsageClientAuth();
    }

    @Test
    void svidYieldsItsSpiffeIdAsIdentityAndDisplayName() throws Exception {
        // Given an X.509-SVID with one spiffe URI SAN
        X509Certificate cert = client("CN=orders")
                .addSanUriName("spiffe://prod.example/ns/shop/sa/orders")
                .buildIssuedBy(ca).getCertificate();

        // When
        ClientIdentity id = IdentityExtractor.extract(cert, "spire");

        // Then
        assertThat(id.spiffeId()).contains("spiffe://prod.example/ns/shop/sa/orders");
        assertThat(id.uriSans()).containsExactly("spiffe://prod.example/ns/shop/sa/orders");
        assertThat(id.displayName()).isEqualTo("spiffe://prod.example/ns/shop/sa/orders");
        assertThat(id.trustBundle()).isEqualTo("spire");
    }

    @Test
    void everySanOfEveryKindIsKeptInCertificateOrder() throws Exception {
        // Given a certificate with two SANs of each kind
        X509Certificate cert = client("CN=multi")
                .addSanUriName("spiffe://td/a")
                .addSanUriName("https://example.org/id")
                .addSanDnsName("a.example.org")
                .addSanDnsName("b.example.org")
                .addSanRfc822Name("ops@example.org")
                .addSanRfc822Name("dev@example.org")
                .addSanIpAddress("10.1.2.3")
                .addSanIpAddress("192.168.0.1")
                .buildIssuedBy(ca).getCertificate();

        // When
        ClientIdentity id = IdentityExtractor.extract(cert, "internal");

        // Then
        assertThat(id.uriSans()).containsExactly("spiffe://td/a", "https://example.org/id");
        assertThat(id.dnsSans()).containsExactly("a.example.org", "b.example.org");
        assertThat(id.emailSans()).containsExactly("ops@example.org", "dev@example.org");
        assertThat(id.ipSans()).containsExactly("10.1.2.3", "192.168.0.1");
        assertThat(id.spiffeId()).contains("spiffe://td/a");
    }

    @Test
    void twoSpiffeUrisYieldNoSpiffeId() throws Exception {
        // Given a certificate that is not a valid SVID: two spiffe URIs
        X509Certificate cert = client("CN=ambiguous")
                .addSanUriName("spiffe://td/one")
                .addSanUriName("spiffe://td/two")
                .buildIssuedBy(ca).getCertificate();

        // When
        ClientIdentity id = IdentityExtractor.extract(cert, "internal");

        // Then neither is trusted as the identity, but both stay visible as URI SANs
        assertThat(id.spiffeId()).isEmpty();
        assertThat(id.uriSans()).containsExactly("spiffe://td/one", "spiffe://td/two");
        assertThat(id.displayName()).isEqualTo("CN=ambiguous");
    }

    @Test
    void nonSpiffeUriIsNotASpiffeId() throws Exception {
        // Given
        X509Certificate cert = client("CN=web").addSanUriName("https://td/a").buildIssuedBy(ca).getCertificate();

        // When
        ClientIdentity id = IdentityExtractor.extract(cert, "internal");

        // Then
        assertThat(id.spiffeId()).isEmpty();
    }

    @Test
    void subjectKeepsFirstCnAndEveryOuAndOInDnOrder() throws Exception {
        // Given a subject with repeated OU and O attributes
        X509Certificate cert = client("CN=svc, OU=team-a, OU=team-b, O=acme, O=acme-eu, C=DE")
                .buildIssuedBy(ca).getCertificate();

        // When
        ClientIdentity id = IdentityExtractor.extract(cert, "internal");

        // Then
        assertThat(id.subjectDn()).isEqualTo("CN=svc,OU=team-a,OU=team-b,O=acme,O=acme-eu,C=DE");
        assertThat(id.commonName()).contains("svc");
        assertThat(id.organizationalUnits()).containsExactly("team-a", "team-b");
        assertThat(id.organizations()).containsExactly("acme", "acme-eu");
    }

    @Test
    void multiValuedRdnContributesEveryAttribute() throws Exception {
        // Given an RDN with two attributes: CN=svc+OU=ops
        X509Certificate cert = client("CN=svc+OU=ops, O=acme").buildIssuedBy(ca).getCertificate();

        // When
        ClientIdentity id = IdentityExtractor.extract(cert, "internal");

        // Then
        assertThat(id.commonName()).contains("svc");
        assertThat(id.organizationalUnits()).containsExactly("ops");
        assertThat(id.organizations()).containsExactly("acme");
    }

    @Test
    void escapedCharactersInSubjectValuesAreUnescaped() throws Exception {
        // Given a CN that contains a comma and a plus sign
        X509Certificate cert = client("CN=Doe\\, Jane\\+1, O=acme").buildIssuedBy(ca).getCertificate();

        // When
        ClientIdentity id = IdentityExtractor.extract(cert, "internal");

        // Then the DN stays escaped, the CN value does not
        assertThat(id.subjectDn()).isEqualTo("CN=Doe\\, Jane\\+1,O=acme");
        assertThat(id.commonName()).contains("Doe, Jane+1");
    }

    @Test
    void subjectWithoutCnHasNoCommonNameAndNoSansMeansEmptyLists() throws Exception {
        // Given
        X509Certificate cert = client("O=acme").buildIssuedBy(ca).getCertificate();

        // When
        ClientIdentity id = IdentityExtractor.extract(cert, "internal");

        // Then
        assertThat(id.commonName()).isEmpty();
        assertThat(id.organizationalUnits()).isEmpty();
        assertThat(id.uriSans()).isEmpty();
        assertThat(id.dnsSans()).isEmpty();
        assertThat(id.emailSans()).isEmpty();
        assertThat(id.ipSans()).isEmpty();
        assertThat(id.spiffeId()).isEmpty();
        assertThat(id.displayName()).isEqualTo("O=acme");
    }

    @Test
    void fingerprintIsLowerCaseHexSha256OfTheDerEncoding() throws Exception {
        // Given
        X509Certificate cert = client("CN=fp").buildIssuedBy(ca).getCertificate();
        String expected = HexFormat.of().formatHex(MessageDigest.getInstance("SHA-256").digest(cert.getEncoded()));

        // When
        ClientIdentity id = IdentityExtractor.extract(cert, "internal");

        // Then
        assertThat(id.sha256Fingerprint()).isEqualTo(expected).hasSize(64).matches("[0-9a-f]{64}");
    }

    @Test
    void issuerSerialAndExpiryComeFromTheCertificate() throws Exception {
        // Given
        Instant notAfter = Instant.now().plus(3, ChronoUnit.DAYS).truncatedTo(ChronoUnit.SECONDS);
        X509Certificate cert = client("CN=meta")
                .serial(new BigInteger("0ABCDEF", 16))
                .notAfter(notAfter)
                .buildIssuedBy(ca).getCertificate();

        // When
        ClientIdentity id = IdentityExtractor.extract(cert, "internal");

        // Then
        assertThat(id.issuerDn()).isEqualTo("CN=Test CA,O=mtls-proxy tests");
        assertThat(id.serialHex()).isEqualTo("abcdef");
        assertThat(id.notAfter()).isEqualTo(notAfter);
    }

    @Test
    void identityListsCannotBeModified() throws Exception {
        // Given
        X509Certificate cert = client("CN=x, OU=a").addSanDnsName("x.example").buildIssuedBy(ca).getCertificate();

        // When
        ClientIdentity id = IdentityExtractor.extract(cert, "internal");

        // Then
        assertThatThrownBy(() -> id.dnsSans().add("evil.example")).isInstanceOf(UnsupportedOperationException.class);
        assertThatThrownBy(() -> id.organizationalUnits().clear())
                .isInstanceOf(UnsupportedOperationException.class);
    }
}
