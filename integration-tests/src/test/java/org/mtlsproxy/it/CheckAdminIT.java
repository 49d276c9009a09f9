package org.mtlsproxy.it;

import static org.assertj.core.api.Assertions.assertThat;

import java.io.PrintWriter;
import java.io.StringWriter;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.Map;
import org.awaitility.Awaitility;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.mtlsproxy.proxy.CheckCommand;
import org.mtlsproxy.proxy.admin.AdminServer;
import org.mtlsproxy.testing.RecordingBackend;
import org.mtlsproxy.testing.TestHttpClient;
import org.mtlsproxy.testing.TestPki;
import picocli.CommandLine;
import tools.jackson.databind.JsonNode;
import tools.jackson.databind.json.JsonMapper;

/**
 * {@code POST /check} on the admin listener: the CLI's JSON on the live snapshot, bounded and strict about its input;
 * and never on the data port, where {@code POST /check} is a request like any other.
 */
class CheckAdminIT {

    private static final TestPki PKI = TestPki.get();
    private static final HttpClient HTTP = HttpClient.newHttpClient();
    private static final JsonMapper JSON = JsonMapper.builder().build();
    private static final String RULE = "{ name = prod-orders, spiffe-id = \"" + TestPki.GOOD_CLIENT_SPIFFE_ID + "\" }";

    private static RecordingBackend backend;
    private static ProxyFixture proxy;

    @BeforeAll
    static void start() throws Exception {
        backend = RecordingBackend.start(PKI.backendServer());
        proxy = ProxyFixture.builder()
                .backend("b", backend.port())
                .route("orders", null, "/orders/", "b", RULE)
                .route("everything", null, "/", "b", RULE)
                .start();
    }

    @AfterAll
    static void stop() {
        proxy.close();
        backend.close();
    }

    private static HttpResponse<String> admin(String method, String pathAndQuery, byte[] body) throws Exception {
        HttpRequest.Builder b = HttpRequest.newBuilder(
                        URI.create("http://127.0.0.1:" + proxy.adminPort() + pathAndQuery))
                .timeout(Duration.ofSeconds(10))
                .method(method, body == null ? HttpRequest.BodyPublishers.noBody()
                        : HttpRequest.BodyPublishers.ofByteArray(body));
        return HTTP.send(b.build(), HttpResponse.BodyHandlers.ofString());
    }

    private static HttpResponse<String> postCheck(String query, Path pem) throws Exception {
        return admin("POST", "/check" + query, Files.readAllBytes(pem));
    }

    private static String cli(String... args) {
        StringWriter out = new StringWriter();
        List<String> all = new java.util.ArrayList<>(List.of("--config", proxy.configFile().toString(),
                "--format", "json"));
        all.addAll(List.of(args));
        new CommandLine(new CheckCommand()).setOut(new PrintWriter(out)).setErr(new PrintWriter(new StringWriter()))
                .execute(all.toArray(new String[0]));
        return out.toString();
    }

    @Test
    void answersTheSameJsonAsTheCli() throws Exception {
        HttpResponse<String> r = postCheck("", PKI.goodClient().chainPem());

        assertThat(r.statusCode()).as(r.body()).isEqualTo(200);
        assertThat(r.headers().firstValue("content-type")).hasValueSatisfying(v -> assertThat(v)
                .startsWith("application/json"));
        JsonNode json = JSON.readTree(r.body());
        assertThat(json.get("allowed").asBoolean()).isTrue();
        assertThat(json.get("mode").asString()).isEqualTo("certificate");
        JsonNode main = json.get("listeners").get(0);
        assertThat(main.get("listener").asString()).isEqualTo(ProxyFixture.LISTENER);
        assertThat(main.get("verification").get("result").asString()).isEqualTo("verified");
        assertThat(main.get("verification").get("trust_bundle").asString()).isEqualTo("test-clients");
        assertThat(main.get("identity").get("spiffe_id").asString()).isEqualTo(TestPki.GOOD_CLIENT_SPIFFE_ID);
        assertThat(main.get("identity").get("dns_sans").get(0).asString()).isEqualTo(TestPki.GOOD_CLIENT_DNS_NAME);
        assertThat(main.get("identity").get("serial").asString())
                .isEqualTo(PKI.goodClient().serialNumber().toString(16));
        assertThat(main.get("routes").size()).isEqualTo(2);
        assertThat(JSON.readTree(cli("--cert", PKI.goodClient().chainPem().toString()))).isEqualTo(json);
    }

    @Test
    void queryParametersSelectListenerAndRequest() throws Exception {
        HttpResponse<String> r = postCheck("?listener=main&host=localhost&path=/orders/x", PKI.goodClient().chainPem());

        JsonNode json = JSON.readTree(r.body());
        assertThat(json.get("request").get("normalized_path").asString()).isEqualTo("/orders/x");
        JsonNode routes = json.get("listeners").get(0).get("routes");
        assertThat(routes.size()).isEqualTo(1);
        assertThat(routes.get(0).get("route").asString()).isEqualTo("orders");
        assertThat(json).isEqualTo(JSON.readTree(cli("--cert", PKI.goodClient().chainPem().toString(),
                "--listener", "main", "--host", "localhost", "--path", "/orders/x")));
    }

    @Test
    void refusedCertificateIsA200ReportWithTheReason() throws Exception {
        HttpResponse<String> r = postCheck("", PKI.revokedClient().chainPem());

        assertThat(r.statusCode()).isEqualTo(200);
        JsonNode json = JSON.readTree(r.body());
        assertThat(json.get("allowed").asBoolean()).isFalse();
        assertThat(json.get("listeners").get(0).get("verification").get("reason").asString()).isEqualTo("revoked");
    }

