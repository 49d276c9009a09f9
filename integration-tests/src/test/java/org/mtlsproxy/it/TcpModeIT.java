package org.mtlsproxy.it;

import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

import io.micrometer.core.instrument.Counter;
import java.io.DataInputStream;
import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.net.Socket;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.security.MessageDigest;
import java.time.Duration;
import java.util.HashMap;
import java.util.HexFormat;
import java.util.Map;
import java.util.Random;
import java.util.concurrent.BlockingQueue;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.LinkedBlockingQueue;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicLong;
import javax.net.ssl.SSLContext;
import javax.net.ssl.SSLSocket;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;
import org.mtlsproxy.config.ConfigLoader;
import org.mtlsproxy.proxy.metrics.ProxyMetrics;
import org.mtlsproxy.proxy.server.ProxyServer;
import org.mtlsproxy.testing.TestPki;

/**
 * {@code protocol = tcp} listeners: mTLS in, authorization against the listener's rules, raw bytes relayed to a
 * TLS backend (a JDK socket server here), with PROXY protocol v2, half-close both ways and backpressure.
 */
class TcpModeIT {

    private static final TestPki PKI = TestPki.get();
    private static final String LISTENER = "tcp";

    private RawTls.ScriptedBackend backend;
    private ProxyServer proxy;
    private ProxyMetrics metrics;
    private Path configFile;

    @AfterEach
    void stop() throws IOException {
        if (proxy != null) {
            proxy.close();
        }
        if (backend != null) {
            backend.close();
        }
    }

    // ---------------------------------------------------------------- tests

    @Test
    void allowedClientsBytesAreEchoedIntactBothWays() throws Exception {
        backend = new RawTls.ScriptedBackend(TcpModeIT::echo);
        start("none");
        byte[] data = new byte[5 * 1024 * 1024 + 123];
        new Random(42).nextBytes(data);

        try (SSLSocket client = connect(PKI.goodClient(), 0)) {
            CompletableFuture<Void> writer = CompletableFuture.runAsync(() -> {
                try {
                    OutputStream out = client.getOutputStream();
                    for (int off = 0; off < data.length; off += 60_000) {
                        out.write(data, off, Math.min(60_000, data.length - off));
                    }
                    out.flush();
                    client.shutdownOutput();
                } catch (IOException e) {
                    throw new RuntimeException(e);
                }
            });
            byte[] echoed = client.getInputStream().readAllBytes();
            writer.get(30, TimeUnit.SECONDS);

            assertThat(echoed.length).isEqualTo(data.length);
            assertThat(sha256(echoed)).isEqualTo(sha256(data));
        }
        assertThat(backend.accepted.get()).isEqualTo(1);
        await().atMost(Duration.ofSeconds(5)).untilAsserted(() -> {
            assertThat(counter("mtls_proxy.tcp.bytes", "listener", LISTENER, "direction", "in"))
                    .isEqualTo(data.length);
            assertThat(counter("mtls_proxy.tcp.bytes", "listener", LISTENER, "direction", "out"))
                    .isEqualTo(data.length);
        });
        assertThat(counter("mtls_proxy.tcp.authz.decisions", "listener", LISTENER, "result", "allowed",
                "rule", "orders")).isEqualTo(1);
        assertThat(counter("mtls_proxy.backend.connections", "backend", "echo", "result", "success")).isEqualTo(1);
    }

    @Test
    void clientHalfCloseStillReceivesTheWholeAnswerThenEof() throws Exception {
        // The backend answers only once the client has finished sending: only a real half-close gets it through.
        backend = new RawTls.ScriptedBackend((i, s, in, out) -> {
            byte[] all = in.readAllBytes();
            out.write(("got " + all.length + " bytes: " + new String(all, StandardCharsets.US_ASCII))
                    .getBytes(StandardCharsets.US_ASCII));
            out.flush();
        });
        start("none");

        try (AccessLog log = new AccessLog(); SSLSocket client = connect(PKI.goodClient(), 0)) {
            client.getOutputStream().write("hello, ".getBytes(StandardCharsets.US_ASCII));
            client.getOutputStream().write("world".getBytes(StandardCharsets.US_ASCII));
            client.getOutputStream().flush();
            client.shutdownOutput();

            String answer = new String(client.getInputStream().readAllBytes(), StandardCharsets.US_ASCII);

            // readAllBytes returned: the proxy ended its direction too (close_notify, FIN) after the answer.
            assertThat(answer).isEqualTo("got 12 bytes: hello, world");
            // The connection's one line names the TLS the client negotiated.
            Map<String, String> line = log.await(1, l -> "tcp connection".equals(l.get("message"))).get(0);
            assertThat(line).containsEntry("tls", client.getSession().getProtocol())
                    .containsEntry("cipher", client.getSession().getCipherSuite());
            assertThat(Double.parseDouble(line.get("handshake_ms"))).isPositive();
        }
    }

