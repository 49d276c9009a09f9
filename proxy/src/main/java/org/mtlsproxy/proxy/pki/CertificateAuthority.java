package org.mtlsproxy.proxy.pki;

import static java.util.Objects.requireNonNull;

import io.netty.util.NetUtil;
import java.io.IOException;
import java.math.BigInteger;
import java.nio.channels.FileChannel;
import java.nio.channels.FileLock;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.security.GeneralSecurityException;
import java.security.KeyPair;
import java.security.PrivateKey;
import java.security.PublicKey;
import java.security.SecureRandom;
import java.security.cert.X509CRL;
import java.security.cert.X509Certificate;
import java.time.Clock;
import java.time.Duration;
import java.time.Instant;
import java.time.temporal.ChronoUnit;
import java.util.ArrayList;
import java.util.Date;
import java.util.List;
import java.util.Optional;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.locks.ReentrantLock;
import org.bouncycastle.asn1.DEROctetString;
import org.bouncycastle.asn1.x500.X500Name;
import org.bouncycastle.asn1.x500.X500NameBuilder;
import org.bouncycastle.asn1.x500.style.BCStyle;
import org.bouncycastle.asn1.x509.BasicConstraints;
import org.bouncycastle.asn1.x509.CRLNumber;
import org.bouncycastle.asn1.x509.ExtendedKeyUsage;
import org.bouncycastle.asn1.x509.Extension;
import org.bouncycastle.asn1.x509.GeneralName;
import org.bouncycastle.asn1.x509.GeneralNames;
import org.bouncycastle.asn1.x509.KeyPurposeId;
import org.bouncycastle.asn1.x509.KeyUsage;
import org.bouncycastle.cert.X509CRLHolder;
import org.bouncycastle.cert.X509v2CRLBuilder;
import org.bouncycastle.cert.X509v3CertificateBuilder;
import org.bouncycastle.cert.jcajce.JcaX509CRLConverter;
import org.bouncycastle.cert.jcajce.JcaX509CertificateConverter;
import org.bouncycastle.cert.jcajce.JcaX509ExtensionUtils;
import org.bouncycastle.cert.jcajce.JcaX509v2CRLBuilder;
import org.bouncycastle.cert.jcajce.JcaX509v3CertificateBuilder;
import org.bouncycastle.operator.ContentSigner;
import org.bouncycastle.operator.OperatorCreationException;
import org.bouncycastle.operator.jcajce.JcaContentSignerBuilder;
import org.mtlsproxy.config.PemFiles;

/**
 * A two-level CA in one directory: a root that signs only the intermediate, and an intermediate that signs every
 * leaf and the CRL. What the directory holds:
 * <pre>
 * root-ca.pem          the root: what clients and the proxy trust (ca-bundle, curl --cacert)
 * root-ca.key          the root's key (0600); only `init` uses it, so it can be moved offline afterwards
 * intermediate-ca.pem  the intermediate (CA:true, pathLen 0), signed by the root
 * intermediate-ca.key  its key (0600); signs leaves and CRLs
 * crl.pem              the intermediate's CRL: every revoked serial, a CRL number and a nextUpdate
 * pki.json             key type, last CRL number, every issued leaf (serial, name, validity, revocation)
 * pki.lock             serializes concurrent commands on the directory
 * NAME.key NAME.pem NAME-chain.pem   per leaf: key (PKCS#8, 0600), certificate, certificate + intermediate
 * </pre>
 * Authority key identifiers carry the key identifier only (no issuer name and serial), so a re-issued or
 * cross-signed CA certificate with the same key still matches. Serials are random 128-bit positive integers
 * (unique within the directory; the CA/Browser Forum asks for at least 64 random bits); they print as lower-case
 * hex, the form the proxy logs a revoked serial in. Nothing is ever overwritten except {@code crl.pem} and
 * {@code pki.json}, which are replaced atomically.
 *
 * <p>Every mutating operation holds an exclusive lock on {@code pki.lock} and re-reads {@code pki.json}, so two
 * commands run at once do not lose each other's work.
 */
