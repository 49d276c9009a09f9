package org.mtlsproxy.config;

import static java.util.Objects.requireNonNull;

import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.Optional;

/**
 * A named set of CA certificates that may verify client certificates, with the CRLs that revoke them.
 *
 * @param name             recorded in the client identity and in logs
 * @param caBundle         PEM file with one or more trusted CA certificates
 * @param crls             PEM or DER CRL files; each is checked against the certificates it is issued for
 * @param trustDomain      the SPIFFE trust domain this bundle is the authority for: it verifies only leaves whose
 *                         SPIFFE ID is in that domain, and no other bundle of the listener may verify a leaf of it
 * @param enabled          false keeps the bundle documented in the file but lets it verify nobody
 * @param crlExpiredPolicy what to do when the CRL covering a certificate's issuer is past its nextUpdate
 * @param crlGracePeriod   with {@link CrlExpiredPolicy#SOFT_FAIL}, how long after nextUpdate a stale CRL is still
 *                         accepted
 */
public record TrustBundleConfig(
        String name,
        Path caBundle,
        List<Path> crls,
        Optional<String> trustDomain,
        boolean enabled,
        CrlExpiredPolicy crlExpiredPolicy,
        Duration crlGracePeriod) {

    public TrustBundleConfig {
        requireNonNull(name, "name");
        requireNonNull(caBundle, "caBundle");
        crls = List.copyOf(requireNonNull(crls, "crls"));
        requireNonNull(trustDomain, "trustDomain");
        requireNonNull(crlExpiredPolicy, "crlExpiredPolicy");
        requireNonNull(crlGracePeriod, "crlGracePeriod");
        trustDomain.flatMap(Syntax::trustDomainError).ifPresent(reason -> {
            throw new IllegalArgumentException("trust-domain: " + reason
                    + " (expected: " + Syntax.TRUST_DOMAIN_EXPECTED + ")");
        });
        if (crlGracePeriod.isNegative()) {
            throw new IllegalArgumentException("crl-grace-period: " + crlGracePeriod + " (expected: >= 0)");
        }
    }
}
