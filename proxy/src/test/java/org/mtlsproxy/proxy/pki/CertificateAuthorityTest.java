package org.mtlsproxy.proxy.pki;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import java.io.InputStream;
import java.math.BigInteger;
import java.net.InetAddress;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.PosixFilePermissions;
import java.security.KeyFactory;
import java.security.PrivateKey;
import java.security.Signature;
import java.security.cert.CertPathValidator;
import java.security.cert.CertificateFactory;
import java.security.cert.PKIXParameters;
import java.security.cert.TrustAnchor;
import java.security.cert.X509CRL;
import java.security.cert.X509CRLEntry;
import java.security.cert.X509Certificate;
import java.security.interfaces.ECPrivateKey;
import java.security.interfaces.RSAPrivateKey;
import java.security.spec.PKCS8EncodedKeySpec;
import java.time.Duration;
import java.time.Instant;
import java.util.ArrayList;
import java.util.Base64;
import java.util.Collection;
import java.util.List;
import java.util.Optional;
import java.util.Set;
import org.bouncycastle.asn1.ASN1Integer;
import org.bouncycastle.asn1.ASN1OctetString;
import org.bouncycastle.asn1.x509.AuthorityKeyIdentifier;
import org.bouncycastle.asn1.x509.CRLReason;
import org.bouncycastle.asn1.x509.Extension;
import org.bouncycastle.asn1.x509.SubjectKeyIdentifier;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.mtlsproxy.config.CrlExpiredPolicy;
import org.mtlsproxy.proxy.RejectReason;
import org.mtlsproxy.proxy.tls.ClientCertificateException;
import org.mtlsproxy.proxy.tls.ClientCertificateVerifier;
import org.mtlsproxy.proxy.tls.TrustBundle;

class CertificateAuthorityTest {

    private static final String SERVER_AUTH = "1.3.6.1.5.5.7.3.1";
    private static final String CLIENT_AUTH = "1.3.6.1.5.5.7.3.2";
    private static final String ALICE = "spiffe://example.org/ns/prod/sa/alice";

    @TempDir
    Path dir;

    private CertificateAuthority init(KeyType type) throws Exception {
        return CertificateAuthority.init(dir, new CertificateAuthority.InitOptions("Acme", type,
                Duration.ofDays(3650), Duration.ofDays(1825), Duration.ofDays(30)));
    }

    private static LeafRequest server(String name) throws PkiException {
        return LeafRequest.builder(LeafRequest.Kind.SERVER, name).dns(List.of("api.internal", "localhost"))
                .ip(List.of("127.0.0.1", "::1")).build();
    }

    private static LeafRequest client(String name, String spiffeId) throws PkiException {
        return LeafRequest.builder(LeafRequest.Kind.CLIENT, name).uri(List.of(spiffeId)).ou("payments").org("Acme")
                .validity(Duration.ofDays(30)).build();
    }

    @Test
    void initWritesRootAndIntermediateWithPathLenZeroUsagesAndKeyIdentifiers() throws Exception {
        CertificateAuthority ca = init(KeyType.EC);

        X509Certificate root = read(dir.resolve("root-ca.pem")).get(0);
        X509Certificate intermediate = read(dir.resolve("intermediate-ca.pem")).get(0);
        assertThat(root).isEqualTo(ca.rootCertificate());
        root.verify(root.getPublicKey());
        intermediate.verify(root.getPublicKey());
        assertThat(root.getSubjectX500Principal().getName()).isEqualTo("CN=Acme Root CA,O=Acme");
        assertThat(intermediate.getSubjectX500Principal().getName()).isEqualTo("CN=Acme Intermediate CA,O=Acme");
        assertThat(intermediate.getBasicConstraints()).isZero();
        assertThat(root.getBasicConstraints()).isEqualTo(1);
        assertThat(intermediate.getCriticalExtensionOIDs()).contains(Extension.basicConstraints.getId(),
                Extension.keyUsage.getId());
        // keyUsage bits: 5 keyCertSign, 6 cRLSign; nothing else.
        assertThat(intermediate.getKeyUsage()).containsExactly(false, false, false, false, false, true, true, false,
                false);
        assertThat(authorityKeyId(intermediate)).isEqualTo(subjectKeyId(root));
        assertThat(intermediate.getNotAfter()).isBefore(root.getNotAfter());
        assertThat(Duration.between(Instant.now(), intermediate.getNotAfter().toInstant()).toDays()).isEqualTo(1824);
        assertThat(dir.resolve("pki.json")).exists();
        X509CRL crl = readCrl(dir.resolve("crl.pem"));
        crl.verify(intermediate.getPublicKey());
        assertThat(crl.getRevokedCertificates()).isNull();
        assertThat(crlNumber(crl)).isEqualTo(1);
    }

