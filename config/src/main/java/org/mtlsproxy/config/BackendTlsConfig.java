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
 * @param groups           key-exchange groups offered, most preferred first, as {@link TlsGroups#NAMES canonical
 *                         names}; empty means the provider's defaults
 */
public record BackendTlsConfig(
        Path caBundle,
        String serverName,
        Optional<Path> certificateChain,
        Optional<Path> privateKey,
        List<String> protocols,
        List<String> groups) {

    /** With the provider's default groups. */
    public BackendTlsConfig(Path caBundle, String serverName, Optional<Path> certificateChain,
            Optional<Path> privateKey, List<String> protocols) {
        this(caBundle, serverName, certificateChain, privateKey, protocols, List.of());
    }

    public BackendTlsConfig {
        requireNonNull(caBundle, "caBundle");
        requireNonNull(serverName, "serverName");
        requireNonNull(certificateChain, "certificateChain");
        requireNonNull(privateKey, "privateKey");
        protocols = List.copyOf(requireNonNull(protocols, "protocols"));
        groups = TlsGroups.requireCanonical(requireNonNull(groups, "groups"));
        if (certificateChain.isPresent() != privateKey.isPresent()) {
            throw new IllegalArgumentException("certificateChain and privateKey go together");
        }
    }
}
