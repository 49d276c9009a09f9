package org.mtlsproxy.config;

import java.util.Optional;

/** How a backend spreads requests over its endpoints. */
public enum LoadBalancing {
    /** Each endpoint in turn (per event-loop thread), skipping ejected ones. */
    ROUND_ROBIN("round-robin"),
    /**
     * The endpoint with the fewest requests in flight across the whole process, ties broken round robin; suits
     * requests of very different cost.
     */
    LEAST_OUTSTANDING("least-outstanding");

    private final String label;

    LoadBalancing(String label) {
        this.label = label;
    }

    /** The configuration spelling, e.g. {@code least-outstanding}. */
    public String label() {
        return label;
    }

    /** The policy spelled {@code label}, or empty. */
    static Optional<LoadBalancing> of(String label) {
        for (LoadBalancing l : values()) {
            if (l.label.equals(label)) {
                return Optional.of(l);
            }
        }
        return Optional.empty();
    }

    @Override
    public String toString() {
        return label;
    }
}
