package org.mtlsproxy.config;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;
import static org.assertj.core.api.Assertions.catchThrowableOfType;

import java.nio.file.Path;
import java.util.List;
import java.util.Optional;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * {@code tls.groups} on listeners and backends: which names are accepted, what they become, and every way to get it
 * wrong. That BoringSSL really takes each name is {@code SslContextFactoryGroupsTest}'s job (proxy module).
 */
class TlsGroupsTest {

    private static final String SOURCE = "proxy.conf";
    private static final String EXPECTED = "(expected: X25519MLKEM768, X25519, P-256, P-384, P-521; also secp256r1, "
            + "prime256v1, secp384r1, secp521r1)";

    @TempDir
    Path dir;

    @BeforeEach
    void createPki() throws Exception {
        new TestPki(dir);
    }

    @Test
    void byDefaultNeitherListenerNorBackendChoosesGroups() {
        ProxyConfig config = ConfigLoader.parse(TestPki.VALID_CONFIG, dir, SOURCE);

        assertThat(config.listeners().get(0).tls().groups()).isEmpty();
        assertThat(config.backends().get("orders").tls().groups()).isEmpty();
    }

    @Test
    void aliasesAndAnyCaseBecomeCanonicalNamesInTheOrderWritten() {
        // Given
        String hocon = TestPki.validConfigWith("private-key = \"server.key\"", "private-key = \"server.key\"\n"
                        + "groups = [x25519mlkem768, secp384r1, X25519, p-256, SECP521R1]")
                .replace("server-name = \"Orders.Internal\"", "server-name = \"Orders.Internal\", "
                        + "groups = [prime256v1, x25519]");

        // When
        ProxyConfig config = ConfigLoader.parse(hocon, dir, SOURCE);

        // Then
        assertThat(config.listeners().get(0).tls().groups())
                .containsExactly("X25519MLKEM768", "P-384", "X25519", "P-256", "P-521");
        assertThat(config.backends().get("orders").tls().groups()).containsExactly("P-256", "X25519");
        assertThat(ConfigJson.render(config).replaceAll("\\s+", "")).contains(
                "\"groups\":[\"X25519MLKEM768\",\"P-384\",\"X25519\",\"P-256\",\"P-521\"]",
                "\"groups\":[\"P-256\",\"X25519\"]");
    }

    @Test
    void everyAcceptedSpellingNamesACanonicalGroup() {
        assertThat(TlsGroups.accepted()).allSatisfy(name ->
                assertThat(TlsGroups.canonical(name)).get().isIn(TlsGroups.NAMES));
        assertThat(TlsGroups.accepted()).map(n -> TlsGroups.canonical(n).orElseThrow()).containsOnly(
                TlsGroups.NAMES.toArray(String[]::new));
        assertThat(TlsGroups.canonical("Prime256V1")).contains("P-256");
        assertThat(TlsGroups.canonical("P256")).isEmpty();
        assertThat(TlsGroups.canonical("X448")).isEmpty();
        assertThat(TlsGroups.canonical("MLKEM1024")).isEmpty();
    }

    @Test
    void anUnknownNameIsReportedAtItsOwnLineWithASuggestionWhenOneIsClose() {
        String hocon = TestPki.validConfigWith("private-key = \"server.key\"", """
                private-key = "server.key"
                      groups = [
                        X25519
                        P256
                        X448
                      ]""");

        assertThat(problems(hocon)).extracting(ConfigProblem::toString).containsExactly(
                at(hocon, "P256") + ": listeners[0].tls.groups[1]: \"P256\" is not a supported key-exchange group; "
                        + "did you mean `P-256`? " + EXPECTED,
                at(hocon, "X448") + ": listeners[0].tls.groups[2]: \"X448\" is not a supported key-exchange group "
                        + EXPECTED);
    }

    @Test
    void aGroupNamedTwiceUnderAnyNameIsReported() {
        String hocon = TestPki.validConfigWith("server-name = \"Orders.Internal\"",
                "server-name = \"Orders.Internal\", groups = [P-256, X25519, prime256v1]");

        assertThat(problems(hocon)).extracting(ConfigProblem::toString).containsExactly(
                at(hocon, "prime256v1") + ": backends.orders.tls.groups[2]: \"prime256v1\" is P-256 again, already "
                        + "groups[0] (expected: each group once, most preferred first)");
    }

