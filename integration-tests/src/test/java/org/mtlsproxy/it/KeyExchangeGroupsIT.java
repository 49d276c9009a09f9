package org.mtlsproxy.it;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assumptions.assumeThat;

import ch.qos.logback.classic.Level;
import ch.qos.logback.classic.Logger;
import ch.qos.logback.classic.spi.ILoggingEvent;
import ch.qos.logback.core.read.ListAppender;
import io.netty.channel.EventLoopGroup;
import io.netty.channel.MultiThreadIoEventLoopGroup;
import io.netty.channel.nio.NioIoHandler;
import io.netty.handler.ssl.OpenSsl;
import io.netty.handler.ssl.OpenSslContextOption;
import io.netty.handler.ssl.SslContextBuilder;
import io.netty.handler.ssl.SslProvider;
import java.time.Duration;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;
import java.util.stream.Collectors;
import org.awaitility.Awaitility;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.mtlsproxy.proxy.http.ProxyHandler;
import org.mtlsproxy.testing.RecordingBackend;
import org.mtlsproxy.testing.TestHttpClient;
import org.mtlsproxy.testing.TestPki;
import org.slf4j.LoggerFactory;

/**
 * {@code tls.groups} on a real listener and a real backend leg, over loopback: a BoringSSL client (Netty) offering
 * chosen groups against the proxy, and the proxy against a BoringSSL backend accepting chosen groups. The
 * negotiated group is read from each side's BoringSSL session ({@link OpenSslSession#getNamedGroup()}).
 */
class KeyExchangeGroupsIT {

    private static final TestPki PKI = TestPki.get();
    private static final String ALLOW_GOOD = "{ spiffe-id = \"spiffe://test.local/ns/prod/sa/orders\" }";

    private final ListAppender<ILoggingEvent> proxyLog = new ListAppender<>();
    private final Logger proxyLogger = (Logger) LoggerFactory.getLogger(ProxyHandler.class);
    private final ListAppender<ILoggingEvent> accessLog = new ListAppender<>();
    private final Logger accessLogger = (Logger) LoggerFactory.getLogger("mtls_proxy.access");
    private EventLoopGroup clientGroup;

    /** What one client connection saw: the group its handshake agreed on (null: failed) and the GET's status. */
    private record Outcome(String group, int status) {
    }

    @BeforeAll
    static void boringSsl() {
        assumeThat(OpenSsl.isAvailable()).as("BoringSSL (netty-tcnative) loads on this platform").isTrue();
    }

    @BeforeEach
    void start() {
        clientGroup = new MultiThreadIoEventLoopGroup(1, NioIoHandler.newFactory());
        for (var pair : List.of(Map.entry(proxyLogger, proxyLog), Map.entry(accessLogger, accessLog))) {
            pair.getValue().start();
            pair.getKey().addAppender(pair.getValue());
            pair.getKey().setLevel(Level.INFO);
        }
    }

    @AfterEach
    void stop() {
        proxyLogger.detachAppender(proxyLog);
        accessLogger.detachAppender(accessLog);
        proxyLogger.setLevel(null);
        accessLogger.setLevel(null);
        clientGroup.shutdownGracefully(0, 5, TimeUnit.SECONDS).syncUninterruptibly();
    }

    @Test
    void aListenerWithGroupsP256RefusesAnX25519OnlyClientAndServesAP256Client() throws Exception {
        try (RecordingBackend backend = RecordingBackend.start(PKI.backendServer());
                ProxyFixture proxy = ProxyFixture.builder().backend("b", backend.port())
                        .route("all", null, "/", "b", ALLOW_GOOD)
                        .listenerTls("groups = [P-256]").start()) {
            // When: a client that offers X25519 alone
            Outcome x25519Only = connect(proxy.port(), List.of("X25519"));

            // Then: refused at the handshake, counted and logged with BoringSSL's reason
            assertThat(x25519Only).isEqualTo(new Outcome(null, 0));
            Awaitility.await().atMost(Duration.ofSeconds(10)).untilAsserted(() -> {
                assertThat(proxy.handshakeFailures("handshake_error")).isEqualTo(1);
                assertThat(List.copyOf(accessLog.list))
                        .filteredOn(e -> e.getFormattedMessage().equals("handshake rejected"))
                        .singleElement().satisfies(e -> assertThat(kv(e).get("detail")).contains("NO_SHARED_GROUP"));
            });

            // When / Then: a client offering P-256 (as its second choice) gets it, and its request through
            assertThat(connect(proxy.port(), List.of("X25519", "P-256"))).isEqualTo(new Outcome("P-256", 200));
            assertThat(connect(proxy.port(), List.of("P-256"))).isEqualTo(new Outcome("P-256", 200));
            assertThat(backend.received()).hasSize(2);
        }
    }

