package org.mtlsproxy.config;

import static java.util.Objects.requireNonNull;

import java.time.Duration;

/**
 * How a running proxy picks up a changed config file, certificates, keys, CA bundles and CRLs.
 *
 * @param watch                  watch the directories of every referenced file and reload on change
 * @param debounce               quiet time after a file event before reloading (editors and Kubernetes write in steps)
 * @param checkInterval          re-read every referenced file this often and reload if its content changed (a safety
 *                               net for missed file events)
 * @param revokedConnectionGrace open connections whose client certificate no longer verifies after a reload are
 *                               closed after their current request, and at the latest after this
 */
public record ReloadConfig(boolean watch, Duration debounce, Duration checkInterval, Duration revokedConnectionGrace) {

    public ReloadConfig {
        requireNonNull(debounce, "debounce");
        requireNonNull(checkInterval, "checkInterval");
        requireNonNull(revokedConnectionGrace, "revokedConnectionGrace");
    }
}