public final class CertificateAuthority {

    public static final String ROOT_PEM = "root-ca.pem";
    public static final String ROOT_KEY = "root-ca.key";
    public static final String INTERMEDIATE_PEM = "intermediate-ca.pem";
    public static final String INTERMEDIATE_KEY = "intermediate-ca.key";
    public static final String CRL_PEM = "crl.pem";
    public static final String STATE = "pki.json";
    static final String LOCK = "pki.lock";

    /** How long a CRL is valid when nobody says otherwise. */
    public static final Duration DEFAULT_CRL_VALIDITY = Duration.ofDays(30);

    /** notBefore lies this far in the past, so a peer whose clock is slightly behind accepts a fresh certificate. */
    static final Duration BACKDATE = Duration.ofMinutes(5);

    private static final ConcurrentHashMap<Path, ReentrantLock> JVM_LOCKS = new ConcurrentHashMap<>();

    private static final List<String> CA_FILES = List.of(STATE, ROOT_PEM, ROOT_KEY, INTERMEDIATE_PEM,
            INTERMEDIATE_KEY, CRL_PEM);

    private final Path dir;
    private final Clock clock;
    private final SecureRandom random;
    private final X509Certificate root;
    private final X509Certificate intermediate;
    private final PrivateKey intermediateKey;

    /**
     * What {@link #init} creates.
     *
     * @param name                 the CA's name: subjects {@code CN=<name> Root CA} and
     *                             {@code CN=<name> Intermediate CA}, both with {@code O=<name>}
     * @param keyType              the CAs' key type, and the default of leaves
     * @param rootValidity         how long the root is valid
     * @param intermediateValidity how long the intermediate is valid; at most {@code rootValidity}
     * @param crlValidity          nextUpdate of the first (empty) CRL
     */
    public record InitOptions(String name, KeyType keyType, Duration rootValidity, Duration intermediateValidity,
            Duration crlValidity) {
        public InitOptions {
            requireNonNull(name, "name");
            requireNonNull(keyType, "keyType");
            requireNonNull(rootValidity, "rootValidity");
            requireNonNull(intermediateValidity, "intermediateValidity");
            requireNonNull(crlValidity, "crlValidity");
        }
    }

    /**
     * A leaf just issued and written.
     *
     * @param certFile  {@code NAME.pem}: the leaf alone
     * @param chainFile {@code NAME-chain.pem}: the leaf, then the intermediate; what a TLS peer presents
     * @param keyFile   {@code NAME.key}: PKCS#8, mode 0600
     */
    public record Issued(LeafRequest.Kind kind, String name, X509Certificate certificate,
            X509Certificate intermediate, PrivateKey key, Path keyFile, Path certFile, Path chainFile) {

        /** Leaf first, then the intermediate (the root is the peer's trust anchor and is not sent). */
        public X509Certificate[] chain() {
            return new X509Certificate[] {certificate, intermediate};
        }

        public String serialHex() {
            return certificate.getSerialNumber().toString(16);
        }
    }

    /**
     * A CRL just written.
     *
     * @param revoked the serials it lists
     */
    public record CrlWritten(Path file, BigInteger number, List<BigInteger> revoked, Instant thisUpdate,
            Instant nextUpdate) {
    }

    private CertificateAuthority(Path dir, Clock clock, X509Certificate root, X509Certificate intermediate,
            PrivateKey intermediateKey) {
        this.dir = dir;
        this.clock = clock;
        this.random = new SecureRandom();
        this.root = root;
        this.intermediate = intermediate;
        this.intermediateKey = intermediateKey;
    }

    /** {@link #init(Path, InitOptions, Clock)} with the system clock. */
    public static CertificateAuthority init(Path dir, InitOptions options)
            throws PkiException, IOException, GeneralSecurityException {
        return init(dir, options, Clock.systemUTC());
    }

