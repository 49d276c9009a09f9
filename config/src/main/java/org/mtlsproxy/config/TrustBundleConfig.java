package org.mtlsproxy.config;

import static java.util.Objects.requireNonNull;

import java.nio.file.Path;
import java.util.List;

/**
 * A named set of CA certificates that may verify client certificates, with the CRLs that revoke them.
 *
 * @param name     recorded in the client identity and in logs
 * @param caBundle PEM file with one or more trusted CA certificates
 * @param crls     PEM or DER CRL files; each is checked against the certificates it is issued for
 */
public record TrustBundleConfig(String name, Path caBundle, List<Path> crls) {

    public TrustBundleConfig {
        requireNonNull(name, "name");
        requireNonNull(caBundle, "caBundle");
        crls = List.copyOf(requireNonNull(crls, "crls"));
    }
}
