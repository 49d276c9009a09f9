package org.mtlsproxy.config;

import static java.util.Objects.requireNonNull;

import java.nio.file.Path;
import java.time.Duration;
import java.util.HashSet;
import java.util.List;
import java.util.Set;

/**
 * TLS on a listener. Client authentication is always required.
 *
 * @param certificateChain PEM file: the server certificate followed by its intermediates
 * @param privateKey       PEM file: PKCS#8, PKCS#1 or SEC1 private key matching the certificate
 * @param clientTrust      the named CA bundles that may verify a client certificate: at least one enabled, no two
 *                         declaring the same trust domain
 * @param protocols        enabled protocol versions, e.g. TLSv1.3, TLSv1.2
 * @param ciphers          TLS 1.2 cipher suites (IANA or OpenSSL names); empty means the provider's secure defaults
 * @param groups           key-exchange groups, most preferred first, as {@link TlsGroups#NAMES canonical names};
 *                         empty means the provider's defaults
 * @param verifyDepth      maximum number of CA certificates above the client leaf, trust anchor included
 * @param handshakeTimeout a client that has not completed the handshake by then is disconnected
 * @param sessionTickets   the keys of TLS session tickets: shared from a file, or generated and rotated
 */
public record ServerTlsConfig(
        Path certificateChain,
        Path privateKey,
        List<TrustBundleConfig> clientTrust,
        List<String> protocols,
        List<String> ciphers,
        List<String> groups,
        int verifyDepth,
        Duration handshakeTimeout,
        SessionTicketsConfig sessionTickets) {

    /** With the provider's default groups and reference.conf's session ticket settings (keys generated here). */
    public ServerTlsConfig(Path certificateChain, Path privateKey, List<TrustBundleConfig> clientTrust,
            List<String> protocols, List<String> ciphers, int verifyDepth, Duration handshakeTimeout) {
        this(certificateChain, privateKey, clientTrust, protocols, ciphers, List.of(), verifyDepth, handshakeTimeout,
                SessionTicketsConfig.DEFAULT);
    }

    public ServerTlsConfig {
        requireNonNull(certificateChain, "certificateChain");
        requireNonNull(privateKey, "privateKey");
        clientTrust = List.copyOf(requireNonNull(clientTrust, "clientTrust"));
        protocols = List.copyOf(requireNonNull(protocols, "protocols"));
        ciphers = List.copyOf(requireNonNull(ciphers, "ciphers"));
        groups = TlsGroups.requireCanonical(requireNonNull(groups, "groups"));
        requireNonNull(handshakeTimeout, "handshakeTimeout");
        requireNonNull(sessionTickets, "sessionTickets");
        if (clientTrust.isEmpty()) {
            throw new IllegalArgumentException("clientTrust must name at least one CA bundle");
        }
        if (clientTrust.stream().noneMatch(TrustBundleConfig::enabled)) {
            throw new IllegalArgumentException("clientTrust must have at least one enabled bundle");
        }
        Set<String> domains = new HashSet<>();
        for (TrustBundleConfig b : clientTrust) {
            if (b.trustDomain().isPresent() && !domains.add(b.trustDomain().get())) {
                throw new IllegalArgumentException("trust domain " + b.trustDomain().get()
                        + " is declared by more than one client-trust bundle");
            }
        }
        if (verifyDepth < 1) {
            throw new IllegalArgumentException("verifyDepth must be >= 1");
        }
    }
}
