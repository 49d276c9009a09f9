package org.mtlsproxy.it;

import static org.assertj.core.api.Assertions.assertThat;

import io.netty.channel.EventLoopGroup;
import io.netty.channel.MultiThreadIoEventLoopGroup;
import io.netty.channel.nio.NioIoHandler;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.file.Files;
import java.nio.file.Path;
import java.security.SecureRandom;
import java.time.Duration;
import java.util.Base64;
import java.util.concurrent.TimeUnit;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.mtlsproxy.testing.RecordingBackend;
import org.mtlsproxy.testing.TestPki;

/**
 * Two proxy processes, as two replicas behind an L4 load balancer: a client's TLS session from one resumes on the
 * other exactly when both read the same session ticket key file.
 *
 * <p>The client ({@link ResumingClient}) names the same logical {@code proxy.test:<logical port>} for every
 * connection while it really connects to replica A's or B's port, like a client of one load-balanced address.
 * Resumption is read on both sides: the client's {@code SSL_session_reused} and the replicas'
 * {@code mtls_proxy_handshakes_resumed_total}.
 */
class SessionTicketSharingIT {

    private static final TestPki PKI = TestPki.get();
    private static final HttpClient HTTP = HttpClient.newHttpClient();
    private static final SecureRandom RANDOM = new SecureRandom();

    private static EventLoopGroup group;
    private static RecordingBackend backend;

    @TempDir
    Path dir;

    @BeforeAll
    static void start() throws Exception {
        group = new MultiThreadIoEventLoopGroup(1, NioIoHandler.newFactory());
        backend = RecordingBackend.start(PKI.backendServer());
    }

    @AfterAll
    static void stop() throws Exception {
        if (backend != null) {
            backend.close();
        }
        if (group != null) {
            group.shutdownGracefully(0, 1, TimeUnit.SECONDS).sync();
        }
    }

    @Test
    void aSessionFromReplicaAResumesOnReplicaBWhenTheyShareTheKeyFile() throws Exception {
        // Given: two replicas reading the same key file
        Path keys = writeKeys(dir.resolve("shared.keys"), key());
        try (Replica a = Replica.start(dir.resolve("a"), keys); Replica b = Replica.start(dir.resolve("b"), keys)) {
            ResumingClient client = new ResumingClient(group, PKI.goodClient());

            // When: a full handshake on A, then the next connection to the same logical address lands on B
            ResumingClient.Handshake first = client.connect(a.port, 1001);
            ResumingClient.Handshake second = client.connect(b.port, 1001);

            // Then
            assertThat(first.status()).isEqualTo(200);
            assertThat(first.resumed()).as("first connection: full handshake").isFalse();
            assertThat(second.status()).isEqualTo(200);
            assertThat(second.protocol()).isEqualTo("TLSv1.3");
            assertThat(second.resumed()).as("session from replica A resumed on replica B").isTrue();
            assertThat(resumedHandshakes(b)).isEqualTo(1);
            assertThat(resumedHandshakes(a)).isZero();
        }
    }

    @Test
    void withDifferentKeyFilesASessionResumesOnlyOnTheReplicaThatIssuedIt() throws Exception {
        // Given
        try (Replica a = Replica.start(dir.resolve("a"), writeKeys(dir.resolve("a.keys"), key()));
                Replica b = Replica.start(dir.resolve("b"), writeKeys(dir.resolve("b.keys"), key()))) {
            ResumingClient client = new ResumingClient(group, PKI.goodClient());

            // When
            ResumingClient.Handshake full = client.connect(a.port, 1001);
            ResumingClient.Handshake sameReplica = client.connect(a.port, 1001);
            ResumingClient.Handshake otherReplica = client.connect(b.port, 1001);

            // Then: the client did offer its session (A resumed it), and B could not decrypt A's ticket
            assertThat(full.resumed()).isFalse();
            assertThat(sameReplica.resumed()).as("same replica resumes").isTrue();
            assertThat(otherReplica.status()).isEqualTo(200);
            assertThat(otherReplica.resumed()).as("other key file: full handshake").isFalse();
            assertThat(resumedHandshakes(b)).isZero();
        }
    }