    /**
     * Creates the root and intermediate CAs, an empty CRL and the state file in {@code dir} (created if missing).
     *
     * @throws PkiException if {@code dir} is a file, already holds a CA, or the validities do not nest
     */
    public static CertificateAuthority init(Path dir, InitOptions o, Clock clock)
            throws PkiException, IOException, GeneralSecurityException {
        requireNonNull(dir, "dir");
        requireNonNull(o, "options");
        if (Files.exists(dir) && !Files.isDirectory(dir)) {
            throw new PkiException(dir + " is not a directory (expected: a new or existing directory for the CA)");
        }
        if (o.name().isBlank()) {
            throw new PkiException("CA name is empty (expected: e.g. --name \"Acme\")");
        }
        requireAtLeastADay(o.rootValidity(), "root validity");
        requireAtLeastADay(o.intermediateValidity(), "intermediate validity");
        requireAtLeastADay(o.crlValidity(), "CRL validity");
        if (o.intermediateValidity().compareTo(o.rootValidity()) > 0) {
            throw new PkiException("intermediate validity " + o.intermediateValidity().toDays() + " days exceeds the "
                    + "root's " + o.rootValidity().toDays() + " days (expected: at most the root's)");
        }
        refuseExistingCa(dir);
        Files.createDirectories(dir);
        try (FileLock ignored = lock(dir)) {
            refuseExistingCa(dir);
            SecureRandom random = new SecureRandom();
            Instant now = clock.instant().truncatedTo(ChronoUnit.SECONDS);
            Instant notBefore = now.minus(BACKDATE);
            JcaX509ExtensionUtils ext = new JcaX509ExtensionUtils();

            KeyPair rootKeys = o.keyType().generate(random);
            X500Name rootName = caName(o.name() + " Root CA", o.name());
            X509Certificate root = sign(new JcaX509v3CertificateBuilder(rootName, newSerial(random, List.of()),
                    Date.from(notBefore), Date.from(now.plus(o.rootValidity())), rootName, rootKeys.getPublic())
                    // pathLen 1: one level of CA below the root (the intermediate), no deeper.
                    .addExtension(Extension.basicConstraints, true, new BasicConstraints(1))
                    .addExtension(Extension.keyUsage, true, new KeyUsage(KeyUsage.keyCertSign | KeyUsage.cRLSign))
                    .addExtension(Extension.subjectKeyIdentifier, false,
                            ext.createSubjectKeyIdentifier(rootKeys.getPublic())), rootKeys.getPrivate());

            KeyPair intKeys = o.keyType().generate(random);
            X509Certificate intermediate = sign(new JcaX509v3CertificateBuilder(root,
                    newSerial(random, List.of(root.getSerialNumber())), Date.from(notBefore),
                    Date.from(now.plus(o.intermediateValidity())),
                    caName(o.name() + " Intermediate CA", o.name()), intKeys.getPublic())
                    // pathLen 0: the intermediate signs leaves only.
                    .addExtension(Extension.basicConstraints, true, new BasicConstraints(0))
                    .addExtension(Extension.keyUsage, true, new KeyUsage(KeyUsage.keyCertSign | KeyUsage.cRLSign))
                    .addExtension(Extension.subjectKeyIdentifier, false,
                            ext.createSubjectKeyIdentifier(intKeys.getPublic()))
                    .addExtension(Extension.authorityKeyIdentifier, false,
                            ext.createAuthorityKeyIdentifier(root.getPublicKey())),
                    rootKeys.getPrivate());

            PkiFiles.createNew(dir.resolve(ROOT_KEY), PkiFiles.pkcs8Pem(rootKeys.getPrivate()), PkiFiles.PRIVATE);
            PkiFiles.createNew(dir.resolve(ROOT_PEM), PkiFiles.pem(List.of(root)), PkiFiles.PUBLIC);
            PkiFiles.createNew(dir.resolve(INTERMEDIATE_KEY), PkiFiles.pkcs8Pem(intKeys.getPrivate()),
                    PkiFiles.PRIVATE);
            PkiFiles.createNew(dir.resolve(INTERMEDIATE_PEM), PkiFiles.pem(List.of(intermediate)), PkiFiles.PUBLIC);
            PkiState state = new PkiState(o.keyType(), BigInteger.ONE, List.of());
            state.write(dir.resolve(STATE));
            CertificateAuthority ca = new CertificateAuthority(dir, clock, root, intermediate, intKeys.getPrivate());
            ca.writeCrlFile(state, BigInteger.ONE, o.crlValidity());
            return ca;
        }
    }

