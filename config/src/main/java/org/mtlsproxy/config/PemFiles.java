package org.mtlsproxy.config;

import static java.util.Objects.requireNonNull;

import java.io.ByteArrayInputStream;
import java.io.IOException;
import java.io.InputStreamReader;
import java.io.Reader;
import java.nio.charset.StandardCharsets;
import java.nio.file.AccessDeniedException;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.security.GeneralSecurityException;
import java.security.InvalidKeyException;
import java.security.PrivateKey;
import java.security.SecureRandom;
import java.security.Signature;
import java.security.cert.CRLException;
import java.security.cert.CertificateException;
import java.security.cert.CertificateFactory;
import java.security.cert.X509CRL;
import java.security.cert.X509Certificate;
import java.util.ArrayList;
import java.util.List;

import org.bouncycastle.asn1.pkcs.PrivateKeyInfo;
import org.bouncycastle.cert.X509CRLHolder;
import org.bouncycastle.cert.X509CertificateHolder;
import org.bouncycastle.cert.jcajce.JcaX509CRLConverter;
import org.bouncycastle.cert.jcajce.JcaX509CertificateConverter;
import org.bouncycastle.openssl.PEMEncryptedKeyPair;
import org.bouncycastle.openssl.PEMKeyPair;
import org.bouncycastle.openssl.PEMParser;
import org.bouncycastle.openssl.jcajce.JcaPEMKeyConverter;
import org.bouncycastle.pkcs.PKCS8EncryptedPrivateKeyInfo;

/**
 * Reads certificates, private keys and CRLs from the files operators actually have: PEM with one or more blocks,
 * keys in PKCS#8 ({@code BEGIN PRIVATE KEY}), PKCS#1 ({@code BEGIN RSA PRIVATE KEY}, cert-manager's default) or SEC1
 * ({@code BEGIN EC PRIVATE KEY}, {@code openssl ecparam -genkey}), and CRLs in PEM or DER.
 *
 * <p>BouncyCastle only parses; the keys and certificates returned are the JDK's own, so no provider is registered.
 * Every failure is an {@link IOException} whose message names the file and never contains key material.
 */
public final class PemFiles {

    private static final String PRIVATE_KEY_FORMATS =
            "BEGIN PRIVATE KEY, BEGIN RSA PRIVATE KEY or BEGIN EC PRIVATE KEY";

    private static final SecureRandom RANDOM = new SecureRandom();

    private PemFiles() {
    }

    /**
     * Reads every {@code CERTIFICATE} block of a PEM file, in file order; other blocks are skipped.
     *
     * @throws IOException if the file cannot be read, a block is malformed or there is no certificate
     */
    public static List<X509Certificate> readCertificates(Path file) throws IOException {
        requireNonNull(file, "file");
        return parseCertificates(file.toString(), readAllBytes(file));
    }

    /**
     * Like {@link #readCertificates(Path)}, for PEM that did not come from a file (e.g. an admin request body).
     *
     * @param source names the input in error messages, e.g. {@code "request body"}
     * @throws IOException if a block is malformed or there is no certificate
     */
    public static List<X509Certificate> parseCertificates(String source, byte[] pem) throws IOException {
        requireNonNull(source, "source");
        requireNonNull(pem, "pem");
        JcaX509CertificateConverter converter = new JcaX509CertificateConverter();
        List<X509Certificate> certificates = new ArrayList<>();
        for (Object block : parsePem(source, pem)) {
            if (block instanceof X509CertificateHolder holder) {
                try {
                    certificates.add(converter.getCertificate(holder));
                } catch (CertificateException e) {
                    throw new IOException("invalid certificate in " + source + ": " + e.getMessage(), e);
                }
            }
        }
        if (certificates.isEmpty()) {
            throw new IOException("no PEM certificate found in " + source + " (expected: BEGIN CERTIFICATE)");
        }
        return List.copyOf(certificates);
    }

    /**
     * Reads the first private key of a PEM file: PKCS#8, PKCS#1 (RSA) or SEC1 (EC). Other blocks, such as the
     * {@code EC PARAMETERS} that {@code openssl ecparam} writes first, are skipped.
     *
     * @throws IOException if the file cannot be read, holds no private key or holds an encrypted one
     */
    public static PrivateKey readPrivateKey(Path file) throws IOException {
        requireNonNull(file, "file");
        JcaPEMKeyConverter converter = new JcaPEMKeyConverter();
        for (Object block : readPemBlocks(file)) {
            try {
                if (block instanceof PrivateKeyInfo info) {
                    return converter.getPrivateKey(info);
                }
                if (block instanceof PEMKeyPair pair) {
                    // Only the private half: a SEC1 key may omit its optional public key.
                    return converter.getPrivateKey(pair.getPrivateKeyInfo());
                }
            } catch (IOException e) {
                throw new IOException("unsupported or invalid private key in " + file + ": " + e.getMessage(), e);
            }
            if (block instanceof PEMEncryptedKeyPair || block instanceof PKCS8EncryptedPrivateKeyInfo) {
                throw new IOException("the private key in " + file + " is encrypted (expected: an unencrypted key, "
                        + "e.g. decrypt it with `openssl pkey -in key.pem -out plain.pem`)");
            }
        }
        throw new IOException("no PEM private key found in " + file + " (expected: " + PRIVATE_KEY_FORMATS + ")");
    }

