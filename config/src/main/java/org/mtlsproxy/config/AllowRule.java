package org.mtlsproxy.config;

import static java.util.Objects.requireNonNull;

import java.util.Optional;

/**
 * One allow rule: every field that is set must match the client identity.
 *
 * @param name              a label for logs and metrics; defaults to {@code allow[i]}
 * @param spiffeId          SPIFFE ID pattern: exact, {@code *} for one path segment, trailing {@code /**} for any rest
 * @param uriSan            a URI SAN the certificate must carry (exact)
 * @param dnsSan            a DNS SAN the certificate must carry (exact, case-insensitive)
 * @param subjectCn         the subject common name (exact)
 * @param subjectOu         an organizational unit of the subject (exact)
 * @param subjectO          an organization of the subject (exact)
 * @param fingerprintSha256 SHA-256 of the certificate DER, 64 hex digits (colons allowed, any case), normalised to
 *                          lower-case hex without colons
 * @param trustBundle       the name of the client trust bundle that must have verified the certificate
 * @param trustDomain       the SPIFFE trust domain the certificate's SPIFFE ID must be in (exact, lower case)
 */
public record AllowRule(
        String name,
        Optional<String> spiffeId,
        Optional<String> uriSan,
        Optional<String> dnsSan,
        Optional<String> subjectCn,
        Optional<String> subjectOu,
        Optional<String> subjectO,
        Optional<String> fingerprintSha256,
        Optional<String> trustBundle,
        Optional<String> trustDomain) {

    public AllowRule {
        requireNonNull(name, "name");
        requireNonNull(spiffeId, "spiffeId");
        requireNonNull(uriSan, "uriSan");
        requireNonNull(dnsSan, "dnsSan");
        requireNonNull(subjectCn, "subjectCn");
        requireNonNull(subjectOu, "subjectOu");
        requireNonNull(subjectO, "subjectO");
        requireNonNull(fingerprintSha256, "fingerprintSha256");
        requireNonNull(trustBundle, "trustBundle");
        requireNonNull(trustDomain, "trustDomain");
        if (spiffeId.isEmpty() && uriSan.isEmpty() && dnsSan.isEmpty() && subjectCn.isEmpty()
                && subjectOu.isEmpty() && subjectO.isEmpty() && fingerprintSha256.isEmpty()
                && trustBundle.isEmpty() && trustDomain.isEmpty()) {
            throw new IllegalArgumentException("an allow rule needs at least one field");
        }
    }
}