    @Test
    void keysArePkcs8AndReadableOnlyByTheOwner() throws Exception {
        CertificateAuthority ca = init(KeyType.EC);
        CertificateAuthority.Issued alice = ca.issue(client("alice", ALICE));

        for (Path key : List.of(dir.resolve("root-ca.key"), dir.resolve("intermediate-ca.key"), alice.keyFile())) {
            String pem = Files.readString(key);
            assertThat(pem).as(key.toString()).startsWith("-----BEGIN PRIVATE KEY-----");
            assertThat(Files.getPosixFilePermissions(key)).as(key.toString())
                    .isEqualTo(PosixFilePermissions.fromString("rw-------"));
            PrivateKey parsed = KeyFactory.getInstance("EC").generatePrivate(new PKCS8EncodedKeySpec(der(pem)));
            assertThat(parsed).isInstanceOf(ECPrivateKey.class);
        }
        PrivateKey aliceKey = KeyFactory.getInstance("EC")
                .generatePrivate(new PKCS8EncodedKeySpec(der(Files.readString(alice.keyFile()))));
        assertThat(signsFor(aliceKey, alice.certificate())).isTrue();
        assertThat(Files.getPosixFilePermissions(alice.certFile()))
                .isEqualTo(PosixFilePermissions.fromString("rw-r--r--"));
    }

    @Test
    void serverCertificateChainVerifiesWithTheJdkAndCarriesServerAuthAndItsSans() throws Exception {
        CertificateAuthority ca = init(KeyType.EC);

        CertificateAuthority.Issued issued = ca.issue(server("api"));

        List<X509Certificate> chain = read(dir.resolve("api-chain.pem"));
        assertThat(chain).hasSize(2);
        assertThat(chain.get(0)).isEqualTo(read(dir.resolve("api.pem")).get(0)).isEqualTo(issued.certificate());
        assertThat(chain.get(1)).isEqualTo(ca.intermediateCertificate());
        validate(chain, ca.rootCertificate());
        X509Certificate leaf = chain.get(0);
        assertThat(leaf.getExtendedKeyUsage()).containsExactly(SERVER_AUTH);
        assertThat(leaf.getKeyUsage()[0]).as("digitalSignature").isTrue();
        assertThat(leaf.getKeyUsage()[2]).as("keyEncipherment (ECDSA)").isFalse();
        assertThat(leaf.getBasicConstraints()).isEqualTo(-1);
        assertThat(sans(leaf)).containsExactlyInAnyOrder("2:api.internal", "2:localhost", "7:127.0.0.1",
                "7:" + InetAddress.getByName("::1").getHostAddress());
        assertThat(leaf.getSubjectX500Principal().getName()).isEqualTo("CN=api");
        assertThat(authorityKeyId(leaf)).isEqualTo(subjectKeyId(ca.intermediateCertificate()));
        assertThat(leaf.getSerialNumber().bitLength()).isBetween(100, 128);
        assertThat(Duration.between(Instant.now(), leaf.getNotAfter().toInstant()).toDays()).isEqualTo(89);
        assertThat(leaf.getNotBefore().toInstant()).isBefore(Instant.now().minus(Duration.ofMinutes(4)));
    }

