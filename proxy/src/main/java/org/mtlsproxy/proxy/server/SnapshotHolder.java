package org.mtlsproxy.proxy.server;

import static java.util.Objects.requireNonNull;

import java.util.concurrent.atomic.AtomicReference;
import org.mtlsproxy.proxy.runtime.RuntimeSnapshot;

/**
 * The current {@link RuntimeSnapshot}. A new connection reads it once; swapping it (reload) affects only
 * connections accepted afterwards.
 */
public final class SnapshotHolder {

    private final AtomicReference<RuntimeSnapshot> current;

    public SnapshotHolder(RuntimeSnapshot initial) {
        this.current = new AtomicReference<>(requireNonNull(initial, "initial"));
    }

    public RuntimeSnapshot get() {
        return current.get();
    }

    /** Installs {@code next} and returns the previous snapshot. */
    public RuntimeSnapshot swap(RuntimeSnapshot next) {
        return current.getAndSet(requireNonNull(next, "next"));
    }
}
