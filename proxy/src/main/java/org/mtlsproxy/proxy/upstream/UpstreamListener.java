package org.mtlsproxy.proxy.upstream;

import io.netty.handler.codec.http.HttpObject;

/**
 * Receives what happens on a backend connection while it serves one exchange. All calls arrive on the backend
 * channel's event loop, which is also the client channel's loop.
 */
public interface UpstreamListener {

    /** A response head or body chunk; the listener owns (and must write or release) it. */
    void onResponse(HttpObject msg);

    /** The backend channel finished a read batch: flush what was written to the client meanwhile. */
    void onBackendReadComplete();

    /** The backend channel's writability changed: the listener resumes or pauses reading its client. */
    void onBackendWritabilityChanged();

    /** The backend connection closed or failed while attached. */
    void onBackendClosed(Throwable cause);
}
