package org.mtlsproxy.it;

import static org.assertj.core.api.Assertions.assertThat;

import java.io.IOException;
import java.net.ServerSocket;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.mtlsproxy.testing.RecordingBackend;
import org.mtlsproxy.testing.TestHttpClient;
import org.mtlsproxy.testing.TestPki;

/**
 * The shaded jar as a user (and the Docker image) runs it: {@code validate}, {@code run} with the Dockerfile's
 * exact command line, and {@code demo}. Each process is started here and ended here by its own handle.
 */
class CliIT {

    private static final TestPki PKI = TestPki.get();
    private static final Path JAR = Path.of(System.getProperty("mtls-proxy.jar", "../proxy/target/mtls-proxy.jar"));
    private static final Path DOCKERFILE = Path.of(System.getProperty("user.dir")).resolve("../Dockerfile");

    @TempDir
    Path dir;

    private record Result(int exit, String out) {
    }

    private static Result runJar(Duration timeout, String... args) throws Exception {
        Process p = start(args);
        boolean done = p.waitFor(timeout.toMillis(), TimeUnit.MILLISECONDS);
        if (!done) {
            p.destroyForcibly();
            throw new AssertionError("mtls-proxy " + String.join(" ", args) + " did not finish in " + timeout);
        }
        return new Result(p.exitValue(), new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8));
    }

    private static Process start(String... args) throws IOException {
        List<String> cmd = new ArrayList<>(List.of(javaBin(), "-jar", JAR.toString()));
        cmd.addAll(List.of(args));
        return new ProcessBuilder(cmd).redirectErrorStream(true).start();
    }

    private static String javaBin() {
        return Path.of(System.getProperty("java.home"), "bin", "java").toString();
    }

    private static int freePort() throws IOException {
        try (ServerSocket s = new ServerSocket(0, 1, java.net.InetAddress.getLoopbackAddress())) {
            return s.getLocalPort();
        }
    }

    private Path writeConfig(int port, int adminPort, int backendPort, String spiffeId) throws IOException {
        Path file = dir.resolve("proxy.conf");
        Files.writeString(file, """
                mtls-proxy {
                  listeners = [{
                    name = main
                    bind = "127.0.0.1:%d"
                    tls {
                      certificate-chain = "%s"
                      private-key = "%s"
                      client-trust = [{ name = clients, ca-bundle = "%s" }]
                    }
                  }]
                  routes = [{
                    name = all
                    backend = b
                    allow = [{ spiffe-id = "%s" }]
                  }]
                  backends {
                    b {
                      endpoints = ["127.0.0.1:%d"]
                      tls { ca-bundle = "%s", server-name = "%s" }
                    }
                  }
                  admin { bind = "127.0.0.1:%d" }
                }
                """.formatted(port, PKI.proxyServer().chainPem(), PKI.proxyServer().keyPem(), PKI.clientRootPem(),
                spiffeId, backendPort, PKI.backendRootPem(), TestPki.BACKEND_DNS_NAME, adminPort));
        return file;
    }

    @Test
    void validateAcceptsAGoodConfig() throws Exception {
        Path conf = writeConfig(8443, 9901, 9443, "spiffe://test.local/**");

        Result r = runJar(Duration.ofSeconds(60), "validate", "--config", conf.toString());

        assertThat(r.exit()).as(r.out()).isZero();
        assertThat(r.out()).contains("valid (1 listeners, 1 routes, 1 backends)");
    }

    @Test
    void validateRejectsABadConfigNamingFileLineKeyAndReason() throws Exception {
        Path conf = writeConfig(8443, 9901, 9443, "spife://test.local/x");
        Files.writeString(conf, Files.readString(conf).replace("backend = b", "backend = nope"));

        Result r = runJar(Duration.ofSeconds(60), "validate", "--config", conf.toString());

        assertThat(r.exit()).as(r.out()).isEqualTo(2);
        assertThat(r.out()).contains("proxy.conf:").contains("routes[0].allow[0].spiffe-id")
                .contains("routes[0].backend");
    }

    @Test
    void dockerEntrypointCommandServesRequests() throws Exception {
        List<String> entrypoint = jsonArray("ENTRYPOINT");
        List<String> cmd = jsonArray("CMD");
        assertThat(entrypoint).containsExactly("java", "-jar", "/opt/mtls-proxy/mtls-proxy.jar");
        assertThat(cmd).containsExactly("run", "--config", "/etc/mtls-proxy/proxy.conf");
        assertThat(Files.readString(DOCKERFILE))
                .contains("COPY --from=build /src/proxy/target/mtls-proxy.jar /opt/mtls-proxy/mtls-proxy.jar")
                .containsPattern("(?m)^USER \\d+:\\d+$")
                .containsPattern("(?m)^HEALTHCHECK ");

        try (RecordingBackend backend = RecordingBackend.start(PKI.backendServer())) {
            int port = freePort();
            int adminPort = freePort();
            Path conf = writeConfig(port, adminPort, backend.port(), TestPki.GOOD_CLIENT_SPIFFE_ID);
            // The image's command line, with the config mounted elsewhere.
            Process p = start(cmd.get(0), cmd.get(1), conf.toString());
            try {
                TestHttpClient.Response response = null;
                long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(60);
                while (response == null && System.nanoTime() < deadline && p.isAlive()) {
                    try (TestHttpClient client = TestHttpClient.builder(port).trustRootPem(PKI.serverRootPem())
                            .clientCertificate(PKI.goodClient()).build()) {
                        response = client.get("/from-the-cli");
                    } catch (IOException notYetListening) {
                        Thread.sleep(200);
                    }
                }
                assertThat(response).as("proxy process answered").isNotNull();
                assertThat(response.status()).isEqualTo(200);
                assertThat(backend.received()).extracting(RecordingBackend.Received::uri)
                        .containsExactly("/from-the-cli");
            } finally {
                p.destroy();
                assertThat(p.waitFor(20, TimeUnit.SECONDS)).as("proxy exits on SIGTERM").isTrue();
            }
        }
    }

    @Test
    void demoShowsAllowedDeniedAndRejected() throws Exception {
        Result r = runJar(Duration.ofSeconds(90), "demo", "--check-and-exit", "--dir", dir.resolve("demo").toString(),
                "--bind", "127.0.0.1:" + freePort(), "--admin-bind", "127.0.0.1:" + freePort());

        assertThat(r.exit()).as(r.out()).isZero();
        assertThat(r.out()).contains("alice -> HTTP 200", "bob -> HTTP 403", "no certificate -> refused")
                .contains("curl --cacert");
        assertThat(dir.resolve("demo/proxy.conf")).exists();
    }

    @Test
    void versionAndHelpWork() throws Exception {
        assertThat(runJar(Duration.ofSeconds(30), "--version").out()).startsWith("mtls-proxy ");
        Result help = runJar(Duration.ofSeconds(30), "--help");
        assertThat(help.exit()).isZero();
        assertThat(help.out()).contains("run", "validate", "demo");
    }

    private static List<String> jsonArray(String instruction) throws IOException {
        Matcher m = Pattern.compile("(?m)^" + instruction + " \\[(.*)]$").matcher(Files.readString(DOCKERFILE));
        assertThat(m.find()).as(instruction + " in exec form").isTrue();
        List<String> items = new ArrayList<>();
        Matcher item = Pattern.compile("\"([^\"]*)\"").matcher(m.group(1));
        while (item.find()) {
            items.add(item.group(1));
        }
        return items;
    }
}
