package org.mtlsproxy.config;

import static java.util.Objects.requireNonNull;

import java.util.List;
import java.util.Map;
import java.util.Optional;

/**
 * The whole, validated configuration of one proxy process. Immutable; built only by {@link ConfigLoader}.
 *
 * @param listeners      where clients connect, each terminating mTLS
 * @param routes         how a request is matched to a backend and who may use it
 * @param backends       upstream services by name
 * @param identityHeader how the verified client identity is passed to backends
 * @param admin          the admin (metrics/health) listener
 * @param shutdown       how the process drains on SIGTERM
 * @param reload         how changed files are picked up while running
 * @param expiry         when expiring certificates are warned about
 * @param source         a human description of where this config came from (file path or "embedded")
 */
public record ProxyConfig(
        List<ListenerConfig> listeners,
        List<RouteConfig> routes,
        Map<String, BackendConfig> backends,
        IdentityHeaderConfig identityHeader,
        AdminConfig admin,
        ShutdownConfig shutdown,
        ReloadConfig reload,
        ExpiryConfig expiry,
        String source) {

    public ProxyConfig {
        listeners = List.copyOf(requireNonNull(listeners, "listeners"));
        routes = List.copyOf(requireNonNull(routes, "routes"));
        backends = Map.copyOf(requireNonNull(backends, "backends"));
        requireNonNull(identityHeader, "identityHeader");
        requireNonNull(admin, "admin");
        requireNonNull(shutdown, "shutdown");
        requireNonNull(reload, "reload");
        requireNonNull(expiry, "expiry");
        requireNonNull(source, "source");
    }

    /**
     * Every file this configuration reads: certificates, keys, CA bundles, CRLs, session ticket key files and the
     * identity-header signing key (not the config file).
     */
    public java.util.Set<java.nio.file.Path> referencedFiles() {
        java.util.Set<java.nio.file.Path> files = new java.util.LinkedHashSet<>();
        for (ListenerConfig l : listeners) {
            files.add(l.tls().certificateChain());
            files.add(l.tls().privateKey());
            l.tls().sessionTickets().keyFile().ifPresent(files::add);
            for (TrustBundleConfig b : l.tls().clientTrust()) {
                files.add(b.caBundle());
                files.addAll(b.crls());
            }
        }
        for (BackendConfig b : backends.values()) {
            files.add(b.tls().caBundle());
            b.tls().certificateChain().ifPresent(files::add);
            b.tls().privateKey().ifPresent(files::add);
        }
        identityHeader.signed().ifPresent(s -> files.add(s.keyFile()));
        return files;
    }

    public Optional<ListenerConfig> listener(String name) {
        return listeners.stream().filter(l -> l.name().equals(name)).findFirst();
    }
}