    @Test
    void groupsMustBeAListOfStrings() {
        String hocon = TestPki.validConfigWith("private-key = \"server.key\"",
                "private-key = \"server.key\", groups = \"P-256\"");

        assertThat(problems(hocon)).singleElement().satisfies(p -> {
            assertThat(p.path()).isEqualTo("listeners[0].tls.groups");
            assertThat(p.message()).isEqualTo("\"P-256\" is not a list (expected: a list of a TLS key-exchange group "
                    + "name, e.g. [\"a\", \"b\"])");
        });
    }

    @Test
    void aTcpListenerCannotChooseGroupsWhetherWrittenOnItOrInDefaults() {
        String onListener = tcpConfig().replace("private-key = \"server.key\"",
                "private-key = \"server.key\", groups = [P-256]");
        String inDefaults = tcpConfig() + "mtls-proxy.defaults.listener.tls.groups = [X25519]\n";
        String emptied = inDefaults.replace("private-key = \"server.key\"",
                "private-key = \"server.key\", groups = []");

        assertThat(problems(onListener)).extracting(ConfigProblem::toString).containsExactly(
                at(onListener, "groups = [P-256]") + ": listeners[0].tls.groups: a tcp listener cannot choose "
                        + "key-exchange groups: it runs the JDK TLS engine, which on Java 17 takes them only for the "
                        + "whole process (jdk.tls.namedGroups) (expected: groups = [] on a listener with protocol = "
                        + "tcp)");
        assertThat(problems(inDefaults)).singleElement().satisfies(p -> {
            assertThat(p.origin()).isEqualTo(at(inDefaults, "defaults.listener.tls.groups"));
            assertThat(p.path()).isEqualTo("listeners[0].tls.groups");
        });
        assertThat(ConfigLoader.parse(emptied, dir, SOURCE).listeners().get(0).tls().groups()).isEmpty();
    }

    @Test
    void aBackendNamedByATcpListenerCannotChooseGroups() {
        String hocon = tcpConfig().replace("server-name = \"Orders.Internal\"",
                "server-name = \"Orders.Internal\", groups = [X25519]");

        assertThat(problems(hocon)).extracting(ConfigProblem::toString).containsExactly(
                at(hocon, "groups = [X25519]") + ": backends.orders.tls.groups: backend `orders` is named by the tcp "
                        + "listener `public` (listeners[0]), whose backend connections run the JDK TLS engine, which "
                        + "on Java 17 takes key-exchange groups only for the whole process (expected: groups = [] on "
                        + "a backend a tcp listener names; give the tcp listener a backend entry of its own)");
    }

    @Test
    void theRecordsTakeOnlyCanonicalNamesEachOnce() {
        assertThatThrownBy(() -> new BackendTlsConfig(dir.resolve("ca.pem"), "b", Optional.empty(), Optional.empty(),
                List.of("TLSv1.3"), List.of("x25519")))
                .isInstanceOf(IllegalArgumentException.class).hasMessageContaining("\"x25519\" is not a canonical");
        assertThatThrownBy(() -> new BackendTlsConfig(dir.resolve("ca.pem"), "b", Optional.empty(), Optional.empty(),
                List.of("TLSv1.3"), List.of("P-256", "P-256")))
                .isInstanceOf(IllegalArgumentException.class).hasMessageContaining("P-256 is listed twice");
    }

    /** {@link TestPki#VALID_CONFIG} with its listener turned into a tcp listener relaying to backend orders. */
    private static String tcpConfig() {
        return TestPki.VALID_CONFIG
                .replace("bind = \"127.0.0.1:8443\"", "bind = \"127.0.0.1:8443\", protocol = tcp, backend = orders")
                .replaceAll("(?s)routes = \\[\\{.*?\\}\\]\n", "");
    }

    private List<ConfigProblem> problems(String hocon) {
        ConfigException e = catchThrowableOfType(ConfigException.class,
                () -> ConfigLoader.parse(hocon, dir, SOURCE));
        assertThat(e).as("expected a ConfigException").isNotNull();
        return e.problems();
    }

    /** {@code proxy.conf:N} for the first line of {@code hocon} that contains {@code snippet}. */
    private static String at(String hocon, String snippet) {
        String[] lines = hocon.split("\n", -1);
        for (int i = 0; i < lines.length; i++) {
            if (lines[i].contains(snippet)) {
                return SOURCE + ":" + (i + 1);
            }
        }
        throw new IllegalArgumentException("not in the config: " + snippet);
    }
}
