package org.mtlsproxy.proxy.tls;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;
import static org.assertj.core.api.Assumptions.assumeThat;

import io.netty.buffer.ByteBufAllocator;
import io.netty.handler.ssl.OpenSsl;
import io.netty.handler.ssl.OpenSslContextOption;
import io.netty.handler.ssl.OpenSslSession;
import io.netty.handler.ssl.SslContext;
import io.netty.handler.ssl.SslContextBuilder;
import io.netty.handler.ssl.SslProvider;
import java.nio.ByteBuffer;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import javax.net.ssl.SSLEngine;
import javax.net.ssl.SSLEngineResult.HandshakeStatus;
import javax.net.ssl.SSLException;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.mtlsproxy.config.BackendConfig;
import org.mtlsproxy.config.BackendTlsConfig;
import org.mtlsproxy.config.ConfigLoader;
import org.mtlsproxy.config.CrlExpiredPolicy;
import org.mtlsproxy.config.ListenerConfig;
import org.mtlsproxy.config.ProxyConfig;
import org.mtlsproxy.config.ServerTlsConfig;
import org.mtlsproxy.config.SessionTicketsConfig;
import org.mtlsproxy.config.TlsGroups;
import org.mtlsproxy.config.TrustBundleConfig;
import org.mtlsproxy.proxy.metrics.ProxyMetrics;
import org.mtlsproxy.proxy.runtime.RuntimeSnapshot;
import org.mtlsproxy.proxy.transport.Transport;
import org.mtlsproxy.testing.TestPki;

/**
 * The key-exchange groups the listener and backend contexts really negotiate, BoringSSL against BoringSSL, in memory:
 * every name the config accepts builds a context and is the group agreed on; a restricted context refuses a peer
 * without a common group; the JDK engine refuses groups instead of ignoring them. Over sockets, through the whole
 * proxy: {@code KeyExchangeGroupsIT}.
 */
class SslContextFactoryGroupsTest {

    private static final TestPki PKI = TestPki.get();

    @BeforeAll
    static void boringSsl() {
        assumeThat(OpenSsl.isAvailable()).as("BoringSSL (netty-tcnative) loads on this platform").isTrue();
    }

    @Test
    void everyAcceptedNameBuildsAListenerContextThatNegotiatesItsGroup() throws Exception {
        for (String name : TlsGroups.accepted()) {
            // Given: the listener restricted to the group, a client offering every group
            String group = TlsGroups.canonical(name).orElseThrow();
            SslContext listener = listener(List.of(group), List.of("TLSv1.3", "TLSv1.2"));

            // When
            String negotiated = handshake(client(List.of(), "TLSv1.3"), listener);

            // Then
            assertThat(negotiated).as("listener groups = [%s] (written %s)", group, name).isEqualTo(group);
        }
    }

    @Test
    void everyAcceptedNameBuildsABackendContextThatNegotiatesItsGroup() throws Exception {
        for (String name : TlsGroups.accepted()) {
            String group = TlsGroups.canonical(name).orElseThrow();
            SslContext backendSide = SslContextFactory.forBackend(new BackendTlsConfig(PKI.backendRootPem(),
                    TestPki.BACKEND_DNS_NAME, Optional.empty(), Optional.empty(), List.of("TLSv1.3"), List.of(group)));

            String negotiated = handshake(backendSide, backendServer(List.of()), TestPki.BACKEND_DNS_NAME);

            assertThat(negotiated).as("backend groups = [%s] (written %s)", group, name).isEqualTo(group);
        }
    }

    @Test
    void byDefaultAListenerPrefersTheHybridAndStillAcceptsEveryClassicalGroup() throws Exception {
        SslContext listener = listener(List.of(), List.of("TLSv1.3", "TLSv1.2"));

        assertThat(handshake(client(List.of(), "TLSv1.3"), listener)).isEqualTo("X25519MLKEM768");
        for (String group : List.of("X25519", "P-256", "P-384", "P-521")) {
            assertThat(handshake(client(List.of(group), "TLSv1.3"), listener)).as(group).isEqualTo(group);
        }
    }

    @Test
    void aListenerRestrictedToP256RefusesAClientOfferingOnlyX25519() throws Exception {
        SslContext listener = listener(List.of("P-256"), List.of("TLSv1.3", "TLSv1.2"));

        assertThatThrownBy(() -> handshake(client(List.of("X25519"), "TLSv1.3"), listener))
                .isInstanceOf(SSLException.class).hasMessageContaining("NO_SHARED_GROUP");
        // The same client offering P-256 as its second choice gets it (after a HelloRetryRequest).
        assertThat(handshake(client(List.of("X25519", "P-256"), "TLSv1.3"), listener)).isEqualTo("P-256");
    }