    /**
     * Reads every CRL of a file: PEM ({@code BEGIN X509 CRL}, one or more) or a single DER-encoded CRL.
     *
     * @throws IOException if the file cannot be read or holds no valid CRL
     */
    public static List<X509CRL> readCrls(Path file) throws IOException {
        requireNonNull(file, "file");
        byte[] bytes = readAllBytes(file);
        if (!new String(bytes, StandardCharsets.ISO_8859_1).contains("-----BEGIN")) {
            return List.of(readDerCrl(file, bytes));
        }
        JcaX509CRLConverter converter = new JcaX509CRLConverter();
        List<X509CRL> crls = new ArrayList<>();
        for (Object block : parsePem(file.toString(), bytes)) {
            if (block instanceof X509CRLHolder holder) {
                try {
                    crls.add(converter.getCRL(holder));
                } catch (CRLException e) {
                    throw new IOException("invalid CRL in " + file + ": " + e.getMessage(), e);
                }
            }
        }
        if (crls.isEmpty()) {
            throw new IOException("no CRL found in " + file + " (expected: PEM BEGIN X509 CRL, or DER)");
        }
        return List.copyOf(crls);
    }

    /**
     * Whether {@code key} is the private half of {@code certificate}'s public key, proven by signing random bytes
     * and verifying the signature, so it works alike for RSA, EC, EdDSA and DSA keys.
     *
     * @throws IllegalArgumentException if the key's algorithm is none of those
     */
    public static boolean keyMatches(PrivateKey key, X509Certificate certificate) {
        requireNonNull(key, "key");
        requireNonNull(certificate, "certificate");
        String algorithm = signatureAlgorithm(key.getAlgorithm());
        byte[] challenge = new byte[32];
        RANDOM.nextBytes(challenge);
        try {
            Signature signer = Signature.getInstance(algorithm);
            signer.initSign(key);
            signer.update(challenge);
            byte[] signature = signer.sign();
            Signature verifier = Signature.getInstance(algorithm);
            verifier.initVerify(certificate.getPublicKey());
            verifier.update(challenge);
            return verifier.verify(signature);
        } catch (InvalidKeyException e) {
            // The certificate's key is of another algorithm or curve than the private key.
            return false;
        } catch (GeneralSecurityException e) {
            throw new IllegalStateException("cannot sign with a " + key.getAlgorithm() + " key: " + e.getMessage(), e);
        }
    }

    private static String signatureAlgorithm(String keyAlgorithm) {
        return switch (keyAlgorithm) {
            case "RSA" -> "SHA256withRSA";
            case "EC" -> "SHA256withECDSA";
            case "EdDSA", "Ed25519", "Ed448" -> "EdDSA";
            case "DSA" -> "SHA256withDSA";
            default -> throw new IllegalArgumentException(
                    "unsupported key algorithm " + keyAlgorithm + " (expected: RSA, EC, EdDSA or DSA)");
        };
    }

    private static List<Object> readPemBlocks(Path file) throws IOException {
        return parsePem(file.toString(), readAllBytes(file));
    }

    private static List<Object> parsePem(String file, byte[] bytes) throws IOException {
        List<Object> blocks = new ArrayList<>();
        try (Reader reader = new InputStreamReader(new ByteArrayInputStream(bytes), StandardCharsets.US_ASCII);
                PEMParser parser = new PEMParser(reader)) {
            for (Object block = parser.readObject(); block != null; block = parser.readObject()) {
                blocks.add(block);
            }
        } catch (IOException | RuntimeException e) {
            // PEMParser reports malformed base64 or ASN.1 with unchecked exceptions as well as IOExceptions.
            throw new IOException("malformed PEM in " + file + ": " + e.getMessage(), e);
        }
        return blocks;
    }

    private static X509CRL readDerCrl(Path file, byte[] bytes) throws IOException {
        try {
            return (X509CRL) CertificateFactory.getInstance("X.509").generateCRL(new ByteArrayInputStream(bytes));
        } catch (CRLException | CertificateException | RuntimeException e) {
            throw new IOException("no CRL found in " + file + " (expected: PEM BEGIN X509 CRL, or DER)", e);
        }
    }

    private static byte[] readAllBytes(Path file) throws IOException {
        try {
            return Files.readAllBytes(file);
        } catch (NoSuchFileException e) {
            throw new IOException("cannot read " + file + ": no such file", e);
        } catch (AccessDeniedException e) {
            throw new IOException("cannot read " + file + ": permission denied", e);
        } catch (IOException e) {
            throw new IOException("cannot read " + file + ": " + e.getMessage(), e);
        }
    }
}
