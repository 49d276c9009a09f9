package org.mtlsproxy.it;

import static org.assertj.core.api.Assertions.assertThat;

import io.netty.pkitesting.X509Bundle;
import java.io.IOException;
import java.io.InputStream;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.PosixFilePermissions;
import java.security.KeyFactory;
import java.security.KeyPair;
import java.security.PrivateKey;
import java.security.cert.CertificateFactory;
import java.security.cert.X509Certificate;
import java.security.spec.PKCS8EncodedKeySpec;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Base64;
import java.util.List;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import org.awaitility.Awaitility;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.mtlsproxy.testing.RecordingBackend;
import org.mtlsproxy.testing.TestHttpClient;
import org.mtlsproxy.testing.TestPki;

/**
 * The README's "PKI in one command" sequence, run as written against the built jar: {@code pki init} and
 * {@code pki issue} as commands, the proxy started with the issued server certificate and the README's config,
 * an mTLS request with the issued client certificate, then {@code pki revoke} + {@code pki crl} + {@code POST
 * /reload}, after which the same client is refused at the TLS layer with reason {@code revoked}.
 */
class PkiIT {

    private static final Path README = Path.of(System.getProperty("user.dir")).resolve("../README.md");
    private static final HttpClient HTTP = HttpClient.newHttpClient();
    private static final String ALICE = "spiffe://example.org/ns/prod/sa/alice";

    @TempDir
    Path dir;

    private record Result(int exit, String out) {
    }

    private Result pki(List<String> args) throws Exception {
        try (ProxyProcess p = ProxyProcess.startIn(dir, args.toArray(new String[0]))) {
            int exit = p.awaitExit(Duration.ofSeconds(60));
            return new Result(exit, String.join("\n", p.lines()));
        }
    }

    @Test
    void readmeSequenceServesTheIssuedClientAndRevocationRejectsItAtTheHandshake() throws Exception {
        String section = readmeSection();
        List<String> sh = blocks(section, "sh");
        assertThat(sh).as("sh blocks: setup, run + curl, revoke").hasSize(3);
        assertThat(sh.get(0)).contains("alias mtls-proxy=\"java -jar $PWD/proxy/target/mtls-proxy.jar\"");
        assertThat(sh.get(1)).contains("mtls-proxy run --config proxy.conf",
                "curl --cacert pki/root-ca.pem --cert pki/alice-chain.pem --key pki/alice.key https://localhost:8443/");

        // Given the README's pki commands, run as written.
        String aliceSerial = null;
        for (List<String> command : pkiCommands(sh.get(0))) {
            Result r = pki(command);
            assertThat(r.exit()).as(command + "\n" + r.out()).isZero();
            Matcher m = Pattern.compile("issued client certificate alice: serial ([0-9a-f]+)").matcher(r.out());
            if (m.find()) {
                aliceSerial = m.group(1);
            }
        }
        assertThat(aliceSerial).as("serial printed by `pki issue client alice`").isNotNull();
        Result bob = pki(List.of("pki", "issue", "client", "bob", "--dir", "pki", "--uri",
                "spiffe://example.org/ns/prod/sa/bob"));
        assertThat(bob.exit()).as(bob.out()).isZero();
        Path pki = dir.resolve("pki");
        for (String key : List.of("root-ca.key", "intermediate-ca.key", "proxy.key", "app.key", "alice.key")) {
            assertThat(Files.getPosixFilePermissions(pki.resolve(key))).as(key)
                    .isEqualTo(PosixFilePermissions.fromString("rw-------"));
            assertThat(Files.readString(pki.resolve(key))).startsWith("-----BEGIN PRIVATE KEY-----");
        }

        X509Certificate root = certificates(pki.resolve("root-ca.pem")).get(0);
        TestPki.Issued app = issued(pki, "app", root);
        TestPki.Issued alice = issued(pki, "alice", root);
        TestPki.Issued bobCert = issued(pki, "bob", root);
        int port = ProxyProcess.freePort();
        int adminPort = ProxyProcess.freePort();
        try (RecordingBackend backend = RecordingBackend.start(app)) {
            String hocon = blocks(section, "hocon").get(0);
            assertThat(hocon).contains("\"127.0.0.1:8443\"", "\"127.0.0.1:9443\"");
            Files.writeString(dir.resolve("proxy.conf"), hocon
                    .replace("\"127.0.0.1:8443\"", "\"127.0.0.1:" + port + "\"")
                    .replace("\"127.0.0.1:9443\"", "\"127.0.0.1:" + backend.port() + "\"")
                    + "mtls-proxy.admin.bind = \"127.0.0.1:" + adminPort + "\"\n");

            try (ProxyProcess proxy = ProxyProcess.startIn(dir, "run", "--config", "proxy.conf")) {
                // When alice calls through the proxy (what the README's curl does), she gets the backend's 200.
                TestHttpClient.Response ok = awaitServing(proxy, port, alice);
                assertThat(ok.status()).isEqualTo(200);
                assertThat(backend.received()).singleElement()
                        .satisfies(r -> assertThat(r.header("x-forwarded-client-cert")).contains("URI=" + ALICE));

                // And the README's revocation: revoke SERIAL, crl, POST /reload.
                List<List<String>> revocation = pkiCommands(sh.get(2));
                assertThat(revocation).extracting(c -> c.get(1)).containsExactly("revoke", "crl");
                for (List<String> command : revocation) {
                    List<String> args = new ArrayList<>(command);
                    args.replaceAll(a -> a.equals("SERIAL") ? alice.certificate().getSerialNumber().toString(16) : a);
                    Result r = pki(args);
                    assertThat(r.exit()).as(args + "\n" + r.out()).isZero();
                }
                assertThat(alice.certificate().getSerialNumber().toString(16)).isEqualTo(aliceSerial);
                assertThat(sh.get(2)).contains("curl -X POST http://127.0.0.1:9901/reload");
                HttpResponse<String> reload = HTTP.send(HttpRequest.newBuilder(
                        URI.create("http://127.0.0.1:" + adminPort + "/reload"))
                        .POST(HttpRequest.BodyPublishers.noBody()).build(), HttpResponse.BodyHandlers.ofString());
                assertThat(reload.statusCode()).as(reload.body()).isEqualTo(200);

                // Then alice is refused at the TLS layer, counted and logged as revoked ...
                try (TestHttpClient client = client(port, alice)) {
                    client.expectConnectionRejected("/after-revoke");
                }
                Awaitility.await().atMost(Duration.ofSeconds(10)).untilAsserted(() -> assertThat(metrics(adminPort))
                        .containsPattern("mtls_proxy_handshakes_total\\{[^}]*reason=\"revoked\"[^}]*} [1-9]"));
                proxy.awaitLine(l -> l.contains("\"message\":\"handshake rejected\"")
                        && l.contains("\"decision\":\"revoked\""), Duration.ofSeconds(10));
                // ... while bob, from the same CA and not revoked, still completes the handshake (and is not allowed).
                try (TestHttpClient client = client(port, bobCert)) {
                    assertThat(client.get("/bob").status()).isEqualTo(403);
                }
                assertThat(backend.received()).hasSize(1);
            }
        }
    }

