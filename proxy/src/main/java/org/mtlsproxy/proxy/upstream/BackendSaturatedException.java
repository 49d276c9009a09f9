package org.mtlsproxy.proxy.upstream;

/**
 * Why a request got no backend connection although nothing failed: every endpoint was at its
 * max-connections-per-endpoint and the request could not wait (queue full) or waited too long. Without a stack
 * trace: it is an expected outcome under overload, made once per refused request.
 */
public final class BackendSaturatedException extends RuntimeException {

    private static final long serialVersionUID = 1L;

    BackendSaturatedException(String detail) {
        super(detail, null, false, false);
    }
}