    @Test
    void aHybridOnlyListenerRefusesTls12ClientsForTheHybridIsTls13Only() throws Exception {
        SslContext listener = listener(List.of("X25519MLKEM768"), List.of("TLSv1.3", "TLSv1.2"));

        // TLS 1.2 has only ECDHE suites to offer here, and none without a shared curve: BoringSSL says "cipher".
        assertThatThrownBy(() -> handshake(client(List.of(), "TLSv1.2"), listener))
                .isInstanceOf(SSLException.class).hasMessageContaining("NO_SHARED_CIPHER");
        assertThat(handshake(client(List.of(), "TLSv1.3"), listener)).isEqualTo("X25519MLKEM768");
    }

    @Test
    void groupsOnAJdkContextAreRefusedNamingTheGroups() throws Exception {
        ServerTlsConfig tls = serverTls(List.of("P-256", "X25519"), List.of("TLSv1.3"));
        BackendTlsConfig backend = new BackendTlsConfig(PKI.backendRootPem(), TestPki.BACKEND_DNS_NAME,
                Optional.empty(), Optional.empty(), List.of("TLSv1.3"), List.of("P-384"));

        assertThatThrownBy(() -> SslContextFactory.forListener(tls, SslContextFactory.clientVerifier(tls),
                SslProvider.JDK))
                .isInstanceOf(TlsMaterialException.class)
                .hasMessageContaining("with groups P-256, X25519: key-exchange groups cannot be set: this context "
                        + "runs the JDK TLS engine");
        assertThatThrownBy(() -> SslContextFactory.forBackend(backend, SslProvider.JDK))
                .isInstanceOf(TlsMaterialException.class)
                .hasMessageStartingWith("cannot build the backend TLS context with groups P-384: key-exchange groups "
                        + "cannot be set");
    }

    @Test
    void aContextThatCannotBeBuiltNamesItsListenerOrBackend() throws Exception {
        // Given: groups on a tcp listener and its backend (JDK engine), which validation refuses; built anyway
        ProxyConfig valid = ConfigLoader.parse(tcpConfig(), PKI.directory(), "groups-test.conf");
        ListenerConfig l = valid.listeners().get(0);
        ServerTlsConfig t = l.tls();
        ListenerConfig withGroups = new ListenerConfig(l.name(), l.bind(), new ServerTlsConfig(t.certificateChain(),
                t.privateKey(), t.clientTrust(), t.protocols(), t.ciphers(), List.of("P-256"), t.verifyDepth(),
                t.handshakeTimeout(), t.sessionTickets()), l.http(), l.protocol(), l.tcp(), l.limits());
        ProxyConfig listenerGroups = withListener(valid, withGroups);
        BackendConfig b = valid.backends().get("b");
        BackendTlsConfig bt = b.tls();
        ProxyConfig backendGroups = new ProxyConfig(valid.listeners(), valid.routes(), Map.of("b",
                new BackendConfig(b.name(), b.endpoints(), new BackendTlsConfig(bt.caBundle(), bt.serverName(),
                        bt.certificateChain(), bt.privateKey(), bt.protocols(), List.of("X25519")),
                        b.connectTimeout(), b.responseTimeout(), b.idleTimeout(), b.maxIdlePerEndpoint(),
                        b.maxConnectionsPerEndpoint(), b.maxPendingRequests(), b.loadBalancing(), b.retries(), b.ejection())),
                valid.identityHeader(), valid.admin(), valid.shutdown(), valid.reload(), valid.expiry(),
                valid.source());

        // When / Then
        assertThatThrownBy(() -> RuntimeSnapshot.build(listenerGroups, new ProxyMetrics(), Transport.NIO))
                .isInstanceOf(TlsMaterialException.class)
                .hasMessageStartingWith("listener `db`: cannot build the listener TLS context from "
                        + t.certificateChain() + " with groups P-256: key-exchange groups cannot be set");
        assertThatThrownBy(() -> RuntimeSnapshot.build(backendGroups, new ProxyMetrics(), Transport.NIO))
                .isInstanceOf(TlsMaterialException.class)
                .hasMessageStartingWith("backend `b`: cannot build the backend TLS context with groups X25519: ");
    }

    // ------------------------------------------------------------------------------------------------ fixtures

    private static SslContext listener(List<String> groups, List<String> protocols) throws Exception {
        ServerTlsConfig tls = serverTls(groups, protocols);
        return SslContextFactory.forListener(tls, SslContextFactory.clientVerifier(tls), SslProvider.OPENSSL);
    }

    private static ServerTlsConfig serverTls(List<String> groups, List<String> protocols) {
        return new ServerTlsConfig(PKI.proxyServer().chainPem(), PKI.proxyServer().keyPem(),
                List.of(new TrustBundleConfig("clients", PKI.clientRootPem(), List.of(), Optional.empty(), true,
                        CrlExpiredPolicy.HARD_FAIL, Duration.ofHours(24))),
                protocols, List.of(), groups, 3, Duration.ofSeconds(10), SessionTicketsConfig.DEFAULT);
    }

