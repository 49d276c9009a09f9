package org.mtlsproxy.proxy.tls;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import io.netty.pkitesting.CertificateBuilder;
import io.netty.pkitesting.X509Bundle;
import java.math.BigInteger;
import java.security.PrivateKey;
import java.security.cert.CertificateFactory;
import java.security.cert.X509CRL;
import java.security.cert.X509Certificate;
import java.io.ByteArrayInputStream;
import java.time.Instant;
import java.time.temporal.ChronoUnit;
import java.util.Date;
import java.util.List;
import org.bouncycastle.asn1.x500.X500Name;
import org.bouncycastle.asn1.x509.CRLReason;
import org.bouncycastle.cert.X509v2CRLBuilder;
import org.bouncycastle.operator.jcajce.JcaContentSignerBuilder;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.mtlsproxy.proxy.RejectReason;

class ClientCertificateVerifierTest {

    private static X509Bundle root;
    private static X509Bundle intermediate;
    private static X509Bundle leaf;
    private static X509Bundle otherRoot;
    private static X509Bundle otherLeaf;

    @BeforeAll
    static void pki() throws Exception {
        root = new CertificateBuilder().subject("CN=root").setIsCertificateAuthority(true).ecp256().buildSelfSigned();
        intermediate = new CertificateBuilder().subject("CN=intermediate").setIsCertificateAuthority(true).ecp256()
                .buildIssuedBy(root);
        leaf = client("CN=leaf").buildIssuedBy(intermediate);
        otherRoot = new CertificateBuilder().subject("CN=other root").setIsCertificateAuthority(true).ecp256()
                .buildSelfSigned();
        otherLeaf = client("CN=other leaf").buildIssuedBy(otherRoot);
    }

    private static CertificateBuilder client(String subject) throws Exception {
        return new CertificateBuilder().subject(subject).ecp256().addExtendedKeyUsageClientAuth()
                .addSanUriName("spiffe://test.local/x");
    }

    private static X509Certificate[] chain(X509Bundle b, X509Bundle... intermediates) {
        X509Certificate[] c = new X509Certificate[1 + intermediates.length];
        c[0] = b.getCertificate();
        for (int i = 0; i < intermediates.length; i++) {
            c[i + 1] = intermediates[i].getCertificate();
        }
        return c;
    }

    private static ClientCertificateVerifier verifier(int depth, TrustBundle... bundles) {
        return new ClientCertificateVerifier(List.of(bundles), depth);
    }

    private static TrustBundle bundle(String name, X509Bundle ca, X509CRL... crls) {
        return new TrustBundle(name, List.of(ca.getCertificate()), List.of(crls));
    }

    private static X509CRL crl(X509Bundle issuer, PrivateKey signingKey, BigInteger... revoked) throws Exception {
        Instant now = Instant.now();
        X509v2CRLBuilder b = new X509v2CRLBuilder(
                X500Name.getInstance(issuer.getCertificate().getSubjectX500Principal().getEncoded()),
                Date.from(now.minus(1, ChronoUnit.HOURS)));
        b.setNextUpdate(Date.from(now.plus(7, ChronoUnit.DAYS)));
        for (BigInteger serial : revoked) {
            b.addCRLEntry(serial, Date.from(now.minus(1, ChronoUnit.MINUTES)), CRLReason.keyCompromise);
        }
        byte[] der = b.build(new JcaContentSignerBuilder("SHA256withECDSA").build(signingKey)).getEncoded();
        return (X509CRL) CertificateFactory.getInstance("X.509").generateCRL(new ByteArrayInputStream(der));
    }

    private static RejectReason reasonOf(ClientCertificateVerifier v, X509Certificate[] chain) {
        try {
            v.verify(chain);
        } catch (ClientCertificateException e) {
            return e.reason();
        }
        throw new AssertionError("chain was accepted");
    }

    @Test
    void chainWithIntermediateVerifiesAndNamesTheBundle() throws Exception {
        assertThat(verifier(3, bundle("prod", root)).verify(chain(leaf, intermediate))).isEqualTo("prod");
    }

    @Test
    void missingIntermediateIsUntrusted() {
        assertThat(reasonOf(verifier(3, bundle("prod", root)), chain(leaf))).isEqualTo(RejectReason.UNTRUSTED_CA);
    }

