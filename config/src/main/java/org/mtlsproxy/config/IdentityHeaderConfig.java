package org.mtlsproxy.config;

import static java.util.Objects.requireNonNull;

import java.util.List;
import java.util.Optional;

/**
 * How the verified client identity reaches the backend.
 *
 * @param name   header that carries the identity (Envoy XFCC format), lower case
 * @param strip  further header names (lower case) removed from every client request, e.g. other identity headers a
 *               backend might trust; {@code name} is always stripped
 * @param signed the signed identity header (a JWS binding identity and request), present only when enabled
 */
public record IdentityHeaderConfig(String name, List<String> strip, Optional<SignedHeaderConfig> signed) {

    /** XFCC only, no signed header. */
    public IdentityHeaderConfig(String name, List<String> strip) {
        this(name, strip, Optional.empty());
    }

    public IdentityHeaderConfig {
        requireNonNull(name, "name");
        strip = List.copyOf(requireNonNull(strip, "strip"));
        requireNonNull(signed, "signed");
        if (signed.isPresent() && signed.get().header().equals(name)) {
            throw new IllegalArgumentException("the signed header must differ from the XFCC header " + name);
        }
    }
}