    @Test
    void backendHalfCloseReachesTheClientWhoseBytesStillReachTheBackend() throws Exception {
        BlockingQueue<String> received = new LinkedBlockingQueue<>();
        backend = new RawTls.ScriptedBackend((i, s, in, out) -> {
            out.write("banner\n".getBytes(StandardCharsets.US_ASCII));
            out.flush();
            s.shutdownOutput();
            received.add(new String(in.readAllBytes(), StandardCharsets.US_ASCII));
        });
        start("none");

        try (SSLSocket client = connect(PKI.goodClient(), 0)) {
            String banner = new String(client.getInputStream().readAllBytes(), StandardCharsets.US_ASCII);
            assertThat(banner).isEqualTo("banner\n");

            // The backend's direction is finished; ours is still open.
            client.getOutputStream().write("late data".getBytes(StandardCharsets.US_ASCII));
            client.getOutputStream().flush();
            client.shutdownOutput();

            assertThat(received.poll(5, TimeUnit.SECONDS)).isEqualTo("late data");
        }
    }

    @Test
    void shadowRulesAreCountedPerConnectionButNeverEnforced() throws Exception {
        backend = new RawTls.ScriptedBackend(TcpModeIT::echo);
        // The opposite of the enforced rule (the good client only): the other client in, the good client out.
        start("none", "shadow-allow = [{ name = dev, spiffe-id = \"spiffe://test.local/ns/dev/**\" }]");

        try (SSLSocket client = connect(PKI.goodClient(), 0)) {
            client.getOutputStream().write("ping".getBytes(StandardCharsets.US_ASCII));
            client.shutdownOutput();
            assertThat(new String(client.getInputStream().readAllBytes(), StandardCharsets.US_ASCII))
                    .isEqualTo("ping");
        }
        try (SSLSocket client = connect(PKI.otherClient(), 0)) {
            int first;
            try {
                first = client.getInputStream().read();
            } catch (IOException e) {
                first = -1;
            }
            assertThat(first).as("the shadow rules' allow is not enforced").isEqualTo(-1);
        }

        await().atMost(Duration.ofSeconds(5)).untilAsserted(() -> {
            assertThat(counter("mtls_proxy.tcp.authz.shadow.decisions", "listener", LISTENER, "result", "denied"))
                    .isEqualTo(1);
            assertThat(counter("mtls_proxy.tcp.authz.shadow.decisions", "listener", LISTENER, "result", "allowed"))
                    .isEqualTo(1);
        });
        assertThat(counter("mtls_proxy.tcp.authz.shadow.disagreements", "listener", LISTENER, "enforced", "allowed",
                "shadow", "denied")).isEqualTo(1);
        assertThat(counter("mtls_proxy.tcp.authz.shadow.disagreements", "listener", LISTENER, "enforced", "denied",
                "shadow", "allowed")).isEqualTo(1);
        assertThat(backend.accepted.get()).isEqualTo(1);
        assertThat(proxy.snapshot().tcpOrNull(LISTENER).shadowAuthorizer()).isPresent();
    }

    @Test
    void deniedIdentityIsClosedWithoutContactingTheBackend() throws Exception {
        backend = new RawTls.ScriptedBackend(TcpModeIT::echo);
        start("none");

        try (SSLSocket client = connect(PKI.otherClient(), 0)) {
            client.getOutputStream().write("let me in".getBytes(StandardCharsets.US_ASCII));
            client.getOutputStream().flush();
            int first;
            try {
                first = client.getInputStream().read();
            } catch (IOException e) {
                first = -1;
            }
            assertThat(first).isEqualTo(-1);
        }
        await().atMost(Duration.ofSeconds(5)).untilAsserted(() -> assertThat(
                counter("mtls_proxy.tcp.authz.decisions", "listener", LISTENER, "result", "denied", "rule", ""))
                .isEqualTo(1));
        assertThat(counter("mtls_proxy.request.rejections", "listener", LISTENER, "route", "", "reason", "denied"))
                .isEqualTo(1);
        assertThat(counter("mtls_proxy.handshakes", "listener", LISTENER, "result", "success", "reason", ""))
                .isEqualTo(1);
        assertThat(backend.accepted.get()).isZero();
        assertThat(counter("mtls_proxy.backend.connections", "backend", "echo", "result", "success")).isZero();
    }

