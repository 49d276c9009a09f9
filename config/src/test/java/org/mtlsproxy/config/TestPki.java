package org.mtlsproxy.config;

import static java.nio.charset.StandardCharsets.US_ASCII;

import io.netty.pkitesting.CertificateBuilder;
import io.netty.pkitesting.X509Bundle;
import java.io.IOException;
import java.io.StringWriter;
import java.math.BigInteger;
import java.nio.file.Files;
import java.nio.file.Path;
import java.security.KeyFactory;
import java.security.PrivateKey;
import java.security.spec.PKCS8EncodedKeySpec;
import java.time.Instant;
import java.util.Date;
import org.bouncycastle.cert.X509v2CRLBuilder;
import org.bouncycastle.cert.jcajce.JcaX509CRLConverter;
import org.bouncycastle.jce.provider.BouncyCastleProvider;
import org.bouncycastle.openssl.jcajce.JcaMiscPEMGenerator;
import org.bouncycastle.openssl.jcajce.JcaPEMWriter;
import org.bouncycastle.openssl.jcajce.JcePEMEncryptorBuilder;
import org.bouncycastle.operator.jcajce.JcaContentSignerBuilder;

/**
 * The certificates and files a valid configuration names, written into a test's temporary directory under the
 * relative names {@link #VALID_CONFIG} uses.
 */
final class TestPki {

    static final String VALID_CONFIG = """
            mtls-proxy {
              listeners = [{
                name = public
                bind = "127.0.0.1:8443"
                tls {
                  certificate-chain = "server-chain.pem"
                  private-key = "server.key"
                  client-trust = [{ name = prod, ca-bundle = "clients-ca.pem", crls = ["clients.crl"] }]
                }
              }]
              routes = [{
                name = orders
                host = "API.Internal"
                path-prefix = "/orders/"
                backend = orders
                allow = [
                  { spiffe-id = "spiffe://example.org/ns/prod/sa/*" }
                  { name = reporting, subject-cn = reporting, subject-ou = analytics, trust-bundle = prod }
                ]
              }]
              backends {
                orders {
                  endpoints = ["orders-1.internal:8443", "[::1]:9443"]
                  tls { ca-bundle = "backend-ca.pem", server-name = "Orders.Internal" }
                }
              }
            }
            """;

    final Path dir;
    final X509Bundle clientCa;
    final X509Bundle serverCa;
    final X509Bundle server;
    final X509Bundle backendCa;

    TestPki(Path dir) throws Exception {
        this.dir = dir;
        clientCa = new CertificateBuilder().subject("CN=clients-ca").setIsCertificateAuthority(true).ecp256()
                .buildSelfSigned();
        serverCa = new CertificateBuilder().subject("CN=server-ca").setIsCertificateAuthority(true).ecp256()
                .buildSelfSigned();
        server = new CertificateBuilder().subject("CN=proxy.example.org").addSanDnsName("proxy.example.org")
                .ecp256().buildIssuedBy(serverCa);
        backendCa = new CertificateBuilder().subject("CN=backend-ca").setIsCertificateAuthority(true).ecp256()
                .buildSelfSigned();
        write("server-chain.pem", server.getCertificatePathPEM());
        write("server.key", server.getPrivateKeyPEM());
        write("clients-ca.pem", clientCa.getCertificatePEM());
        write("clients.crl", crlPem(clientCa));
        write("backend-ca.pem", backendCa.getCertificatePEM());
    }

    Path write(String name, String content) throws IOException {
        Path file = dir.resolve(name);
        Files.writeString(file, content, US_ASCII);
        return file;
    }

    /** The text of {@link #VALID_CONFIG} with {@code from} replaced; fails the test if {@code from} is absent. */
    static String validConfigWith(String from, String to) {
        if (!VALID_CONFIG.contains(from)) {
            throw new IllegalArgumentException("not in VALID_CONFIG: " + from);
        }
        return VALID_CONFIG.replace(from, to);
    }

    static X509Bundle leaf(String cn, X509Bundle issuer) throws Exception {
        return new CertificateBuilder().subject("CN=" + cn).ecp256().buildIssuedBy(issuer);
    }

    static X509Bundle expiredLeaf(String cn, X509Bundle issuer) throws Exception {
        return new CertificateBuilder().subject("CN=" + cn).ecp256()
                .notBefore(Instant.now().minusSeconds(7200)).notAfter(Instant.now().minusSeconds(3600))
                .buildIssuedBy(issuer);
    }

    /** OpenSSL's "traditional" form: PKCS#1 ({@code RSA PRIVATE KEY}) or SEC1 ({@code EC PRIVATE KEY}). */
    static String traditionalPem(PrivateKey key) throws Exception {
        return pem(new JcaMiscPEMGenerator(asOpenSslWouldWriteIt(key)));
    }

    /**
     * The JDK's EC keys encode their curve only outside the SEC1 structure, so written as-is they would lack the
     * curve OpenSSL puts inside; BouncyCastle's own key class writes it.
     */
    private static PrivateKey asOpenSslWouldWriteIt(PrivateKey key) throws Exception {
        return KeyFactory.getInstance(key.getAlgorithm(), new BouncyCastleProvider())
                .generatePrivate(new PKCS8EncodedKeySpec(key.getEncoded()));
    }

    static String encryptedTraditionalPem(PrivateKey key) throws Exception {
        return pem(new JcaMiscPEMGenerator(asOpenSslWouldWriteIt(key),
                new JcePEMEncryptorBuilder("AES-128-CBC").setProvider(new BouncyCastleProvider())
                        .build("secret".toCharArray())));
    }

    static String crlPem(X509Bundle ca) throws Exception {
        return pem(new JcaMiscPEMGenerator(crl(ca)));
    }

    static java.security.cert.X509CRL crl(X509Bundle ca) throws Exception {
        Date now = new Date();
        X509v2CRLBuilder builder = new X509v2CRLBuilder(
                new org.bouncycastle.asn1.x500.X500Name(ca.getCertificate().getSubjectX500Principal().getName()), now);
        builder.setNextUpdate(new Date(now.getTime() + 86_400_000L));
        builder.addCRLEntry(BigInteger.valueOf(42), now, 0);
        return new JcaX509CRLConverter().getCRL(builder.build(
                new JcaContentSignerBuilder("SHA256withECDSA").build(ca.getKeyPair().getPrivate())));
    }

    private static String pem(JcaMiscPEMGenerator generator) throws IOException {
        StringWriter out = new StringWriter();
        try (JcaPEMWriter writer = new JcaPEMWriter(out)) {
            writer.writeObject(generator);
        }
        return out.toString();
    }
}
