package org.mtlsproxy.config;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import io.netty.pkitesting.CertificateBuilder;
import io.netty.pkitesting.CertificateBuilder.Algorithm;
import io.netty.pkitesting.X509Bundle;
import java.io.IOException;
import java.io.StringWriter;
import java.nio.file.Files;
import java.nio.file.Path;
import java.security.PrivateKey;
import org.bouncycastle.jce.provider.BouncyCastleProvider;
import org.bouncycastle.openssl.jcajce.JcaPEMWriter;
import org.bouncycastle.openssl.jcajce.JcaPKCS8Generator;
import org.bouncycastle.openssl.jcajce.JceOpenSSLPKCS8EncryptorBuilder;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.EnumSource;

class PemFilesTest {

    static X509Bundle ca;
    static X509Bundle ecLeaf;
    static X509Bundle rsaLeaf;

    @TempDir
    Path dir;

    @BeforeAll
    static void createCertificates() throws Exception {
        ca = new CertificateBuilder().subject("CN=ca").setIsCertificateAuthority(true).ecp256().buildSelfSigned();
        ecLeaf = new CertificateBuilder().subject("CN=ec").ecp256().buildIssuedBy(ca);
        rsaLeaf = new CertificateBuilder().subject("CN=rsa").rsa2048().buildIssuedBy(ca);
    }

    @Test
    void certificateChainIsReadInFileOrder() throws Exception {
        Path file = write("chain.pem", ecLeaf.getCertificatePathPEM() + ca.getCertificatePEM());

        assertThat(PemFiles.readCertificates(file)).extracting(c -> c.getSubjectX500Principal().getName())
                .containsExactly("CN=ec", "CN=ca");
    }

    @Test
    void pkcs8KeysOfEveryCommonAlgorithmLoadAndMatchTheirCertificate() throws Exception {
        for (X509Bundle bundle : new X509Bundle[] {ecLeaf, rsaLeaf, leaf(Algorithm.ed25519)}) {
            Path file = write("key.pem", bundle.getPrivateKeyPEM());
            assertThat(bundle.getPrivateKeyPEM()).startsWith("-----BEGIN PRIVATE KEY-----");

            PrivateKey key = PemFiles.readPrivateKey(file);

            assertThat(PemFiles.keyMatches(key, bundle.getCertificate())).as(key.getAlgorithm()).isTrue();
        }
    }

    @Test
    void pkcs1RsaKeyLoadsAndMatches() throws Exception {
        String pem = TestPki.traditionalPem(rsaLeaf.getKeyPair().getPrivate());
        assertThat(pem).startsWith("-----BEGIN RSA PRIVATE KEY-----");

        PrivateKey key = PemFiles.readPrivateKey(write("rsa.key", pem));

        assertThat(key.getAlgorithm()).isEqualTo("RSA");
        assertThat(PemFiles.keyMatches(key, rsaLeaf.getCertificate())).isTrue();
    }

    @Test
    void sec1EcKeyLoadsAndMatchesEvenAfterEcParameters() throws Exception {
        String pem = TestPki.traditionalPem(ecLeaf.getKeyPair().getPrivate());
        assertThat(pem).startsWith("-----BEGIN EC PRIVATE KEY-----");
        // What `openssl ecparam -genkey -name prime256v1` writes: the curve first, then the key.
        String withParameters = "-----BEGIN EC PARAMETERS-----\nBggqhkjOPQMBBw==\n-----END EC PARAMETERS-----\n" + pem;

        PrivateKey key = PemFiles.readPrivateKey(write("ec.key", withParameters));

        assertThat(key.getAlgorithm()).isEqualTo("EC");
        assertThat(PemFiles.keyMatches(key, ecLeaf.getCertificate())).isTrue();
    }

    @Test
    void keyOfAnotherCertificateOrAlgorithmDoesNotMatch() throws Exception {
        X509Bundle otherEc = new CertificateBuilder().subject("CN=other").ecp256().buildIssuedBy(ca);
        PrivateKey ecKey = ecLeaf.getKeyPair().getPrivate();

        assertThat(PemFiles.keyMatches(ecKey, otherEc.getCertificate())).isFalse();
        assertThat(PemFiles.keyMatches(ecKey, rsaLeaf.getCertificate())).isFalse();
        assertThat(PemFiles.keyMatches(rsaLeaf.getKeyPair().getPrivate(), ecLeaf.getCertificate())).isFalse();
    }

