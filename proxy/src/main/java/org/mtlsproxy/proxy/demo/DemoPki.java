package org.mtlsproxy.proxy.demo;

import java.io.IOException;
import java.io.StringWriter;
import java.math.BigInteger;
import java.net.InetAddress;
import java.nio.file.Files;
import java.nio.file.Path;
import java.security.GeneralSecurityException;
import java.security.KeyPair;
import java.security.KeyPairGenerator;
import java.security.PrivateKey;
import java.security.SecureRandom;
import java.security.cert.X509Certificate;
import java.security.spec.ECGenParameterSpec;
import java.time.Duration;
import java.time.Instant;
import java.util.ArrayList;
import java.util.Date;
import java.util.List;
import org.bouncycastle.asn1.x500.X500Name;
import org.bouncycastle.asn1.x509.BasicConstraints;
import org.bouncycastle.asn1.x509.ExtendedKeyUsage;
import org.bouncycastle.asn1.x509.Extension;
import org.bouncycastle.asn1.x509.GeneralName;
import org.bouncycastle.asn1.x509.GeneralNames;
import org.bouncycastle.asn1.x509.KeyPurposeId;
import org.bouncycastle.asn1.x509.KeyUsage;
import org.bouncycastle.cert.X509v3CertificateBuilder;
import org.bouncycastle.cert.jcajce.JcaX509CertificateConverter;
import org.bouncycastle.cert.jcajce.JcaX509ExtensionUtils;
import org.bouncycastle.cert.jcajce.JcaX509v3CertificateBuilder;
import org.bouncycastle.openssl.jcajce.JcaPEMWriter;
import org.bouncycastle.openssl.jcajce.JcaPKCS8Generator;
import org.bouncycastle.operator.ContentSigner;
import org.bouncycastle.operator.OperatorCreationException;
import org.bouncycastle.operator.jcajce.JcaContentSignerBuilder;

/**
 * A throwaway PKI for the demo: one ECDSA P-256 CA, certificates issued by it, PEM files with PKCS#8 keys.
 * BouncyCastle builds the certificates; nothing shells out to openssl.
 */
final class DemoPki {

    private static final SecureRandom RANDOM = new SecureRandom();

    private final Path dir;
    private final KeyPair caKeys;
    private final X509Certificate caCert;

    /** A certificate with its key, written as {@code <name>.pem} (chain) and {@code <name>.key}. */
    record Issued(X509Certificate certificate, PrivateKey key, Path chainPem, Path keyPem) {
    }

    private DemoPki(Path dir, KeyPair caKeys, X509Certificate caCert) {
        this.dir = dir;
        this.caKeys = caKeys;
        this.caCert = caCert;
    }

    /** Creates the CA and writes {@code ca.pem} into {@code dir}. */
    static DemoPki create(Path dir, String caName) throws IOException, GeneralSecurityException {
        KeyPair keys = newKeyPair();
        X500Name name = new X500Name("CN=" + caName + ", O=mtls-proxy demo");
        Instant now = Instant.now();
        JcaX509ExtensionUtils ext = new JcaX509ExtensionUtils();
        X509v3CertificateBuilder b = new JcaX509v3CertificateBuilder(name, serial(),
                Date.from(now.minus(Duration.ofHours(1))), Date.from(now.plus(Duration.ofDays(30))), name,
                keys.getPublic())
                .addExtension(Extension.basicConstraints, true, new BasicConstraints(0))
                .addExtension(Extension.keyUsage, true, new KeyUsage(KeyUsage.keyCertSign | KeyUsage.cRLSign))
                .addExtension(Extension.subjectKeyIdentifier, false, ext.createSubjectKeyIdentifier(keys.getPublic()));
        X509Certificate cert = sign(b, keys.getPrivate());
        DemoPki pki = new DemoPki(dir, keys, cert);
        pki.write(dir.resolve(fileName(caName) + ".pem"), List.of(cert));
        return pki;
    }

    X509Certificate caCertificate() {
        return caCert;
    }

    Path caPem(String caName) {
        return dir.resolve(fileName(caName) + ".pem");
    }

