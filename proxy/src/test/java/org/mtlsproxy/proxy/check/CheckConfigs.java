package org.mtlsproxy.proxy.check;

import java.nio.file.Path;
import org.mtlsproxy.config.ConfigLoader;
import org.mtlsproxy.config.ProxyConfig;
import org.mtlsproxy.proxy.metrics.ProxyMetrics;
import org.mtlsproxy.proxy.runtime.RuntimeSnapshot;
import org.mtlsproxy.proxy.transport.Transport;
import org.mtlsproxy.testing.TestPki;

/**
 * A config on the test PKI for the check tests: listener {@code main} (client trust {@code test-clients} with the
 * CRL), optionally more listeners, routes on it and backend {@code b} (never contacted).
 */
final class CheckConfigs {

    private CheckConfigs() {
    }

    /** The HOCON; {@code listenerExtra} goes into listener main, {@code extra} after the routes. */
    static String hocon(String listenerTlsExtra, String routes, String moreListeners) {
        TestPki pki = TestPki.get();
        return """
                mtls-proxy {
                  listeners = [{
                    name = main
                    bind = "127.0.0.1:0"
                    tls {
                      certificate-chain = %s
                      private-key = %s
                      client-trust = [{ name = test-clients, ca-bundle = %s, crls = [%s] }]
                      %s
                    }
                  }%s]
                  routes = [%s]
                  backends {
                    b {
                      endpoints = ["127.0.0.1:9"]
                      tls { ca-bundle = %s, server-name = "%s" }
                    }
                  }
                  admin { enabled = false }
                }
                """.formatted(q(pki.proxyServer().chainPem()), q(pki.proxyServer().keyPem()), q(pki.clientRootPem()),
                q(pki.clientCrlPem()), listenerTlsExtra, moreListeners, routes, q(pki.backendRootPem()),
                TestPki.BACKEND_DNS_NAME);
    }

    /** A second listener {@code db} with protocol tcp to backend b, allowing {@code allowRules}. */
    static String tcpListener(String allowRules) {
        TestPki pki = TestPki.get();
        return """
                , {
                    name = db
                    bind = "127.0.0.1:0"
                    protocol = tcp
                    backend = b
                    allow = [%s]
                    tls {
                      certificate-chain = %s
                      private-key = %s
                      client-trust = [{ name = test-clients, ca-bundle = %s, crls = [%s] }]
                    }
                  }""".formatted(allowRules, q(pki.proxyServer().chainPem()), q(pki.proxyServer().keyPem()),
                q(pki.clientRootPem()), q(pki.clientCrlPem()));
    }

    static RuntimeSnapshot snapshot(String hocon) throws Exception {
        ProxyConfig config = ConfigLoader.parse(hocon, TestPki.get().directory(), "check-test.conf");
        return RuntimeSnapshot.build(config, new ProxyMetrics(), Transport.NIO);
    }

    static String q(Path p) {
        return '"' + p.toAbsolutePath().toString().replace("\\", "\\\\") + '"';
    }
}
