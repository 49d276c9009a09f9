package org.mtlsproxy.it;

import static org.assertj.core.api.Assertions.assertThat;

import io.netty.channel.EventLoopGroup;
import io.netty.channel.MultiThreadIoEventLoopGroup;
import io.netty.channel.nio.NioIoHandler;
import java.net.InetAddress;
import java.net.ServerSocket;
import java.net.Socket;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Base64;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;
import java.util.regex.Pattern;
import javax.net.ssl.SSLContext;
import javax.net.ssl.SSLSocket;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.mtlsproxy.proxy.server.Reloader;
import org.mtlsproxy.testing.RecordingBackend;
import org.mtlsproxy.testing.TestPki;

/**
 * TLS session resumption on one proxy: generated ticket keys outlive a reload, and a resumed session is held to the
 * same checks as a full handshake (its chain verified again against the current trust bundles and CRLs, its trust
 * bundle known to allow rules).
 */
class SessionResumptionIT {

    private static final TestPki PKI = TestPki.get();

    private static EventLoopGroup group;
    private static RecordingBackend backend;

    @TempDir
    Path dir;

    @BeforeAll
    static void start() throws Exception {
        group = new MultiThreadIoEventLoopGroup(1, NioIoHandler.newFactory());
        backend = RecordingBackend.start(PKI.backendServer());
    }

    @AfterAll
    static void stop() throws Exception {
        if (backend != null) {
            backend.close();
        }
        if (group != null) {
            group.shutdownGracefully(0, 1, TimeUnit.SECONDS).sync();
        }
    }

    @Test
    void generatedKeysSurviveAReloadAndAResumedClientKeepsItsTrustBundle() throws Exception {
        // Given: a route allowing the good client only through the bundle that verified it
        try (ProxyFixture proxy = ProxyFixture.builder().backend("b", backend.port())
                .route("all", null, "/", "b", "{ spiffe-id = \"" + TestPki.GOOD_CLIENT_SPIFFE_ID
                        + "\", trust-bundle = test-clients }")
                .start()) {
            ResumingClient client = new ResumingClient(group, PKI.goodClient());
            ResumingClient.Handshake full = client.connect(proxy.port(), 1001);
            ResumingClient.Handshake resumed = client.connect(proxy.port(), 1001);

            // When
            Reloader.Result reload = proxy.server().reload("test").get(30, TimeUnit.SECONDS);
            ResumingClient.Handshake afterReload = client.connect(proxy.port(), 1001);

            // Then
            assertThat(full).isEqualTo(new ResumingClient.Handshake(200, false, "TLSv1.3"));
            assertThat(resumed).as("resumed, and allowed by the trust-bundle rule")
                    .isEqualTo(new ResumingClient.Handshake(200, true, "TLSv1.3"));
            assertThat(reload.success()).as(reload.message()).isTrue();
            assertThat(afterReload).as("resumed with the keys of before the reload")
                    .isEqualTo(new ResumingClient.Handshake(200, true, "TLSv1.3"));
            assertThat(proxy.counter("mtls_proxy.handshakes.resumed", "listener", ProxyFixture.LISTENER))
                    .isEqualTo(2);
        }
    }

    @Test
    void aRefusedReloadToAKeyFileLeavesTheGeneratedKeysInForce() throws Exception {
        try (ServerSocket taken = new ServerSocket(0, 1, InetAddress.getLoopbackAddress());
                ProxyFixture proxy = ProxyFixture.builder().backend("b", backend.port())
                        .route("all", null, "/", "b", "{ spiffe-id = \"" + TestPki.GOOD_CLIENT_SPIFFE_ID + "\" }")
                        .set("mtls-proxy.reload { watch = false, check-interval = 1h }")
                        .start()) {
            // Given: a session under the generated keys
            ResumingClient client = new ResumingClient(group, PKI.goodClient());
            assertThat(client.connect(proxy.port(), 1003).resumed()).isFalse();
            String conf = Files.readString(proxy.configFile());

            // When: a reload giving the listener a key file is refused once built (its new port is taken), then
            // the config as it was is reloaded
            Path keys = Files.writeString(dir.resolve("tickets.keys"),
                    Base64.getEncoder().encodeToString(new byte[48]) + "\n");
            Files.writeString(proxy.configFile(), conf
                    .replaceFirst(Pattern.quote("bind = \"127.0.0.1:0\""),
                            "bind = \"127.0.0.1:" + taken.getLocalPort() + "\"")
                    .replaceFirst("tls \\{", "tls {\n session-tickets.key-file = " + ProxyFixture.hocon(keys)));
            Reloader.Result refused = proxy.server().reload("test").get(30, TimeUnit.SECONDS);
            Files.writeString(proxy.configFile(), conf);
            Reloader.Result restored = proxy.server().reload("test").get(30, TimeUnit.SECONDS);
            ResumingClient.Handshake afterwards = client.connect(proxy.port(), 1003);

            // Then: the refused reload did not take the listener off its generated keys
            assertThat(refused.success()).isFalse();
            assertThat(refused.message()).contains("cannot bind");
            assertThat(restored.success()).as(restored.message()).isTrue();
            assertThat(afterwards).as("resumed with the keys of before both reloads")
                    .isEqualTo(new ResumingClient.Handshake(200, true, "TLSv1.3"));
        }
    }

