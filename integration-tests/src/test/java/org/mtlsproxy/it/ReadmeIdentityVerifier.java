package org.mtlsproxy.it;

import com.nimbusds.jose.JOSEException;
import com.nimbusds.jose.JWSAlgorithm;
import com.nimbusds.jose.JWSHeader;
import com.nimbusds.jose.JWSObject;
import com.nimbusds.jose.JWSVerifier;
import com.nimbusds.jose.crypto.ECDSAVerifier;
import com.nimbusds.jose.crypto.MACVerifier;
import java.security.interfaces.ECPublicKey;
import java.text.ParseException;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.function.LongSupplier;

/**
 * What a backend does with the signed identity header, written from the README section "Signed identity header"
 * (its steps 1 to 7) and nothing else, with the JOSE library a Java backend would use (Nimbus JOSE+JWT). Keys are
 * pinned by {@code kid} with their algorithm; the token's own {@code alg} never chooses the key.
 */
final class ReadmeIdentityVerifier {

    /** Tolerated clock difference between proxy and backend (README step 4: "a small skew (e.g. 5 s)"). */
    static final long SKEW_SECONDS = 5;

    /** A refusal, naming the README step that refused. */
    static final class Refused extends Exception {
        Refused(String message) {
            super(message);
        }
    }

    private record Pinned(JWSAlgorithm algorithm, JWSVerifier verifier) {
    }

    private final Map<String, Pinned> keys = new HashMap<>();
    /** Accepted jti until its exp + skew (step 6). */
    private final Map<String, Long> seen = new HashMap<>();
    private final LongSupplier nowSeconds;

    ReadmeIdentityVerifier(LongSupplier nowSeconds) {
        this.nowSeconds = nowSeconds;
    }

    ReadmeIdentityVerifier() {
        this(() -> System.currentTimeMillis() / 1000);
    }

    ReadmeIdentityVerifier pinEs256(String kid, ECPublicKey key) throws JOSEException {
        keys.put(kid, new Pinned(JWSAlgorithm.ES256, new ECDSAVerifier(key)));
        return this;
    }

    ReadmeIdentityVerifier pinHs256(String kid, byte[] secret) throws JOSEException {
        keys.put(kid, new Pinned(JWSAlgorithm.HS256, new MACVerifier(secret)));
        return this;
    }

    /**
     * Verifies the header values a request arrived with against that request; returns the claims (step 7).
     *
     * @param values    every value of the header on the request
     * @param method    the request method
     * @param host      the Host header received
     * @param target    the request target received (path and query)
     */
    Map<String, Object> verify(List<String> values, String method, String host, String target) throws Refused {
        // 1. exactly one header; three parts
        if (values.size() != 1) {
            throw new Refused("step 1: " + values.size() + " headers");
        }
        String value = values.get(0);
        if (value.split("\\.", -1).length != 3) {
            throw new Refused("step 1: not three parts");
        }
        JWSObject jws;
        try {
            jws = JWSObject.parse(value);
        } catch (ParseException e) {
            throw new Refused("step 1: " + e.getMessage());
        }
        // 2. alg and kid against the pinned keys
        JWSHeader header = jws.getHeader();
        Pinned pinned = header.getKeyID() == null ? null : keys.get(header.getKeyID());
        if (pinned == null) {
            throw new Refused("step 2: unknown kid " + header.getKeyID());
        }
        if (!pinned.algorithm().equals(header.getAlgorithm())) {
            throw new Refused("step 2: alg " + header.getAlgorithm() + " for kid " + header.getKeyID());
        }
        // 3. signature over part1 "." part2
        try {
            if (!jws.verify(pinned.verifier())) {
                throw new Refused("step 3: bad signature");
            }
        } catch (JOSEException e) {
            throw new Refused("step 3: " + e.getMessage());
        }
        // 4. time window
        Map<String, Object> claims;
        try {
            claims = jws.getPayload().toJSONObject();
        } catch (RuntimeException e) {
            throw new Refused("step 4: payload is not JSON");
        }
        if (claims == null || !(claims.get("iat") instanceof Number iat) || !(claims.get("exp") instanceof Number exp)) {
            throw new Refused("step 4: no iat/exp");
        }
        long now = nowSeconds.getAsLong();
        if (iat.longValue() > now + SKEW_SECONDS) {
            throw new Refused("step 4: issued in the future");
        }
        if (now >= exp.longValue() + SKEW_SECONDS) {
            throw new Refused("step 4: expired");
        }
        // 5. bound to this request
        if (!method.equals(claims.get("method"))) {
            throw new Refused("step 5: method " + claims.get("method"));
        }
        if (!host.equals(claims.get("authority"))) {
            throw new Refused("step 5: authority " + claims.get("authority"));
        }
        if (!target.equals(claims.get("path"))) {
            throw new Refused("step 5: path " + claims.get("path"));
        }
        // 6. replay
        seen.values().removeIf(until -> until <= now);
        if (!(claims.get("jti") instanceof String jti)) {
            throw new Refused("step 6: no jti");
        }
        if (seen.containsKey(jti)) {
            throw new Refused("step 6: replayed jti");
        }
        seen.put(jti, exp.longValue() + SKEW_SECONDS);
        // 7. the claims
        return claims;
    }
}
