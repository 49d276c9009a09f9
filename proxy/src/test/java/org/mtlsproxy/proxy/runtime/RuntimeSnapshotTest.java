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

/**
 * A reload's build that fails partway leaves the running snapshot as it was, nothing of its own open and none of its
 * meters registered.
 */
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

    @Test
    void aRefusedConfigurationLeavesNoMetersOfItsNewNamesAndTheNextBuildRegistersThemAgain() throws Exception {
        // Given: the running snapshot, without a CRL, a route or a backend named fresh
        TestPki pki = TestPki.get();
        Path secondKey = Files.copy(pki.proxyServer().keyPem(), dir.resolve("second.key"));
        RuntimeSnapshot running = RuntimeSnapshot.build(config(secondKey, ""), metrics, Transport.NIO, tickets);
        assertThat(metrics.scrape("text/plain")).doesNotContain("fresh", "mtls_proxy_crl_");
        String freshConfig = "mtls-proxy.backends.fresh = ${mtls-proxy.backends.b}\n"
                + "mtls-proxy.routes = [{ name = fresh, path-prefix = \"/fresh/\", backend = fresh, allow = ["
                + ALLOW_ANY + "] }] ${mtls-proxy.routes}";
        ProxyConfig next = config(secondKey, ", crls = [" + q(pki.clientCrlPem()) + "]", freshConfig);

        // When: a reload adds a backend and a route named fresh and a CRL to listener main's trust, and fails at
        // listener second (its key is gone), after main's routes and verifier were built
        Files.delete(secondKey);
        assertThatThrownBy(() -> RuntimeSnapshot.build(next, metrics, Transport.NIO, tickets, running))
                .isInstanceOf(TlsMaterialException.class).hasMessageContaining("listener `second`");

        // Then: nothing of what only that configuration named is in /metrics; the running names still are
        String afterRefusal = metrics.scrape("text/plain");
        assertThat(afterRefusal).doesNotContain("fresh", "mtls_proxy_crl_");
        assertThat(afterRefusal).contains("route=\"kept\"", "backend=\"kept\"");

        // And when the same names come with a configuration that builds, their meters (the CRL's gauges included,
        // whose listener's holder outlived the refusal) are registered again
        Files.copy(pki.proxyServer().keyPem(), secondKey);
        RuntimeSnapshot.build(config(secondKey, ", crls = [" + q(pki.clientCrlPem()) + "]", freshConfig), metrics,
                Transport.NIO, tickets, running);
        assertThat(metrics.scrape("text/plain")).contains("route=\"fresh\"", "backend=\"fresh\"",
                "mtls_proxy_crl_age_seconds{", "mtls_proxy_crl_next_update_seconds{");
    }

    @Test
    void aBuiltConfigurationThatIsNotAppliedTakesItsMetersBack() throws Exception {
        TestPki pki = TestPki.get();
        Path secondKey = Files.copy(pki.proxyServer().keyPem(), dir.resolve("second.key"));
        RuntimeSnapshot running = RuntimeSnapshot.build(config(secondKey, ""), metrics, Transport.NIO, tickets);
        RuntimeSnapshot next = RuntimeSnapshot.build(config(secondKey,
                "mtls-proxy.backends.fresh = ${mtls-proxy.backends.b}"), metrics, Transport.NIO, tickets, running);
        assertThat(metrics.scrape("text/plain")).contains("backend=\"fresh\"");

        // When: applying it failed (a listener could not be bound)
        next.discardKeeping(running);

        assertThat(metrics.scrape("text/plain")).doesNotContain("fresh").contains("backend=\"b\"");
    }

    private ProxyConfig config(Path secondKey, String extra) {
        return config(secondKey, "", extra);
    }

    /**
     * Listeners main (its client trust entry ending with {@code mainTrust}) and second (its key {@code secondKey}), a
     * route to each of backends b and kept.
     */
    private ProxyConfig config(Path secondKey, String mainTrust, String extra) {
        TestPki pki = TestPki.get();
        String tls = """
                tls {
                  certificate-chain = %s
                  private-key = %s
                  client-trust = [{ name = test-clients, ca-bundle = %s%s }]
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
                tls.formatted(q(pki.proxyServer().chainPem()), q(pki.proxyServer().keyPem()), q(pki.clientRootPem()),
                        mainTrust),
                tls.formatted(q(pki.proxyServer().chainPem()), q(secondKey), q(pki.clientRootPem()), ""),
                ALLOW_ANY, ALLOW_ANY, backend, backend, extra);
        return ConfigLoader.parse(hocon, dir, "runtime-snapshot-test.conf");
    }

    private static String q(Path p) {
        return '"' + p.toAbsolutePath().toString().replace("\\", "\\\\") + '"';
    }
}
