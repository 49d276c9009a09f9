package org.mtlsproxy.config;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.Optional;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class ConfigLoaderTest {

    @TempDir
    Path dir;

    TestPki pki;

    @BeforeEach
    void createPki() throws Exception {
        pki = new TestPki(dir);
    }

    @Test
    void validConfigLoadsWithDefaultsAppliedAndRelativePathsResolved() throws Exception {
        // Given
        Path file = pki.write("proxy.conf", TestPki.VALID_CONFIG);

        // When
        ProxyConfig config = ConfigLoader.load(file);

        // Then
        assertThat(config.source()).isEqualTo(file.toString());
        ListenerConfig listener = config.listener("public").orElseThrow();
        assertThat(listener.bind()).isEqualTo(new HostPort("127.0.0.1", 8443));
        assertThat(listener.tls()).isEqualTo(new ServerTlsConfig(
                dir.resolve("server-chain.pem"), dir.resolve("server.key"),
                List.of(new TrustBundleConfig("prod", dir.resolve("clients-ca.pem"),
                        List.of(dir.resolve("clients.crl")), Optional.empty(), true, CrlExpiredPolicy.HARD_FAIL,
                        Duration.ofHours(24))),
                List.of("TLSv1.3", "TLSv1.2"), List.of(), 3, Duration.ofSeconds(10)));
        assertThat(listener.http()).isEqualTo(new HttpConfig(8192, 16384, Duration.ofSeconds(60)));

        assertThat(config.routes()).containsExactly(new RouteConfig("orders", List.of(), Optional.of("api.internal"),
                "/orders/", "orders", List.of(
                        new AllowRule("allow[0]", Optional.of("spiffe://example.org/ns/prod/sa/*"), Optional.empty(),
                                Optional.empty(), Optional.empty(), Optional.empty(), Optional.empty(),
                                Optional.empty(), Optional.empty(), Optional.empty()),
                        new AllowRule("reporting", Optional.empty(), Optional.empty(), Optional.empty(),
                                Optional.of("reporting"), Optional.of("analytics"), Optional.empty(),
                                Optional.empty(), Optional.of("prod"), Optional.empty())),
                new RouteLimitsConfig(1L << 30, Optional.empty())));

        assertThat(config.backends()).containsOnlyKeys("orders");
        assertThat(config.backends().get("orders")).isEqualTo(new BackendConfig("orders",
                List.of(new HostPort("orders-1.internal", 8443), new HostPort("::1", 9443)),
                new BackendTlsConfig(dir.resolve("backend-ca.pem"), "orders.internal", Optional.empty(),
                        Optional.empty(), List.of("TLSv1.3", "TLSv1.2")),
                Duration.ofSeconds(5), Duration.ofSeconds(60), Duration.ofSeconds(60), 32, 0, 1024,
                LoadBalancing.ROUND_ROBIN, 2,
                new EjectionConfig(5, Duration.ofSeconds(10), Duration.ofMinutes(5), 50)));

        assertThat(config.identityHeader().name()).isEqualTo("x-forwarded-client-cert");
        assertThat(config.identityHeader().strip()).contains("x-ssl-client-cert");
        assertThat(config.admin()).isEqualTo(new AdminConfig(true, new HostPort("127.0.0.1", 9901)));
    }

    @Test
    void tcpListenerReadsBackendAllowRulesAndRelaySettingsAndTakesNoRoutes() throws Exception {
        // Given: an http listener with the route, and a tcp listener the route (listeners = []) does not apply to
        String hocon = TestPki.validConfigWith("  }]\n  routes = [{", """
                  }, {
                    name = db
                    bind = "127.0.0.1:5433"
                    protocol = tcp
                    tls {
                      certificate-chain = "server-chain.pem"
                      private-key = "server.key"
                      client-trust = [{ name = db-clients, ca-bundle = "clients-ca.pem" }]
                    }
                    backend = orders
                    allow = [{ spiffe-id = "spiffe://example.org/ns/prod/sa/billing", trust-bundle = db-clients }]
                    tcp { proxy-protocol = v2 }
                  }]
                  routes = [{""");

        // When
        ProxyConfig config = ConfigLoader.parse(hocon, dir, "test.conf");

        // Then
        assertThat(config.listeners().get(0).protocol()).isEqualTo(ListenerConfig.Protocol.HTTP);
        assertThat(config.listeners().get(0).tcp()).isEmpty();
        ListenerConfig db = config.listeners().get(1);
        assertThat(db.protocol()).isEqualTo(ListenerConfig.Protocol.TCP);
        TcpListenerConfig tcp = db.tcp().orElseThrow();
        assertThat(tcp.backend()).isEqualTo("orders");
        assertThat(tcp.proxyProtocol()).isEqualTo(TcpListenerConfig.ProxyProtocol.V2);
        assertThat(tcp.idleTimeout()).isEqualTo(Duration.ofHours(1));
        assertThat(tcp.allow()).singleElement().satisfies(r -> {
            assertThat(r.name()).isEqualTo("allow[0]");
            assertThat(r.trustBundle()).contains("db-clients");
        });
        assertThat(ConfigJson.render(config)).contains("\"protocol\": \"tcp\"", "\"proxy-protocol\": \"v2\"");
    }

    @Test
    void aConfigWithOnlyTcpListenersNeedsNoRoutes() throws Exception {
        String hocon = TestPki.VALID_CONFIG
                .replace("bind = \"127.0.0.1:8443\"", "bind = \"127.0.0.1:8443\", protocol = tcp, backend = orders")
                .replaceAll("(?s)routes = \\[\\{.*?\\}\\]\n", "");

        ProxyConfig config = ConfigLoader.parse(hocon, dir, "test.conf");

        assertThat(config.routes()).isEmpty();
        assertThat(config.listeners().get(0).tcp().orElseThrow().allow()).isEmpty();
    }

    @Test
    void trustBundleTrustDomainEnabledAndCrlPolicyAreRead() throws Exception {
        // Given
        String hocon = TestPki.validConfigWith(
                "client-trust = [{ name = prod, ca-bundle = \"clients-ca.pem\", crls = [\"clients.crl\"] }]",
                """
                client-trust = [
                        { name = prod, ca-bundle = "clients-ca.pem", trust-domain = "example.org" }
                        { name = partner, ca-bundle = "clients-ca.pem", crls = ["clients.crl"], enabled = false,
                          trust-domain = "partner.example", crl-expired-policy = soft-fail, crl-grace-period = 2h }
                      ]""").replace("trust-bundle = prod", "trust-bundle = partner, trust-domain = partner.example");

        // When
        ProxyConfig config = ConfigLoader.parse(hocon, dir, "test.conf");

        // Then
        assertThat(config.listeners().get(0).tls().clientTrust()).containsExactly(
                new TrustBundleConfig("prod", dir.resolve("clients-ca.pem"), List.of(), Optional.of("example.org"),
                        true, CrlExpiredPolicy.HARD_FAIL, Duration.ofHours(24)),
                new TrustBundleConfig("partner", dir.resolve("clients-ca.pem"), List.of(dir.resolve("clients.crl")),
                        Optional.of("partner.example"), false, CrlExpiredPolicy.SOFT_FAIL, Duration.ofHours(2)));
        assertThat(config.routes().get(0).allow().get(1).trustDomain()).contains("partner.example");
        assertThat(ConfigJson.render(config)).contains("\"crl-expired-policy\": \"soft-fail\"",
                "\"trust-domain\": \"partner.example\"", "\"crl-grace-period\": \"7200s\"");
    }

    @Test
    void loadBalancingRetriesAndEjectionAreRead() throws Exception {
        // Given
        String hocon = TestPki.VALID_CONFIG + """
                mtls-proxy.defaults.backend.ejection.base-time = 2s
                mtls-proxy.backends.orders {
                  load-balancing = least-outstanding
                  retries = 0
                  ejection { consecutive-failures = 3, max-time = 1m, max-ejected-percent = 100 }
                }
                """;

        // When
        ProxyConfig config = ConfigLoader.parse(hocon, dir, "test.conf");

        // Then
        BackendConfig orders = config.backends().get("orders");
        assertThat(orders.loadBalancing()).isEqualTo(LoadBalancing.LEAST_OUTSTANDING);
        assertThat(orders.retries()).isZero();
        assertThat(orders.ejection()).isEqualTo(new EjectionConfig(3, Duration.ofSeconds(2), Duration.ofMinutes(1), 100));
        assertThat(ConfigJson.render(config)).contains("\"load-balancing\": \"least-outstanding\"",
                "\"consecutive-failures\": 3");
    }

    @Test
    void userDefaultsApplyToEveryElementAndElementsOverrideThem() throws Exception {
        // Given
        String hocon = TestPki.VALID_CONFIG + """
                mtls-proxy.defaults.listener.http.idle-timeout = 5s
                mtls-proxy.defaults.backend.connect-timeout = 2s
                mtls-proxy.backends.orders.connect-timeout = 1500ms
                """;

        // When
        ProxyConfig config = ConfigLoader.parse(hocon, dir, "test.conf");

        // Then
        assertThat(config.listeners().get(0).http().idleTimeout()).isEqualTo(Duration.ofSeconds(5));
        assertThat(config.backends().get("orders").connectTimeout()).isEqualTo(Duration.ofMillis(1500));
        assertThat(config.backends().get("orders").responseTimeout()).isEqualTo(Duration.ofSeconds(60));
    }

    @Test
    void relativePathsOfAConfigFileAreResolvedAgainstItsDirectoryNotTheWorkingDirectory() throws Exception {
        // Given
        Path sub = Files.createDirectories(dir.resolve("etc"));
        Path file = sub.resolve("proxy.conf");
        Files.writeString(file, TestPki.VALID_CONFIG.replace("\"server-chain.pem\"", "\"../server-chain.pem\"")
                .replace("\"server.key\"", "\"../server.key\"").replace("\"clients-ca.pem\"", "\"../clients-ca.pem\"")
                .replace("\"clients.crl\"", "\"../clients.crl\"").replace("\"backend-ca.pem\"", "\"../backend-ca.pem\""));

        // When
        ProxyConfig config = ConfigLoader.load(file);

        // Then
        assertThat(config.listeners().get(0).tls().certificateChain()).isEqualTo(dir.resolve("server-chain.pem"));
    }

    @Test
    void unsetOptionalEnvironmentSubstitutionKeepsTheDefault() {
        // Given
        String hocon = TestPki.VALID_CONFIG
                + "mtls-proxy.admin.bind = ${?MTLS_PROXY_TEST_VARIABLE_THAT_IS_NEVER_SET}\n";

        // When
        ProxyConfig config = ConfigLoader.parse(hocon, dir, "test.conf");

        // Then
        assertThat(config.admin().bind()).isEqualTo(new HostPort("127.0.0.1", 9901));
    }

    @Test
    void substitutionFromTheEnvironmentIsResolved() {
        // Given: PATH is set in every environment the tests run in
        String hocon = TestPki.validConfigWith("name = reporting,", "name = ${PATH},");

        // When
        ProxyConfig config = ConfigLoader.parse(hocon, dir, "test.conf");

        // Then
        assertThat(config.routes().get(0).allow().get(1).name()).isEqualTo(System.getenv("PATH"));
    }

    @Test
    void backendClientCertificateWithMatchingKeyIsAccepted() throws Exception {
        // Given
        var client = TestPki.leaf("proxy-client", pki.backendCa);
        pki.write("client.pem", client.getCertificatePathPEM());
        pki.write("client.key", TestPki.traditionalPem(client.getKeyPair().getPrivate()));
        String hocon = TestPki.validConfigWith("server-name = \"Orders.Internal\"",
                "server-name = \"10.0.0.1\", certificate-chain = client.pem, private-key = client.key");

        // When
        ProxyConfig config = ConfigLoader.parse(hocon, dir, "test.conf");

        // Then
        BackendTlsConfig tls = config.backends().get("orders").tls();
        assertThat(tls.certificateChain()).contains(dir.resolve("client.pem"));
        assertThat(tls.privateKey()).contains(dir.resolve("client.key"));
        assertThat(tls.serverName()).isEqualTo("10.0.0.1");
    }

    @Test
    void fingerprintIsNormalisedToLowerCaseHexWithoutColons() {
        // Given
        String colons = "AB:".repeat(31) + "AB";
        String hocon = TestPki.validConfigWith("{ spiffe-id = \"spiffe://example.org/ns/prod/sa/*\" }",
                "{ fingerprint-sha256 = \"" + colons + "\" }");

        // When
        ProxyConfig config = ConfigLoader.parse(hocon, dir, "test.conf");

        // Then
        assertThat(config.routes().get(0).allow().get(0).fingerprintSha256()).contains("ab".repeat(32));
    }

    @Test
    void wildcardHostIsAcceptedAndLowerCased() {
        ProxyConfig config = ConfigLoader.parse(TestPki.validConfigWith("\"API.Internal\"", "\"*.Example.ORG\""),
                dir, "test.conf");

        assertThat(config.routes().get(0).host()).contains("*.example.org");
    }

    @Test
    void loadDefaultWithoutConfigFilePropertySaysHowToSetIt() {
        String previous = System.clearProperty(ConfigLoader.CONFIG_FILE_PROPERTY);
        try {
            assertThatThrownBy(ConfigLoader::loadDefault)
                    .isInstanceOf(ConfigException.class)
                    .hasMessage("-Dconfig.file: not set (expected: -Dconfig.file=/path/to/proxy.conf)");
        } finally {
            if (previous != null) {
                System.setProperty(ConfigLoader.CONFIG_FILE_PROPERTY, previous);
            }
        }
    }

    @Test
    void loadDefaultReadsTheFileNamedByConfigFileProperty() throws Exception {
        Path file = pki.write("proxy.conf", TestPki.VALID_CONFIG);
        String previous = System.setProperty(ConfigLoader.CONFIG_FILE_PROPERTY, file.toString());
        try {
            assertThat(ConfigLoader.loadDefault().source()).isEqualTo(file.toString());
        } finally {
            if (previous == null) {
                System.clearProperty(ConfigLoader.CONFIG_FILE_PROPERTY);
            } else {
                System.setProperty(ConfigLoader.CONFIG_FILE_PROPERTY, previous);
            }
        }
    }
}
