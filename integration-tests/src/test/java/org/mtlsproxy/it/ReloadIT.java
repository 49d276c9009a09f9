package org.mtlsproxy.it;

import static org.assertj.core.api.Assertions.assertThat;

import java.io.IOException;
import java.math.BigInteger;
import java.net.InetAddress;
import java.net.ServerSocket;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.security.cert.X509Certificate;
import java.time.Duration;
import java.time.Instant;
import java.time.temporal.ChronoUnit;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicInteger;
import org.awaitility.Awaitility;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;
import org.mtlsproxy.config.ConfigLoader;
import org.mtlsproxy.proxy.runtime.RuntimeSnapshot;
import org.mtlsproxy.proxy.server.ProxyServer;
import org.mtlsproxy.proxy.server.Reloader;
import org.mtlsproxy.proxy.transport.Transport;
import org.mtlsproxy.testing.RecordingBackend;
import org.mtlsproxy.testing.TestHttpClient;
import org.mtlsproxy.testing.TestPki;

/**
 * Zero-downtime reload: new material and rules take effect within the watch interval, broken material is
 * refused while the proxy keeps serving, and a revocation reaches connections that are already open.
 */
class ReloadIT {

    private static final TestPki PKI = TestPki.get();
    private static final String FAST_RELOAD = "mtls-proxy.reload { debounce = 200ms, check-interval = 1s }";
    private static final String ALLOW_ANY = "{ spiffe-id = \"spiffe://test.local/**\" }";
    /** Reloads only when the test asks. */
    private static final String MANUAL_RELOAD = "mtls-proxy.reload { watch = false, check-interval = 1h }";
    private static final String LISTENER_BIND = "bind = \"127.0.0.1:0\"";

    @TempDir
    Path dir;

    private RecordingBackend backend;
    private Path chain;
    private Path key;
    private Path crl;

    @BeforeEach
    void files() throws IOException {
        backend = RecordingBackend.start(PKI.backendServer());
        chain = Files.copy(PKI.proxyServer().chainPem(), dir.resolve("server-chain.pem"));
        key = Files.copy(PKI.proxyServer().keyPem(), dir.resolve("server.key"));
        crl = Files.copy(PKI.clientCrlPem(), dir.resolve("clients.crl"));
    }

    @AfterEach
    void stopBackend() {
        backend.close();
    }

    private ProxyFixture.Builder proxy() {
        return ProxyFixture.builder().backend("b", backend.port()).listenerCertificate(chain, key).clientCrls(crl)
                .set(FAST_RELOAD);
    }

    private static void replace(Path target, Path source) throws IOException {
        Files.copy(source, target, StandardCopyOption.REPLACE_EXISTING);
    }

    private static TestPki.Issued newServerCertificate() {
        return PKI.issue(PKI.serverIntermediateCa(), "CN=proxy rotated " + System.nanoTime(), b -> {
            b.addSanDnsName("localhost").addSanIpAddress("127.0.0.1").addExtendedKeyUsageServerAuth();
        });
    }

    private static BigInteger servedSerial(ProxyFixture proxy) throws IOException {
        try (TestHttpClient c = proxy.client(PKI.goodClient())) {
            c.connect();
            return ((X509Certificate) c.session().getPeerCertificates()[0]).getSerialNumber();
        }
    }

    @Test
    void changedRulesApplyToKeepAliveConnectionsAfterAFileChange() throws Exception {
        try (ProxyFixture proxy = proxy().route("r", null, "/", "b",
                        "{ spiffe-id = \"spiffe://test.local/ns/dev/**\" }").start();
                TestHttpClient client = proxy.client(PKI.goodClient())) {
            assertThat(client.get("/x").status()).isEqualTo(403);

            Files.writeString(proxy.configFile(), Files.readString(proxy.configFile())
                    .replace("spiffe://test.local/ns/dev/**", "spiffe://test.local/ns/prod/**"));

            Awaitility.await().atMost(Duration.ofSeconds(10)).until(() -> proxy.reloads("success") == 1);
            assertThat(client.get("/x").status()).isEqualTo(200);
            assertThat(client.connectionsOpened()).isEqualTo(1);
        }
    }

