package org.mtlsproxy.proxy.http;

import static java.util.Objects.requireNonNull;

import io.netty.util.AsciiString;
import io.netty.util.concurrent.FastThreadLocal;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.security.GeneralSecurityException;
import java.security.Key;
import java.security.PrivateKey;
import java.security.SecureRandom;
import java.security.Signature;
import java.util.Base64;
import java.util.HexFormat;
import java.util.List;
import javax.crypto.Mac;
import org.mtlsproxy.config.SignedHeaderConfig;
import org.mtlsproxy.config.SignedHeaderConfig.Algorithm;
import org.mtlsproxy.config.SigningKeys;
import org.mtlsproxy.proxy.identity.ClientIdentity;

/**
 * Writes the signed identity header: a compact JWS (RFC 7515 §7.1) {@code base64url(header) "."
 * base64url(payload) "." base64url(signature)}, the signature over the ASCII bytes of the first two segments.
 *
 * <p>Header: {@code {"alg":"ES256"|"HS256","kid":"<key-id>","typ":"JWT"}}, encoded once per key. Payload, in this
 * order: the identity claims of {@link #identityClaims} (once per connection), then {@code method},
 * {@code authority}, {@code path}, {@code iat}, {@code exp} and {@code jti} (per request). ES256 signatures are
 * JOSE's 64-byte R||S (RFC 7518 §3.4), from the JDK's {@code SHA256withECDSAinP1363Format}.
 *
 * <p>Each event-loop thread keeps its own {@link Signature} or {@link Mac}, initialised with this signer's key,
 * and its own DRBG for the ECDSA nonce and the {@code jti}: nothing on the request path takes a shared lock. (The
 * JDK's default {@code SecureRandom} on Linux, NativePRNG, synchronizes all threads on one lock.)
 */
public final class IdentitySigner {

    private static final Base64.Encoder B64URL = Base64.getUrlEncoder().withoutPadding();
    private static final FastThreadLocal<PerThread> STATE = new FastThreadLocal<>() {
        @Override
        protected PerThread initialValue() {
            return new PerThread();
        }
    };

    private final AsciiString headerName;
    private final Algorithm algorithm;
    private final Key key;
    private final String keyId;
    private final long maxAgeSeconds;
    /** {@code base64url(header) "."}, ASCII. */
    private final byte[] headerSegment;

    private IdentitySigner(SignedHeaderConfig config, Key key) {
        this.headerName = AsciiString.cached(config.header());
        this.algorithm = config.algorithm();
        this.key = key;
        this.keyId = config.keyId();
        this.maxAgeSeconds = config.maxAge().getSeconds();
        String header = "{\"alg\":\"" + algorithm.name() + "\",\"kid\":\"" + keyId + "\",\"typ\":\"JWT\"}";
        this.headerSegment = (B64URL.encodeToString(header.getBytes(StandardCharsets.UTF_8)) + ".")
                .getBytes(StandardCharsets.US_ASCII);
    }

    /**
     * Reads the key of {@code config} (a reload calls this again, which is how a rotated key takes effect).
     *
     * @throws IOException naming the key file and why it cannot be used
     */
    public static IdentitySigner load(SignedHeaderConfig config) throws IOException {
        requireNonNull(config, "config");
        IdentitySigner signer = new IdentitySigner(config, SigningKeys.read(config));
        try {
            // Fail at load, not on the first request, if the JDK cannot sign with this key.
            signer.newEngine();
        } catch (GeneralSecurityException e) {
            throw new IOException("cannot sign " + config.algorithm() + " with the key in " + config.keyFile() + ": "
                    + e.getMessage(), e);
        }
        return signer;
    }

    /** The header the JWS travels in, lower case. */
    public AsciiString headerName() {
        return headerName;
    }

    public String keyId() {
        return keyId;
    }

    /**
     * The identity part of the payload, as JSON object members without braces: {@code sub} (the SPIFFE ID, else the
     * subject DN), {@code x5t#S256} (base64url SHA-256 of the certificate DER, RFC 7515 §4.1.8), {@code cn} when
     * present, {@code uri} and {@code dns} (the SANs) when not empty. Computed once per connection.
     */
    public static String identityClaims(ClientIdentity identity) {
        requireNonNull(identity, "identity");
        StringBuilder out = new StringBuilder(256);
        out.append("\"sub\":");
        Json.string(out, identity.displayName());
        out.append(",\"x5t#S256\":\"")
                .append(B64URL.encodeToString(HexFormat.of().parseHex(identity.sha256Fingerprint()))).append('"');
        if (identity.commonName().isPresent()) {
            out.append(",\"cn\":");
            Json.string(out, identity.commonName().get());
        }
        array(out, "uri", identity.uriSans());
        array(out, "dns", identity.dnsSans());
        return out.toString();
    }

