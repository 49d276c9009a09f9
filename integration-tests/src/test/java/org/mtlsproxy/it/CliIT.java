package org.mtlsproxy.it;

import static org.assertj.core.api.Assertions.assertThat;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.mtlsproxy.testing.RecordingBackend;
import org.mtlsproxy.testing.TestHttpClient;
import org.mtlsproxy.testing.TestPki;

/**
 * The shaded jar as a user (and the Docker image) runs it: {@code validate}, {@code run} with the Dockerfile's
 * exact command line, and {@code demo}.
 */
class CliIT {

    private static final TestPki PKI = TestPki.get();
    private static final Path DOCKERFILE = Path.of(System.getProperty("user.dir")).resolve("../Dockerfile");

    @TempDir
    Path dir;

    private record Result(int exit, String out) {
    }

    private static Result runJar(Duration timeout, String... args) throws Exception {
        try (ProxyProcess p = ProxyProcess.start(args)) {
            int exit = p.awaitExit(timeout);
            return new Result(exit, String.join("\n", p.lines()));
        }
    }

    @Test
    void validateAcceptsAGoodConfig() throws Exception {
        Path conf = ProxyProcess.writeConfig(dir, 8443, 9901, 9443, "spiffe://test.local/**", "");

        Result r = runJar(Duration.ofSeconds(60), "validate", "--config", conf.toString());

        assertThat(r.exit()).as(r.out()).isZero();
        assertThat(r.out()).contains("valid (1 listeners, 1 routes, 1 backends)");
    }

    @Test
    void validateRejectsABadConfigNamingFileLineKeyAndReason() throws Exception {
        Path conf = ProxyProcess.writeConfig(dir, 8443, 9901, 9443, "spife://test.local/x", "");
        Files.writeString(conf, Files.readString(conf).replace("backend = b", "backend = nope"));

        Result r = runJar(Duration.ofSeconds(60), "validate", "--config", conf.toString());

        assertThat(r.exit()).as(r.out()).isEqualTo(2);
        assertThat(r.out()).contains("proxy.conf:").contains("routes[0].allow[0].spiffe-id")
                .contains("routes[0].backend");
    }

    @Test
    void runRefusesAnInvalidConfigAndATakenPort() throws Exception {
        Path bad = ProxyProcess.writeConfig(dir, 8443, 9901, 9443, "spiffe://test.local/**",
                "mtls-proxy.listeners = [{ name = main, bind = \"127.0.0.1:1\", tls { certificate-chain = x } }]");
        Result invalid = runJar(Duration.ofSeconds(60), "run", "--config", bad.toString());
        assertThat(invalid.exit()).isEqualTo(2);
        assertThat(invalid.out()).contains("invalid configuration").contains("certificate-chain");

        try (java.net.ServerSocket taken = new java.net.ServerSocket(0, 1, java.net.InetAddress.getLoopbackAddress())) {
            Path conf = ProxyProcess.writeConfig(dir, taken.getLocalPort(), ProxyProcess.freePort(), 9443,
                    "spiffe://test.local/**", "");
            Result r = runJar(Duration.ofSeconds(60), "run", "--config", conf.toString());
            assertThat(r.exit()).as(r.out()).isEqualTo(1);
            assertThat(r.out()).contains("listener main: cannot bind 127.0.0.1:" + taken.getLocalPort());
        }
    }

    @Test
    void runAndValidateReportACertificateTheTlsLibraryRefusesTheSameWay() throws Exception {
        // Given a listener certificate the config layer reads fine (Ed448: an EdDSA key the JDK parses and
        // matches) but BoringSSL cannot use
        io.netty.pkitesting.X509Bundle ed448 = new io.netty.pkitesting.CertificateBuilder()
                .subject("CN=localhost").addSanDnsName("localhost").setIsCertificateAuthority(true)
                .algorithm(io.netty.pkitesting.CertificateBuilder.Algorithm.ed448).buildSelfSigned();
        Path chain = Files.writeString(dir.resolve("ed448-chain.pem"), ed448.getCertificatePathPEM());
        Path key = Files.writeString(dir.resolve("ed448.key"), ed448.getPrivateKeyPEM());
        Path conf = ProxyProcess.writeConfig(dir, ProxyProcess.freePort(), ProxyProcess.freePort(), 9443,
                "spiffe://test.local/**", "");
        Files.writeString(conf, Files.readString(conf)
                .replace(PKI.proxyServer().chainPem().toString(), chain.toString())
                .replace(PKI.proxyServer().keyPem().toString(), key.toString()));

        Result validate = runJar(Duration.ofSeconds(60), "validate", "--config", conf.toString());
        Result run = runJar(Duration.ofSeconds(60), "run", "--config", conf.toString());

        // Then both call it an invalid configuration, exit 2, with the same message naming the file
        assertThat(validate.exit()).as(validate.out()).isEqualTo(2);
        assertThat(validate.out()).contains("invalid configuration:").contains(chain.toString());
        assertThat(run.exit()).as(run.out()).isEqualTo(2);
        String reason = validate.out().substring(validate.out().indexOf("invalid configuration:"));
        assertThat(run.out()).contains(reason).doesNotContain("cannot start");
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
                .containsPattern("(?m)^HEALTHCHECK ")
                .containsPattern("(?m)^EXPOSE 8443 9901$");

        try (RecordingBackend backend = RecordingBackend.start(PKI.backendServer())) {
            int port = ProxyProcess.freePort();
            Path conf = ProxyProcess.writeConfig(dir, port, ProxyProcess.freePort(), backend.port(),
                    TestPki.GOOD_CLIENT_SPIFFE_ID, "");
            // The image's command line, with the config mounted elsewhere.
            try (ProxyProcess p = ProxyProcess.start(cmd.get(0), cmd.get(1), conf.toString())) {
                TestHttpClient.Response response = p.awaitServing(port, "/from-the-cli", Duration.ofSeconds(60));
                assertThat(response.status()).isEqualTo(200);
                assertThat(backend.received()).extracting(RecordingBackend.Received::uri)
                        .containsExactly("/from-the-cli");
                p.terminate();
                assertThat(p.awaitExit(Duration.ofSeconds(30))).as("exit status after SIGTERM").isZero();
            }
        }
    }