    @Test
    void theAccessLogNamesTheProtocolCipherAndHandshakeTimeOfFullAndResumedSessions() throws Exception {
        try (AccessLog log = new AccessLog();
                ProxyFixture proxy = ProxyFixture.builder().backend("b", backend.port())
                        .route("all", null, "/", "b", "{ spiffe-id = \"" + TestPki.GOOD_CLIENT_SPIFFE_ID + "\" }")
                        .start()) {
            ResumingClient client = new ResumingClient(group, PKI.goodClient());

            // When: a full handshake, then two that resume its session
            List<ResumingClient.Exchange> exchanges = List.of(client.exchange(proxy.port(), 1002),
                    client.exchange(proxy.port(), 1002), client.exchange(proxy.port(), 1002));

            // Then: each connection's line says what that connection negotiated, as the client saw it
            assertThat(exchanges).extracting(e -> e.handshake().resumed()).containsExactly(false, true, true);
            List<Map<String, String>> lines = log.await(3, l -> "/resume".equals(l.get("path")));
            assertThat(lines).hasSize(3);
            for (int i = 0; i < 3; i++) {
                ResumingClient.Exchange e = exchanges.get(i);
                assertThat(e.cipher()).isNotBlank();
                assertThat(lines.get(i)).containsEntry("tls", e.handshake().protocol())
                        .containsEntry("cipher", e.cipher()).containsEntry("status", "200");
                assertThat(Double.parseDouble(lines.get(i).get("handshake_ms"))).isPositive();
            }
            assertThat(lines).extracting(l -> l.get("handshake_ms")).doesNotHaveDuplicates();
        }
    }

    @Test
    void aResumedSessionOfAClientRevokedSinceIsRefused() throws Exception {
        // Given: no CRL yet, and a session of the (soon revoked) client
        try (ProxyFixture proxy = ProxyFixture.builder().backend("b", backend.port())
                .route("all", null, "/", "b", "{ trust-bundle = test-clients }")
                .clientCrls()
                .start()) {
            ResumingClient client = new ResumingClient(group, PKI.revokedClient());
            assertThat(client.connect(proxy.port(), 1001).status()).isEqualTo(200);

            // When: the CRL revoking it is configured, and it comes back with its session
            String conf = Files.readString(proxy.configFile());
            String withCrl = conf.replace("crls = []", "crls = [" + ProxyFixture.hocon(PKI.clientCrlPem()) + "]");
            assertThat(withCrl).isNotEqualTo(conf);
            Files.writeString(proxy.configFile(), withCrl);
            Reloader.Result reload = proxy.server().reload("test").get(30, TimeUnit.SECONDS);
            int forwardedBefore = backend.received().size();
            ResumingClient.Handshake comeback = client.connect(proxy.port(), 1001);

            // Then: the session resumed at the TLS level, and the proxy refused it as revoked
            assertThat(reload.success()).as(reload.message()).isTrue();
            assertThat(comeback.resumed()).as("the client offered its session and the server accepted the ticket")
                    .isTrue();
            assertThat(comeback.status()).as("no response: connection closed").isZero();
            assertThat(proxy.handshakeFailures("revoked")).isEqualTo(1);
            assertThat(proxy.counter("mtls_proxy.handshakes.resumed", "listener", ProxyFixture.LISTENER)).isZero();
            assertThat(backend.received()).hasSize(forwardedBefore);
        }
    }

    @Test
    void sessionTicketsLeaveRightAfterTheHandshakeBeforeAnyRequest() throws Exception {
        try (ProxyFixture proxy = ProxyFixture.builder().backend("b", backend.port())
                .route("all", null, "/", "b", "{ spiffe-id = \"" + TestPki.GOOD_CLIENT_SPIFFE_ID + "\" }")
                .start();
                Socket tcp = new Socket(InetAddress.getLoopbackAddress(), proxy.port())) {
            // Given: a client without TCP_NODELAY (like ab or Java's HttpsURLConnection), TLS 1.3
            tcp.setTcpNoDelay(false);
            SSLContext ctx = RawTls.context(PKI.goodClient(), PKI.serverRootCa().certificate());
            SSLSocket tls = (SSLSocket) ctx.getSocketFactory().createSocket(tcp, "localhost", proxy.port(), true);
            tls.setEnabledProtocols(new String[] {"TLSv1.3"});

            // When: its handshake completes (a TLS 1.3 client is done once its Finished is sent) and it sends nothing
            tls.startHandshake();

            // Then: the NewSessionTicket records arrive without waiting for a request. Held back until the first
            // response (BoringSSL's default), the client's Finished got only a delayed ACK and its first request
            // waited behind Nagle for it: ~40 ms on every new connection.
            long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(3);
            while (tcp.getInputStream().available() == 0 && System.nanoTime() < deadline) {
                Thread.sleep(10);
            }
            assertThat(tcp.getInputStream().available()).as("bytes from the proxy after the handshake").isPositive();
            assertThat(tls.getSession().getProtocol()).isEqualTo("TLSv1.3");

            // and the connection serves its request as usual
            tls.setSoTimeout(5000);
            tls.getOutputStream().write("GET /t HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n"
                    .getBytes(StandardCharsets.US_ASCII));
            tls.getOutputStream().flush();
            String response = new String(tls.getInputStream().readAllBytes(), StandardCharsets.ISO_8859_1);
            assertThat(response).startsWith("HTTP/1.1 200");
        }
    }
}