    @Test
    void clientWithoutCertificateIsRejectedAtTheHandshake() throws Exception {
        backend = new RawTls.ScriptedBackend(TcpModeIT::echo);
        start("none");

        try (SSLSocket client = connect(null, 0)) {
            int first;
            try {
                first = client.getInputStream().read();
            } catch (IOException e) {
                first = -1;
            }
            assertThat(first).isEqualTo(-1);
        } catch (IOException e) {
            // TLS 1.2: refused during the handshake itself.
        }
        await().atMost(Duration.ofSeconds(5)).untilAsserted(() -> assertThat(counter("mtls_proxy.handshakes",
                "listener", LISTENER, "result", "failure", "reason", "no_client_cert")).isEqualTo(1));
        assertThat(backend.accepted.get()).isZero();
    }

    @Test
    void aReloadWhoseRulesNoLongerAllowTheClientClosesItsOpenRelay() throws Exception {
        backend = new RawTls.ScriptedBackend(TcpModeIT::echo);
        start("none");

        try (SSLSocket client = connect(PKI.goodClient(), 0)) {
            client.getOutputStream().write("ping".getBytes(StandardCharsets.US_ASCII));
            client.getOutputStream().flush();
            assertThat(new String(client.getInputStream().readNBytes(4), StandardCharsets.US_ASCII))
                    .isEqualTo("ping");

            Files.writeString(configFile, Files.readString(configFile)
                    .replace(TestPki.GOOD_CLIENT_SPIFFE_ID, TestPki.OTHER_CLIENT_SPIFFE_ID));
            assertThat(proxy.reload("test").get(10, TimeUnit.SECONDS).success()).isTrue();

            int next;
            try {
                next = client.getInputStream().read();
            } catch (IOException e) {
                next = -1;
            }
            assertThat(next).isEqualTo(-1);
        }
        assertThat(counter("mtls_proxy.connections.revoked", "listener", LISTENER, "reason", "denied"))
                .isEqualTo(1);
    }

    @Test
    void proxyProtocolV2CarriesTheClientAddressAndIdentity() throws Exception {
        BlockingQueue<ProxyHeader> headers = new LinkedBlockingQueue<>();
        backend = new RawTls.ScriptedBackend((i, s, in, out) -> {
            headers.add(ProxyHeader.read(new DataInputStream(in)));
            echo(i, s, in, out);
        });
        start("v2");

        try (SSLSocket client = connect(PKI.goodClient(), 0)) {
            client.getOutputStream().write("after the header".getBytes(StandardCharsets.US_ASCII));
            client.getOutputStream().flush();
            client.shutdownOutput();
            assertThat(new String(client.getInputStream().readAllBytes(), StandardCharsets.US_ASCII))
                    .isEqualTo("after the header");

            ProxyHeader h = headers.poll(5, TimeUnit.SECONDS);
            assertThat(h).isNotNull();
            assertThat(h.command).isEqualTo(0x21);
            assertThat(h.family).isEqualTo(0x11);
            assertThat(h.source).isEqualTo(new InetSocketAddress(client.getLocalAddress(), client.getLocalPort()));
            assertThat(h.destination.getPort()).isEqualTo(proxy.port(LISTENER));
            assertThat(h.text(0xE0)).isEqualTo(TestPki.GOOD_CLIENT_SPIFFE_ID);
            assertThat(h.text(0xE1)).contains("URI=" + TestPki.GOOD_CLIENT_SPIFFE_ID).startsWith("Hash=");
            byte[] ssl = h.tlvs.get(0x20);
            assertThat(ssl[0]).isEqualTo((byte) 0x07);
            assertThat(ssl[1] | ssl[2] | ssl[3] | ssl[4]).isZero();
            Map<Integer, byte[]> sub = ProxyHeader.parseTlvs(ssl, 5);
            assertThat(new String(sub.get(0x21), StandardCharsets.US_ASCII)).isEqualTo("TLSv1.3");
            assertThat(new String(sub.get(0x22), StandardCharsets.UTF_8)).isEqualTo("orders");
            assertThat(sub).containsKey(0x23);
        }
    }

