package org.mtlsproxy.config;

import static java.util.Objects.requireNonNull;

/**
 * One thing wrong with a configuration, phrased so that a person can fix it without reading code.
 *
 * @param origin  where the offending value was written: {@code proxy.conf:12}, {@code proxy.conf},
 *                {@code reference.conf:40} or {@code <env>}
 * @param path    the key in user-facing form, without the {@code mtls-proxy.} prefix, e.g.
 *                {@code routes[1].allow[0].spiffe-id} or {@code backends.orders.tls.ca-bundle}; empty when the problem
 *                concerns the whole file
 * @param message what is wrong and, where it helps, {@code (expected: …)}
 */
public record ConfigProblem(String origin, String path, String message) {

    public ConfigProblem {
        requireNonNull(origin, "origin");
        requireNonNull(path, "path");
        requireNonNull(message, "message");
    }

    /** {@code origin: path: message}, leaving out an empty path. */
    @Override
    public String toString() {
        return path.isEmpty() ? origin + ": " + message : origin + ": " + path + ": " + message;
    }
}