    @Test
    void clientCertificateCarriesClientAuthSpiffeIdAndSubject() throws Exception {
        CertificateAuthority ca = init(KeyType.EC);

        CertificateAuthority.Issued alice = ca.issue(client("alice", ALICE));

        validate(List.of(alice.chain()), ca.rootCertificate());
        X509Certificate leaf = alice.certificate();
        assertThat(leaf.getExtendedKeyUsage()).containsExactly(CLIENT_AUTH);
        assertThat(sans(leaf)).containsExactly("6:" + ALICE);
        assertThat(leaf.getSubjectX500Principal().getName()).isEqualTo("CN=alice,OU=payments,O=Acme");
        assertThat(ca.certificates()).singleElement().satisfies(e -> {
            assertThat(e.serial()).isEqualTo(leaf.getSerialNumber());
            assertThat(e.kind()).isEqualTo(LeafRequest.Kind.CLIENT);
            assertThat(e.name()).isEqualTo("alice");
            assertThat(e.revoked()).isFalse();
        });
    }

    @Test
    void clientWithoutSanIsIdentifiedByItsCn() throws Exception {
        CertificateAuthority ca = init(KeyType.EC);

        CertificateAuthority.Issued reporting = ca.issue(LeafRequest.builder(LeafRequest.Kind.CLIENT, "reporting")
                .ou("analytics").build());

        assertThat(reporting.certificate().getSubjectAlternativeNames()).isNull();
        assertThat(reporting.certificate().getSubjectX500Principal().getName()).isEqualTo("CN=reporting,OU=analytics");
        validate(List.of(reporting.chain()), ca.rootCertificate());
    }

    @Test
    void rsaPkiIssuesRsa2048ChainsThatVerify() throws Exception {
        CertificateAuthority ca = init(KeyType.RSA);

        CertificateAuthority.Issued api = ca.issue(server("api"));

        assertThat(ca.rootCertificate().getSigAlgName()).isEqualTo("SHA256withRSA");
        assertThat(api.key()).isInstanceOfSatisfying(RSAPrivateKey.class,
                k -> assertThat(k.getModulus().bitLength()).isEqualTo(2048));
        assertThat(api.certificate().getKeyUsage()[2]).as("keyEncipherment (RSA server)").isTrue();
        validate(List.of(api.chain()), ca.rootCertificate());
        // A leaf may take the other key type than its CA.
        CertificateAuthority.Issued ec = ca.issue(LeafRequest.builder(LeafRequest.Kind.CLIENT, "ec")
                .keyType(KeyType.EC).build());
        assertThat(ec.key().getAlgorithm()).isEqualTo("EC");
        validate(List.of(ec.chain()), ca.rootCertificate());
    }

    @Test
    void crlSignedByTheIntermediateListsEveryRevokedSerialAndTheProxyRejectsThem() throws Exception {
        CertificateAuthority ca = init(KeyType.EC);
        CertificateAuthority.Issued alice = ca.issue(client("alice", ALICE));
        CertificateAuthority.Issued bob = ca.issue(client("bob", "spiffe://example.org/ns/prod/sa/bob"));
        CertificateAuthority.Issued carol = ca.issue(client("carol", "spiffe://example.org/ns/prod/sa/carol"));

        ca.revoke(alice.certificate().getSerialNumber(), RevocationReason.KEY_COMPROMISE);
        ca.revoke(bob.certificate().getSerialNumber(), RevocationReason.UNSPECIFIED);
        CertificateAuthority.CrlWritten written = ca.writeCrl(Duration.ofDays(7));

        X509CRL crl = readCrl(dir.resolve("crl.pem"));
        crl.verify(ca.intermediateCertificate().getPublicKey());
        assertThat(crl.getIssuerX500Principal()).isEqualTo(ca.intermediateCertificate().getSubjectX500Principal());
        assertThat(crlNumber(crl)).isEqualTo(2).isEqualTo(written.number().intValue());
        assertThat(Duration.between(crl.getThisUpdate().toInstant(), crl.getNextUpdate().toInstant()))
                .isEqualTo(Duration.ofDays(7));
        assertThat(crl.getRevokedCertificates()).extracting(X509CRLEntry::getSerialNumber)
                .containsExactlyInAnyOrder(alice.certificate().getSerialNumber(),
                        bob.certificate().getSerialNumber());
        assertThat(crl.getRevokedCertificate(alice.certificate()).getRevocationReason())
                .isEqualTo(java.security.cert.CRLReason.KEY_COMPROMISE);
        assertThat(crl.getRevokedCertificate(bob.certificate()).getRevocationReason()).as("unspecified: no ext")
                .isNull();
        assertThat(crl.isRevoked(carol.certificate())).isFalse();
        assertThat(authorityKeyId(crl)).isEqualTo(subjectKeyId(ca.intermediateCertificate()));

        // The proxy's own verifier, with this CRL configured, refuses alice as revoked and accepts carol.
        ClientCertificateVerifier verifier = new ClientCertificateVerifier(List.of(new TrustBundle("pki",
                List.of(ca.rootCertificate()), List.of(crl), Optional.empty(), true, CrlExpiredPolicy.HARD_FAIL,
                Duration.ZERO)), 3);
        assertThatThrownBy(() -> verifier.verify(alice.chain())).isInstanceOfSatisfying(
                ClientCertificateException.class, e -> assertThat(e.reason()).isEqualTo(RejectReason.REVOKED));
        assertThat(verifier.verify(carol.chain())).isEqualTo("pki");

        ca.writeCrl(Duration.ofDays(1));
        assertThat(crlNumber(readCrl(dir.resolve("crl.pem")))).as("CRL numbers increase").isEqualTo(3);
        assertThat(CRLReason.keyCompromise).isEqualTo(RevocationReason.KEY_COMPROMISE.code());
    }