    @Test
    void aClientThatDoesNotReadStallsTheBackendWithinABoundedAmount() throws Exception {
        long total = 96L * 1024 * 1024;
        AtomicLong written = new AtomicLong();
        backend = new RawTls.ScriptedBackend((i, s, in, out) -> {
            s.setSendBufferSize(64 * 1024);
            byte[] chunk = new byte[16 * 1024];
            while (written.get() < total) {
                out.write(chunk);
                written.addAndGet(chunk.length);
            }
            out.flush();
        });
        start("none");

        try (SSLSocket client = connect(PKI.goodClient(), 64 * 1024)) {
            client.getOutputStream().write('x');
            client.getOutputStream().flush();
            // The client reads nothing: the backend must stall once the buffers along the way are full.
            await().atMost(Duration.ofSeconds(10)).until(() -> written.get() > 0);
            long stalled = waitUntilStable(written);

            assertThat(stalled).as("bytes the backend could write ahead of a client that does not read")
                    .isLessThan(16L * 1024 * 1024);

            // Reading resumes the flow, and everything arrives.
            InputStream in = client.getInputStream();
            byte[] buf = new byte[256 * 1024];
            long read = 0;
            int n;
            client.setSoTimeout(20_000);
            while (read < total && (n = in.read(buf)) > 0) {
                read += n;
            }
            assertThat(read).isEqualTo(total);
        }
    }

    @Test
    void aDeadEndpointIsRetriedAroundForEveryClient() throws Exception {
        backend = new RawTls.ScriptedBackend(TcpModeIT::echo);
        int dead = closedPort();
        // Ejection off: each client whose first attempt is the dead endpoint must be retried on the live one.
        start("none", "", "\"127.0.0.1:" + dead + "\", \"127.0.0.1:" + backend.port() + "\"",
                "ejection.consecutive-failures = 0");

        for (int i = 0; i < 6; i++) {
            assertThat(pingPong(i)).as("client %d", i).isEqualTo("ping " + i);
        }
        assertThat(backend.accepted.get()).isEqualTo(6);
        double failures = counter("mtls_proxy.backend.connections", "backend", "echo", "result", "failure",
                "reason", "backend_connect_failed");
        assertThat(failures).isPositive();
        assertThat(counter("mtls_proxy.backend.retries", "backend", "echo")).isEqualTo(failures);
        assertThat(counter("mtls_proxy.backend.connections", "backend", "echo", "result", "success")).isEqualTo(6);
    }

    @Test
    void aDeadEndpointIsEjectedAndStaysEjectedAcrossAReloadThatKeepsItsSettings() throws Exception {
        backend = new RawTls.ScriptedBackend(TcpModeIT::echo);
        int dead = closedPort();
        String deadEndpoint = "127.0.0.1:" + dead;
        start("none", "", "\"" + deadEndpoint + "\", \"127.0.0.1:" + backend.port() + "\"",
                "ejection { consecutive-failures = 2, base-time = 60s }");

        for (int i = 0; i < 8; i++) {
            assertThat(pingPong(i)).as("client %d", i).isEqualTo("ping " + i);
        }
        // Ejected at its 2nd failure: never tried again.
        assertThat(connectFailures()).isEqualTo(2);
        assertThat(counter("mtls_proxy.backend.retries", "backend", "echo")).isEqualTo(2);
        assertThat(counter("mtls_proxy.backend.ejections", "backend", "echo", "endpoint", deadEndpoint))
                .isEqualTo(1);
        assertThat(healthy()).isEqualTo(1);

        // A reload that rebuilds the backend (another response-timeout) but keeps its endpoints and ejection: the
        // dead endpoint stays out.
        Files.writeString(configFile, Files.readString(configFile)
                + "\nmtls-proxy.backends.echo.response-timeout = 29s\n");
        assertThat(proxy.reload("test").get(10, TimeUnit.SECONDS).success()).isTrue();
        for (int i = 0; i < 4; i++) {
            assertThat(pingPong(i)).isEqualTo("ping " + i);
        }
        assertThat(connectFailures()).isEqualTo(2);
        assertThat(healthy()).isEqualTo(1);

        // Another ejection policy starts afresh: the dead endpoint is tried (and retried around) again.
        Files.writeString(configFile, Files.readString(configFile)
                + "\nmtls-proxy.backends.echo.ejection.base-time = 61s\n");
        assertThat(proxy.reload("test").get(10, TimeUnit.SECONDS).success()).isTrue();
        for (int i = 0; i < 4; i++) {
            assertThat(pingPong(i)).isEqualTo("ping " + i);
        }
        assertThat(connectFailures()).isEqualTo(4);
        assertThat(counter("mtls_proxy.backend.ejections", "backend", "echo", "endpoint", deadEndpoint))
                .isEqualTo(2);
        assertThat(backend.accepted.get()).isEqualTo(16);
    }

