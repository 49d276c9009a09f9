package org.mtlsproxy.proxy.http;

import static java.util.Objects.requireNonNull;

import java.time.Duration;
import org.mtlsproxy.proxy.runtime.RuntimeSnapshot;

/**
 * Fired down every open client pipeline after a reload swapped in {@code snapshot}. The connection re-verifies its
 * client certificate against the new trust bundles and CRLs: if it still verifies, its next request uses the new
 * routes and rules; if not, it closes after the current request and at the latest after {@code grace}.
 *
 * @param snapshot the configuration now in force
 * @param grace    how long a connection whose certificate no longer verifies may finish its current request
 */
public record SnapshotChanged(RuntimeSnapshot snapshot, Duration grace) {

    public SnapshotChanged {
        requireNonNull(snapshot, "snapshot");
        requireNonNull(grace, "grace");
    }
}
