package org.mtlsproxy.config;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;
import static org.assertj.core.api.Assertions.catchThrowableOfType;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.Base64;
import java.util.List;
import java.util.Optional;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** The session ticket key file format, and how a listener's {@code tls.session-tickets} is read and checked. */
class SessionTicketKeyFileTest {

    @TempDir
    Path dir;

    TestPki pki;

    @BeforeEach
    void createPki() throws Exception {
        pki = new TestPki(dir);
    }

    @Test
    void keysAreReadInOrderSkippingCommentsAndBlankLines() throws Exception {
        // Given
        byte[] first = key(1);
        byte[] second = key(2);
        String text = "# current first\n\n" + b64(first) + "\r\n  " + b64(second) + "  \n# next\n";

        // When
        List<byte[]> keys = SessionTicketKeyFile.parse(text, "tickets.keys");

        // Then
        assertThat(keys).containsExactly(first, second);
    }

    @Test
    void aLineThatIsNotBase64IsRefusedWithFileAndLine() {
        String text = b64(key(1)) + "\nnot*base64!\n";

        assertThatThrownBy(() -> SessionTicketKeyFile.parse(text, "tickets.keys"))
                .isInstanceOf(IOException.class)
                .hasMessageStartingWith("tickets.keys:2: not base64")
                .hasMessageContaining("expected: the base64 of 48 random bytes");
    }

    @Test
    void aKeyOfTheWrongLengthIsRefusedWithItsLength() {
        String text = "# comment\n" + Base64.getEncoder().encodeToString(new byte[32]) + "\n";

        assertThatThrownBy(() -> SessionTicketKeyFile.parse(text, "tickets.keys"))
                .hasMessageStartingWith("tickets.keys:2: decodes to 32 bytes (expected: the base64 of 48 random "
                        + "bytes, e.g. from `openssl rand -base64 48`)");
    }

    @Test
    void twoKeysWithTheSameNameAreRefused() {
        byte[] a = key(1);
        byte[] b = key(2);
        System.arraycopy(a, 0, b, 0, SessionTicketKeyFile.NAME_SIZE);

        assertThatThrownBy(() -> SessionTicketKeyFile.parse(b64(a) + "\n" + b64(b) + "\n", "tickets.keys"))
                .hasMessageStartingWith("tickets.keys:2: key name " + SessionTicketKeyFile.nameHex(a)
                        + " is already used on line 1");
    }

    @Test
    void anEmptyFileOrOnlyCommentsIsRefused() {
        assertThatThrownBy(() -> SessionTicketKeyFile.parse("# nothing yet\n\n", "tickets.keys"))
                .hasMessageStartingWith("tickets.keys: no key");
    }

    @Test
    void moreThanTheMaximumNumberOfKeysIsRefused() {
        StringBuilder text = new StringBuilder();
        for (int i = 0; i <= SessionTicketKeyFile.MAX_KEYS; i++) {
            text.append(b64(key(i + 1))).append('\n');
        }

        assertThatThrownBy(() -> SessionTicketKeyFile.parse(text.toString(), "tickets.keys"))
                .hasMessageStartingWith("tickets.keys:17: more than 16 keys");
    }

    @Test
    void aPemFileGivenByMistakeIsRefusedAtItsFirstLine() throws Exception {
        assertThatThrownBy(() -> SessionTicketKeyFile.read(dir.resolve("server.key")))
                .hasMessageStartingWith(dir.resolve("server.key") + ":1: not base64");
    }

    @Test
    void listenerSessionTicketsDefaultToGeneratedKeysRotatedHourly() {
        ProxyConfig config = ConfigLoader.parse(TestPki.VALID_CONFIG, dir, "test.conf");

        assertThat(config.listeners().get(0).tls().sessionTickets())
                .isEqualTo(new SessionTicketsConfig(Optional.empty(), Duration.ofHours(1)));
    }

