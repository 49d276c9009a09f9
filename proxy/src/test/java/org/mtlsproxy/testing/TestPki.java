package org.mtlsproxy.testing;

import static java.util.Objects.requireNonNull;

import io.netty.pkitesting.CertificateBuilder;
import io.netty.pkitesting.CertificateBuilder.KeyUsage;
import io.netty.pkitesting.X509Bundle;
import java.io.IOException;
import java.io.StringWriter;
import java.io.UncheckedIOException;
import java.math.BigInteger;
import java.net.URI;
import java.nio.charset.StandardCharsets;
import java.nio.file.FileAlreadyExistsException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.PosixFilePermissions;
import java.security.GeneralSecurityException;
import java.security.PrivateKey;
import java.security.cert.X509CRL;
import java.security.cert.X509Certificate;
import java.time.Duration;
import java.time.Instant;
import java.util.Comparator;
import java.util.Date;
import java.util.List;
import java.util.concurrent.atomic.AtomicLong;
import java.util.function.Consumer;
import java.util.stream.Stream;
import org.bouncycastle.asn1.x500.X500Name;
import org.bouncycastle.asn1.x509.CRLNumber;
import org.bouncycastle.asn1.x509.CRLReason;
import org.bouncycastle.asn1.x509.Extension;
import org.bouncycastle.cert.X509v2CRLBuilder;
import org.bouncycastle.cert.jcajce.JcaX509CRLConverter;
import org.bouncycastle.openssl.jcajce.JcaPEMWriter;
import org.bouncycastle.operator.ContentSigner;
import org.bouncycastle.operator.OperatorCreationException;
import org.bouncycastle.operator.jcajce.JcaContentSignerBuilder;
import org.junit.jupiter.api.extension.ExtensionContext;
import org.junit.jupiter.api.extension.ParameterContext;
import org.junit.jupiter.api.extension.ParameterResolver;

/**
 * The one test PKI of the JVM: every certificate, key, trust bundle and CRL a TLS test needs, built once with
 * Netty's {@code netty-pkitesting} and written as PEM files under one temporary directory (deleted on exit).
 *
 * <p>Obtain it with {@link #get()}, or let JUnit inject it into a test method or constructor parameter of type
 * {@code TestPki} with {@code @ExtendWith(TestPki.Resolver.class)}. All keys are ECDSA P-256.
 *
 * <p>Three separate hierarchies keep the three trust decisions of the proxy apart:
 * <ul>
 *   <li><b>client</b>: {@link #clientRootCa()} &rarr; {@link #clientIntermediateCa()} &rarr; client leaves. The
 *       proxy trusts {@link #clientRootPem()}; clients present {@link Issued#chainPem()} (leaf + intermediate).</li>
 *   <li><b>server</b>: {@link #serverRootCa()} &rarr; {@link #serverIntermediateCa()} &rarr; {@link #proxyServer()},
 *       the proxy's listener certificate. Clients trust {@link #serverRootPem()}.</li>
 *   <li><b>backend</b>: {@link #backendRootCa()} issues {@link #backendServer()} and the proxy's own client
 *       certificate {@link #proxyClientForBackend()}. The proxy trusts {@link #backendRootPem()}.</li>
 * </ul>
 *
 * <p>Every defective client identity ({@link #expiredClient()}, {@link #notYetValidClient()},
 * {@link #revokedClient()}, {@link #serverOnlyEkuClient()}, {@link #wrongCaClient()}, {@link #selfSignedClient()})
 * presents exactly the subject and SANs of {@link #goodClient()}, so a test that sees one rejected knows the defect
 * was the reason, not an authorization rule.
 *
 * <p>Certificates carry no subject/authority key identifiers ({@code netty-pkitesting} does not add them), so the
 * CRLs written here carry none either: a CRL naming a key identifier its issuer does not have would not be matched
 * to that issuer by the JDK's PKIX revocation checker.
 */