    @Test
    void withoutAKeyFileEachProcessResumesOnlyItsOwnSessions() throws Exception {
        // Given: generated keys, per process
        try (Replica a = Replica.start(dir.resolve("a"), null); Replica b = Replica.start(dir.resolve("b"), null)) {
            ResumingClient client = new ResumingClient(group, PKI.goodClient());

            // When
            ResumingClient.Handshake full = client.connect(a.port, 1001);
            ResumingClient.Handshake sameProcess = client.connect(a.port, 1001);
            ResumingClient.Handshake otherProcess = client.connect(b.port, 1001);

            // Then
            assertThat(full.resumed()).isFalse();
            assertThat(sameProcess.resumed()).as("a single process resumes").isTrue();
            assertThat(resumedHandshakes(a)).isEqualTo(1);
            assertThat(otherProcess.resumed()).as("another process has other keys").isFalse();
            assertThat(resumedHandshakes(b)).isZero();
        }
    }

    @Test
    void aTwoStepRotationOfTheSharedFileKeepsEveryTicketResumable() throws Exception {
        // Given: both replicas on key k1, and a client session issued under k1 by A
        byte[] k1 = key();
        byte[] k2 = key();
        Path keys = writeKeys(dir.resolve("shared.keys"), k1);
        try (Replica a = Replica.start(dir.resolve("a"), keys); Replica b = Replica.start(dir.resolve("b"), keys)) {
            ResumingClient client = new ResumingClient(group, PKI.goodClient());
            assertThat(client.connect(a.port, 1001).resumed()).isFalse();

            // When (step 1): k2 is added as the next key and both replicas reload
            writeKeys(keys, k1, k2);
            a.reload();
            b.reload();

            // Then: the k1 ticket still resumes, on the other replica
            assertThat(client.connect(b.port, 1001).resumed()).as("k1 ticket after k2 was added").isTrue();

            // When (step 2): k2 is promoted to encrypting key, k1 kept for decryption
            writeKeys(keys, k2, k1);
            a.reload();
            b.reload();

            // Then: the ticket B issued under k1 resumes on A, and a new session from A (under k2) resumes on B
            assertThat(client.connect(a.port, 1001).resumed()).as("k1 ticket after k2 was promoted").isTrue();
            assertThat(client.connect(a.port, 1002).resumed()).isFalse();
            assertThat(client.connect(b.port, 1002).resumed()).as("k2 ticket on the other replica").isTrue();

            // When (step 3): k1 is dropped
            writeKeys(keys, k2);
            a.reload();
            b.reload();

            // Then: tickets issued under k2 keep resuming everywhere
            assertThat(client.connect(b.port, 1002).resumed()).as("k2 ticket after k1 was dropped").isTrue();
            assertThat(client.connect(a.port, 1002).resumed()).isTrue();
            // and the session first issued under k1 never fails: it resumes if the client kept the ticket A renewed
            // under k2 in step 2 (which ticket a TLS 1.3 client offers next is the client's choice, and on a loaded
            // machine it was seen to offer the older one), otherwise it falls back to a full handshake
            ResumingClient.Handshake old = client.connect(b.port, 1001);
            assertThat(old.status()).as("the k1-era session after k1 was dropped").isEqualTo(200);
        }
    }

    @Test
    void droppingTheKeyATicketWasIssuedUnderEndsItsResumption() throws Exception {
        // Given: a session issued under k1
        byte[] k1 = key();
        Path keys = writeKeys(dir.resolve("shared.keys"), k1);
        try (Replica a = Replica.start(dir.resolve("a"), keys)) {
            ResumingClient client = new ResumingClient(group, PKI.goodClient());
            assertThat(client.connect(a.port, 1001).resumed()).isFalse();

            // When: the file is replaced by one without k1 (a one-step rotation)
            writeKeys(keys, key());
            a.reload();

            // Then
            assertThat(client.connect(a.port, 1001).resumed()).as("ticket under a dropped key").isFalse();
        }
    }