    @Test
    void demoShowsAllowedDeniedAndRejected() throws Exception {
        Result r = runJar(Duration.ofSeconds(90), "demo", "--check-and-exit", "--dir", dir.resolve("demo").toString(),
                "--bind", "127.0.0.1:" + ProxyProcess.freePort(),
                "--admin-bind", "127.0.0.1:" + ProxyProcess.freePort());

        assertThat(r.exit()).as(r.out()).isZero();
        assertThat(r.out()).contains("alice -> HTTP 200", "bob -> HTTP 403", "no certificate -> refused")
                .contains("curl --cacert");
        assertThat(dir.resolve("demo/proxy.conf")).exists();
    }

    /** Runs the jar with stdout and stderr apart: {@code check}'s stdout must be its answer alone. */
    private record Split(int exit, String out, String err) {
    }

    private Split runJarSplit(String... args) throws Exception {
        List<String> cmd = new ArrayList<>(List.of(ProxyProcess.javaBin(), "-jar", ProxyProcess.JAR.toString()));
        cmd.addAll(List.of(args));
        Path out = Files.createTempFile(dir, "out-", ".txt");
        Path err = Files.createTempFile(dir, "err-", ".txt");
        Process p = new ProcessBuilder(cmd).redirectOutput(out.toFile()).redirectError(err.toFile()).start();
        if (!p.waitFor(60, java.util.concurrent.TimeUnit.SECONDS)) {
            p.destroyForcibly();
            throw new AssertionError("check did not exit: " + Files.readString(err));
        }
        return new Split(p.exitValue(), Files.readString(out), Files.readString(err));
    }

    @Test
    void checkExitsWithTheVerdictAndPrintsOnlyJsonOnStdout() throws Exception {
        Path conf = ProxyProcess.writeConfig(dir, 8443, 9901, 9443, TestPki.GOOD_CLIENT_SPIFFE_ID, "");
        tools.jackson.databind.json.JsonMapper json = tools.jackson.databind.json.JsonMapper.builder().build();

        Split allowed = runJarSplit("check", "--config", conf.toString(), "--cert",
                PKI.goodClient().chainPem().toString(), "--format", "json");
        assertThat(allowed.exit()).as(allowed.err()).isZero();
        assertThat(json.readTree(allowed.out()).get("allowed").asBoolean()).isTrue();

        Split denied = runJarSplit("check", "--config", conf.toString(), "--cert",
                PKI.otherClient().chainPem().toString());
        assertThat(denied.exit()).as(denied.err()).isEqualTo(3);
        assertThat(denied.out()).contains("DENIED: no route allows this client");

        // A stale CRL makes the proxy log a warning while compiling the config: on stderr, never in the JSON.
        Path staleCrl = PKI.writeCrl(PKI.clientIntermediateCa(), List.of(),
                java.time.Instant.now().minus(Duration.ofHours(1)));
        Files.writeString(conf, Files.readString(conf).replace("ca-bundle = \"" + PKI.clientRootPem() + "\" }",
                "ca-bundle = \"" + PKI.clientRootPem() + "\", crls = [\"" + staleCrl + "\"] }"));
        Split stale = runJarSplit("check", "--config", conf.toString(), "--cert",
                PKI.goodClient().chainPem().toString(), "--format", "json");
        assertThat(stale.exit()).as(stale.err()).isEqualTo(3);
        assertThat(stale.err()).contains("CRL is already stale");
        assertThat(json.readTree(stale.out()).get("listeners").get(0).get("verification").get("reason").asString())
                .isEqualTo("crl_expired");

        Split usage = runJarSplit("check", "--config", conf.toString());
        assertThat(usage.exit()).isEqualTo(2);
        assertThat(usage.out()).isEmpty();
        assertThat(usage.err()).contains("give --cert FILE");
    }

    @Test
    void versionAndHelpWork() throws Exception {
        assertThat(runJar(Duration.ofSeconds(30), "--version").out()).startsWith("mtls-proxy ");
        Result help = runJar(Duration.ofSeconds(30), "--help");
        assertThat(help.exit()).isZero();
        assertThat(help.out()).contains("run", "validate", "demo", "pki", "check");
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
