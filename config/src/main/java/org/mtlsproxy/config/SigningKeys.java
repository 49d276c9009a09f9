package org.mtlsproxy.config;

import static java.util.Objects.requireNonNull;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.security.AlgorithmParameters;
import java.security.GeneralSecurityException;
import java.security.Key;
import java.security.KeyFactory;
import java.security.PrivateKey;
import java.security.interfaces.ECPrivateKey;
import java.security.spec.ECGenParameterSpec;
import java.security.spec.ECParameterSpec;
import java.security.spec.PKCS8EncodedKeySpec;
import java.util.Base64;
import javax.crypto.spec.SecretKeySpec;

/**
 * Reads the key of the signed identity header: the config check and every snapshot (so a reload picks up a rotated
 * key) use this one reader.
 *
 * <ul>
 *   <li>ES256: a PEM EC private key on curve P-256 (secp256r1), PKCS#8 ({@code BEGIN PRIVATE KEY}) or SEC1
 *       ({@code BEGIN EC PRIVATE KEY}, what {@code openssl ecparam -genkey} writes);</li>
 *   <li>HS256: the secret, base64 (standard or URL-safe alphabet, padding optional; surrounding whitespace and line
 *       breaks ignored), at least {@value #MIN_SECRET_BYTES} bytes once decoded ({@code openssl rand -base64 32}).
 *       Base64 rather than raw bytes, so an editor's trailing newline cannot silently become part of the key.</li>
 * </ul>
 */
public final class SigningKeys {

    /** RFC 7518 §3.2: an HS256 key must be at least as long as the hash output. */
    public static final int MIN_SECRET_BYTES = 32;

    private SigningKeys() {
    }

    /**
     * The signing key of {@code config}: an EC {@link PrivateKey} for ES256, a {@link SecretKeySpec} for HS256.
     *
     * @throws IOException naming the file and why it cannot be used
     */
    public static Key read(SignedHeaderConfig config) throws IOException {
        requireNonNull(config, "config");
        return switch (config.algorithm()) {
            case ES256 -> readEcP256(config.keyFile());
            case HS256 -> readSecret(config.keyFile());
        };
    }

    private static PrivateKey readEcP256(Path file) throws IOException {
        PrivateKey key = PemFiles.readPrivateKey(file);
        if (!(key instanceof ECPrivateKey ec)) {
            throw new IOException("the key in " + file + " is " + key.getAlgorithm() + " (expected: an EC P-256 key "
                    + "for ES256, e.g. `openssl ecparam -name prime256v1 -genkey -noout -out signing.key`)");
        }
        try {
            if (!sameCurve(ec.getParams(), p256())) {
                throw new IOException("the EC key in " + file + " is not on curve P-256 (expected: prime256v1 / "
                        + "secp256r1 for ES256)");
            }
            // Re-encoded through the default provider, so the JDK's SHA256withECDSAinP1363Format accepts it even
            // when the PEM reader handed back another provider's key object.
            return KeyFactory.getInstance("EC").generatePrivate(new PKCS8EncodedKeySpec(ec.getEncoded()));
        } catch (GeneralSecurityException e) {
            throw new IOException("unusable EC key in " + file + ": " + e.getMessage(), e);
        }
    }

    private static ECParameterSpec p256() throws GeneralSecurityException {
        AlgorithmParameters parameters = AlgorithmParameters.getInstance("EC");
        parameters.init(new ECGenParameterSpec("secp256r1"));
        return parameters.getParameterSpec(ECParameterSpec.class);
    }

    private static boolean sameCurve(ECParameterSpec a, ECParameterSpec b) {
        return a != null && a.getOrder().equals(b.getOrder()) && a.getGenerator().equals(b.getGenerator())
                && a.getCurve().equals(b.getCurve());
    }

    private static SecretKeySpec readSecret(Path file) throws IOException {
        String text;
        try {
            text = Files.readString(file, StandardCharsets.US_ASCII);
        } catch (NoSuchFileException e) {
            throw new IOException("file not found: " + file, e);
        } catch (java.nio.charset.MalformedInputException e) {
            throw new IOException("the HS256 key file " + file + " is not base64 text (expected: base64 of at least "
                    + MIN_SECRET_BYTES + " random bytes, e.g. `openssl rand -base64 32`)", e);
        }
        String compact = text.replaceAll("\\s+", "");
        byte[] secret;
        try {
            secret = compact.indexOf('-') >= 0 || compact.indexOf('_') >= 0
                    ? Base64.getUrlDecoder().decode(compact) : Base64.getDecoder().decode(compact);
        } catch (IllegalArgumentException e) {
            throw new IOException("the HS256 key file " + file + " is not base64 (" + e.getMessage() + "; expected: "
                    + "base64 of at least " + MIN_SECRET_BYTES + " random bytes, e.g. `openssl rand -base64 32`)", e);
        }
        if (secret.length < MIN_SECRET_BYTES) {
            throw new IOException("the HS256 key in " + file + " is " + secret.length + " bytes (expected: at least "
                    + MIN_SECRET_BYTES + " bytes once base64-decoded, e.g. `openssl rand -base64 32`)");
        }
        return new SecretKeySpec(secret, "HmacSHA256");
    }
}