public final class TestPki {

    /** SPIFFE ID (URI SAN) of {@link #goodClient()} and of every defective variant of it. */
    public static final String GOOD_CLIENT_SPIFFE_ID = "spiffe://test.local/ns/prod/sa/orders";
    /** DNS SAN of {@link #goodClient()} and of every defective variant of it. */
    public static final String GOOD_CLIENT_DNS_NAME = "orders.test";
    /** Subject of {@link #goodClient()} and of every defective variant of it. */
    public static final String GOOD_CLIENT_SUBJECT = "CN=orders, OU=prod, O=Acme";
    /** SPIFFE ID (URI SAN) of {@link #otherClient()}. */
    public static final String OTHER_CLIENT_SPIFFE_ID = "spiffe://test.local/ns/dev/sa/intruder";
    /** Subject of {@link #otherClient()}. */
    public static final String OTHER_CLIENT_SUBJECT = "CN=intruder, OU=dev, O=Acme";
    /** Subject of {@link #proxyClientForBackend()}. */
    public static final String PROXY_CLIENT_SUBJECT = "CN=mtls-proxy";
    /** DNS SAN of {@link #backendServer()} and {@link #untrustedBackendServer()}: the backend's TLS server name. */
    public static final String BACKEND_DNS_NAME = "backend.test";
    /** DNS SAN of {@link #proxyServer()} besides {@code localhost}. */
    public static final String PROXY_DNS_NAME = "proxy.test";

    private static final String CLIENT_ROOT_SUBJECT = "CN=Test Client Root CA, O=Acme";
    private static final String CLIENT_INTERMEDIATE_SUBJECT = "CN=Test Client Intermediate CA, O=Acme";
    private static final Duration CA_LIFETIME = Duration.ofDays(365);
    private static final Duration LEAF_LIFETIME = Duration.ofDays(30);
    private static final Duration BACKDATING = Duration.ofDays(1);

    private static TestPki instance;

    private final Path directory;
    private final AtomicLong fileCounter = new AtomicLong();
    private final AtomicLong crlNumber = new AtomicLong();

    private final Issued clientRootCa;
    private final Issued clientIntermediateCa;
    private final Issued goodClient;
    private final Issued otherClient;
    private final Issued expiredClient;
    private final Issued notYetValidClient;
    private final Issued revokedClient;
    private final Issued serverOnlyEkuClient;
    private final Issued wrongCaClient;
    private final Issued selfSignedClient;
    private final Path clientRootPem;
    private final Path clientCrlPem;

    private final Issued serverRootCa;
    private final Issued serverIntermediateCa;
    private final Issued proxyServer;
    private final Path serverRootPem;

    private final Issued backendRootCa;
    private final Issued backendServer;
    private final Issued untrustedBackendServer;
    private final Issued proxyClientForBackend;
    private final Path backendRootPem;

    /**
     * One identity: its {@code netty-pkitesting} bundle and the same material as PEM files.
     *
     * @param bundle   the key pair and certificate path (leaf first, root excluded) with its root
     * @param chainPem the leaf followed by its intermediates, without the root: what a peer presents
     * @param leafPem  the leaf certificate alone (for a CA: the CA certificate itself)
     * @param keyPem   the private key, PEM-encoded PKCS#8 ({@code -----BEGIN PRIVATE KEY-----})
     */
    public record Issued(X509Bundle bundle, Path chainPem, Path leafPem, Path keyPem) {

        /** Validates that no component is null. */
        public Issued {
            requireNonNull(bundle, "bundle");
            requireNonNull(chainPem, "chainPem");
            requireNonNull(leafPem, "leafPem");
            requireNonNull(keyPem, "keyPem");
        }

        /** The leaf certificate (for a CA: the CA certificate itself). */
        public X509Certificate certificate() {
            return bundle.getCertificate();
        }

