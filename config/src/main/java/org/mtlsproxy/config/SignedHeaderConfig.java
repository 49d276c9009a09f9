package org.mtlsproxy.config;

import static java.util.Objects.requireNonNull;

import java.nio.file.Path;
import java.time.Duration;
import java.util.Optional;
import java.util.regex.Pattern;

/**
 * The signed identity header: a compact JWS (RFC 7515) over the client identity and the request it travels with.
 *
 * @param header    header name, lower case
 * @param algorithm how it is signed
 * @param keyFile   ES256: PEM EC P-256 private key (PKCS#8 or SEC1); HS256: base64 of a secret of at least 32 bytes
 * @param keyId     the JWS {@code kid}, by which backends pick the verification key
 * @param maxAge    {@code exp} is {@code iat} plus this
 */
public record SignedHeaderConfig(String header, Algorithm algorithm, Path keyFile, String keyId, Duration maxAge) {

    /** What a key id may contain: it is written into JSON unescaped and read by people in logs. */
    static final Pattern KEY_ID = Pattern.compile("[A-Za-z0-9._:+/=-]{1,128}");

    public SignedHeaderConfig {
        requireNonNull(header, "header");
        requireNonNull(algorithm, "algorithm");
        requireNonNull(keyFile, "keyFile");
        requireNonNull(keyId, "keyId");
        requireNonNull(maxAge, "maxAge");
        if (!KEY_ID.matcher(keyId).matches()) {
            throw new IllegalArgumentException("key id " + keyId + " has characters outside " + KEY_ID.pattern());
        }
        if (maxAge.getSeconds() < 1) {
            throw new IllegalArgumentException("max-age must be at least 1s");
        }
    }

    /** The JWS algorithms the proxy signs with (RFC 7518 names). */
    public enum Algorithm {
        /** ECDSA P-256 with SHA-256; the signature is R||S, 64 bytes. Backends verify with the public key only. */
        ES256,
        /** HMAC-SHA-256 with a shared secret; backends need the secret, so any of them could forge a header. */
        HS256;

        static Optional<Algorithm> of(String written) {
            for (Algorithm a : values()) {
                if (a.name().equals(written)) {
                    return Optional.of(a);
                }
            }
            return Optional.empty();
        }
    }
}