    @Test
    void brokenMaterialIsRefusedCountedAndTheOldKeepsServing() throws Exception {
        try (ProxyFixture proxy = proxy().route("r", null, "/", "b", ALLOW_ANY).start()) {
            BigInteger original = servedSerial(proxy);
            Path good = Files.copy(chain, dir.resolve("good-chain.pem"));

            Files.writeString(chain, "-----BEGIN CERTIFICATE-----\nnot base64 at all\n-----END CERTIFICATE-----\n");
            Awaitility.await().atMost(Duration.ofSeconds(10)).until(() -> proxy.reloads("failure") == 1);
            assertThat(servedSerial(proxy)).isEqualTo(original);

            replace(chain, newServerCertificate().chainPem()); // a valid certificate that does not match the key
            Awaitility.await().atMost(Duration.ofSeconds(10)).until(() -> proxy.reloads("failure") == 2);
            assertThat(servedSerial(proxy)).isEqualTo(original);

            Files.delete(chain);
            Awaitility.await().atMost(Duration.ofSeconds(10)).until(() -> proxy.reloads("failure") == 3);
            try (TestHttpClient c = proxy.client(PKI.goodClient())) {
                assertThat(c.get("/still-serving").status()).isEqualTo(200);
            }

            HttpResponse<String> viaAdmin = HttpClient.newHttpClient().send(HttpRequest.newBuilder(
                    URI.create("http://127.0.0.1:" + proxy.adminPort() + "/reload"))
                    .POST(HttpRequest.BodyPublishers.noBody()).build(), HttpResponse.BodyHandlers.ofString());
            assertThat(viaAdmin.statusCode()).isEqualTo(422);
            assertThat(viaAdmin.body()).contains("server-chain.pem");

            replace(chain, good);
            Awaitility.await().atMost(Duration.ofSeconds(10)).until(() -> proxy.reloads("success") >= 1);
            assertThat(servedSerial(proxy)).isEqualTo(original);
        }
    }

    @Test
    void revokedClientIsCutOffMidConnectionWhileOthersContinue() throws Exception {
        TestPki.Issued victim = PKI.issue("CN=victim", b -> { });
        TestPki.Issued bystander = PKI.issue("CN=bystander", b -> { });
        try (ProxyFixture proxy = proxy()
                        .route("r", null, "/", "b", "{ subject-cn = \"victim\" }, { subject-cn = \"bystander\" }")
                        .start();
                TestHttpClient victimClient = proxy.client(victim);
                TestHttpClient bystanderClient = proxy.client(bystander)) {
            assertThat(victimClient.get("/before").status()).isEqualTo(200);
            assertThat(bystanderClient.get("/before").status()).isEqualTo(200);

            replace(crl, PKI.writeCrl(PKI.clientIntermediateCa(), List.of(PKI.revokedClient(), victim),
                    Instant.now().plus(7, ChronoUnit.DAYS)));

            Awaitility.await().atMost(Duration.ofSeconds(10)).until(() -> proxy.counter(
                    "mtls_proxy.connections.revoked", "listener", ProxyFixture.LISTENER, "reason", "revoked") == 1);
            Awaitility.await().atMost(Duration.ofSeconds(5)).untilAsserted(() -> {
                try {
                    victimClient.get("/after");
                    throw new AssertionError("the revoked client's connection still answers");
                } catch (IOException expected) {
                    // closed by the proxy
                }
            });
            assertThat(bystanderClient.get("/after").status()).isEqualTo(200);
            assertThat(bystanderClient.connectionsOpened()).isEqualTo(1);
            try (TestHttpClient again = proxy.client(victim)) {
                again.expectConnectionRejected("/new-connection");
            }
        }
    }