        /** The leaf followed by its intermediates, without the root; a fresh array. */
        public X509Certificate[] chain() {
            return bundle.getCertificatePath();
        }

        /** The private key of the leaf. */
        public PrivateKey privateKey() {
            return bundle.getKeyPair().getPrivate();
        }

        /** The self-signed root that anchors the chain (for a root CA or a self-signed leaf: itself). */
        public X509Certificate rootCertificate() {
            return bundle.getRootCertificate();
        }

        /** The serial number of the leaf. */
        public BigInteger serialNumber() {
            return certificate().getSerialNumber();
        }

        /** The subject of the leaf in RFC 2253 form, e.g. {@code CN=orders,OU=prod,O=Acme}. */
        public String subject() {
            return certificate().getSubjectX500Principal().getName();
        }
    }

    /**
     * Lets JUnit inject the shared {@link TestPki} into parameters of that type:
     * {@code @ExtendWith(TestPki.Resolver.class)}.
     */
    public static final class Resolver implements ParameterResolver {

        /** Supports parameters declared as {@link TestPki}. */
        @Override
        public boolean supportsParameter(ParameterContext parameterContext, ExtensionContext extensionContext) {
            return parameterContext.getParameter().getType() == TestPki.class;
        }

        /** Returns {@link TestPki#get()}. */
        @Override
        public Object resolveParameter(ParameterContext parameterContext, ExtensionContext extensionContext) {
            return TestPki.get();
        }
    }

    /**
     * The PKI of this JVM, built on first use (a few hundred milliseconds) and shared afterwards.
     *
     * @throws IllegalStateException if the PKI cannot be built or written
     */
    public static synchronized TestPki get() {
        if (instance == null) {
            instance = new TestPki();
        }
        return instance;
    }