    private static String readmeSection() throws IOException {
        String readme = Files.readString(README);
        int start = readme.indexOf("\n## PKI in one command\n");
        assertThat(start).as("README section \"PKI in one command\"").isNotNegative();
        int end = readme.indexOf("\n## ", start + 1);
        return readme.substring(start, end < 0 ? readme.length() : end);
    }

    private static List<String> blocks(String text, String language) {
        List<String> out = new ArrayList<>();
        Matcher m = Pattern.compile("(?s)```" + language + "\n(.*?)```").matcher(text);
        while (m.find()) {
            out.add(m.group(1));
        }
        return out;
    }

    /** The {@code mtls-proxy pki ...} lines of a block, as argument lists without the leading alias. */
    private static List<List<String>> pkiCommands(String block) {
        List<List<String>> out = new ArrayList<>();
        for (String line : block.split("\n")) {
            String l = line.strip();
            if (l.startsWith("mtls-proxy pki ")) {
                List<String> words = Arrays.asList(l.split("\\s+"));
                out.add(words.subList(1, words.size()));
            }
        }
        assertThat(out).as("pki commands in\n" + block).isNotEmpty();
        return out;
    }

    /** A client like the README's curl: {@code --cacert pki/root-ca.pem}, {@code --cert}/{@code --key} NAME's. */
    private TestHttpClient client(int port, TestPki.Issued identity) {
        return TestHttpClient.builder(port).trustRootPem(dir.resolve("pki/root-ca.pem")).clientCertificate(identity)
                .build();
    }

    private TestHttpClient.Response awaitServing(ProxyProcess proxy, int port, TestPki.Issued identity)
            throws Exception {
        long deadline = System.nanoTime() + Duration.ofSeconds(60).toNanos();
        IOException last = null;
        while (System.nanoTime() < deadline && proxy.isAlive()) {
            try (TestHttpClient c = client(port, identity)) {
                return c.get("/hello");
            } catch (IOException notYetListening) {
                last = notYetListening;
                Thread.sleep(200);
            }
        }
        throw new AssertionError("proxy did not serve (alive=" + proxy.isAlive() + ", last error=" + last + ")\n"
                + String.join("\n", proxy.lines()));
    }

    private static String metrics(int adminPort) throws Exception {
        return HTTP.send(HttpRequest.newBuilder(URI.create("http://127.0.0.1:" + adminPort + "/metrics")).build(),
                HttpResponse.BodyHandlers.ofString()).body();
    }

    /** The material `pki issue` wrote for {@code name}, as the fixture type the test clients and backend take. */
    private static TestPki.Issued issued(Path pki, String name, X509Certificate root) throws Exception {
        Path chainPem = pki.resolve(name + "-chain.pem");
        List<X509Certificate> chain = certificates(chainPem);
        String keyPem = Files.readString(pki.resolve(name + ".key"));
        PrivateKey key = KeyFactory.getInstance(chain.get(0).getPublicKey().getAlgorithm()).generatePrivate(
                new PKCS8EncodedKeySpec(Base64.getMimeDecoder().decode(keyPem.replaceAll("-----[A-Z ]+-----", ""))));
        X509Bundle bundle = X509Bundle.fromCertificatePath(chain.toArray(new X509Certificate[0]), root,
                new KeyPair(chain.get(0).getPublicKey(), key));
        return new TestPki.Issued(bundle, chainPem, pki.resolve(name + ".pem"), pki.resolve(name + ".key"));
    }

    private static List<X509Certificate> certificates(Path pem) throws Exception {
        try (InputStream in = Files.newInputStream(pem)) {
            List<X509Certificate> out = new ArrayList<>();
            CertificateFactory.getInstance("X.509").generateCertificates(in)
                    .forEach(c -> out.add((X509Certificate) c));
            return out;
        }
    }
}
