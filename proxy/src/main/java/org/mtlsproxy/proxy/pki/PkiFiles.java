package org.mtlsproxy.proxy.pki;

import java.io.IOException;
import java.io.StringWriter;
import java.nio.ByteBuffer;
import java.nio.channels.SeekableByteChannel;
import java.nio.charset.StandardCharsets;
import java.nio.file.AtomicMoveNotSupportedException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.nio.file.StandardOpenOption;
import java.nio.file.attribute.FileAttribute;
import java.nio.file.attribute.PosixFilePermission;
import java.nio.file.attribute.PosixFilePermissions;
import java.security.PrivateKey;
import java.security.cert.X509CRL;
import java.security.cert.X509Certificate;
import java.util.List;
import java.util.Set;
import org.bouncycastle.openssl.jcajce.JcaPEMWriter;
import org.bouncycastle.openssl.jcajce.JcaPKCS8Generator;
import org.mtlsproxy.config.PemFiles;

/** PEM encoding and the file writes of the PKI: keys 0600 and never overwritten, public files atomically replaced. */
final class PkiFiles {

    static final Set<PosixFilePermission> PRIVATE = PosixFilePermissions.fromString("rw-------");
    static final Set<PosixFilePermission> PUBLIC = PosixFilePermissions.fromString("rw-r--r--");

    private PkiFiles() {
    }

    static String pem(List<X509Certificate> certs) throws IOException {
        StringWriter out = new StringWriter();
        try (JcaPEMWriter w = new JcaPEMWriter(out)) {
            for (X509Certificate c : certs) {
                w.writeObject(c);
            }
        }
        return out.toString();
    }

    static String pem(X509CRL crl) throws IOException {
        StringWriter out = new StringWriter();
        try (JcaPEMWriter w = new JcaPEMWriter(out)) {
            w.writeObject(crl);
        }
        return out.toString();
    }

    /** The key as PKCS#8 PEM ({@code -----BEGIN PRIVATE KEY-----}), the one form every TLS stack reads. */
    static String pkcs8Pem(PrivateKey key) throws IOException {
        StringWriter out = new StringWriter();
        try (JcaPEMWriter w = new JcaPEMWriter(out)) {
            w.writeObject(new JcaPKCS8Generator(key, null));
        }
        return out.toString();
    }

    /**
     * Creates {@code file} with {@code content}; fails if it exists. On a POSIX file system the permissions are set
     * as the file is created, so a private key is never readable by others, not even for a moment.
     */
    static void createNew(Path file, String content, Set<PosixFilePermission> permissions) throws IOException {
        Set<StandardOpenOption> options = Set.of(StandardOpenOption.CREATE_NEW, StandardOpenOption.WRITE);
        FileAttribute<?>[] attrs = isPosix(file)
                ? new FileAttribute<?>[] {PosixFilePermissions.asFileAttribute(permissions)}
                : new FileAttribute<?>[0];
        try (SeekableByteChannel ch = Files.newByteChannel(file, options, attrs)) {
            ByteBuffer bytes = ByteBuffer.wrap(content.getBytes(StandardCharsets.US_ASCII));
            while (bytes.hasRemaining()) {
                ch.write(bytes);
            }
        }
        if (isPosix(file)) {
            // The umask may have removed bits from what creation asked for; set exactly what was meant.
            Files.setPosixFilePermissions(file, permissions);
        }
    }

    /**
     * Replaces {@code file} by renaming a complete temp file over it: a proxy watching the directory reads the old
     * or the new content, never a partial one.
     */
    static void writeAtomically(Path file, String content) throws IOException {
        Path dir = file.toAbsolutePath().getParent();
        Path tmp = dir.resolve("." + file.getFileName() + ".tmp");
        Files.deleteIfExists(tmp);
        createNew(tmp, content, PUBLIC);
        try {
            Files.move(tmp, file, StandardCopyOption.ATOMIC_MOVE, StandardCopyOption.REPLACE_EXISTING);
        } catch (AtomicMoveNotSupportedException e) {
            Files.move(tmp, file, StandardCopyOption.REPLACE_EXISTING);
        } finally {
            Files.deleteIfExists(tmp);
        }
    }

    /** The first certificate of a PEM file, read as the proxy reads its own ({@link PemFiles}). */
    static X509Certificate readCertificate(Path file) throws PkiException {
        try {
            return PemFiles.readCertificates(file).get(0);
        } catch (IOException e) {
            throw new PkiException(e.getMessage());
        }
    }

    /** The private key of a PEM file (PKCS#8, PKCS#1 or SEC1), read as the proxy reads its own. */
    static PrivateKey readPrivateKey(Path file) throws PkiException {
        try {
            return PemFiles.readPrivateKey(file);
        } catch (IOException e) {
            throw new PkiException(e.getMessage());
        }
    }

    static void requireAbsent(Path file, String what) throws PkiException {
        if (Files.exists(file)) {
            throw new PkiException(file + " already exists; refusing to overwrite " + what);
        }
    }

    static boolean isPosix(Path file) {
        return file.getFileSystem().supportedFileAttributeViews().contains("posix");
    }
}
