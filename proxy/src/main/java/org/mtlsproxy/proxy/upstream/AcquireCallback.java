package org.mtlsproxy.proxy.upstream;

import org.mtlsproxy.proxy.RejectReason;

/** The outcome of {@link Backend#acquire}; called on the requesting channel's event loop. */
public interface AcquireCallback {

    void acquired(BackendConnection connection);

    void failed(RejectReason reason, Throwable cause);

    /** False once the requester no longer needs a connection (its client left): no further retry is started. */
    default boolean stillWaiting() {
        return true;
    }
}
