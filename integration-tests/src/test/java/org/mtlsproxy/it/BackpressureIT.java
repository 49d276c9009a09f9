package org.mtlsproxy.it;

import static org.assertj.core.api.Assertions.assertThat;

import io.netty.buffer.ByteBufAllocator;
import io.netty.buffer.ByteBufAllocatorMetricProvider;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.nio.charset.StandardCharsets;
import java.security.MessageDigest;
import java.util.HexFormat;
import java.util.Locale;
import java.util.concurrent.atomic.AtomicLong;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.mtlsproxy.testing.RecordingBackend;
import org.mtlsproxy.testing.TestPki;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Backpressure end to end, measured: a large download to a client that reads in bursts with pauses, and a large
 * upload to a backend that reads slowly, go through intact while the Netty direct memory of the whole test JVM
 * (proxy and backend share it) stays under {@link #DIRECT_MEMORY_LIMIT}. Without backpressure the proxy would
 * buffer what the fast side produces during every pause, hundreds of MiB.
 *
 * <p>Sizes: 256 MiB each way by default, not 1 GiB: with paranoid leak detection (every buffer tracked) this
 * 2-core machine moves about 10-25 MiB/s through two TLS hops, so 1 GiB would take minutes. Override with
 * {@code -Dit.backpressure.bytes=1073741824}.
 */
class BackpressureIT {

    private static final Logger LOG = LoggerFactory.getLogger(BackpressureIT.class);
    private static final TestPki PKI = TestPki.get();
    private static final long SIZE = Long.getLong("it.backpressure.bytes", 256L * 1024 * 1024);
    private static final long DIRECT_MEMORY_LIMIT = 64L * 1024 * 1024;
    private static RecordingBackend backend;
    private static ProxyFixture proxy;

    @BeforeAll
    static void start() throws Exception {
        backend = RecordingBackend.start(PKI.backendServer());
        proxy = ProxyFixture.builder()
                .backend("b", backend.port())
                .route("all", null, "/", "b", "{ spiffe-id = \"spiffe://test.local/ns/prod/sa/orders\" }")
                .start();
    }

    @AfterAll
    static void stop() {
        proxy.close();
        backend.close();
    }

    @Test
    void largeDownloadToAClientReadingInBurstsKeepsDirectMemoryBounded() throws Exception {
        try (RawTls.Client client = new RawTls.Client(proxy.port(), PKI.goodClient());
                DirectMemorySampler sampler = new DirectMemorySampler()) {
            client.socket.setSoTimeout(30_000);
            long start = System.nanoTime();
            client.send("GET /download?bytes=" + SIZE + " HTTP/1.1\r\nHost: x\r\n\r\n");
            String head = readHead(client.in);
            assertThat(head).startsWith("HTTP/1.1 200").containsIgnoringCase("content-length: " + SIZE);

            // Reads 4 MiB, then pauses 150 ms: during each pause the proxy must stop reading the backend.
            MessageDigest digest = MessageDigest.getInstance("SHA-256");
            byte[] buffer = new byte[64 * 1024];
            long received = 0;
            long sinceLastPause = 0;
            while (received < SIZE) {
                int n = client.in.read(buffer, 0, (int) Math.min(buffer.length, SIZE - received));
                assertThat(n).as("end of stream after %d bytes", received).isPositive();
                digest.update(buffer, 0, n);
                received += n;
                sinceLastPause += n;
                if (sinceLastPause >= 4 * 1024 * 1024) {
                    sinceLastPause = 0;
                    Thread.sleep(150);
                }
            }
            assertThat(HexFormat.of().formatHex(digest.digest())).isEqualTo(RecordingBackend.expectedSha256(SIZE));
            report("download", start, sampler);
            assertThat(sampler.max()).as("peak Netty direct memory during the download")
                    .isLessThan(DIRECT_MEMORY_LIMIT);
        }
    }

    @Test
    void largeUploadToABackendReadingSlowlyKeepsDirectMemoryBounded() throws Exception {
        try (RawTls.Client client = new RawTls.Client(proxy.port(), PKI.goodClient());
                DirectMemorySampler sampler = new DirectMemorySampler();
                InputStream body = RecordingBackend.patternStream(SIZE)) {
            client.socket.setSoTimeout(30_000);
            long start = System.nanoTime();
            // The backend reads one socket read, then pauses 2 ms: it is the slowest part of the chain.
            client.send("POST /upload?pause-ms=2 HTTP/1.1\r\nHost: x\r\nContent-Length: " + SIZE + "\r\n\r\n");
            OutputStream out = client.out;
            byte[] buffer = new byte[64 * 1024];
            int n;
            while ((n = body.read(buffer)) > 0) {
                out.write(buffer, 0, n);
            }
            out.flush();
            String head = readHead(client.in);
            assertThat(head).startsWith("HTTP/1.1 200");
            String expected = SIZE + " " + RecordingBackend.expectedSha256(SIZE);
            byte[] answer = client.in.readNBytes(expected.length());
            assertThat(new String(answer, StandardCharsets.US_ASCII)).isEqualTo(expected);
            report("upload", start, sampler);
            assertThat(sampler.max()).as("peak Netty direct memory during the upload")
                    .isLessThan(DIRECT_MEMORY_LIMIT);
        }
    }

    private static void report(String what, long startNanos, DirectMemorySampler sampler) {
        double seconds = (System.nanoTime() - startNanos) / 1e9;
        LOG.info(String.format(Locale.ROOT, "%s of %d MiB took %.1f s (%.1f MiB/s); peak Netty direct memory %.1f MiB",
                what, SIZE >> 20, seconds, (SIZE >> 20) / seconds, sampler.max() / 1048576.0));
    }

    /** The response head up to and including the empty line. */
    private static String readHead(InputStream in) throws IOException {
        ByteArrayOutputStream head = new ByteArrayOutputStream();
        int b;
        while ((b = in.read()) >= 0) {
            head.write(b);
            byte[] h = head.toByteArray();
            int len = h.length;
            if (len >= 4 && h[len - 4] == '\r' && h[len - 3] == '\n' && h[len - 2] == '\r' && h[len - 1] == '\n') {
                break;
            }
        }
        return head.toString(StandardCharsets.ISO_8859_1);
    }

    /** Samples the default Netty allocator's direct memory every 10 ms and keeps the peak. */
    static final class DirectMemorySampler implements AutoCloseable {
        private final AtomicLong max = new AtomicLong();
        private final Thread thread;
        private volatile boolean running = true;

        DirectMemorySampler() {
            ByteBufAllocator allocator = ByteBufAllocator.DEFAULT;
            if (!(allocator instanceof ByteBufAllocatorMetricProvider provider)) {
                throw new IllegalStateException("the default allocator has no metrics: " + allocator);
            }
            thread = new Thread(() -> {
                while (running) {
                    max.accumulateAndGet(provider.metric().usedDirectMemory(), Math::max);
                    try {
                        Thread.sleep(10);
                    } catch (InterruptedException e) {
                        return;
                    }
                }
            }, "direct-memory-sampler");
            thread.setDaemon(true);
            thread.start();
        }

        long max() {
            return max.get();
        }

        @Override
        public void close() throws InterruptedException {
            running = false;
            thread.join();
        }
    }
}
