package org.mtlsproxy.proxy.runtime;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Clock;
import java.util.ArrayList;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.mtlsproxy.config.ConfigLoader;
import org.mtlsproxy.config.ProxyConfig;
import org.mtlsproxy.proxy.metrics.ProxyMetrics;
import org.mtlsproxy.proxy.tls.SessionTicketKeys;
import org.mtlsproxy.proxy.tls.TlsMaterialException;
import org.mtlsproxy.proxy.transport.Transport;
import org.mtlsproxy.proxy.upstream.Backend;
import org.mtlsproxy.testing.TestPki;

/** A reload's build that fails partway leaves the running snapshot as it was and nothing of its own open. */
class RuntimeSnapshotTest {

    private static final String ALLOW_ANY = "{ spiffe-id = \"spiffe://test.local/**\" }";

    @TempDir
    Path dir;

    private final ProxyMetrics metrics = new ProxyMetrics();
    private final SessionTicketKeys tickets = SessionTicketKeys.manual(Clock.systemUTC());

    @Test
    void aBuildThatFailsClosesTheBackendsItBuiltAnewAndNotThoseItCarriedOver() throws Exception {
        // Given: the running snapshot, with backends b and kept
        TestPki pki = TestPki.get();
        Path secondKey = Files.copy(pki.proxyServer().keyPem(), dir.resolve("second.key"));
        RuntimeSnapshot running = RuntimeSnapshot.build(config(secondKey, ""), metrics, Transport.NIO, tickets);

        // When: a reload rebuilds b (another response-timeout) and keeps kept, but listener second's key is gone by
        // the time its TLS context is built (after the backends)
        ProxyConfig next = config(secondKey, "mtls-proxy.backends.b.response-timeout = 29s");
        Files.delete(secondKey);
        List<Backend> builtAnew = new ArrayList<>();
        assertThatThrownBy(() -> RuntimeSnapshot.build(next, metrics, Transport.NIO, tickets, running, builtAnew))
                .isInstanceOf(TlsMaterialException.class).hasMessageContaining("listener `second`");

        // Then: the new b is closed; the running backends, including kept which the reload had carried over, are not
        assertThat(builtAnew).singleElement().satisfies(b -> {
            assertThat(b.name()).isEqualTo("b");
            assertThat(b).isNotSameAs(running.backendOrNull("b"));
            assertThat(b.isClosed()).isTrue();
        });
        assertThat(running.backendOrNull("b").isClosed()).isFalse();
        assertThat(running.backendOrNull("kept").isClosed()).isFalse();
    }

    /** Listeners main and second (its key {@code secondKey}), a route to each of backends b and kept. */
    private ProxyConfig config(Path secondKey, String extra) {
        TestPki pki = TestPki.get();
        String tls = """
                tls {
                  certificate-chain = %s
                  private-key = %s
                  client-trust = [{ name = test-clients, ca-bundle = %s }]
                }""";
        String backend = """
                { endpoints = ["127.0.0.1:9"], tls { ca-bundle = %s, server-name = "%s" } }"""
                .formatted(q(pki.backendRootPem()), TestPki.BACKEND_DNS_NAME);
        String hocon = """
                mtls-proxy {
                  listeners = [
                    { name = main, bind = "127.0.0.1:0", %s },
                    { name = second, bind = "127.0.0.1:0", %s }
                  ]
                  routes = [
                    { name = kept, path-prefix = "/kept/", backend = kept, allow = [%s] },
                    { name = b, path-prefix = "/", backend = b, allow = [%s] }
                  ]
                  backends { b = %s, kept = %s }
                  admin { enabled = false }
                }
                %s
                """.formatted(
                tls.formatted(q(pki.proxyServer().chainPem()), q(pki.proxyServer().keyPem()), q(pki.clientRootPem())),
                tls.formatted(q(pki.proxyServer().chainPem()), q(secondKey), q(pki.clientRootPem())),
                ALLOW_ANY, ALLOW_ANY, backend, backend, extra);
        return ConfigLoader.parse(hocon, dir, "runtime-snapshot-test.conf");
    }

    private static String q(Path p) {
        return '"' + p.toAbsolutePath().toString().replace("\\", "\\\\") + '"';
    }
}
