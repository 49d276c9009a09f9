package org.mtlsproxy.proxy.tls;

import io.netty.handler.ssl.ReferenceCountedOpenSslEngine;
import io.netty.internal.tcnative.SSL;
import javax.net.ssl.SSLEngine;

/** Whether a finished TLS handshake resumed an earlier session instead of running in full. */
public final class Resumption {

    private Resumption() {
    }

    /**
     * BoringSSL's {@code SSL_session_reused} for a BoringSSL engine (Netty keeps its own accessor package-private);
     * false for other engines, whose resumptions the caller recognises otherwise (see {@code HandshakeHandler}).
     * Call on the engine's event loop, after the handshake and before the engine is released.
     */
    public static boolean isResumed(SSLEngine engine) {
        if (engine instanceof ReferenceCountedOpenSslEngine openSsl) {
            long ssl = openSsl.sslPointer();
            return ssl != 0 && SSL.isSessionReused(ssl);
        }
        return false;
    }
}