    @Test
    void certificateOfAnotherCaIsUntrusted() {
        assertThat(reasonOf(verifier(3, bundle("prod", root)), chain(otherLeaf)))
                .isEqualTo(RejectReason.UNTRUSTED_CA);
    }

    @Test
    void secondBundleVerifiesItsOwnClientsAndIsRecorded() throws Exception {
        ClientCertificateVerifier v = verifier(3, bundle("prod", root), bundle("partner", otherRoot));
        assertThat(v.verify(chain(otherLeaf))).isEqualTo("partner");
        assertThat(v.verify(chain(leaf, intermediate))).isEqualTo("prod");
    }

    @Test
    void chainDeeperThanVerifyDepthIsRejected() {
        // leaf -> intermediate -> root needs 2 CA certificates; depth 1 allows only a directly issued leaf.
        assertThat(reasonOf(verifier(1, bundle("prod", root)), chain(leaf, intermediate)))
                .isEqualTo(RejectReason.CHAIN_TOO_LONG);
    }

    @Test
    void expiredAndNotYetValidLeavesAreNamedSo() throws Exception {
        X509Bundle expired = client("CN=expired").notBefore(Instant.now().minus(2, ChronoUnit.DAYS))
                .notAfter(Instant.now().minus(1, ChronoUnit.DAYS)).buildIssuedBy(intermediate);
        X509Bundle early = client("CN=early").notBefore(Instant.now().plus(1, ChronoUnit.DAYS))
                .notAfter(Instant.now().plus(2, ChronoUnit.DAYS)).buildIssuedBy(intermediate);
        ClientCertificateVerifier v = verifier(3, bundle("prod", root));
        assertThat(reasonOf(v, chain(expired, intermediate))).isEqualTo(RejectReason.EXPIRED);
        assertThat(reasonOf(v, chain(early, intermediate))).isEqualTo(RejectReason.NOT_YET_VALID);
    }

    @Test
    void leafWithoutClientAuthUsageIsRejected() throws Exception {
        X509Bundle serverOnly = new CertificateBuilder().subject("CN=server").ecp256().addExtendedKeyUsageServerAuth()
                .buildIssuedBy(intermediate);
        assertThat(reasonOf(verifier(3, bundle("prod", root)), chain(serverOnly, intermediate)))
                .isEqualTo(RejectReason.BAD_KEY_USAGE);
    }

    @Test
    void leafListedInTheIntermediatesCrlIsRevoked() throws Exception {
        X509CRL crl = crl(intermediate, intermediate.getKeyPair().getPrivate(),
                leaf.getCertificate().getSerialNumber());
        assertThat(reasonOf(verifier(3, bundle("prod", root, crl)), chain(leaf, intermediate)))
                .isEqualTo(RejectReason.REVOKED);
    }

    @Test
    void revokedIntermediateRevokesEveryLeafUnderIt() throws Exception {
        X509CRL crl = crl(root, root.getKeyPair().getPrivate(), intermediate.getCertificate().getSerialNumber());
        assertThat(reasonOf(verifier(3, bundle("prod", root, crl)), chain(leaf, intermediate)))
                .isEqualTo(RejectReason.REVOKED);
    }

    @Test
    void crlWithTheRightIssuerNameButAForgedSignatureIsIgnored() throws Exception {
        X509CRL forged = crl(intermediate, otherRoot.getKeyPair().getPrivate(),
                leaf.getCertificate().getSerialNumber());
        assertThat(verifier(3, bundle("prod", root, forged)).verify(chain(leaf, intermediate))).isEqualTo("prod");
    }

    @Test
    void crlOfOneCaDoesNotAffectClientsOfAnother() throws Exception {
        X509CRL crl = crl(intermediate, intermediate.getKeyPair().getPrivate(),
                leaf.getCertificate().getSerialNumber());
        ClientCertificateVerifier v = verifier(3, bundle("prod", root, crl), bundle("partner", otherRoot));
        assertThat(v.verify(chain(otherLeaf))).isEqualTo("partner");
    }

    @Test
    void emptyChainIsNoClientCert() {
        assertThatThrownBy(() -> verifier(3, bundle("prod", root)).verify(new X509Certificate[0]))
                .isInstanceOfSatisfying(ClientCertificateException.class,
                        e -> assertThat(e.reason()).isEqualTo(RejectReason.NO_CLIENT_CERT));
    }
}
