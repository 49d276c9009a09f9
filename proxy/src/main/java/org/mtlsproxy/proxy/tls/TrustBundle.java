package org.mtlsproxy.proxy.tls;

import static java.util.Objects.requireNonNull;

import java.security.cert.X509CRL;
import java.security.cert.X509Certificate;
import java.util.List;

/**
 * A named set of trusted CA certificates and the CRLs that apply under them, loaded from files.
 *
 * @param name the configured bundle name, recorded in the client identity
 * @param cas  the trust anchors
 * @param crls revocation lists, matched to certificates by issuer name and checked against the issuer's key
 */
public record TrustBundle(String name, List<X509Certificate> cas, List<X509CRL> crls) {

    public TrustBundle {
        requireNonNull(name, "name");
        cas = List.copyOf(requireNonNull(cas, "cas"));
        crls = List.copyOf(requireNonNull(crls, "crls"));
        if (cas.isEmpty()) {
            throw new IllegalArgumentException("trust bundle " + name + " has no CA certificate");
        }
    }
}
