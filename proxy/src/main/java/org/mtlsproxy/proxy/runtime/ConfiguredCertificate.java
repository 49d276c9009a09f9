package org.mtlsproxy.proxy.runtime;

import static java.util.Objects.requireNonNull;

import java.security.cert.X509Certificate;

/**
 * A certificate or CA named by the configuration, for expiry metrics.
 *
 * @param kind        listener, client_ca, backend_ca or backend_client
 * @param name        the listener, trust bundle or backend it belongs to
 * @param certificate the certificate
 */
public record ConfiguredCertificate(String kind, String name, X509Certificate certificate) {

    public ConfiguredCertificate {
        requireNonNull(kind, "kind");
        requireNonNull(name, "name");
        requireNonNull(certificate, "certificate");
    }
}
