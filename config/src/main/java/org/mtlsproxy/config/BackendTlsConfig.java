package org.mtlsproxy.config;

import static java.util.Objects.requireNonNull;

import java.nio.file.Path;
import java.util.List;
import java.util.Optional;

/**
 * TLS towards a backend. The backend certificate is always verified against {@code caBundle} and its DNS or IP SAN
 * checked against {@code serverName}.
 *
 * @param caBundle         PEM file with the CA certificates that may sign backend certificates
 * @param serverName       sent as SNI (when a DNS name) and matched against the backend certificate's SANs
 * @param certificateChain optional PEM chain the proxy presents as its client certificate
 * @param privateKey       the key for {@code certificateChain}; both or neither
 * @param protocols        enabled protocol versions
 */
public record BackendTlsConfig(
        Path caBundle,
        String serverName,
        Optional<Path> certificateChain,
        Optional<Path> privateKey,
        List<String> protocols) {

    public BackendTlsConfig {
        requireNonNull(caBundle, "caBundle");
        requireNonNull(serverName, "serverName");
        requireNonNull(certificateChain, "certificateChain");
        requireNonNull(privateKey, "privateKey");
        protocols = List.copyOf(requireNonNull(protocols, "protocols"));
        if (certificateChain.isPresent() != privateKey.isPresent()) {
            throw new IllegalArgumentException("certificateChain and privateKey go together");
        }
    }
}
