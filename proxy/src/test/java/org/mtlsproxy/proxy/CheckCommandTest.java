package org.mtlsproxy.proxy;

import static org.assertj.core.api.Assertions.assertThat;

import java.io.PrintWriter;
import java.io.StringWriter;
import java.nio.file.Files;
import java.nio.file.Path;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.mtlsproxy.testing.TestPki;
import tools.jackson.databind.JsonNode;
import tools.jackson.databind.json.JsonMapper;

/** {@code mtls-proxy check} through the command line as Main parses it: exit codes, output formats, usage errors. */
class CheckCommandTest {

    private static final TestPki PKI = TestPki.get();
    private static Path config;

    private record Run(int exit, String out, String err) {
    }

    @BeforeAll
    static void writeConfig() throws Exception {
        config = Files.createTempFile(PKI.directory(), "check-cli-", ".conf");
        Files.writeString(config, """
                mtls-proxy {
                  listeners = [{
                    name = main
                    bind = "127.0.0.1:0"
                    tls {
                      certificate-chain = "%s"
                      private-key = "%s"
                      client-trust = [{ name = test-clients, ca-bundle = "%s", crls = ["%s"] }]
                    }
                  }]
                  routes = [
                    { name = orders, path-prefix = "/orders/", backend = b,
                      allow = [{ name = prod-orders, spiffe-id = "spiffe://test.local/ns/prod/sa/*" }] }
                    { name = admin, path-prefix = "/admin/", backend = b, allow = [{ subject-cn = root }] }
                  ]
                  backends { b { endpoints = ["127.0.0.1:9"], tls { ca-bundle = "%s", server-name = "%s" } } }
                }
                """.formatted(PKI.proxyServer().chainPem(), PKI.proxyServer().keyPem(), PKI.clientRootPem(),
                PKI.clientCrlPem(), PKI.backendRootPem(), TestPki.BACKEND_DNS_NAME));
    }

    private static Run run(String... args) {
        StringWriter out = new StringWriter();
        StringWriter err = new StringWriter();
        picocli.CommandLine cli = Main.commandLine();
        cli.setOut(new PrintWriter(out)).setErr(new PrintWriter(err));
        int exit = cli.execute(args);
        return new Run(exit, out.toString(), err.toString());
    }

    @Test
    void allowedClientExitsZero() {
        Run r = run("check", "--config", config.toString(), "--cert", PKI.goodClient().chainPem().toString());

        assertThat(r.exit()).as(r.err()).isZero();
        assertThat(r.out()).contains("verified by trust bundle test-clients").contains("ALLOWED on 1 route");
    }

    @Test
    void deniedRouteRevokedCertificateAndMissingRouteExitThree() {
        Run denied = run("check", "-c", config.toString(), "--cert", PKI.goodClient().chainPem().toString(),
                "--host", "api.test", "--path", "/admin/users");
        assertThat(denied.exit()).isEqualTo(3);
        assertThat(denied.out()).contains("DENIED on route admin: no allow rule matched");

        Run revoked = run("check", "-c", config.toString(), "--cert", PKI.revokedClient().chainPem().toString());
        assertThat(revoked.exit()).isEqualTo(3);
        assertThat(revoked.out()).contains("REJECTED at the TLS handshake: revoked");

        Run noRoute = run("check", "-c", config.toString(), "--cert", PKI.goodClient().chainPem().toString(),
                "--path", "/elsewhere");
        assertThat(noRoute.exit()).as(noRoute.err()).isEqualTo(3);
        assertThat(noRoute.out()).contains("NO ROUTE (404)");
    }

    @Test
    void jsonOutputParsesAndCarriesTheVerdict() {
        Run r = run("check", "-c", config.toString(), "--cert", PKI.expiredClient().chainPem().toString(),
                "--format", "json");

        assertThat(r.exit()).isEqualTo(3);
        JsonNode json = JsonMapper.builder().build().readTree(r.out());
        assertThat(json.get("allowed").asBoolean()).isFalse();
        assertThat(json.get("listeners").get(0).get("verification").get("reason").asString()).isEqualTo("expired");
    }

    @Test
    void identityOnlyCheckNeedsNoCertificate() {
        Run allowed = run("check", "-c", config.toString(), "--identity", "spiffe://test.local/ns/prod/sa/billing",
                "--format", "json");
        assertThat(allowed.exit()).as(allowed.err()).isZero();
        JsonNode json = JsonMapper.builder().build().readTree(allowed.out());
        assertThat(json.get("mode").asString()).isEqualTo("identity");
        assertThat(json.get("notes").get(0).asString()).contains("trust-bundle and fingerprint-sha256 rules");

        Run admin = run("check", "-c", config.toString(), "--cn", "root", "--path", "/admin/");
        assertThat(admin.exit()).isZero();
        assertThat(admin.out()).contains("ALLOWED: route admin on listener main");
    }

    @Test
    void usageAndConfigErrorsExitTwo() throws Exception {
        Run neither = run("check", "-c", config.toString());
        assertThat(neither.exit()).isEqualTo(2);
        assertThat(neither.err()).contains("give --cert FILE, or identity fields");

        Run both = run("check", "-c", config.toString(), "--cert", PKI.goodClient().chainPem().toString(),
                "--cn", "x");
        assertThat(both.exit()).isEqualTo(2);

        Run badListener = run("check", "-c", config.toString(), "--cert", PKI.goodClient().chainPem().toString(),
                "--listener", "nope");
        assertThat(badListener.exit()).as(badListener.err()).isEqualTo(2);
        assertThat(badListener.err()).contains("no listener named nope (expected one of: main)");

        Run emptySegment = run("check", "-c", config.toString(), "--identity", "spiffe://test.local//sa/billing");
        assertThat(emptySegment.exit()).isEqualTo(2);
        assertThat(emptySegment.err()).contains("\"spiffe://test.local//sa/billing\" has an empty path segment");
        Run badDomain = run("check", "-c", config.toString(), "--identity", "spiffe://Test_Local/ns/prod");
        assertThat(badDomain.exit()).isEqualTo(2);
        assertThat(badDomain.err()).contains("has a trust domain with");
        Run wildcard = run("check", "-c", config.toString(), "--identity", "spiffe://test.local/ns/*/sa/billing");
        assertThat(wildcard.exit()).isEqualTo(2);
        assertThat(wildcard.err()).contains("has a wildcard (expected: one concrete SPIFFE ID");

        Path garbage = Files.writeString(Files.createTempFile(PKI.directory(), "garbage-", ".pem"), "not a pem");
        Run badPem = run("check", "-c", config.toString(), "--cert", garbage.toString());
        assertThat(badPem.exit()).isEqualTo(2);
        assertThat(badPem.err()).contains("no PEM certificate found in " + garbage);

        Path invalid = Files.writeString(Files.createTempFile(PKI.directory(), "invalid-", ".conf"),
                "mtls-proxy { listners = [] }");
        Run badConfig = run("check", "-c", invalid.toString(), "--cn", "x");
        assertThat(badConfig.exit()).as(badConfig.err() + badConfig.out()).isEqualTo(2);
        assertThat(badConfig.err()).contains("invalid configuration");

        Run help = run("check", "--help");
        assertThat(help.out()).contains("Exit codes:").contains("3   denied");
    }
}