    private TestPki() {
        try {
            directory = Files.createTempDirectory("mtls-proxy-test-pki-");
            Runtime.getRuntime().addShutdownHook(new Thread(() -> deleteRecursively(directory), "test-pki-cleanup"));

            Instant now = Instant.now();

            clientRootCa = write("client-root-ca", ca(CLIENT_ROOT_SUBJECT, now).buildSelfSigned());
            clientIntermediateCa = write("client-intermediate-ca",
                    ca(CLIENT_INTERMEDIATE_SUBJECT, now).buildIssuedBy(clientRootCa.bundle()));
            goodClient = write("good-client", goodClientIdentity(now).buildIssuedBy(clientIntermediateCa.bundle()));
            otherClient = write("other-client", leaf(OTHER_CLIENT_SUBJECT, now)
                    .addSanUriName(URI.create(OTHER_CLIENT_SPIFFE_ID))
                    .addExtendedKeyUsageClientAuth()
                    .buildIssuedBy(clientIntermediateCa.bundle()));
            expiredClient = write("expired-client", goodClientIdentity(now)
                    .notBefore(now.minus(Duration.ofDays(2)))
                    .notAfter(now.minus(Duration.ofDays(1)))
                    .buildIssuedBy(clientIntermediateCa.bundle()));
            notYetValidClient = write("not-yet-valid-client", goodClientIdentity(now)
                    .notBefore(now.plus(Duration.ofDays(1)))
                    .notAfter(now.plus(Duration.ofDays(2)))
                    .buildIssuedBy(clientIntermediateCa.bundle()));
            revokedClient = write("revoked-client",
                    goodClientIdentity(now).buildIssuedBy(clientIntermediateCa.bundle()));
            serverOnlyEkuClient = write("server-only-eku-client", leaf(GOOD_CLIENT_SUBJECT, now)
                    .addSanUriName(URI.create(GOOD_CLIENT_SPIFFE_ID))
                    .addSanDnsName(GOOD_CLIENT_DNS_NAME)
                    .addExtendedKeyUsageServerAuth()
                    .buildIssuedBy(clientIntermediateCa.bundle()));

            // An impostor hierarchy whose names copy the real client CAs: only the signatures tell them apart.
            X509Bundle impostorRoot = ca(CLIENT_ROOT_SUBJECT, now).buildSelfSigned();
            X509Bundle impostorIntermediate =
                    ca(CLIENT_INTERMEDIATE_SUBJECT, now).buildIssuedBy(impostorRoot);
            wrongCaClient = write("wrong-ca-client", goodClientIdentity(now).buildIssuedBy(impostorIntermediate));
            // Marked as a CA, as `openssl req -x509` does by default; netty-pkitesting self-signs only CAs.
            selfSignedClient = write("self-signed-client",
                    goodClientIdentity(now).setIsCertificateAuthority(true).buildSelfSigned());

            clientRootPem = writeCertificates("client-root.pem", clientRootCa.certificate());
            clientCrlPem = writeCrl(clientIntermediateCa, List.of(revokedClient), now.plus(Duration.ofDays(7)));

            serverRootCa = write("server-root-ca", ca("CN=Test Server Root CA, O=Acme", now).buildSelfSigned());
            serverIntermediateCa = write("server-intermediate-ca",
                    ca("CN=Test Server Intermediate CA, O=Acme", now).buildIssuedBy(serverRootCa.bundle()));
            proxyServer = write("proxy-server", leaf("CN=" + PROXY_DNS_NAME + ", O=Acme", now)
                    .addSanDnsName("localhost")
                    .addSanDnsName(PROXY_DNS_NAME)
                    .addSanIpAddress("127.0.0.1")
                    .addSanIpAddress("::1")
                    .addExtendedKeyUsageServerAuth()
                    .buildIssuedBy(serverIntermediateCa.bundle()));
            serverRootPem = writeCertificates("server-root.pem", serverRootCa.certificate());

            backendRootCa = write("backend-root-ca", ca("CN=Test Backend Root CA, O=Acme", now).buildSelfSigned());
            backendServer = write("backend-server", backendServerIdentity(now).buildIssuedBy(backendRootCa.bundle()));
            X509Bundle untrustedBackendRoot = ca("CN=Untrusted Backend Root CA, O=Elsewhere", now).buildSelfSigned();
            untrustedBackendServer = write("untrusted-backend-server",
                    backendServerIdentity(now).buildIssuedBy(untrustedBackendRoot));
            proxyClientForBackend = write("proxy-client-for-backend", leaf(PROXY_CLIENT_SUBJECT, now)
                    .addExtendedKeyUsageClientAuth()
                    .buildIssuedBy(backendRootCa.bundle()));
            backendRootPem = writeCertificates("backend-root.pem", backendRootCa.certificate());
        } catch (Exception e) {
            throw new IllegalStateException("Cannot build the test PKI", e);
        }
    }

    /** The directory holding every file this PKI writes; deleted when the JVM exits. */
    public Path directory() {
        return directory;
    }

    /** Self-signed root of the client hierarchy. */
    public Issued clientRootCa() {
        return clientRootCa;
    }

    /** Intermediate CA, issued by {@link #clientRootCa()}, that issues every client leaf. */
    public Issued clientIntermediateCa() {
        return clientIntermediateCa;
    }

    /** PEM file holding {@link #clientRootCa()} alone: the proxy's client trust bundle. */
    public Path clientRootPem() {
        return clientRootPem;
    }

    /**
     * The allowed client: {@value #GOOD_CLIENT_SUBJECT}, URI SAN {@value #GOOD_CLIENT_SPIFFE_ID}, DNS SAN
     * {@value #GOOD_CLIENT_DNS_NAME}, EKU clientAuth, issued by {@link #clientIntermediateCa()}.
     */
    public Issued goodClient() {
        return goodClient;
    }