    @Test
    void stateSurvivesReopeningTheDirectory() throws Exception {
        CertificateAuthority ca = init(KeyType.EC);
        CertificateAuthority.Issued alice = ca.issue(client("alice", ALICE));
        ca.revoke(alice.certificate().getSerialNumber(), RevocationReason.SUPERSEDED);

        CertificateAuthority reopened = CertificateAuthority.open(dir);

        assertThat(reopened.intermediateCertificate()).isEqualTo(ca.intermediateCertificate());
        assertThat(reopened.certificates()).singleElement().satisfies(e -> {
            assertThat(e.revoked()).isTrue();
            assertThat(e.reason()).contains(RevocationReason.SUPERSEDED);
        });
        assertThat(reopened.writeCrl(Duration.ofDays(2)).revoked())
                .containsExactly(alice.certificate().getSerialNumber());
    }

    @Test
    void concurrentIssuersOnOneDirectoryLoseNoRecord() throws Exception {
        init(KeyType.EC);
        CertificateAuthority first = CertificateAuthority.open(dir);
        CertificateAuthority second = CertificateAuthority.open(dir);
        java.util.concurrent.ExecutorService pool = java.util.concurrent.Executors.newFixedThreadPool(2);
        try {
            List<java.util.concurrent.Future<CertificateAuthority.Issued>> futures = new ArrayList<>();
            for (int i = 0; i < 16; i++) {
                CertificateAuthority ca = i % 2 == 0 ? first : second;
                LeafRequest r = LeafRequest.builder(LeafRequest.Kind.CLIENT, "c" + i).build();
                futures.add(pool.submit(() -> ca.issue(r)));
            }
            for (java.util.concurrent.Future<CertificateAuthority.Issued> f : futures) {
                f.get(60, java.util.concurrent.TimeUnit.SECONDS);
            }
        } finally {
            pool.shutdownNow();
        }

        assertThat(first.certificates()).hasSize(16).extracting(CertificateEntry::serial).doesNotHaveDuplicates();
    }

    @Test
    void refusesToOverwriteACaOrAnIssuedName() throws Exception {
        CertificateAuthority ca = init(KeyType.EC);
        String rootBefore = Files.readString(dir.resolve("root-ca.pem"));
        CertificateAuthority.Issued api = ca.issue(server("api"));
        String keyBefore = Files.readString(api.keyFile());

        assertThatThrownBy(() -> init(KeyType.RSA)).isInstanceOf(PkiException.class)
                .hasMessageContaining("already holds a CA").hasMessageContaining("refusing to overwrite");
        assertThatThrownBy(() -> ca.issue(server("api"))).isInstanceOf(PkiException.class)
                .hasMessageContaining("api.key already exists; refusing to overwrite certificate api");

        assertThat(Files.readString(dir.resolve("root-ca.pem"))).isEqualTo(rootBefore);
        assertThat(Files.readString(api.keyFile())).isEqualTo(keyBefore);
        assertThat(ca.certificates()).hasSize(1);
    }