    @Test
    void badInputIsRefused() throws Exception {
        HttpResponse<String> garbage = admin("POST", "/check", "not a certificate".getBytes());
        assertThat(garbage.statusCode()).isEqualTo(400);
        assertThat(garbage.body()).contains("no PEM certificate found in request body");

        HttpResponse<String> broken = admin("POST", "/check",
                "-----BEGIN CERTIFICATE-----\nnot base64!\n-----END CERTIFICATE-----\n".getBytes());
        assertThat(broken.statusCode()).isEqualTo(400);

        assertThat(admin("POST", "/check", null).statusCode()).isEqualTo(400);

        HttpResponse<String> unknown = postCheck("?listener=nope", PKI.goodClient().chainPem());
        assertThat(unknown.statusCode()).isEqualTo(400);
        assertThat(unknown.body()).contains("no listener named nope");

        HttpResponse<String> get = admin("GET", "/check", null);
        assertThat(get.statusCode()).isEqualTo(405);
        assertThat(get.headers().firstValue("allow")).hasValue("POST");

        byte[] huge = new byte[AdminServer.MAX_BODY_BYTES + 1];
        java.util.Arrays.fill(huge, (byte) 'A');
        assertThat(admin("POST", "/check", huge).statusCode()).isEqualTo(413);
        // A chain just under the limit is still read (padded with text PEM parsers skip).
        byte[] chain = Files.readAllBytes(PKI.goodClient().chainPem());
        byte[] padded = new byte[AdminServer.MAX_BODY_BYTES];
        java.util.Arrays.fill(padded, (byte) '\n');
        System.arraycopy(chain, 0, padded, 0, chain.length);
        assertThat(admin("POST", "/check", padded).statusCode()).isEqualTo(200);
    }

    @Test
    void usesTheLiveSnapshotAfterAReload() throws Exception {
        Path file = proxy.configFile();
        String original = Files.readString(file);
        double reloads = proxy.reloads("success");
        try {
            Files.writeString(file, original.replace(TestPki.GOOD_CLIENT_SPIFFE_ID, TestPki.OTHER_CLIENT_SPIFFE_ID));
            assertThat(admin("POST", "/reload", null).statusCode()).isEqualTo(200);

            JsonNode other = JSON.readTree(postCheck("?path=/orders/1", PKI.otherClient().chainPem()).body());
            assertThat(other.get("allowed").asBoolean()).isTrue();
            JsonNode good = JSON.readTree(postCheck("?path=/orders/1", PKI.goodClient().chainPem()).body());
            assertThat(good.get("allowed").asBoolean()).isFalse();
        } finally {
            Files.writeString(file, original);
            assertThat(admin("POST", "/reload", null).statusCode()).isEqualTo(200);
            Awaitility.await().atMost(Duration.ofSeconds(10)).until(() -> proxy.reloads("success") >= reloads + 2);
        }
        JsonNode good = JSON.readTree(postCheck("?path=/orders/1", PKI.goodClient().chainPem()).body());
        assertThat(good.get("allowed").asBoolean()).isTrue();
    }

    @Test
    void readmeJsonExampleHasExactlyTheFieldsOfARealAnswer() throws Exception {
        String readme = Files.readString(Path.of(System.getProperty("user.dir")).resolve("../README.md"));
        java.util.regex.Matcher m = java.util.regex.Pattern.compile("(?s)## Why was I rejected\\? `check`.*?```json\n(.*?)```")
                .matcher(readme);
        assertThat(m.find()).as("the README's check JSON example").isTrue();
        JsonNode example = JSON.readTree(m.group(1));
        JsonNode real = JSON.readTree(postCheck("?path=/hello", PKI.otherClient().chainPem()).body());

        assertThat(fieldPaths(example, "")).isEqualTo(fieldPaths(real, ""));
    }

    /** Every object key, as a path ({@code listeners[].verification.bundles[].result}), sorted. */
    private static java.util.SortedSet<String> fieldPaths(JsonNode node, String prefix) {
        java.util.SortedSet<String> paths = new java.util.TreeSet<>();
        if (node.isObject()) {
            for (String name : node.propertyNames()) {
                paths.add(prefix + name);
                paths.addAll(fieldPaths(node.get(name), prefix + name + "."));
            }
        } else if (node.isArray()) {
            for (JsonNode item : node) {
                paths.addAll(fieldPaths(item, prefix.substring(0, prefix.length() - 1) + "[]."));
            }
        }
        return paths;
    }

    @Test
    void dataPortDoesNotServeCheckButProxiesItLikeAnyRequest() throws Exception {
        byte[] pem = Files.readAllBytes(PKI.goodClient().chainPem());
        int before = backend.received().size();
        try (TestHttpClient good = proxy.client(PKI.goodClient())) {
            TestHttpClient.Response r = good.request("POST", "/check", List.of(), pem);

            assertThat(r.status()).isEqualTo(200);
            assertThat(r.bodyText()).doesNotContain("\"verification\"");
        }
        List<RecordingBackend.Received> received = backend.received();
        assertThat(received).hasSize(before + 1);
        assertThat(received.get(received.size() - 1).method()).isEqualTo("POST");
        assertThat(received.get(received.size() - 1).path()).isEqualTo("/check");
        assertThat(received.get(received.size() - 1).bodyLength()).isEqualTo(pem.length);

        try (TestHttpClient other = proxy.client(PKI.otherClient())) {
            TestHttpClient.Response r = other.request("POST", "/check", List.of(Map.entry("Content-Type",
                    "application/x-pem-file")), pem);
            assertThat(r.status()).isEqualTo(403);
        }
        assertThat(backend.received()).hasSize(before + 1);
    }
}
