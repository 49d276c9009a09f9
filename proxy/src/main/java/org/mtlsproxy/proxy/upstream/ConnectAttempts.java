package org.mtlsproxy.proxy.upstream;

import io.netty.channel.ConnectTimeoutException;
import io.netty.channel.EventLoop;
import io.netty.handler.ssl.SslHandshakeTimeoutException;
import java.util.concurrent.TimeUnit;
import org.mtlsproxy.proxy.RejectReason;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The connection attempts to one backend on behalf of one request ({@link Backend}) or one relayed client
 * ({@link RelayConnector}): the endpoints tried, the retries left and the {@code connect-timeout} they share, and
 * what a failed attempt means: counted by reason, reported to passive health, retried on an untried endpoint while
 * retries and time are left and the caller still waits. Confined to {@code loop}.
 */
final class ConnectAttempts {

    private static final Logger LOG = LoggerFactory.getLogger(ConnectAttempts.class);

    private final Backend backend;
    private final EventLoop loop;
    /** The endpoints already tried, by index. */
    final boolean[] tried;
    private int retriesLeft;
    private long deadline;

    ConnectAttempts(Backend backend, EventLoop loop) {
        this.backend = backend;
        this.loop = loop;
        this.tried = new boolean[backend.endpointCount()];
        this.retriesLeft = backend.config().retries();
        restartClock();
    }

    /** connect-timeout counts from now (a request that waited for a slot gets a whole one for its connection). */
    void restartClock() {
        deadline = System.nanoTime() + backend.config().connectTimeout().toNanos();
    }

    /** What is left of connect-timeout, in whole milliseconds. */
    int remainingMillis() {
        long left = TimeUnit.NANOSECONDS.toMillis(deadline - System.nanoTime());
        return (int) Math.max(0, Math.min(Integer.MAX_VALUE, left));
    }

    /**
     * The attempt on endpoint {@code index} failed: counted, reported to passive health, the endpoint marked tried.
     * True when another endpoint is to be tried (counted as a retry): retries and time are left, {@code stillWaiting},
     * and an endpoint is untried.
     */
    boolean failedMayRetry(int index, RejectReason reason, Throwable cause, boolean stillWaiting, String retryLog) {
        backend.meters().failed(reason);
        backend.endpointFailed(index, loop);
        tried[index] = true;
        if (retriesLeft > 0 && stillWaiting && remainingMillis() > 0 && Backend.choosable(tried)) {
            retriesLeft--;
            backend.meters().retried();
            LOG.atDebug()
                    .addKeyValue("backend", backend.name())
                    .addKeyValue("endpoint", backend.endpoint(index).toString())
                    .addKeyValue("reason", reason.label())
                    .addKeyValue("cause", String.valueOf(cause))
                    .log(retryLog);
            return true;
        }
        return false;
    }

    /** Why a TCP connect (name lookup included) failed. */
    static RejectReason connectFailure(Throwable cause) {
        return cause instanceof ConnectTimeoutException ? RejectReason.BACKEND_TIMEOUT
                : RejectReason.BACKEND_CONNECT_FAILED;
    }

    /** Why the TLS handshake with a backend failed. */
    static RejectReason handshakeFailure(Throwable cause) {
        return cause instanceof SslHandshakeTimeoutException ? RejectReason.BACKEND_TIMEOUT
                : RejectReason.BACKEND_TLS_FAILED;
    }
}
