package org.mtlsproxy.config;

import static java.util.Objects.requireNonNull;

import java.time.Duration;
import java.util.List;

/**
 * Warnings before certificates expire.
 *
 * @param warnBefore       thresholds before the notAfter of a configured certificate or CA at which a warning is
 *                         logged (once per certificate and threshold)
 * @param clientWarnBefore a client presenting a certificate expiring within this is logged (once per certificate
 *                         per day)
 * @param clientWindow     the soonest client-certificate expiry per route is computed over the certificates seen in
 *                         the last one to two windows
 */
public record ExpiryConfig(List<Duration> warnBefore, Duration clientWarnBefore, Duration clientWindow) {

    public ExpiryConfig {
        warnBefore = List.copyOf(requireNonNull(warnBefore, "warnBefore"));
        requireNonNull(clientWarnBefore, "clientWarnBefore");
        requireNonNull(clientWindow, "clientWindow");
    }
}