    /** A BoringSSL client with a good client certificate, offering {@code groups} (empty: Netty's defaults). */
    private static SslContext client(List<String> groups, String protocol) throws SSLException {
        SslContextBuilder builder = SslContextBuilder.forClient().sslProvider(SslProvider.OPENSSL)
                .keyManager(PKI.goodClient().privateKey(), PKI.goodClient().chain())
                .trustManager(PKI.serverRootPem().toFile())
                .protocols(protocol);
        if (!groups.isEmpty()) {
            builder.option(OpenSslContextOption.GROUPS, groups.toArray(String[]::new));
        }
        return builder.build();
    }

    /** A BoringSSL server with the backend certificate, accepting {@code groups} (empty: Netty's defaults). */
    private static SslContext backendServer(List<String> groups) throws SSLException {
        SslContextBuilder builder = SslContextBuilder.forServer(PKI.backendServer().privateKey(),
                PKI.backendServer().chain()).sslProvider(SslProvider.OPENSSL);
        if (!groups.isEmpty()) {
            builder.option(OpenSslContextOption.GROUPS, groups.toArray(String[]::new));
        }
        return builder.build();
    }

    private static String handshake(SslContext client, SslContext server) throws SSLException {
        return handshake(client, server, TestPki.PROXY_DNS_NAME);
    }

    /**
     * A full handshake between a client and a server engine, records passed in memory; the group the client's
     * session negotiated, or the first {@link SSLException} either side raised.
     */
    private static String handshake(SslContext client, SslContext server, String serverName) throws SSLException {
        SSLEngine c = client.newEngine(ByteBufAllocator.DEFAULT, serverName, 443);
        SSLEngine s = server.newEngine(ByteBufAllocator.DEFAULT);
        try {
            ByteBuffer toServer = ByteBuffer.allocate(1 << 16);
            ByteBuffer toClient = ByteBuffer.allocate(1 << 16);
            ByteBuffer sink = ByteBuffer.allocate(1 << 16);
            c.beginHandshake();
            s.beginHandshake();
            for (int i = 0; i < 50 && !(finished(c) && finished(s)); i++) {
                step(c, toServer, toClient, sink);
                step(s, toClient, toServer, sink);
            }
            assertThat(finished(c) && finished(s)).as("handshake finished").isTrue();
            return ((OpenSslSession) c.getSession()).getNamedGroup();
        } finally {
            c.closeOutbound();
            s.closeOutbound();
        }
    }

    private static boolean finished(SSLEngine engine) {
        HandshakeStatus status = engine.getHandshakeStatus();
        return status == HandshakeStatus.NOT_HANDSHAKING || status == HandshakeStatus.FINISHED;
    }

    /** Lets {@code engine} write what it has to {@code out} and read what waits in {@code in}. */
    private static void step(SSLEngine engine, ByteBuffer out, ByteBuffer in, ByteBuffer sink) throws SSLException {
        runTasks(engine);
        engine.wrap(ByteBuffer.allocate(0), out);
        runTasks(engine);
        in.flip();
        while (in.hasRemaining()) {
            int before = in.remaining();
            sink.clear();
            engine.unwrap(in, sink);
            runTasks(engine);
            if (in.remaining() == before) {
                break;
            }
        }
        in.compact();
    }

    private static void runTasks(SSLEngine engine) {
        for (Runnable task = engine.getDelegatedTask(); task != null; task = engine.getDelegatedTask()) {
            task.run();
        }
    }

    private static ProxyConfig withListener(ProxyConfig config, ListenerConfig listener) {
        return new ProxyConfig(List.of(listener), config.routes(), config.backends(), config.identityHeader(),
                config.admin(), config.shutdown(), config.reload(), config.expiry(), config.source());
    }

    private static String tcpConfig() {
        return """
                mtls-proxy {
                  listeners = [{
                    name = db
                    bind = "127.0.0.1:0"
                    protocol = tcp
                    backend = b
                    tls {
                      certificate-chain = %s
                      private-key = %s
                      client-trust = [{ name = test-clients, ca-bundle = %s }]
                    }
                  }]
                  backends {
                    b {
                      endpoints = ["127.0.0.1:9"]
                      tls { ca-bundle = %s, server-name = "%s" }
                    }
                  }
                  admin { enabled = false }
                }
                """.formatted(q(PKI.proxyServer().chainPem()), q(PKI.proxyServer().keyPem()), q(PKI.clientRootPem()),
                q(PKI.backendRootPem()), TestPki.BACKEND_DNS_NAME);
    }

    private static String q(Path p) {
        return '"' + p.toAbsolutePath().toString().replace("\\", "\\\\") + '"';
    }
}