    /** A server certificate for the given DNS names and IP addresses. */
    Issued issueServer(String name, List<String> dnsNames, List<String> ips)
            throws IOException, GeneralSecurityException {
        List<GeneralName> sans = new ArrayList<>();
        dnsNames.forEach(d -> sans.add(new GeneralName(GeneralName.dNSName, d)));
        for (String ip : ips) {
            sans.add(new GeneralName(GeneralName.iPAddress, InetAddress.getByName(ip).getHostAddress()));
        }
        return issue(name, "CN=" + name + ", O=mtls-proxy demo", sans, KeyPurposeId.id_kp_serverAuth);
    }

    /** A client certificate carrying a SPIFFE ID as URI SAN. */
    Issued issueClient(String name, String spiffeId, String ou) throws IOException, GeneralSecurityException {
        List<GeneralName> sans = List.of(new GeneralName(GeneralName.uniformResourceIdentifier, spiffeId));
        return issue(name, "CN=" + name + ", OU=" + ou + ", O=mtls-proxy demo", sans, KeyPurposeId.id_kp_clientAuth);
    }

    private Issued issue(String name, String subject, List<GeneralName> sans, KeyPurposeId eku)
            throws IOException, GeneralSecurityException {
        KeyPair keys = newKeyPair();
        Instant now = Instant.now();
        JcaX509ExtensionUtils ext = new JcaX509ExtensionUtils();
        X509v3CertificateBuilder b = new JcaX509v3CertificateBuilder(caCert, serial(),
                Date.from(now.minus(Duration.ofHours(1))), Date.from(now.plus(Duration.ofDays(7))),
                new X500Name(subject), keys.getPublic())
                .addExtension(Extension.basicConstraints, true, new BasicConstraints(false))
                .addExtension(Extension.keyUsage, true, new KeyUsage(KeyUsage.digitalSignature))
                .addExtension(Extension.extendedKeyUsage, false, new ExtendedKeyUsage(eku))
                .addExtension(Extension.subjectAlternativeName, false,
                        new GeneralNames(sans.toArray(new GeneralName[0])))
                .addExtension(Extension.authorityKeyIdentifier, false, ext.createAuthorityKeyIdentifier(caCert))
                .addExtension(Extension.subjectKeyIdentifier, false, ext.createSubjectKeyIdentifier(keys.getPublic()));
        X509Certificate cert = sign(b, caKeys.getPrivate());
        Path chain = dir.resolve(fileName(name) + ".pem");
        Path key = dir.resolve(fileName(name) + ".key");
        write(chain, List.of(cert));
        writeKey(key, keys.getPrivate());
        return new Issued(cert, keys.getPrivate(), chain, key);
    }

    private static String fileName(String name) {
        return name.toLowerCase(java.util.Locale.ROOT).replaceAll("[^a-z0-9.-]+", "-");
    }

    private static KeyPair newKeyPair() throws GeneralSecurityException {
        KeyPairGenerator g = KeyPairGenerator.getInstance("EC");
        g.initialize(new ECGenParameterSpec("secp256r1"), RANDOM);
        return g.generateKeyPair();
    }

    private static BigInteger serial() {
        return new BigInteger(127, RANDOM).add(BigInteger.ONE);
    }

    private static X509Certificate sign(X509v3CertificateBuilder b, PrivateKey key) throws GeneralSecurityException {
        try {
            ContentSigner signer = new JcaContentSignerBuilder("SHA256withECDSA").build(key);
            return new JcaX509CertificateConverter().getCertificate(b.build(signer));
        } catch (OperatorCreationException e) {
            throw new GeneralSecurityException("cannot sign certificate", e);
        }
    }

    private void write(Path file, List<X509Certificate> certs) throws IOException {
        StringWriter out = new StringWriter();
        try (JcaPEMWriter w = new JcaPEMWriter(out)) {
            for (X509Certificate c : certs) {
                w.writeObject(c);
            }
        }
        Files.writeString(file, out.toString());
    }

    private static void writeKey(Path file, PrivateKey key) throws IOException {
        StringWriter out = new StringWriter();
        try (JcaPEMWriter w = new JcaPEMWriter(out)) {
            w.writeObject(new JcaPKCS8Generator(key, null));
        }
        Files.writeString(file, out.toString());
        file.toFile().setReadable(false, false);
        file.toFile().setReadable(true, true);
    }
}