    @Test
    void rotatingServerCertificateClientCaAndCrlUnderLoadFailsNoRequest() throws Exception {
        Path clientCa = Files.copy(PKI.clientRootPem(), dir.resolve("clients-ca.pem"));
        try (ProxyFixture proxy = proxy().route("r", null, "/", "b", ALLOW_ANY).start()) {
            Files.writeString(proxy.configFile(), Files.readString(proxy.configFile())
                    .replace(PKI.clientRootPem().toAbsolutePath().toString(), clientCa.toString()));
            Awaitility.await().atMost(Duration.ofSeconds(10)).until(() -> proxy.reloads("success") == 1);

            AtomicBoolean running = new AtomicBoolean(true);
            AtomicInteger ok = new AtomicInteger();
            List<String> failures = java.util.Collections.synchronizedList(new ArrayList<>());
            ExecutorService load = Executors.newFixedThreadPool(4);
            List<Future<?>> workers = new ArrayList<>();
            long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(30);
            for (int w = 0; w < 4; w++) {
                boolean keepAlive = w % 2 == 0;
                workers.add(load.submit(() -> {
                    TestHttpClient c = proxy.client(PKI.goodClient());
                    try {
                        for (int i = 0; i < 5_000 && running.get() && System.nanoTime() < deadline; i++) {
                            if (!keepAlive) {
                                c.close();
                                c = proxy.client(PKI.goodClient());
                            }
                            try {
                                int status = c.get("/load/" + i).status();
                                if (status == 200) {
                                    ok.incrementAndGet();
                                } else {
                                    failures.add("status " + status);
                                }
                            } catch (IOException e) {
                                failures.add(e.toString());
                            }
                        }
                    } finally {
                        c.close();
                    }
                    return null;
                }));
            }
            Awaitility.await().atMost(Duration.ofSeconds(10)).until(() -> ok.get() > 50);

            TestPki.Issued rotated = newServerCertificate();
            replace(key, rotated.keyPem());
            replace(chain, rotated.chainPem());
            Awaitility.await().atMost(Duration.ofSeconds(10))
                    .until(() -> servedSerial(proxy).equals(rotated.serialNumber()));

            // A second CA joins the client bundle; clients of the first keep working throughout.
            Files.writeString(clientCa, Files.readString(PKI.clientRootPem())
                    + Files.readString(PKI.backendRootPem()));
            Awaitility.await().atMost(Duration.ofSeconds(10)).until(() -> proxy.reloads("success") >= 3);

            replace(crl, PKI.writeCrl(PKI.clientIntermediateCa(), List.of(PKI.revokedClient()),
                    Instant.now().plus(3, ChronoUnit.DAYS)));
            Awaitility.await().atMost(Duration.ofSeconds(10)).until(() -> proxy.reloads("success") >= 4);
            int before = ok.get();
            Awaitility.await().atMost(Duration.ofSeconds(10)).until(() -> ok.get() > before + 50);

            running.set(false);
            for (Future<?> f : workers) {
                f.get(30, TimeUnit.SECONDS);
            }
            load.shutdownNow();
            assertThat(failures).isEmpty();
            assertThat(ok.get()).isGreaterThan(100);
        }
    }

    @Test
    void listenerMovedToAnotherPortIsReboundAndOpenConnectionsContinue() throws Exception {
        try (ProxyFixture proxy = proxy().route("r", null, "/", "b", ALLOW_ANY).start();
                TestHttpClient open = proxy.client(PKI.goodClient())) {
            int oldPort = proxy.port();
            assertThat(open.get("/before").status()).isEqualTo(200);
            int newPort = ProxyProcess.freePort();

            Files.writeString(proxy.configFile(), Files.readString(proxy.configFile())
                    .replaceFirst(java.util.regex.Pattern.quote("bind = \"127.0.0.1:0\""),
                            "bind = \"127.0.0.1:" + newPort + "\""));
            Awaitility.await().atMost(Duration.ofSeconds(10)).until(() -> proxy.reloads("success") == 1);

            assertThat(proxy.port()).isEqualTo(newPort);
            try (TestHttpClient moved = TestHttpClient.builder(newPort).trustRootPem(PKI.serverRootPem())
                    .clientCertificate(PKI.goodClient()).build()) {
                assertThat(moved.get("/moved").status()).isEqualTo(200);
            }
            try (TestHttpClient stale = TestHttpClient.builder(oldPort).trustRootPem(PKI.serverRootPem())
                    .clientCertificate(PKI.goodClient()).build()) {
                org.assertj.core.api.Assertions.assertThatThrownBy(stale::connect).isInstanceOf(IOException.class);
            }
            // The connection accepted on the old socket finishes its life normally.
            assertThat(open.get("/after").status()).isEqualTo(200);
        }
    }