    /** {@link #open(Path, Clock)} with the system clock. */
    public static CertificateAuthority open(Path dir) throws PkiException, IOException, GeneralSecurityException {
        return open(dir, Clock.systemUTC());
    }

    /**
     * Opens the CA that {@link #init} made in {@code dir}. Reads the root and intermediate certificates and the
     * intermediate's key (not the root's), and checks that they belong together.
     *
     * @throws PkiException if {@code dir} is missing, not initialized, or its files do not fit together
     */
    public static CertificateAuthority open(Path dir, Clock clock)
            throws PkiException, IOException, GeneralSecurityException {
        requireNonNull(dir, "dir");
        if (!Files.isDirectory(dir)) {
            throw new PkiException("PKI directory " + dir + " does not exist (expected: a directory made by "
                    + "`mtls-proxy pki init " + dir + "`; or pass --dir)");
        }
        for (String f : List.of(STATE, ROOT_PEM, INTERMEDIATE_PEM, INTERMEDIATE_KEY)) {
            if (!Files.isRegularFile(dir.resolve(f))) {
                throw new PkiException(dir + " is not an initialized PKI: " + f + " is missing (expected: run "
                        + "`mtls-proxy pki init " + dir + "` first, or pass --dir)");
            }
        }
        X509Certificate root = PkiFiles.readCertificate(dir.resolve(ROOT_PEM));
        X509Certificate intermediate = PkiFiles.readCertificate(dir.resolve(INTERMEDIATE_PEM));
        PrivateKey key = PkiFiles.readPrivateKey(dir.resolve(INTERMEDIATE_KEY));
        try {
            intermediate.verify(root.getPublicKey());
        } catch (GeneralSecurityException e) {
            throw new PkiException(dir.resolve(INTERMEDIATE_PEM) + " is not signed by " + dir.resolve(ROOT_PEM));
        }
        if (!PemFiles.keyMatches(key, intermediate)) {
            throw new PkiException(dir.resolve(INTERMEDIATE_KEY) + " does not belong to "
                    + dir.resolve(INTERMEDIATE_PEM));
        }
        PkiState.read(dir.resolve(STATE));
        return new CertificateAuthority(dir, clock, root, intermediate, key);
    }

    public Path directory() {
        return dir;
    }

    public X509Certificate rootCertificate() {
        return root;
    }

    public X509Certificate intermediateCertificate() {
        return intermediate;
    }

    public Path rootPem() {
        return dir.resolve(ROOT_PEM);
    }

    public Path crlPem() {
        return dir.resolve(CRL_PEM);
    }

    /** Every leaf issued so far, in issue order. */
    public List<CertificateEntry> certificates() throws PkiException, IOException {
        return PkiState.read(dir.resolve(STATE)).certificates();
    }

