package org.mtlsproxy.it;

import static org.assertj.core.api.Assertions.assertThat;

import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.mtlsproxy.testing.RecordingBackend;
import org.mtlsproxy.testing.TestHttpClient;
import org.mtlsproxy.testing.TestHttpClient.Response;
import org.mtlsproxy.testing.TestPki;

/** Bodies stream through intact in both directions, and many keep-alive clients are served at once. */
class StreamingIT {

    private static final TestPki PKI = TestPki.get();
    private static final long FIFTY_MIB = 50L * 1024 * 1024;
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
    void fiftyMibUploadArrivesIntact() throws Exception {
        try (TestHttpClient client = proxy.client(PKI.goodClient())) {
            Response r = client.upload("/upload", RecordingBackend.patternStream(FIFTY_MIB), FIFTY_MIB);

            assertThat(r.status()).isEqualTo(200);
            assertThat(r.bodyText().trim()).isEqualTo(FIFTY_MIB + " " + RecordingBackend.expectedSha256(FIFTY_MIB));
        }
    }

    @Test
    void chunkedUploadArrivesIntact() throws Exception {
        long size = 5L * 1024 * 1024 + 17;
        try (TestHttpClient client = proxy.client(PKI.goodClient())) {
            Response r = client.uploadChunked("/upload", RecordingBackend.patternStream(size));

            assertThat(r.status()).isEqualTo(200);
            assertThat(r.bodyText().trim()).isEqualTo(size + " " + RecordingBackend.expectedSha256(size));
        }
    }

    @Test
    void fiftyMibDownloadArrivesIntactWithLengthOrChunked() throws Exception {
        try (TestHttpClient client = proxy.client(PKI.goodClient())) {
            Response plain = client.download("/download?bytes=" + FIFTY_MIB);
            assertThat(plain.status()).isEqualTo(200);
            assertThat(plain.bodyLength()).isEqualTo(FIFTY_MIB);
            assertThat(plain.bodySha256()).isEqualTo(RecordingBackend.expectedSha256(FIFTY_MIB));

            Response chunked = client.download("/download?chunked=true&bytes=" + (FIFTY_MIB + 3));
            assertThat(chunked.status()).isEqualTo(200);
            assertThat(chunked.bodySha256()).isEqualTo(RecordingBackend.expectedSha256(FIFTY_MIB + 3));
            assertThat(client.connectionsOpened()).isEqualTo(1);
        }
    }

    @Test
    void hundredConcurrentRequestsOverTwentyKeepAliveConnectionsAllSucceed() throws Exception {
        int connections = 20;
        int perConnection = 5;
        ExecutorService pool = Executors.newFixedThreadPool(connections);
        try {
            List<Future<List<Integer>>> results = new ArrayList<>();
            for (int c = 0; c < connections; c++) {
                int conn = c;
                results.add(pool.submit(() -> {
                    List<Integer> statuses = new ArrayList<>();
                    try (TestHttpClient client = proxy.client(PKI.goodClient())) {
                        for (int i = 0; i < perConnection; i++) {
                            Response r = client.get("/c" + conn + "/r" + i);
                            assertThat(r.bodyText()).isEqualTo("ok GET /c" + conn + "/r" + i + "\n");
                            statuses.add(r.status());
                        }
                        assertThat(client.connectionsOpened()).isEqualTo(1);
                    }
                    return statuses;
                }));
            }
            List<Integer> all = new ArrayList<>();
            for (Future<List<Integer>> f : results) {
                all.addAll(f.get(60, TimeUnit.SECONDS));
            }
            assertThat(all).hasSize(connections * perConnection).containsOnly(200);
        } finally {
            pool.shutdownNow();
        }
    }
}