    // ---------------------------------------------------------------- helpers

    /** One client: sends "ping {@code i}", half-closes, returns what came back. */
    private String pingPong(int i) throws Exception {
        try (SSLSocket client = connect(PKI.goodClient(), 0)) {
            client.getOutputStream().write(("ping " + i).getBytes(StandardCharsets.US_ASCII));
            client.getOutputStream().flush();
            client.shutdownOutput();
            try {
                return new String(client.getInputStream().readAllBytes(), StandardCharsets.US_ASCII);
            } catch (IOException e) {
                return "failed: " + e;
            }
        }
    }

    private double connectFailures() {
        return counter("mtls_proxy.backend.connections", "backend", "echo", "result", "failure", "reason",
                "backend_connect_failed");
    }

    private double healthy() {
        io.micrometer.core.instrument.Gauge g = metrics.registry().find("mtls_proxy.backend.endpoints.healthy")
                .tags("backend", "echo").gauge();
        return g == null ? Double.NaN : g.value();
    }

    /** A loopback port nothing listens on (bound, then closed). */
    private static int closedPort() throws IOException {
        try (java.net.ServerSocket s = new java.net.ServerSocket(0, 1, InetAddress.getLoopbackAddress())) {
            return s.getLocalPort();
        }
    }

    /** Waits until {@code counter} stopped moving for a second; returns its value. */
    private static long waitUntilStable(AtomicLong counter) throws InterruptedException {
        long previous = -1;
        for (int i = 0; i < 30; i++) {
            long now = counter.get();
            if (now == previous) {
                return now;
            }
            previous = now;
            Thread.sleep(1000);
        }
        throw new AssertionError("the backend never stalled: " + counter.get() + " bytes written");
    }

    private static void echo(int index, Socket s, InputStream in, OutputStream out) throws IOException {
        byte[] buf = new byte[32 * 1024];
        int n;
        while ((n = in.read(buf)) > 0) {
            out.write(buf, 0, n);
        }
        out.flush();
    }

    private void start(String proxyProtocol) throws Exception {
        start(proxyProtocol, "");
    }

    /** {@code listenerHocon} is added to the tcp listener, e.g. shadow-allow rules. */
    private void start(String proxyProtocol, String listenerHocon) throws Exception {
        start(proxyProtocol, listenerHocon, "\"127.0.0.1:" + backend.port() + "\"", "");
    }

    /**
     * {@code endpoints}: the backend's endpoints as HOCON list items; {@code backendHocon} is added to the backend,
     * e.g. ejection settings.
     */
    private void start(String proxyProtocol, String listenerHocon, String endpoints, String backendHocon)
            throws Exception {
        String hocon = """
                mtls-proxy {
                  listeners = [{
                    name = %s
                    bind = "127.0.0.1:0"
                    protocol = tcp
                    tls {
                      certificate-chain = %s
                      private-key = %s
                      client-trust = [{ name = test-clients, ca-bundle = %s, crls = [%s] }]
                    }
                    backend = echo
                    allow = [{ name = orders, spiffe-id = "%s" }]
                    tcp { proxy-protocol = %s }
                    %s
                  }]
                  backends {
                    echo {
                      endpoints = [%s]
                      %s
                      tls {
                        ca-bundle = %s
                        server-name = "%s"
                        certificate-chain = %s
                        private-key = %s
                      }
                    }
                  }
                  admin { enabled = false }
                  reload { watch = false }
                }
                """.formatted(LISTENER, q(PKI.proxyServer().chainPem()), q(PKI.proxyServer().keyPem()),
                q(PKI.clientRootPem()), q(PKI.clientCrlPem()), TestPki.GOOD_CLIENT_SPIFFE_ID, proxyProtocol,
                listenerHocon, endpoints, backendHocon, q(PKI.backendRootPem()), TestPki.BACKEND_DNS_NAME,
                q(PKI.proxyClientForBackend().chainPem()), q(PKI.proxyClientForBackend().keyPem()));
        Path file = Files.createTempFile(PKI.directory(), "tcp-proxy-", ".conf");
        Files.writeString(file, hocon);
        configFile = file;
        metrics = new ProxyMetrics();
        proxy = ProxyServer.start(ConfigLoader.load(file), metrics, file);
    }