    /**
     * Issues a leaf from the intermediate and writes {@code NAME.key}, {@code NAME.pem} and {@code NAME-chain.pem}.
     *
     * @throws PkiException if one of the files exists or the leaf would outlive the intermediate
     */
    public Issued issue(LeafRequest r) throws PkiException, IOException, GeneralSecurityException {
        requireNonNull(r, "request");
        Path keyFile = dir.resolve(r.name() + ".key");
        Path certFile = dir.resolve(r.name() + ".pem");
        Path chainFile = dir.resolve(r.name() + "-chain.pem");
        for (Path f : List.of(keyFile, certFile, chainFile)) {
            PkiFiles.requireAbsent(f, "certificate " + r.name() + " (remove its files or choose another name)");
        }
        Instant now = clock.instant().truncatedTo(ChronoUnit.SECONDS);
        Instant notAfter = now.plus(r.validity());
        Instant caNotAfter = intermediate.getNotAfter().toInstant();
        if (notAfter.isAfter(caNotAfter)) {
            throw new PkiException("a " + r.validity().toDays() + "-day certificate would outlive the intermediate "
                    + "CA, which expires " + caNotAfter + " (expected: at most "
                    + Duration.between(now, caNotAfter).toDays() + " days)");
        }
        try (FileLock ignored = lock(dir)) {
            PkiState state = PkiState.read(dir.resolve(STATE));
            KeyPair keys = r.keyType().orElse(state.keyType()).generate(random);
            List<BigInteger> taken = new ArrayList<>();
            state.certificates().forEach(e -> taken.add(e.serial()));
            taken.add(root.getSerialNumber());
            taken.add(intermediate.getSerialNumber());
            BigInteger serial = newSerial(random, taken);
            X509Certificate cert = sign(leafBuilder(r, serial, now.minus(BACKDATE), notAfter, keys.getPublic()),
                    intermediateKey);

            List<Path> written = new ArrayList<>();
            try {
                PkiFiles.createNew(keyFile, PkiFiles.pkcs8Pem(keys.getPrivate()), PkiFiles.PRIVATE);
                written.add(keyFile);
                PkiFiles.createNew(certFile, PkiFiles.pem(List.of(cert)), PkiFiles.PUBLIC);
                written.add(certFile);
                PkiFiles.createNew(chainFile, PkiFiles.pem(List.of(cert, intermediate)), PkiFiles.PUBLIC);
                written.add(chainFile);
                state.with(new CertificateEntry(serial, r.kind(), r.name(), cert.getSubjectX500Principal().getName(),
                        cert.getNotBefore().toInstant(), notAfter, Optional.empty(), Optional.empty()))
                        .write(dir.resolve(STATE));
            } catch (IOException | RuntimeException e) {
                // Leave no half-issued certificate behind: files without a record could never be revoked.
                for (Path f : written) {
                    Files.deleteIfExists(f);
                }
                throw e;
            }
            return new Issued(r.kind(), r.name(), cert, intermediate, keys.getPrivate(), keyFile, certFile,
                    chainFile);
        }
    }

    /**
     * Records {@code serial} as revoked. The CRL lists it from the next {@link #writeCrl}.
     *
     * @throws PkiException if no leaf of this PKI has that serial or it is revoked already
     */
    public CertificateEntry revoke(BigInteger serial, RevocationReason reason) throws PkiException, IOException {
        requireNonNull(serial, "serial");
        requireNonNull(reason, "reason");
        try (FileLock ignored = lock(dir)) {
            PkiState state = PkiState.read(dir.resolve(STATE));
            CertificateEntry entry = state.find(serial).orElseThrow(() -> new PkiException("serial "
                    + serial.toString(16) + ": no certificate with this serial was issued from " + dir
                    + " (expected: a serial shown by `mtls-proxy pki list --dir " + dir + "`)"));
            if (entry.revoked()) {
                throw new PkiException("serial " + entry.serialHex() + " (" + entry.name() + ") was already revoked "
                        + "at " + entry.revokedAt().orElseThrow() + " (" + entry.reason().orElseThrow().label() + ")");
            }
            CertificateEntry revoked = entry.revoke(clock.instant().truncatedTo(ChronoUnit.SECONDS), reason);
            state.replace(revoked).write(dir.resolve(STATE));
            return revoked;
        }
    }

    /**
     * Writes {@code crl.pem}: signed by the intermediate, listing every revoked serial, with the next CRL number and
     * a nextUpdate {@code validity} from now. Replaces the file atomically, so a proxy watching it reloads once.
     */
    public CrlWritten writeCrl(Duration validity) throws PkiException, IOException, GeneralSecurityException {
        requireAtLeastADay(validity, "CRL validity");
        try (FileLock ignored = lock(dir)) {
            PkiState state = PkiState.read(dir.resolve(STATE));
            BigInteger number = state.crlNumber().add(BigInteger.ONE);
            // The number is recorded first: a crash in between skips a number, it never reuses one.
            PkiState next = state.withCrlNumber(number);
            next.write(dir.resolve(STATE));
            return writeCrlFile(next, number, validity);
        }
    }

