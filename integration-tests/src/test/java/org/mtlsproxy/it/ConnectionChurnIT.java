package org.mtlsproxy.it;

import static org.assertj.core.api.Assertions.assertThat;

import java.lang.management.ManagementFactory;
import java.lang.management.MemoryMXBean;
import org.junit.jupiter.api.Test;
import org.mtlsproxy.testing.RecordingBackend;
import org.mtlsproxy.testing.TestHttpClient;
import org.mtlsproxy.testing.TestPki;

/**
 * Closed connections leave nothing behind. A per-connection task (the max-connection-lifetime timer) once kept every
 * closed connection's handlers, channel and TLS engine reachable until its lifetime ran out, an hour by default:
 * about 17 KiB of heap per connection under churn. The proxy runs in this JVM, so its heap is measured here.
 */
class ConnectionChurnIT {

    private static final TestPki PKI = TestPki.get();
    private static final int CONNECTIONS = Integer.getInteger("it.churn.connections", 600);

    @Test
    void closedConnectionsAreNotRetained() throws Exception {
        try (RecordingBackend backend = RecordingBackend.start(PKI.backendServer());
                ProxyFixture proxy = ProxyFixture.builder().backend("b", backend.port())
                        .route("all", null, "/", "b", "{ spiffe-id = \"spiffe://test.local/**\" }").start()) {
            churn(proxy, 100); // warm-up: classes, pools, caches
            long before = usedHeapAfterGc();
            churn(proxy, CONNECTIONS);
            long after = usedHeapAfterGc();

            long perConnection = (after - before) / CONNECTIONS;
            System.out.printf("ConnectionChurnIT: %d connections, heap %d -> %d bytes, %d bytes each%n",
                    CONNECTIONS, before, after, perConnection);
            assertThat(perConnection)
                    .as("heap retained per closed connection (before %d, after %d bytes)", before, after)
                    .isLessThan(4096);
        }
    }

    private static void churn(ProxyFixture proxy, int connections) throws Exception {
        for (int i = 0; i < connections; i++) {
            try (TestHttpClient client = proxy.client(PKI.goodClient())) {
                assertThat(client.get("/churn").status()).isEqualTo(200);
            }
        }
    }

    private static long usedHeapAfterGc() throws InterruptedException {
        MemoryMXBean memory = ManagementFactory.getMemoryMXBean();
        long used = Long.MAX_VALUE;
        // Closing is asynchronous on the event loop; a few rounds let the last closes finish and settle.
        for (int i = 0; i < 5; i++) {
            System.gc();
            Thread.sleep(200);
            used = Math.min(used, memory.getHeapMemoryUsage().getUsed());
        }
        return used;
    }
}