    @Test
    void revokingRefusesUnknownAndAlreadyRevokedSerials() throws Exception {
        CertificateAuthority ca = init(KeyType.EC);
        CertificateAuthority.Issued alice = ca.issue(client("alice", ALICE));

        assertThatThrownBy(() -> ca.revoke(BigInteger.valueOf(0xabcd), RevocationReason.UNSPECIFIED))
                .isInstanceOf(PkiException.class).hasMessageStartingWith("serial abcd: no certificate");
        ca.revoke(alice.certificate().getSerialNumber(), RevocationReason.KEY_COMPROMISE);
        assertThatThrownBy(() -> ca.revoke(alice.certificate().getSerialNumber(), RevocationReason.SUPERSEDED))
                .isInstanceOf(PkiException.class).hasMessageContaining("already revoked")
                .hasMessageContaining("key-compromise");
    }

    @Test
    void openRefusesMissingAndUninitializedDirectories() throws Exception {
        assertThatThrownBy(() -> CertificateAuthority.open(dir.resolve("nope"))).isInstanceOf(PkiException.class)
                .hasMessageContaining("does not exist");
        assertThatThrownBy(() -> CertificateAuthority.open(dir)).isInstanceOf(PkiException.class)
                .hasMessageContaining("is not an initialized PKI: pki.json is missing");
    }

    @Test
    void openRefusesAnIntermediateKeyThatDoesNotBelongToItsCertificate() throws Exception {
        init(KeyType.EC);
        Path other = Files.createDirectory(dir.resolve("other"));
        CertificateAuthority.init(other, new CertificateAuthority.InitOptions("Other", KeyType.EC,
                Duration.ofDays(10), Duration.ofDays(10), Duration.ofDays(1)));
        Files.delete(dir.resolve("intermediate-ca.key"));
        Files.copy(other.resolve("intermediate-ca.key"), dir.resolve("intermediate-ca.key"));

        assertThatThrownBy(() -> CertificateAuthority.open(dir)).isInstanceOf(PkiException.class)
                .hasMessageContaining("intermediate-ca.key does not belong to");
    }

    @Test
    void aLeafMayNotOutliveTheIntermediate() throws Exception {
        CertificateAuthority ca = CertificateAuthority.init(dir, new CertificateAuthority.InitOptions("Short",
                KeyType.EC, Duration.ofDays(30), Duration.ofDays(20), Duration.ofDays(1)));

        assertThatThrownBy(() -> ca.issue(LeafRequest.builder(LeafRequest.Kind.CLIENT, "long")
                .validity(Duration.ofDays(21)).build())).isInstanceOf(PkiException.class)
                .hasMessageContaining("would outlive the intermediate CA")
                // 20 days when issued in the second the intermediate was made, 19 (and change) when a second later
                .hasMessageMatching("(?s).*\\(expected: at most (19|20) days\\).*");
        assertThat(dir.resolve("long.key")).doesNotExist();
        assertThatThrownBy(() -> CertificateAuthority.init(dir.resolve("x"), new CertificateAuthority.InitOptions(
                "X", KeyType.EC, Duration.ofDays(10), Duration.ofDays(11), Duration.ofDays(1))))
                .isInstanceOf(PkiException.class).hasMessageContaining("exceeds the root's");
    }