    private CrlWritten writeCrlFile(PkiState state, BigInteger number, Duration validity)
            throws IOException, GeneralSecurityException, PkiException {
        Instant now = clock.instant().truncatedTo(ChronoUnit.SECONDS);
        Instant nextUpdate = now.plus(validity);
        X509v2CRLBuilder b = new JcaX509v2CRLBuilder(intermediate, Date.from(now));
        b.setNextUpdate(Date.from(nextUpdate));
        List<BigInteger> revoked = new ArrayList<>();
        for (CertificateEntry e : state.certificates()) {
            if (e.revoked()) {
                // Reason "unspecified" is written as no reasonCode extension (RFC 5280 section 5.3.1).
                b.addCRLEntry(e.serial(), Date.from(e.revokedAt().orElseThrow()), e.reason().orElseThrow().code());
                revoked.add(e.serial());
            }
        }
        JcaX509ExtensionUtils ext = new JcaX509ExtensionUtils();
        b.addExtension(Extension.cRLNumber, false, new CRLNumber(number));
        b.addExtension(Extension.authorityKeyIdentifier, false,
                ext.createAuthorityKeyIdentifier(intermediate.getPublicKey()));
        X509CRLHolder holder;
        try {
            holder = b.build(signer(intermediateKey));
        } catch (OperatorCreationException e) {
            throw new GeneralSecurityException("cannot sign the CRL", e);
        }
        X509CRL crl = new JcaX509CRLConverter().getCRL(holder);
        Path file = dir.resolve(CRL_PEM);
        PkiFiles.writeAtomically(file, PkiFiles.pem(crl));
        return new CrlWritten(file, number, List.copyOf(revoked), now, nextUpdate);
    }

    private X509v3CertificateBuilder leafBuilder(LeafRequest r, BigInteger serial, Instant notBefore,
            Instant notAfter, PublicKey key) throws GeneralSecurityException, IOException {
        X500NameBuilder subject = new X500NameBuilder(BCStyle.INSTANCE);
        r.org().ifPresent(o -> subject.addRDN(BCStyle.O, o));
        r.ou().ifPresent(ou -> subject.addRDN(BCStyle.OU, ou));
        subject.addRDN(BCStyle.CN, r.cn());
        List<GeneralName> sans = new ArrayList<>();
        r.dnsNames().forEach(d -> sans.add(new GeneralName(GeneralName.dNSName, d)));
        for (String ip : r.ips()) {
            sans.add(new GeneralName(GeneralName.iPAddress,
                    new DEROctetString(NetUtil.createByteArrayFromIpAddressString(ip))));
        }
        r.uris().forEach(u -> sans.add(new GeneralName(GeneralName.uniformResourceIdentifier, u)));
        // keyEncipherment only for RSA servers: TLS 1.2's RSA key exchange; ECDSA keys only ever sign.
        int usage = KeyUsage.digitalSignature;
        if (r.kind() == LeafRequest.Kind.SERVER && "RSA".equals(key.getAlgorithm())) {
            usage |= KeyUsage.keyEncipherment;
        }
        KeyPurposeId eku = r.kind() == LeafRequest.Kind.SERVER
                ? KeyPurposeId.id_kp_serverAuth : KeyPurposeId.id_kp_clientAuth;
        JcaX509ExtensionUtils ext = new JcaX509ExtensionUtils();
        X509v3CertificateBuilder b = new JcaX509v3CertificateBuilder(intermediate, serial, Date.from(notBefore),
                Date.from(notAfter), subject.build(), key)
                .addExtension(Extension.basicConstraints, true, new BasicConstraints(false))
                .addExtension(Extension.keyUsage, true, new KeyUsage(usage))
                .addExtension(Extension.extendedKeyUsage, false, new ExtendedKeyUsage(eku))
                .addExtension(Extension.subjectKeyIdentifier, false, ext.createSubjectKeyIdentifier(key))
                .addExtension(Extension.authorityKeyIdentifier, false,
                        ext.createAuthorityKeyIdentifier(intermediate.getPublicKey()));
        if (!sans.isEmpty()) {
            b.addExtension(Extension.subjectAlternativeName, false,
                    new GeneralNames(sans.toArray(new GeneralName[0])));
        }
        return b;
    }