    @Test
    void byDefaultABoringSslClientNegotiatesThePostQuantumHybridWithTheListenerAndTheProxyWithTheBackend()
            throws Exception {
        try (RecordingBackend backend = RecordingBackend.start(PKI.backendServer());
                ProxyFixture proxy = ProxyFixture.builder().backend("b", backend.port())
                        .route("all", null, "/", "b", ALLOW_GOOD).start()) {
            assertThat(connect(proxy.port(), List.of())).isEqualTo(new Outcome("X25519MLKEM768", 200));
            assertThat(backend.negotiatedGroups()).containsExactly("X25519MLKEM768");
        }
    }

    @Test
    void backendGroupsChooseTheGroupOfTheProxyToBackendLeg() throws Exception {
        try (RecordingBackend backend = RecordingBackend.start(PKI.backendServer());
                ProxyFixture proxy = ProxyFixture.builder().backend("b", backend.port())
                        .set("mtls-proxy.backends.b.tls.groups = [secp384r1]")
                        .route("all", null, "/", "b", ALLOW_GOOD).start();
                TestHttpClient client = proxy.client(PKI.goodClient())) {
            assertThat(client.get("/x").status()).isEqualTo(200);
            assertThat(backend.negotiatedGroups()).containsExactly("P-384");
        }
    }

    @Test
    void aBackendAcceptingNoneOfTheBackendGroupsGets502WithTheTlsFailureLogged() throws Exception {
        try (RecordingBackend backend = RecordingBackend.startAcceptingGroups(PKI.backendServer(), "X25519");
                ProxyFixture restricted = ProxyFixture.builder().backend("b", backend.port())
                        .set("mtls-proxy.backends.b.tls.groups = [P-256, P-384]")
                        .route("all", null, "/", "b", ALLOW_GOOD).start();
                ProxyFixture unrestricted = ProxyFixture.builder().backend("b", backend.port())
                        .route("all", null, "/", "b", ALLOW_GOOD).start();
                TestHttpClient client = restricted.client(PKI.goodClient());
                TestHttpClient control = unrestricted.client(PKI.goodClient())) {
            // When
            int status = client.get("/x").status();

            // Then: 502, the backend saw a handshake without a shared group and no request
            assertThat(status).isEqualTo(502);
            assertThat(backend.received()).isEmpty();
            Awaitility.await().atMost(Duration.ofSeconds(10)).untilAsserted(() ->
                    assertThat(backend.handshakeFailures()).singleElement()
                            .satisfies(t -> assertThat(causes(t)).contains("NO_SHARED_GROUP")));
            assertThat(restricted.counter("mtls_proxy.backend.connections", "backend", "b", "result", "failure",
                    "reason", "backend_tls_failed")).isEqualTo(1);
            assertThat(List.copyOf(proxyLog.list)).filteredOn(e -> e.getFormattedMessage().equals("backend unavailable"))
                    .singleElement().satisfies(e -> {
                        assertThat(e.getLevel()).isEqualTo(Level.WARN);
                        assertThat(kv(e)).containsEntry("backend", "b").containsEntry("reason", "backend_tls_failed")
                                .containsEntry("groups", "P-256,P-384");
                        assertThat(kv(e).get("cause")).contains("HANDSHAKE_FAILURE");
                    });

            // And: the same backend serves a proxy that offers the default groups (X25519 among them)
            assertThat(control.get("/y").status()).isEqualTo(200);
            assertThat(backend.negotiatedGroups()).containsExactly("X25519");
        }
    }

    /** One connection from a BoringSSL client offering {@code groups} (empty: Netty's defaults), then one GET. */
    private Outcome connect(int port, List<String> groups) throws Exception {
        SslContextBuilder builder = SslContextBuilder.forClient()
                .sslProvider(SslProvider.OPENSSL)
                .keyManager(PKI.goodClient().privateKey(), PKI.goodClient().chain())
                .trustManager(PKI.serverRootPem().toFile())
                .protocols("TLSv1.3");
        if (!groups.isEmpty()) {
            builder.option(OpenSslContextOption.GROUPS, groups.toArray(String[]::new));
        }
        ResumingClient.Exchange e = new ResumingClient(clientGroup, builder.build()).exchange(port, port);
        return new Outcome(e.group(), e.handshake().status());
    }

    /** Every exception of the cause chain, as text. */
    private static String causes(Throwable t) {
        StringBuilder all = new StringBuilder();
        for (Throwable c = t; c != null; c = c.getCause()) {
            all.append(c).append(" / ");
        }
        return all.toString();
    }

    private static Map<String, String> kv(ILoggingEvent e) {
        return e.getKeyValuePairs() == null ? Map.of() : e.getKeyValuePairs().stream()
                .collect(Collectors.toMap(kv -> kv.key, kv -> String.valueOf(kv.value), (a, b) -> b));
    }
}