    /**
     * A valid client of the same hierarchy with another identity: {@value #OTHER_CLIENT_SUBJECT}, URI SAN
     * {@value #OTHER_CLIENT_SPIFFE_ID}, EKU clientAuth. Passes the handshake; authorization must refuse it.
     */
    public Issued otherClient() {
        return otherClient;
    }

    /** {@link #goodClient()}'s identity, valid from two days ago until yesterday. */
    public Issued expiredClient() {
        return expiredClient;
    }

    /** {@link #goodClient()}'s identity, valid from tomorrow until the day after. */
    public Issued notYetValidClient() {
        return notYetValidClient;
    }

    /** {@link #goodClient()}'s identity under its own serial number, listed in {@link #clientCrlPem()}. */
    public Issued revokedClient() {
        return revokedClient;
    }

    /** {@link #goodClient()}'s identity with EKU serverAuth only (no clientAuth). */
    public Issued serverOnlyEkuClient() {
        return serverOnlyEkuClient;
    }

    /**
     * {@link #goodClient()}'s identity issued by an impostor intermediate and root whose subjects copy those of
     * {@link #clientIntermediateCa()} and {@link #clientRootCa()}: same names, different keys.
     */
    public Issued wrongCaClient() {
        return wrongCaClient;
    }

    /**
     * {@link #goodClient()}'s identity in a self-signed certificate. Its basic constraints say CA, as those of a
     * certificate made with {@code openssl req -x509} do.
     */
    public Issued selfSignedClient() {
        return selfSignedClient;
    }

    /**
     * PEM CRL ({@code -----BEGIN X509 CRL-----}) signed by {@link #clientIntermediateCa()}, listing the serial of
     * {@link #revokedClient()}, next update in seven days.
     */
    public Path clientCrlPem() {
        return clientCrlPem;
    }

    /** Self-signed root of the proxy listener's hierarchy. */
    public Issued serverRootCa() {
        return serverRootCa;
    }

    /** Intermediate CA, issued by {@link #serverRootCa()}, that issues {@link #proxyServer()}. */
    public Issued serverIntermediateCa() {
        return serverIntermediateCa;
    }

    /**
     * The proxy listener's certificate: DNS SANs {@code localhost} and {@value #PROXY_DNS_NAME}, IP SANs
     * {@code 127.0.0.1} and {@code ::1}, EKU serverAuth; {@link Issued#chainPem()} includes the intermediate.
     */
    public Issued proxyServer() {
        return proxyServer;
    }

    /** PEM file holding {@link #serverRootCa()} alone: what clients of the proxy trust. */
    public Path serverRootPem() {
        return serverRootPem;
    }

    /** Self-signed root of the backend hierarchy. */
    public Issued backendRootCa() {
        return backendRootCa;
    }

    /** The backend's server certificate: DNS SAN {@value #BACKEND_DNS_NAME}, IP SAN {@code 127.0.0.1}, EKU serverAuth. */
    public Issued backendServer() {
        return backendServer;
    }

    /** PEM file holding {@link #backendRootCa()} alone: what the proxy trusts for backends. */
    public Path backendRootPem() {
        return backendRootPem;
    }

    /** Same names as {@link #backendServer()}, issued by an unrelated root the proxy does not trust. */
    public Issued untrustedBackendServer() {
        return untrustedBackendServer;
    }

    /** The client certificate the proxy presents to backends: {@value #PROXY_CLIENT_SUBJECT}, EKU clientAuth. */
    public Issued proxyClientForBackend() {
        return proxyClientForBackend;
    }

    /**
     * Issues an extra client leaf under {@link #clientIntermediateCa()} with EKU clientAuth.
     *
     * @param subject    the subject DN, e.g. {@code "CN=billing, OU=prod, O=Acme"}
     * @param customizer adds SANs (e.g. {@code b.addSanUriName(URI.create("spiffe://test.local/ns/prod/sa/billing"))})
     *                   or extensions, or overrides validity or serial number
     */
    public Issued issue(String subject, Consumer<CertificateBuilder> customizer) {
        requireNonNull(customizer, "customizer");
        return issue(clientIntermediateCa, subject, builder -> {
            builder.addExtendedKeyUsageClientAuth();
            customizer.accept(builder);
        });
    }