    /** A TLS client of the tcp listener; a positive {@code receiveBuffer} is set before connecting. */
    private SSLSocket connect(TestPki.Issued identity, int receiveBuffer) throws Exception {
        SSLContext ctx = RawTls.context(identity, PKI.serverRootCa().certificate());
        SSLSocket socket = (SSLSocket) ctx.getSocketFactory().createSocket();
        if (receiveBuffer > 0) {
            socket.setReceiveBufferSize(receiveBuffer);
        }
        socket.connect(new InetSocketAddress(InetAddress.getLoopbackAddress(), proxy.port(LISTENER)), 5000);
        socket.setSoTimeout(10_000);
        socket.startHandshake();
        return socket;
    }

    private double counter(String name, String... tags) {
        Counter c = metrics.registry().find(name).tags(tags).counter();
        return c == null ? 0 : c.count();
    }

    private static String q(Path p) {
        return '"' + p.toAbsolutePath().toString() + '"';
    }

    private static String sha256(byte[] data) throws Exception {
        return HexFormat.of().formatHex(MessageDigest.getInstance("SHA-256").digest(data));
    }

    /** A PROXY protocol v2 header as a backend reads it (proxy-protocol.txt, section 2.2). */
    static final class ProxyHeader {
        private static final byte[] SIGNATURE =
                {0x0D, 0x0A, 0x0D, 0x0A, 0x00, 0x0D, 0x0A, 0x51, 0x55, 0x49, 0x54, 0x0A};

        int command;
        int family;
        InetSocketAddress source;
        InetSocketAddress destination;
        Map<Integer, byte[]> tlvs;

        static ProxyHeader read(DataInputStream in) throws IOException {
            byte[] signature = new byte[12];
            in.readFully(signature);
            if (!java.util.Arrays.equals(signature, SIGNATURE)) {
                throw new IOException("not a PROXY v2 header");
            }
            ProxyHeader h = new ProxyHeader();
            h.command = in.readUnsignedByte();
            h.family = in.readUnsignedByte();
            byte[] rest = new byte[in.readUnsignedShort()];
            in.readFully(rest);
            int addressLength = switch (h.family) {
                case 0x11 -> 4;
                case 0x21 -> 16;
                default -> throw new IOException("unexpected family " + h.family);
            };
            DataInputStream r = new DataInputStream(new java.io.ByteArrayInputStream(rest));
            byte[] src = new byte[addressLength];
            byte[] dst = new byte[addressLength];
            r.readFully(src);
            r.readFully(dst);
            h.source = new InetSocketAddress(InetAddress.getByAddress(src), r.readUnsignedShort());
            h.destination = new InetSocketAddress(InetAddress.getByAddress(dst), r.readUnsignedShort());
            h.tlvs = parseTlvs(rest, 2 * addressLength + 4);
            return h;
        }

        static Map<Integer, byte[]> parseTlvs(byte[] data, int offset) throws IOException {
            Map<Integer, byte[]> tlvs = new HashMap<>();
            int i = offset;
            while (i < data.length) {
                if (i + 3 > data.length) {
                    throw new IOException("truncated TLV");
                }
                int type = data[i] & 0xFF;
                int length = ((data[i + 1] & 0xFF) << 8) | (data[i + 2] & 0xFF);
                if (i + 3 + length > data.length) {
                    throw new IOException("TLV longer than the header");
                }
                tlvs.put(type, java.util.Arrays.copyOfRange(data, i + 3, i + 3 + length));
                i += 3 + length;
            }
            return tlvs;
        }

        String text(int type) {
            byte[] v = tlvs.get(type);
            return v == null ? null : new String(v, StandardCharsets.UTF_8);
        }
    }
}