    @Test
    void requestsWithBadNamesOrSansAreRefusedBeforeAnythingIsWritten() {
        assertThatThrownBy(() -> LeafRequest.builder(LeafRequest.Kind.SERVER, "api").build())
                .hasMessageContaining("has no SAN");
        assertThatThrownBy(() -> LeafRequest.builder(LeafRequest.Kind.SERVER, "api").dns(List.of("bad_name.x"))
                .build()).hasMessageContaining("--dns \"bad_name.x\" is not a DNS name");
        assertThatThrownBy(() -> LeafRequest.builder(LeafRequest.Kind.SERVER, "api").ip(List.of("example.org"))
                .build()).hasMessageContaining("--ip \"example.org\" is not an IP address");
        assertThatThrownBy(() -> LeafRequest.builder(LeafRequest.Kind.CLIENT, "a").uri(List.of("no-scheme"))
                .build()).hasMessageContaining("has no scheme");
        assertThatThrownBy(() -> LeafRequest.builder(LeafRequest.Kind.CLIENT, "a")
                .uri(List.of("spiffe://Example.org/x")).build()).hasMessageContaining("trust domain");
        assertThatThrownBy(() -> LeafRequest.builder(LeafRequest.Kind.CLIENT, "a")
                .uri(List.of("spiffe://example.org/ns/*")).build()).hasMessageContaining("wildcard");
        assertThatThrownBy(() -> LeafRequest.builder(LeafRequest.Kind.CLIENT, "../etc/passwd").build())
                .hasMessageContaining("it becomes the file name");
        assertThatThrownBy(() -> LeafRequest.builder(LeafRequest.Kind.CLIENT, "root-ca").build())
                .hasMessageContaining("reserved");
        assertThatThrownBy(() -> LeafRequest.builder(LeafRequest.Kind.CLIENT, "a").cn(" ").build())
                .hasMessageContaining("--cn is empty");
    }

    @Test
    void wildcardDnsAndUpperCaseAreAccepted() throws Exception {
        LeafRequest r = LeafRequest.builder(LeafRequest.Kind.SERVER, "wild").dns(List.of("*.API.internal")).build();
        assertThat(r.dnsNames()).containsExactly("*.api.internal");
    }

    private static void validate(List<X509Certificate> chain, X509Certificate root) throws Exception {
        PKIXParameters params = new PKIXParameters(Set.of(new TrustAnchor(root, null)));
        params.setRevocationEnabled(false);
        CertPathValidator.getInstance("PKIX").validate(
                CertificateFactory.getInstance("X.509").generateCertPath(chain), params);
    }

    private static List<X509Certificate> read(Path pem) throws Exception {
        try (InputStream in = Files.newInputStream(pem)) {
            Collection<? extends java.security.cert.Certificate> certs =
                    CertificateFactory.getInstance("X.509").generateCertificates(in);
            List<X509Certificate> out = new ArrayList<>();
            certs.forEach(c -> out.add((X509Certificate) c));
            return out;
        }
    }

    private static X509CRL readCrl(Path pem) throws Exception {
        try (InputStream in = Files.newInputStream(pem)) {
            return (X509CRL) CertificateFactory.getInstance("X.509").generateCRL(in);
        }
    }

    private static int crlNumber(X509CRL crl) {
        byte[] ext = crl.getExtensionValue(Extension.cRLNumber.getId());
        return ASN1Integer.getInstance(ASN1OctetString.getInstance(ext).getOctets()).intValueExact();
    }

    private static byte[] subjectKeyId(X509Certificate cert) {
        byte[] ext = cert.getExtensionValue(Extension.subjectKeyIdentifier.getId());
        return SubjectKeyIdentifier.getInstance(ASN1OctetString.getInstance(ext).getOctets()).getKeyIdentifier();
    }

    private static byte[] authorityKeyId(java.security.cert.X509Extension holder) {
        byte[] ext = holder.getExtensionValue(Extension.authorityKeyIdentifier.getId());
        AuthorityKeyIdentifier aki = AuthorityKeyIdentifier.getInstance(ASN1OctetString.getInstance(ext).getOctets());
        assertThat(aki.getAuthorityCertIssuer()).as("key id only").isNull();
        return aki.getKeyIdentifier();
    }

    private static List<String> sans(X509Certificate cert) throws Exception {
        List<String> out = new ArrayList<>();
        for (List<?> san : cert.getSubjectAlternativeNames()) {
            out.add(san.get(0) + ":" + san.get(1));
        }
        return out;
    }

    private static byte[] der(String pem) {
        return Base64.getMimeDecoder().decode(pem.replaceAll("-----[A-Z ]+-----", ""));
    }

    private static boolean signsFor(PrivateKey key, X509Certificate cert) throws Exception {
        Signature s = Signature.getInstance("SHA256withECDSA");
        s.initSign(key);
        s.update(new byte[] {1, 2, 3});
        byte[] sig = s.sign();
        Signature v = Signature.getInstance("SHA256withECDSA");
        v.initVerify(cert.getPublicKey());
        v.update(new byte[] {1, 2, 3});
        return v.verify(sig);
    }
}