    /**
     * Issues an extra leaf under any CA of this PKI. Defaults: ECDSA P-256, valid from a day ago for 30 days, key
     * usage digitalSignature, and no extended key usage unless the customizer adds one.
     *
     * @param issuer     the issuing CA, e.g. {@link #backendRootCa()}
     * @param subject    the subject DN
     * @param customizer adds SANs, extended key usages or extensions, or overrides validity or serial number
     */
    public Issued issue(Issued issuer, String subject, Consumer<CertificateBuilder> customizer) {
        requireNonNull(issuer, "issuer");
        requireNonNull(customizer, "customizer");
        CertificateBuilder builder = leaf(subject, Instant.now());
        customizer.accept(builder);
        try {
            return write("issued-" + fileCounter.incrementAndGet(), builder.buildIssuedBy(issuer.bundle()));
        } catch (Exception e) {
            throw new IllegalStateException("Cannot issue a certificate for " + subject, e);
        }
    }

    /**
     * Creates an extra self-signed root CA, unrelated to every other hierarchy of this PKI (e.g. a partner's), with
     * the same profile as the built-in CAs. Issue leaves under it with {@link #issue(Issued, String, Consumer)}.
     *
     * @param subject the subject DN, e.g. {@code "CN=Partner A Root CA, O=Partner"}
     */
    public Issued newRootCa(String subject) {
        requireNonNull(subject, "subject");
        try {
            return write("root-ca-" + fileCounter.incrementAndGet(), ca(subject, Instant.now()).buildSelfSigned());
        } catch (Exception e) {
            throw new IllegalStateException("Cannot create a root CA for " + subject, e);
        }
    }

    /**
     * Writes a PEM CRL signed by {@code issuer} (SHA256withECDSA) listing the serial numbers of {@code revoked}
     * (reason keyCompromise, revoked an hour ago), this update an hour ago, with a fresh CRL number.
     *
     * @param issuer     the CA that signs the CRL; normally the direct issuer of the revoked certificates
     * @param revoked    the certificates to list; may be empty
     * @param nextUpdate the CRL's nextUpdate; a past instant makes a stale CRL
     * @return the new file
     */
    public Path writeCrl(Issued issuer, List<Issued> revoked, Instant nextUpdate) {
        requireNonNull(issuer, "issuer");
        requireNonNull(revoked, "revoked");
        requireNonNull(nextUpdate, "nextUpdate");
        Instant thisUpdate = Instant.now().minus(Duration.ofHours(1));
        X509Certificate issuerCertificate = issuer.certificate();
        X509v2CRLBuilder crlBuilder = new X509v2CRLBuilder(
                X500Name.getInstance(issuerCertificate.getSubjectX500Principal().getEncoded()), Date.from(thisUpdate));
        crlBuilder.setNextUpdate(Date.from(nextUpdate));
        for (Issued certificate : revoked) {
            crlBuilder.addCRLEntry(certificate.serialNumber(), Date.from(thisUpdate), CRLReason.keyCompromise);
        }
        try {
            crlBuilder.addExtension(Extension.cRLNumber, false,
                    new CRLNumber(BigInteger.valueOf(crlNumber.incrementAndGet())));
            ContentSigner signer = new JcaContentSignerBuilder("SHA256withECDSA").build(issuer.privateKey());
            X509CRL crl = new JcaX509CRLConverter().getCRL(crlBuilder.build(signer));
            return writeFile("crl-" + fileCounter.incrementAndGet() + ".pem", toPem(crl));
        } catch (IOException | GeneralSecurityException | OperatorCreationException e) {
            throw new IllegalStateException("Cannot write a CRL signed by " + issuer.subject(), e);
        }
    }