    @Test
    void kubernetesStyleSymlinkSwapIsPickedUp() throws Exception {
        // kubelet's layout: files are links through ..data to a timestamped directory, swapped atomically.
        Path secret = Files.createDirectories(dir.resolve("secret"));
        Path v1 = Files.createDirectories(secret.resolve("..2026_11_22_10_00_00.1"));
        Files.copy(chain, v1.resolve("tls.crt"));
        Files.copy(key, v1.resolve("tls.key"));
        Files.createSymbolicLink(secret.resolve("..data"), v1.getFileName());
        Files.createSymbolicLink(secret.resolve("tls.crt"), Path.of("..data/tls.crt"));
        Files.createSymbolicLink(secret.resolve("tls.key"), Path.of("..data/tls.key"));
        chain = secret.resolve("tls.crt");
        key = secret.resolve("tls.key");
        try (ProxyFixture proxy = proxy().route("r", null, "/", "b", ALLOW_ANY)
                .set("mtls-proxy.reload.check-interval = 1h").start()) {
            BigInteger original = servedSerial(proxy);

            TestPki.Issued rotated = newServerCertificate();
            Path v2 = Files.createDirectories(secret.resolve("..2026_11_22_11_00_00.2"));
            Files.copy(rotated.chainPem(), v2.resolve("tls.crt"));
            Files.copy(rotated.keyPem(), v2.resolve("tls.key"));
            Path tmp = Files.createSymbolicLink(secret.resolve("..data_tmp"), v2.getFileName());
            Files.move(tmp, secret.resolve("..data"), StandardCopyOption.ATOMIC_MOVE,
                    StandardCopyOption.REPLACE_EXISTING);

            Awaitility.await().atMost(Duration.ofSeconds(10))
                    .until(() -> servedSerial(proxy).equals(rotated.serialNumber()));
            assertThat(rotated.serialNumber()).isNotEqualTo(original);
        }
    }

    @Test
    void aReloadThatCannotBindClosesTheBackendsItBuiltAndKeepsTheRunningOnes() throws Exception {
        try (RecordingBackend other = RecordingBackend.start(PKI.backendServer());
                ServerSocket taken = new ServerSocket(0, 1, InetAddress.getLoopbackAddress());
                ProxyFixture proxy = proxy().backend("kept", other.port()).set(MANUAL_RELOAD)
                        .route("k", null, "/kept/", "kept", ALLOW_ANY).route("r", null, "/", "b", ALLOW_ANY).start();
                TestHttpClient client = proxy.client(PKI.goodClient())) {
            assertThat(client.get("/before").status()).isEqualTo(200);
            RuntimeSnapshot running = proxy.server().snapshot();

            // Given: a reload, built as the Reloader builds it, that rebuilds backend b (another response-timeout),
            // carries backend kept over unchanged, and moves the listener to a port another process holds.
            Files.writeString(proxy.configFile(), Files.readString(proxy.configFile())
                    .replaceFirst(java.util.regex.Pattern.quote(LISTENER_BIND), takenBind(taken))
                    + "\nmtls-proxy.backends.b.response-timeout = 29s\n");
            RuntimeSnapshot next = RuntimeSnapshot.build(ConfigLoader.load(proxy.configFile()), proxy.metrics(),
                    Transport.best(), proxy.server().sessionTickets(), running);
            assertThat(next.backendOrNull("b")).isNotSameAs(running.backendOrNull("b"));
            assertThat(next.backendOrNull("kept")).isSameAs(running.backendOrNull("kept"));

            // When: applying it fails
            org.assertj.core.api.Assertions.assertThatThrownBy(() -> proxy.server().apply(next))
                    .isInstanceOf(ProxyServer.StartupException.class).hasMessageContaining("cannot bind");

            // Then: exactly the backend it built anew is closed; the running snapshot and its backends serve on
            assertThat(next.backendOrNull("b").isClosed()).isTrue();
            assertThat(running.backendOrNull("b").isClosed()).isFalse();
            assertThat(running.backendOrNull("kept").isClosed()).isFalse();
            assertThat(proxy.server().snapshot()).isSameAs(running);
            assertThat(client.get("/after").status()).isEqualTo(200);
            try (TestHttpClient fresh = proxy.client(PKI.goodClient())) {
                assertThat(fresh.get("/kept/after").status()).isEqualTo(200);
                assertThat(fresh.get("/after").status()).isEqualTo(200);
            }
            // b's pooled connection served every request: the running backend, not a new one.
            assertThat(proxy.counter("mtls_proxy.backend.connections", "backend", "b", "result", "success"))
                    .isEqualTo(1);
        }
    }