    private static X500Name caName(String cn, String org) {
        return new X500NameBuilder(BCStyle.INSTANCE).addRDN(BCStyle.O, org).addRDN(BCStyle.CN, cn).build();
    }

    /** A random positive 128-bit serial not in {@code taken} (RFC 5280 4.1.2.2 allows up to 20 octets). */
    private static BigInteger newSerial(SecureRandom random, List<BigInteger> taken) {
        BigInteger serial;
        do {
            serial = new BigInteger(128, random);
        } while (serial.signum() == 0 || taken.contains(serial));
        return serial;
    }

    private static X509Certificate sign(X509v3CertificateBuilder b, PrivateKey key)
            throws GeneralSecurityException, PkiException {
        try {
            return new JcaX509CertificateConverter().getCertificate(b.build(signer(key)));
        } catch (OperatorCreationException e) {
            throw new GeneralSecurityException("cannot sign the certificate", e);
        }
    }

    private static ContentSigner signer(PrivateKey key) throws OperatorCreationException, PkiException {
        return new JcaContentSignerBuilder(KeyType.signatureAlgorithm(key)).build(key);
    }

    private static void refuseExistingCa(Path dir) throws PkiException {
        for (String f : CA_FILES) {
            if (Files.exists(dir.resolve(f))) {
                throw new PkiException(dir + " already holds a CA (" + f + " exists); refusing to overwrite it "
                        + "(expected: a new or empty directory)");
            }
        }
    }

    private static void requireAtLeastADay(Duration d, String what) throws PkiException {
        if (d.compareTo(Duration.ofDays(1)) < 0) {
            throw new PkiException(what + " " + d.toDays() + " days (expected: at least 1 day)");
        }
    }

    /**
     * An exclusive lock on the directory, held until closed: first this JVM's lock for it (a {@link FileLock} is
     * held per JVM, so two threads taking one on the same file would get an OverlappingFileLockException), then
     * the file lock on {@code pki.lock}, which serializes separate processes.
     */
    private static FileLock lock(Path dir) throws IOException {
        ReentrantLock inJvm = JVM_LOCKS.computeIfAbsent(dir.toRealPath(), d -> new ReentrantLock());
        inJvm.lock();
        FileChannel ch = null;
        try {
            ch = FileChannel.open(dir.resolve(LOCK), StandardOpenOption.CREATE, StandardOpenOption.WRITE);
            return new DirectoryLock(ch, ch.lock(), inJvm);
        } catch (IOException | RuntimeException e) {
            if (ch != null) {
                ch.close();
            }
            inJvm.unlock();
            throw e;
        }
    }

    /** The {@link FileLock} of {@link #lock}: releasing it also closes its channel and unlocks the JVM lock. */
    private static final class DirectoryLock extends FileLock {
        private final FileLock lock;
        private final ReentrantLock inJvm;

        DirectoryLock(FileChannel channel, FileLock lock, ReentrantLock inJvm) {
            super(channel, lock.position(), lock.size(), lock.isShared());
            this.lock = lock;
            this.inJvm = inJvm;
        }

        @Override
        public boolean isValid() {
            return lock.isValid();
        }

        @Override
        public void release() throws IOException {
            if (!inJvm.isHeldByCurrentThread()) {
                return;
            }
            try {
                lock.release();
            } finally {
                try {
                    channel().close();
                } finally {
                    inJvm.unlock();
                }
            }
        }
    }
}
