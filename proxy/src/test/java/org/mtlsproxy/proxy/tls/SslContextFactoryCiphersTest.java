package org.mtlsproxy.proxy.tls;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import io.netty.buffer.ByteBufAllocator;
import io.netty.handler.ssl.SslContext;
import io.netty.handler.ssl.SslProvider;
import java.time.Duration;
import java.util.List;
import java.util.Optional;
import javax.net.ssl.SSLEngine;
import org.junit.jupiter.api.Test;
import org.mtlsproxy.config.CrlExpiredPolicy;
import org.mtlsproxy.config.ServerTlsConfig;
import org.mtlsproxy.config.SessionTicketsConfig;
import org.mtlsproxy.config.TrustBundleConfig;
import org.mtlsproxy.testing.TestPki;

/** {@code tls.ciphers}: every name must be one the TLS engine supports; none is dropped without a word. */
class SslContextFactoryCiphersTest {

    private static final TestPki PKI = TestPki.get();

    @Test
    void ianaAndOpenSslNamesAreAppliedToBoringSsl() throws Exception {
        SslContext ctx = listener(List.of("TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384", "ECDHE-ECDSA-CHACHA20-POLY1305"),
                SslProvider.OPENSSL);
        SSLEngine engine = ctx.newEngine(ByteBufAllocator.DEFAULT);
        try {
            assertThat(engine.getEnabledCipherSuites())
                    .contains("TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384", "TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256")
                    .doesNotContain("TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256");
        } finally {
            io.netty.util.ReferenceCountUtil.release(engine);
        }
    }

    @Test
    void anUnknownNameIsRefusedWithTheNameAndAnExample() {
        ServerTlsConfig tls = serverTls(List.of("TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256", "NOT-A-CIPHER"));
        assertThatThrownBy(() -> SslContextFactory.forListener(tls, SslContextFactory.clientVerifier(tls),
                SslProvider.OPENSSL))
                .isInstanceOf(TlsMaterialException.class)
                .hasMessageContaining("cipher suite NOT-A-CIPHER is not supported by BoringSSL")
                .hasMessageContaining("expected: e.g. TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256");
    }

    @Test
    void theJdkEngineTakesIanaNamesOnly() throws Exception {
        assertThat(listener(List.of("TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256"), SslProvider.JDK)).isNotNull();
        ServerTlsConfig tls = serverTls(List.of("ECDHE-ECDSA-AES128-GCM-SHA256"));
        assertThatThrownBy(() -> SslContextFactory.forListener(tls, SslContextFactory.clientVerifier(tls),
                SslProvider.JDK))
                .isInstanceOf(TlsMaterialException.class)
                .hasMessageContaining("cipher suite ECDHE-ECDSA-AES128-GCM-SHA256 is not supported by the JDK TLS "
                        + "engine (IANA names only)");
    }

    private static SslContext listener(List<String> ciphers, SslProvider provider) throws Exception {
        ServerTlsConfig tls = serverTls(ciphers);
        return SslContextFactory.forListener(tls, SslContextFactory.clientVerifier(tls), provider);
    }

    private static ServerTlsConfig serverTls(List<String> ciphers) {
        return new ServerTlsConfig(PKI.proxyServer().chainPem(), PKI.proxyServer().keyPem(),
                List.of(new TrustBundleConfig("clients", PKI.clientRootPem(), List.of(), Optional.empty(), true,
                        CrlExpiredPolicy.HARD_FAIL, Duration.ofHours(24))),
                List.of("TLSv1.3", "TLSv1.2"), ciphers, List.of(), 3, Duration.ofSeconds(10),
                SessionTicketsConfig.DEFAULT);
    }
}
