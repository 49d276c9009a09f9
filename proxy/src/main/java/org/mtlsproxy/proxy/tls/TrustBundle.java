package org.mtlsproxy.proxy.tls;

import static java.util.Objects.requireNonNull;

import java.security.cert.X509CRL;
import java.security.cert.X509Certificate;
import java.time.Duration;
import java.util.List;
import java.util.Optional;
import org.mtlsproxy.config.CrlExpiredPolicy;

/**
 * A named set of trusted CA certificates and the CRLs that apply under them, loaded from files.
 *
 * @param name             the configured bundle name, recorded in the client identity
 * @param cas              the trust anchors
 * @param crls             revocation lists, matched to certificates by issuer name and checked against the issuer's
 *                         key
 * @param trustDomain      the SPIFFE trust domain this bundle is the authority for, if any
 * @param enabled          false: the bundle verifies nobody, but its trust domain stays reserved to it
 * @param crlExpiredPolicy what a CRL past its nextUpdate does to the certificates it covers
 * @param crlGracePeriod   with soft-fail, how long after nextUpdate a stale CRL is still accepted
 */
public record TrustBundle(
        String name,
        List<X509Certificate> cas,
        List<X509CRL> crls,
        Optional<String> trustDomain,
        boolean enabled,
        CrlExpiredPolicy crlExpiredPolicy,
        Duration crlGracePeriod) {

    public TrustBundle {
        requireNonNull(name, "name");
        cas = List.copyOf(requireNonNull(cas, "cas"));
        crls = List.copyOf(requireNonNull(crls, "crls"));
        requireNonNull(trustDomain, "trustDomain");
        requireNonNull(crlExpiredPolicy, "crlExpiredPolicy");
        requireNonNull(crlGracePeriod, "crlGracePeriod");
        if (cas.isEmpty()) {
            throw new IllegalArgumentException("trust bundle " + name + " has no CA certificate");
        }
        if (crlGracePeriod.isNegative()) {
            throw new IllegalArgumentException("trust bundle " + name + ": crlGracePeriod " + crlGracePeriod
                    + " (expected: >= 0)");
        }
    }
}
