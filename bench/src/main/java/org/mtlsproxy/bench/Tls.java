package org.mtlsproxy.bench;

import io.netty.handler.ssl.ClientAuth;
import io.netty.handler.ssl.SslContext;
import io.netty.handler.ssl.SslContextBuilder;
import io.netty.handler.ssl.SslHandler;
import io.netty.handler.ssl.SslProvider;
import java.io.File;
import java.lang.reflect.Method;
import java.util.List;
import javax.net.ssl.SSLEngine;

/** BoringSSL (netty-tcnative, {@link SslProvider#OPENSSL}) contexts for the generator and the backend. */
final class Tls {

    private static final List<String> PROTOCOLS = List.of("TLSv1.3", "TLSv1.2");
    private static volatile Method reused;

    private Tls() {
    }

    /**
     * The generator's context: presents {@code cert}/{@code key}, verifies the server chain against {@code ca}
     * (no hostname check: the generator targets 127.0.0.1 and trusts only the throwaway CA). With
     * {@code sessionCache} false the client never offers a session or ticket, so every handshake is a full one.
     */
    static SslContext client(File cert, File key, File ca, boolean sessionCache) throws Exception {
        return SslContextBuilder.forClient()
                .sslProvider(SslProvider.OPENSSL)
                .keyManager(cert, key)
                .trustManager(ca)
                .endpointIdentificationAlgorithm(null)
                .protocols(PROTOCOLS)
                .sessionCacheSize(sessionCache ? 1024 : 1)
                .sessionTimeout(sessionCache ? 300 : 1)
                .build();
    }

    /** The backend's context: client certificate required, chained to {@code clientCa}. */
    static SslContext server(File cert, File key, File clientCa) throws Exception {
        return SslContextBuilder.forServer(cert, key)
                .sslProvider(SslProvider.OPENSSL)
                .clientAuth(ClientAuth.REQUIRE)
                .trustManager(clientCa)
                .protocols(PROTOCOLS)
                .sessionCacheSize(20_480)
                .sessionTimeout(300)
                .build();
    }

    /** Whether the handshake of {@code tls} resumed a session (BoringSSL's SSL_session_reused). */
    static boolean sessionReused(SslHandler tls) {
        SSLEngine engine = tls.engine();
        try {
            Method m = reused;
            if (m == null) {
                for (Class<?> c = engine.getClass(); m == null && c != null; c = c.getSuperclass()) {
                    try {
                        m = c.getDeclaredMethod("isSessionReused");
                    } catch (NoSuchMethodException e) {
                        // look further up
                    }
                }
                if (m == null) {
                    return false;
                }
                m.setAccessible(true);
                reused = m;
            }
            return (Boolean) m.invoke(engine);
        } catch (ReflectiveOperationException | RuntimeException e) {
            return false;
        }
    }
}