    /**
     * Writes the given certificates, in order, to a new PEM file under {@link #directory()}: e.g. a trust bundle
     * with several roots.
     *
     * @param fileName a file name not used before in this PKI, e.g. {@code "client-and-backend-roots.pem"}
     */
    public Path writeCertificates(String fileName, X509Certificate... certificates) {
        requireNonNull(certificates, "certificates");
        StringBuilder pem = new StringBuilder();
        for (X509Certificate certificate : certificates) {
            pem.append(toPem(certificate));
        }
        return writeFile(fileName, pem.toString());
    }

    private static CertificateBuilder ca(String subject, Instant now) {
        return new CertificateBuilder()
                .ecp256()
                .subject(subject)
                .notBefore(now.minus(BACKDATING))
                .notAfter(now.plus(CA_LIFETIME))
                .setIsCertificateAuthority(true)
                .setKeyUsage(true, KeyUsage.keyCertSign, KeyUsage.cRLSign, KeyUsage.digitalSignature);
    }

    private static CertificateBuilder leaf(String subject, Instant now) {
        return new CertificateBuilder()
                .ecp256()
                .subject(subject)
                .notBefore(now.minus(BACKDATING))
                .notAfter(now.plus(LEAF_LIFETIME))
                .setKeyUsage(true, KeyUsage.digitalSignature);
    }

    private static CertificateBuilder goodClientIdentity(Instant now) {
        return leaf(GOOD_CLIENT_SUBJECT, now)
                .addSanUriName(URI.create(GOOD_CLIENT_SPIFFE_ID))
                .addSanDnsName(GOOD_CLIENT_DNS_NAME)
                .addExtendedKeyUsageClientAuth();
    }

    private static CertificateBuilder backendServerIdentity(Instant now) {
        return leaf("CN=" + BACKEND_DNS_NAME + ", O=Acme", now)
                .addSanDnsName(BACKEND_DNS_NAME)
                .addSanIpAddress("127.0.0.1")
                .addExtendedKeyUsageServerAuth();
    }

    private Issued write(String name, X509Bundle bundle) {
        Path chain = writeFile(name + ".chain.pem", bundle.getCertificatePathPEM());
        Path leaf = writeFile(name + ".cert.pem", bundle.getCertificatePEM());
        Path key = writeFile(name + ".key.pem", bundle.getPrivateKeyPEM());
        restrictToOwner(key);
        return new Issued(bundle, chain, leaf, key);
    }

    private Path writeFile(String fileName, String content) {
        requireNonNull(fileName, "fileName");
        Path file = directory.resolve(fileName);
        if (!file.getParent().equals(directory)) {
            throw new IllegalArgumentException("fileName: " + fileName + " (expected: a plain file name)");
        }
        try {
            return Files.writeString(Files.createFile(file), content, StandardCharsets.US_ASCII);
        } catch (FileAlreadyExistsException e) {
            throw new IllegalArgumentException("fileName: " + fileName + " (expected: a name not used before)", e);
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    private static void restrictToOwner(Path key) {
        try {
            Files.setPosixFilePermissions(key, PosixFilePermissions.fromString("rw-------"));
        } catch (UnsupportedOperationException | IOException e) {
            // Not a POSIX file system: the temporary directory is private to the user anyway.
        }
    }

    private static String toPem(Object object) {
        StringWriter out = new StringWriter();
        try (JcaPEMWriter writer = new JcaPEMWriter(out)) {
            writer.writeObject(object);
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
        return out.toString();
    }

    private static void deleteRecursively(Path root) {
        try (Stream<Path> files = Files.walk(root)) {
            for (Path file : files.sorted(Comparator.reverseOrder()).toList()) {
                Files.deleteIfExists(file);
            }
        } catch (IOException e) {
            // Best effort at JVM exit: the directory lives under java.io.tmpdir.
        }
    }
}