    /**
     * A reload that rebuilds a backend and then fails (building a later part, or binding) must leave the backend
     * gauges reading the backend still serving, not the one that never went into force.
     */
    @ParameterizedTest
    @ValueSource(strings = {"build", "bind"})
    void aFailedReloadLeavesTheHealthGaugeOnTheRunningBackend(String failingStep) throws Exception {
        int dead;
        try (ServerSocket s = new ServerSocket(0, 1, InetAddress.getLoopbackAddress())) {
            dead = s.getLocalPort();
        }
        try (ServerSocket taken = new ServerSocket(0, 1, InetAddress.getLoopbackAddress());
                ProxyFixture proxy = ProxyFixture.builder().backend("b", backend.port(), dead)
                        .listenerCertificate(chain, key).set(MANUAL_RELOAD)
                        .set("mtls-proxy.backends.b.ejection.base-time = 60s")
                        .route("r", null, "/", "b", ALLOW_ANY).start();
                TestHttpClient client = proxy.client(PKI.goodClient())) {
            assertThat(healthyEndpoints(proxy)).isEqualTo(2);

            // Given: a reload that rebuilds backend b, then fails
            String config = Files.readString(proxy.configFile()) + "\nmtls-proxy.backends.b.response-timeout = 29s\n";
            if (failingStep.equals("build")) {
                // A cipher name the config accepts and only the listener's TLS context build, after the backends,
                // refuses.
                config = config.replaceFirst("tls \\{", "tls {\n ciphers = [\"NOT-A-CIPHER\"]");
            } else {
                config = config.replaceFirst(java.util.regex.Pattern.quote(LISTENER_BIND), takenBind(taken));
            }
            Files.writeString(proxy.configFile(), config);
            Reloader.Result result = proxy.server().reload("test").get(10, TimeUnit.SECONDS);
            assertThat(result.success()).isFalse();
            assertThat(result.message())
                    .contains(failingStep.equals("build") ? "NOT-A-CIPHER is not supported" : "cannot bind");
            assertThat(proxy.reloads("failure")).isEqualTo(1);

            // When: the running backend ejects its dead endpoint (5 connect failures in a row)
            for (int i = 0; i < 12; i++) {
                assertThat(client.get("/x" + i).status()).isEqualTo(200);
            }

            // Then: the gauge shows it
            assertThat(proxy.counter("mtls_proxy.backend.ejections", "backend", "b", "endpoint",
                    "127.0.0.1:" + dead)).isEqualTo(1);
            assertThat(healthyEndpoints(proxy)).isEqualTo(1);
        }
    }

    private static String takenBind(ServerSocket taken) {
        return "bind = \"127.0.0.1:" + taken.getLocalPort() + "\"";
    }

    private static double healthyEndpoints(ProxyFixture proxy) {
        io.micrometer.core.instrument.Gauge g = proxy.metrics().registry()
                .find("mtls_proxy.backend.endpoints.healthy").tags("backend", "b").gauge();
        return g == null ? Double.NaN : g.value();
    }
}