    @Test
    void aKeyFileIsResolvedReadAndWatchedLikeTheCertificates() throws Exception {
        Files.writeString(dir.resolve("tickets.keys"), b64(key(1)) + "\n");
        String hocon = TestPki.validConfigWith("private-key = \"server.key\"",
                "private-key = \"server.key\"\n      session-tickets { key-file = \"tickets.keys\" }");

        ProxyConfig config = ConfigLoader.parse(hocon, dir, "test.conf");

        assertThat(config.listeners().get(0).tls().sessionTickets().keyFile()).contains(dir.resolve("tickets.keys"));
        assertThat(config.referencedFiles()).contains(dir.resolve("tickets.keys"));
    }

    @Test
    void aMalformedKeyFileIsAConfigProblemNamingTheKeyAndTheFileLine() throws Exception {
        Path file = dir.resolve("tickets.keys");
        Files.writeString(file, b64(key(1)) + "\n" + Base64.getEncoder().encodeToString(new byte[47]) + "\n");
        String hocon = TestPki.validConfigWith("private-key = \"server.key\"",
                "private-key = \"server.key\"\n      session-tickets { key-file = \"tickets.keys\" }");

        List<ConfigProblem> problems = problems(hocon);

        assertThat(problems).singleElement().satisfies(p -> {
            assertThat(p.path()).isEqualTo("listeners[0].tls.session-tickets.key-file");
            assertThat(p.message()).startsWith(file + ":2: decodes to 47 bytes");
        });
    }

    @Test
    void aMissingKeyFileAndATooShortRotationIntervalAreReported() {
        String hocon = TestPki.validConfigWith("private-key = \"server.key\"", "private-key = \"server.key\"\n"
                + "      session-tickets { key-file = \"absent.keys\", rotation-interval = 30s }");

        assertThat(problems(hocon)).extracting(ConfigProblem::path, ConfigProblem::message).containsExactlyInAnyOrder(
                org.assertj.core.groups.Tuple.tuple("listeners[0].tls.session-tickets.key-file",
                        "\"absent.keys\" (" + dir.resolve("absent.keys") + ") does not exist (expected: an existing "
                                + "file)"),
                org.assertj.core.groups.Tuple.tuple("listeners[0].tls.session-tickets.rotation-interval",
                        "30s is too short (expected: at least 1m; a ticket must stay decryptable for its lifetime)"));
    }

    @Test
    void aTcpListenerCannotTakeAKeyFile() throws Exception {
        Files.writeString(dir.resolve("tickets.keys"), b64(key(1)) + "\n");
        String hocon = TestPki.VALID_CONFIG
                .replace("bind = \"127.0.0.1:8443\"", "bind = \"127.0.0.1:8443\", protocol = tcp, backend = orders")
                .replace("private-key = \"server.key\"",
                        "private-key = \"server.key\"\n      session-tickets { key-file = \"tickets.keys\" }")
                .replaceAll("(?s)routes = \\[\\{.*?\\}\\]\n", "");

        assertThat(problems(hocon)).singleElement().satisfies(p -> {
            assertThat(p.path()).isEqualTo("listeners[0].tls.session-tickets.key-file");
            assertThat(p.message()).startsWith("a tcp listener cannot use shared session ticket keys");
        });
    }

    private List<ConfigProblem> problems(String hocon) {
        ConfigException e = catchThrowableOfType(ConfigException.class, () -> ConfigLoader.parse(hocon, dir, "t.conf"));
        assertThat(e).as("expected a ConfigException").isNotNull();
        return e.problems();
    }

    private static byte[] key(int seed) {
        byte[] k = new byte[SessionTicketKeyFile.KEY_SIZE];
        for (int i = 0; i < k.length; i++) {
            k[i] = (byte) (seed * 31 + i);
        }
        return k;
    }

    private static String b64(byte[] key) {
        return Base64.getEncoder().encodeToString(key);
    }
}
