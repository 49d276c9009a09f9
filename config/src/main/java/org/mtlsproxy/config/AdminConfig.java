package org.mtlsproxy.config;

import static java.util.Objects.requireNonNull;

/**
 * The plain-HTTP admin listener serving metrics and health.
 *
 * @param enabled whether it is started
 * @param bind    address and port; keep it on loopback or a private interface
 */
public record AdminConfig(boolean enabled, HostPort bind) {

    public AdminConfig {
        requireNonNull(bind, "bind");
    }
}
