package org.mtlsproxy.config;

import static java.util.Objects.requireNonNull;

import java.util.List;

/**
 * How the verified client identity reaches the backend.
 *
 * @param name  header that carries the identity (Envoy XFCC format), lower case
 * @param strip further header names (lower case) removed from every client request, e.g. other identity headers a
 *              backend might trust; {@code name} is always stripped
 */
public record IdentityHeaderConfig(String name, List<String> strip) {

    public IdentityHeaderConfig {
        requireNonNull(name, "name");
        strip = List.copyOf(requireNonNull(strip, "strip"));
    }
}
