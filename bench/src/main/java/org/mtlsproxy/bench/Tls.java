package org.mtlsproxy.bench;

import io.netty.handler.ssl.ApplicationProtocolConfig;
import io.netty.handler.ssl.ApplicationProtocolNames;
import io.netty.handler.ssl.ClientAuth;
import io.netty.handler.ssl.SslContext;
import io.netty.handler.ssl.SslContextBuilder;
import io.netty.handler.ssl.SslHandler;
import io.netty.handler.ssl.OpenSslContextOption;
import io.netty.handler.ssl.SslProvider;
import java.io.File;
import java.io.FileInputStream;
import java.io.InputStream;
import java.net.Socket;
import java.nio.ByteBuffer;
import java.security.KeyStore;
import java.security.cert.Certificate;
import java.security.cert.CertificateException;
import java.security.cert.CertificateFactory;
import java.security.cert.X509Certificate;
import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;
import java.lang.reflect.Method;
import java.util.List;
import javax.net.ssl.SSLEngine;
import javax.net.ssl.TrustManager;
import javax.net.ssl.TrustManagerFactory;
import javax.net.ssl.X509ExtendedTrustManager;

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
     * {@code groups} are the key-exchange groups offered, most preferred first (OpenSSL names).
     */
    static SslContext client(File cert, File key, File ca, boolean sessionCache, String[] groups)
            throws Exception {
        return clientBuilder(cert, key, ca, sessionCache, groups).build();
    }

    /** {@link #client} offering only {@code h2} in ALPN (the caller checks that the server selected it). */
    static SslContext clientH2(File cert, File key, File ca, String[] groups) throws Exception {
        return clientBuilder(cert, key, ca, false, groups)
                .applicationProtocolConfig(new ApplicationProtocolConfig(ApplicationProtocolConfig.Protocol.ALPN,
                        ApplicationProtocolConfig.SelectorFailureBehavior.NO_ADVERTISE,
                        ApplicationProtocolConfig.SelectedListenerFailureBehavior.ACCEPT,
                        ApplicationProtocolNames.HTTP_2))
                .build();
    }

    private static SslContextBuilder clientBuilder(File cert, File key, File ca, boolean sessionCache,
            String[] groups) throws Exception {
        return SslContextBuilder.forClient()
                .sslProvider(SslProvider.OPENSSL)
                .option(OpenSslContextOption.GROUPS, groups)
                .keyManager(cert, key)
                .trustManager(new RememberingTrustManager(ca))
                .endpointIdentificationAlgorithm(null)
                .protocols(PROTOCOLS)
                .sessionCacheSize(sessionCache ? 1024 : 1)
                .sessionTimeout(sessionCache ? 300 : 1);
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

    /**
     * Verifies a server chain with the JDK's PKIX trust manager the first time its leaf is seen, then remembers it.
     * PKIX in Java (an ECDSA verification in pure Java, ~0.5 ms) per handshake made the generator, not the server
     * under test, the limit of the handshake scenarios; every distinct server certificate is still verified once.
     */
    static final class RememberingTrustManager extends X509ExtendedTrustManager {
        private final X509ExtendedTrustManager pkix;
        private final Set<ByteBuffer> verified = ConcurrentHashMap.newKeySet();

        RememberingTrustManager(File caFile) throws Exception {
            KeyStore store = KeyStore.getInstance(KeyStore.getDefaultType());
            store.load(null, null);
            try (InputStream in = new FileInputStream(caFile)) {
                int i = 0;
                for (Certificate c : CertificateFactory.getInstance("X.509").generateCertificates(in)) {
                    store.setCertificateEntry("ca-" + i++, c);
                }
            }
            TrustManagerFactory tmf = TrustManagerFactory.getInstance(TrustManagerFactory.getDefaultAlgorithm());
            tmf.init(store);
            X509ExtendedTrustManager found = null;
            for (TrustManager tm : tmf.getTrustManagers()) {
                if (tm instanceof X509ExtendedTrustManager x) {
                    found = x;
                }
            }
            if (found == null) {
                throw new IllegalStateException("no X509ExtendedTrustManager for " + caFile);
            }
            pkix = found;
        }

        @Override
        public void checkServerTrusted(X509Certificate[] chain, String authType, SSLEngine engine)
                throws CertificateException {
            ByteBuffer leaf = ByteBuffer.wrap(chain[0].getEncoded());
            if (!verified.contains(leaf)) {
                pkix.checkServerTrusted(chain, authType, engine);
                verified.add(leaf);
            }
        }

        @Override
        public void checkServerTrusted(X509Certificate[] chain, String authType, Socket socket)
                throws CertificateException {
            pkix.checkServerTrusted(chain, authType, socket);
        }

        @Override
        public void checkServerTrusted(X509Certificate[] chain, String authType) throws CertificateException {
            pkix.checkServerTrusted(chain, authType);
        }

        @Override
        public void checkClientTrusted(X509Certificate[] chain, String authType, SSLEngine engine)
                throws CertificateException {
            throw new CertificateException("a client trust manager");
        }

        @Override
        public void checkClientTrusted(X509Certificate[] chain, String authType, Socket socket)
                throws CertificateException {
            throw new CertificateException("a client trust manager");
        }

        @Override
        public void checkClientTrusted(X509Certificate[] chain, String authType) throws CertificateException {
            throw new CertificateException("a client trust manager");
        }

        @Override
        public X509Certificate[] getAcceptedIssuers() {
            return pkix.getAcceptedIssuers();
        }
    }
}