    private static void array(StringBuilder out, String name, List<String> values) {
        if (values.isEmpty()) {
            return;
        }
        out.append(",\"").append(name).append("\":[");
        for (int i = 0; i < values.size(); i++) {
            if (i > 0) {
                out.append(',');
            }
            Json.string(out, values.get(i));
        }
        out.append(']');
    }

    /**
     * The header value for one request.
     *
     * @param identityClaims {@link #identityClaims} of the client
     * @param method         the request method as forwarded
     * @param authority      the Host header as forwarded
     * @param path           the request target as forwarded (normalised path and query)
     * @param nowMillis      the current time; {@code iat} is its whole second
     */
    public String sign(String identityClaims, String method, String authority, String path, long nowMillis) {
        PerThread state = STATE.get();
        if (state.owner != this) {
            state.use(this);
        }
        long iat = nowMillis / 1000;
        StringBuilder json = state.json;
        json.setLength(0);
        json.append('{').append(identityClaims).append(",\"method\":");
        Json.string(json, method);
        json.append(",\"authority\":");
        Json.string(json, authority == null ? "" : authority);
        json.append(",\"path\":");
        Json.string(json, path);
        json.append(",\"iat\":").append(iat).append(",\"exp\":").append(iat + maxAgeSeconds).append(",\"jti\":\"");
        state.random.nextBytes(state.jti);
        json.append(B64URL.encodeToString(state.jti)).append("\"}");
        byte[] payload = B64URL.encode(json.toString().getBytes(StandardCharsets.UTF_8));

        byte[] input = new byte[headerSegment.length + payload.length];
        System.arraycopy(headerSegment, 0, input, 0, headerSegment.length);
        System.arraycopy(payload, 0, input, headerSegment.length, payload.length);
        byte[] signature;
        try {
            signature = state.sign(input);
        } catch (GeneralSecurityException e) {
            // The key was tried at load; an engine failing now is a JDK fault, not a request's.
            throw new IllegalStateException("signing the identity header failed: " + e.getMessage(), e);
        }
        return new StringBuilder(input.length + 1 + 88)
                .append(new String(input, StandardCharsets.US_ASCII)).append('.')
                .append(B64URL.encodeToString(signature)).toString();
    }

    private Object newEngine() throws GeneralSecurityException {
        if (algorithm == Algorithm.ES256) {
            Signature s = Signature.getInstance("SHA256withECDSAinP1363Format");
            s.initSign((PrivateKey) key, SecureRandom.getInstance("DRBG"));
            return s;
        }
        Mac mac = Mac.getInstance("HmacSHA256");
        mac.init(key);
        return mac;
    }

    /** One thread's signing engine for the signer it last used, its DRBG and scratch space. */
    private static final class PerThread {
        IdentitySigner owner;
        Signature ecdsa;
        Mac mac;
        final SecureRandom random;
        final byte[] jti = new byte[16];
        final StringBuilder json = new StringBuilder(512);

        PerThread() {
            try {
                random = SecureRandom.getInstance("DRBG");
            } catch (GeneralSecurityException e) {
                throw new IllegalStateException("no DRBG SecureRandom in this JDK", e);
            }
        }

        /** Initialises this thread's engine with {@code signer}'s key (first use, or after a key rotation). */
        void use(IdentitySigner signer) {
            try {
                if (signer.algorithm == Algorithm.ES256) {
                    if (ecdsa == null) {
                        ecdsa = Signature.getInstance("SHA256withECDSAinP1363Format");
                    }
                    ecdsa.initSign((PrivateKey) signer.key, random);
                } else {
                    if (mac == null) {
                        mac = Mac.getInstance("HmacSHA256");
                    }
                    mac.init(signer.key);
                }
            } catch (GeneralSecurityException e) {
                throw new IllegalStateException("cannot initialise " + signer.algorithm + " signing", e);
            }
            owner = signer;
        }

        byte[] sign(byte[] input) throws GeneralSecurityException {
            if (owner.algorithm == Algorithm.ES256) {
                ecdsa.update(input);
                return ecdsa.sign();
            }
            return mac.doFinal(input);
        }
    }

    /** The few JSON string rules needed here (RFC 8259 §7). */
    static final class Json {
        private static final char[] HEX = "0123456789abcdef".toCharArray();

        private Json() {
        }

        static void string(StringBuilder out, String value) {
            out.append('"');
            for (int i = 0; i < value.length(); i++) {
                char c = value.charAt(i);
                if (c == '"' || c == '\\') {
                    out.append('\\').append(c);
                } else if (c < 0x20 || c == 0x7f || (c >= 0xd800 && c <= 0xdfff)) {
                    // Control characters, and surrogates (a lone one would not survive UTF-8), as \\uXXXX.
                    out.append("\\u").append(HEX[c >> 12]).append(HEX[(c >> 8) & 0xf])
                            .append(HEX[(c >> 4) & 0xf]).append(HEX[c & 0xf]);
                } else {
                    out.append(c);
                }
            }
            out.append('"');
        }
    }
}
