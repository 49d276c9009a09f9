package org.mtlsproxy.proxy.pki;

import static org.assertj.core.api.Assertions.assertThat;

import java.io.PrintWriter;
import java.io.StringWriter;
import java.math.BigInteger;
import java.nio.file.Path;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import picocli.CommandLine;

/** The command line around {@link CertificateAuthority}: exit codes, what it prints, its usage errors. */
class PkiCommandTest {

    @TempDir
    Path tmp;

    private record Run(int exit, String out, String err) {
    }

    private static Run pki(String... args) {
        StringWriter out = new StringWriter();
        StringWriter err = new StringWriter();
        int exit = new CommandLine(new PkiCommand()).setOut(new PrintWriter(out)).setErr(new PrintWriter(err))
                .execute(args);
        return new Run(exit, out.toString(), err.toString());
    }

    private static String serialOf(Run issued) {
        Matcher m = Pattern.compile("serial ([0-9a-f]+)").matcher(issued.out());
        assertThat(m.find()).as(issued.out()).isTrue();
        return m.group(1);
    }

    @Test
    void initIssueRevokeCrlListEndToEnd() throws Exception {
        String dir = tmp.resolve("pki").toString();

        Run init = pki("init", dir);
        assertThat(init.exit()).as(init.err()).isZero();
        assertThat(init.out()).contains(dir + "/root-ca.pem", dir + "/intermediate-ca.key", dir + "/crl.pem",
                "ECDSA P-256");

        Run server = pki("issue", "server", "api", "--dir", dir, "--dns", "localhost,api.internal", "--ip",
                "127.0.0.1");
        assertThat(server.exit()).as(server.err()).isZero();
        assertThat(server.out()).contains("DNS:localhost, DNS:api.internal, IP:127.0.0.1", dir + "/api.key",
                dir + "/api.pem", dir + "/api-chain.pem");

        Run client = pki("issue", "client", "alice", "--dir", dir, "--uri", "spiffe://example.org/ns/prod/sa/alice");
        assertThat(client.exit()).as(client.err()).isZero();
        String serial = serialOf(client);

        // OpenSSL's upper-case colon form is accepted too.
        String openSslForm = new BigInteger(serial, 16).toString(16).toUpperCase(java.util.Locale.ROOT)
                .replaceAll("(..)(?!$)", "$1:");
        Run revoke = pki("revoke", openSslForm, "--dir", dir, "--reason", "key-compromise");
        assertThat(revoke.exit()).as(revoke.err()).isZero();
        assertThat(revoke.out()).contains("revoked client certificate alice (serial " + serial + ")",
                "pki crl --dir " + dir);

        Run crl = pki("crl", "--dir", dir, "--days", "3");
        assertThat(crl.exit()).as(crl.err()).isZero();
        assertThat(crl.out()).contains("CRL number 2, 1 revoked serial (" + serial + ")");

        Run list = pki("list", "--dir", dir);
        assertThat(list.exit()).isZero();
        assertThat(list.out()).containsPattern(serial + "\\s+client\\s+alice\\s+.*revoked .*\\(key-compromise\\)")
                .containsPattern(serialOf(server) + "\\s+server\\s+api\\s+.*valid")
                .contains("2 certificates");
    }

    @Test
    void usageErrorsExitTwoWithAClearMessage() {
        String dir = tmp.resolve("pki").toString();
        assertThat(pki("init", dir).exit()).isZero();

        Run again = pki("init", dir);
        assertThat(again.exit()).isEqualTo(2);
        assertThat(again.err()).contains("pki init: " + dir + " already holds a CA");

        Run missingDir = pki("init");
        assertThat(missingDir.exit()).isEqualTo(2);
        assertThat(missingDir.err()).contains("Missing required parameter: 'DIR'");

        Run notInitialized = pki("issue", "client", "alice", "--dir", tmp.toString());
        assertThat(notInitialized.exit()).isEqualTo(2);
        assertThat(notInitialized.err()).contains("is not an initialized PKI", "pki init");

        Run badSan = pki("issue", "server", "api", "--dir", dir, "--dns", "-bad-");
        assertThat(badSan.exit()).isEqualTo(2);
        assertThat(badSan.err()).contains("--dns \"-bad-\" is not a DNS name");

        Run noSan = pki("issue", "server", "api", "--dir", dir);
        assertThat(noSan.exit()).isEqualTo(2);
        assertThat(noSan.err()).contains("has no SAN");

        Run badKind = pki("issue", "peer", "x", "--dir", dir);
        assertThat(badKind.exit()).isEqualTo(2);
        assertThat(badKind.err()).contains("certificate kind \"peer\" (expected: server or client)");

        Run unknownSerial = pki("revoke", "abc123", "--dir", dir);
        assertThat(unknownSerial.exit()).isEqualTo(2);
        assertThat(unknownSerial.err()).contains("serial abc123: no certificate with this serial");

        Run notHex = pki("revoke", "xyz", "--dir", dir);
        assertThat(notHex.exit()).isEqualTo(2);
        assertThat(notHex.err()).contains("is not a hex serial");

        Run badReason = pki("revoke", "abc", "--dir", dir, "--reason", "bored");
        assertThat(badReason.exit()).isEqualTo(2);
        assertThat(badReason.err()).contains("(expected one of: unspecified, key-compromise");

        Run badDays = pki("crl", "--dir", dir, "--days", "0");
        assertThat(badDays.exit()).isEqualTo(2);
        assertThat(badDays.err()).contains("--days 0 (expected: at least 1)");

        Run badKeyType = pki("init", tmp.resolve("other").toString(), "--key-type", "dsa");
        assertThat(badKeyType.exit()).isEqualTo(2);
        assertThat(badKeyType.err()).contains("key type \"dsa\" (expected: ec or rsa)");
        assertThat(tmp.resolve("other")).doesNotExist();

        Run noCommand = pki();
        assertThat(noCommand.exit()).isEqualTo(2);
        assertThat(noCommand.err()).contains("missing command");
    }

    @Test
    void rsaInitAndIntermediateDaysAtMostTheRoot() {
        String dir = tmp.resolve("rsa").toString();
        Run tooLong = pki("init", dir, "--key-type", "rsa", "--days", "100", "--intermediate-days", "200");
        assertThat(tooLong.exit()).isEqualTo(2);
        assertThat(tooLong.err()).contains("exceeds the root's 100 days");

        Run init = pki("init", dir, "--key-type", "RSA", "--days", "100");
        assertThat(init.exit()).as(init.err()).isZero();
        assertThat(init.out()).contains("RSA-2048");
        // 101, not 100: certificate times have whole seconds, so a 100-day leaf issued in the same second as the
        // 100-day intermediate ends with it, and is (rightly) accepted.
        Run issue = pki("issue", "client", "c", "--dir", dir, "--days", "101");
        assertThat(issue.exit()).isEqualTo(2);
        assertThat(issue.err()).contains("would outlive the intermediate CA");
    }
}