    @Test
    void aMalformedKeyFileFailsTheReloadAndTheRunningKeysStay() throws Exception {
        // Given
        Path keys = writeKeys(dir.resolve("shared.keys"), key());
        try (Replica a = Replica.start(dir.resolve("a"), keys)) {
            ResumingClient client = new ResumingClient(group, PKI.goodClient());
            assertThat(client.connect(a.port, 1001).resumed()).isFalse();

            // When
            Files.writeString(keys, "not a key\n");
            HttpResponse<String> reload = a.postReload();

            // Then
            assertThat(reload.statusCode()).isEqualTo(422);
            assertThat(reload.body()).contains(keys + ":1: not base64");
            assertThat(client.connect(a.port, 1001).resumed()).as("running keys kept").isTrue();
        }
    }

    private static byte[] key() {
        byte[] k = new byte[48];
        RANDOM.nextBytes(k);
        return k;
    }

    private static Path writeKeys(Path file, byte[]... keys) throws Exception {
        StringBuilder text = new StringBuilder("# first line encrypts, every line decrypts\n");
        for (byte[] k : keys) {
            text.append(Base64.getEncoder().encodeToString(k)).append('\n');
        }
        // Replace atomically, as kubelet's symlink swap and editors do: a reload never reads half a file.
        Path tmp = file.resolveSibling(file.getFileName() + ".tmp");
        Files.writeString(tmp, text);
        Files.move(tmp, file, java.nio.file.StandardCopyOption.REPLACE_EXISTING,
                java.nio.file.StandardCopyOption.ATOMIC_MOVE);
        return file;
    }

    private static double resumedHandshakes(Replica replica) throws Exception {
        String metrics = replica.admin("/metrics").body();
        Matcher m = Pattern.compile("(?m)^mtls_proxy_handshakes_resumed_total\\{listener=\"main\"[^}]*} (\\S+)$")
                .matcher(metrics);
        assertThat(m.find()).as("mtls_proxy_handshakes_resumed_total in\n" + metrics).isTrue();
        return Double.parseDouble(m.group(1));
    }

    /** One proxy process with listener {@code main} in front of the shared recording backend. */
    private static final class Replica implements AutoCloseable {
        final ProxyProcess process;
        final int port;
        final int adminPort;

        private Replica(ProxyProcess process, int port, int adminPort) {
            this.process = process;
            this.port = port;
            this.adminPort = adminPort;
        }

        static Replica start(Path dir, Path keyFile) throws Exception {
            Files.createDirectories(dir);
            int port = ProxyProcess.freePort();
            int adminPort = ProxyProcess.freePort();
            Path conf = ProxyProcess.writeConfig(dir, port, adminPort, backend.port(), TestPki.GOOD_CLIENT_SPIFFE_ID,
                    "");
            if (keyFile != null) {
                String text = Files.readString(conf);
                String withTickets = text.replace("      client-trust = [",
                        "      session-tickets { key-file = \"" + keyFile + "\" }\n      client-trust = [");
                assertThat(withTickets).isNotEqualTo(text);
                Files.writeString(conf, withTickets);
            }
            Replica r = new Replica(ProxyProcess.start("run", "--config", conf.toString()), port, adminPort);
            r.process.awaitServing(port, "/ready", Duration.ofSeconds(60));
            return r;
        }

        HttpResponse<String> admin(String path) throws Exception {
            return HTTP.send(HttpRequest.newBuilder(URI.create("http://127.0.0.1:" + adminPort + path)).build(),
                    HttpResponse.BodyHandlers.ofString());
        }

        HttpResponse<String> postReload() throws Exception {
            return HTTP.send(HttpRequest.newBuilder(URI.create("http://127.0.0.1:" + adminPort + "/reload"))
                    .POST(HttpRequest.BodyPublishers.noBody()).build(), HttpResponse.BodyHandlers.ofString());
        }

        void reload() throws Exception {
            HttpResponse<String> r = postReload();
            assertThat(r.statusCode()).as(r.body()).isEqualTo(200);
        }

        @Override
        public void close() throws Exception {
            process.close();
        }
    }
}