    @ParameterizedTest
    @EnumSource(value = Encryption.class)
    void encryptedKeyIsRejectedAskingForAnUnencryptedOne(Encryption encryption) throws Exception {
        Path file = write("encrypted.key", encryption.pem(ecLeaf.getKeyPair().getPrivate()));

        assertThatThrownBy(() -> PemFiles.readPrivateKey(file))
                .isInstanceOf(IOException.class)
                .hasMessageStartingWith("the private key in " + file + " is encrypted (expected: an unencrypted key");
    }

    @Test
    void fileWithoutAKeyOrCertificateIsRejectedNamingTheFile() throws Exception {
        Path certOnly = write("cert.pem", ecLeaf.getCertificatePEM());
        Path garbage = write("garbage.pem", "hello\u0000\u0001 world");

        assertThatThrownBy(() -> PemFiles.readPrivateKey(certOnly)).hasMessage("no PEM private key found in " + certOnly
                + " (expected: BEGIN PRIVATE KEY, BEGIN RSA PRIVATE KEY or BEGIN EC PRIVATE KEY)");
        assertThatThrownBy(() -> PemFiles.readCertificates(garbage))
                .hasMessage("no PEM certificate found in " + garbage + " (expected: BEGIN CERTIFICATE)");
    }

    @Test
    void malformedPemBlockIsRejectedNamingTheFile() throws Exception {
        Path file = write("broken.pem", "-----BEGIN CERTIFICATE-----\nnot base64!\n-----END CERTIFICATE-----\n");

        assertThatThrownBy(() -> PemFiles.readCertificates(file))
                .isInstanceOf(IOException.class)
                .hasMessageStartingWith("malformed PEM in " + file);
    }

    @Test
    void missingFileIsRejectedNamingTheFile() {
        Path file = dir.resolve("absent.pem");

        assertThatThrownBy(() -> PemFiles.readCertificates(file)).hasMessage("cannot read " + file + ": no such file");
    }

    @Test
    void crlsAreReadFromPemAndFromDer() throws Exception {
        Path pem = write("two.crl", TestPki.crlPem(ca) + TestPki.crlPem(ca));
        Path der = dir.resolve("one.crl");
        Files.write(der, TestPki.crl(ca).getEncoded());

        assertThat(PemFiles.readCrls(pem)).hasSize(2);
        assertThat(PemFiles.readCrls(der)).singleElement()
                .satisfies(crl -> assertThat(crl.getIssuerX500Principal().getName()).isEqualTo("CN=ca"));
    }

    @Test
    void fileWithoutACrlIsRejected() throws Exception {
        Path der = write("junk.crl", "\u0030\u0003junk");
        Path pem = write("cert.crl", ca.getCertificatePEM());

        assertThatThrownBy(() -> PemFiles.readCrls(der)).hasMessage("no CRL found in " + der
                + " (expected: PEM BEGIN X509 CRL, or DER)");
        assertThatThrownBy(() -> PemFiles.readCrls(pem)).hasMessage("no CRL found in " + pem
                + " (expected: PEM BEGIN X509 CRL, or DER)");
    }

    enum Encryption {
        TRADITIONAL {
            @Override
            String pem(PrivateKey key) throws Exception {
                return TestPki.encryptedTraditionalPem(key);
            }
        },
        PKCS8 {
            @Override
            String pem(PrivateKey key) throws Exception {
                StringWriter out = new StringWriter();
                try (JcaPEMWriter writer = new JcaPEMWriter(out)) {
                    writer.writeObject(new JcaPKCS8Generator(key,
                            new JceOpenSSLPKCS8EncryptorBuilder(JcaPKCS8Generator.AES_256_CBC)
                                    .setProvider(new BouncyCastleProvider())
                                    .setPassword("secret".toCharArray()).build()));
                }
                return out.toString();
            }
        };

        abstract String pem(PrivateKey key) throws Exception;
    }

    private static X509Bundle leaf(Algorithm algorithm) throws Exception {
        return new CertificateBuilder().subject("CN=" + algorithm).algorithm(algorithm).buildIssuedBy(ca);
    }

    private Path write(String name, String content) throws IOException {
        Path file = dir.resolve(name);
        Files.writeString(file, content, java.nio.charset.StandardCharsets.ISO_8859_1);
        return file;
    }
}
