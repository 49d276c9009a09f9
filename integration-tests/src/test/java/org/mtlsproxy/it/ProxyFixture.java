package org.mtlsproxy.it;

import io.micrometer.core.instrument.Counter;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import org.mtlsproxy.config.ConfigLoader;
import org.mtlsproxy.config.ProxyConfig;
import org.mtlsproxy.proxy.metrics.ProxyMetrics;
import org.mtlsproxy.proxy.server.ProxyServer;
import org.mtlsproxy.testing.TestHttpClient;
import org.mtlsproxy.testing.TestPki;

/**
 * Starts the real proxy on loopback from a HOCON config written to a file, the way a user runs it: listener
 * {@code main} with the test PKI's server certificate, client trust in the test client root (with its CRL),
 * backends verified against the test backend root, and the proxy presenting its own client certificate.
 */
final class ProxyFixture implements AutoCloseable {

    static final String LISTENER = "main";

    private final ProxyServer server;
    private final ProxyMetrics metrics;
    private final Path configFile;

    private ProxyFixture(ProxyServer server, ProxyMetrics metrics, Path configFile) {
        this.server = server;
        this.metrics = metrics;
        this.configFile = configFile;
    }

    static Builder builder() {
        return new Builder();
    }

    int port() {
        return server.port(LISTENER);
    }

    int adminPort() {
        return server.adminPort();
    }

    ProxyServer server() {
        return server;
    }

    Path configFile() {
        return configFile;
    }

    ProxyMetrics metrics() {
        return metrics;
    }

    /** A client presenting {@code identity} (or none when null) and trusting the proxy's server root. */
    TestHttpClient client(TestPki.Issued identity) {
        TestHttpClient.Builder b = TestHttpClient.builder(port()).trustRootPem(TestPki.get().serverRootPem());
        if (identity != null) {
            b.clientCertificate(identity);
        }
        return b.build();
    }

    /** The value of a counter, 0 when it was never registered. */
    double counter(String name, String... tags) {
        Counter c = metrics.registry().find(name).tags(tags).counter();
        return c == null ? 0 : c.count();
    }

    double reloads(String result) {
        return counter("mtls_proxy.config.reloads", "result", result);
    }

    double handshakeFailures(String reason) {
        return counter("mtls_proxy.handshakes", "listener", LISTENER, "result", "failure", "reason", reason);
    }

    /** {@code path} as a quoted HOCON string. */
    static String hocon(Path path) {
        return Builder.q(path);
    }

    @Override
    public void close() {
        server.close();
    }

    static final class Builder {
        private final List<String> backends = new ArrayList<>();
        private final List<String> routes = new ArrayList<>();
        private final List<String> extra = new ArrayList<>();
        private String clientCrls;
        private Path listenerChain;
        private Path listenerKey;
        private String clientTrust;
        private String listenerTls = "";

        /** A backend verified against the test backend root, named {@code name}, at 127.0.0.1:{@code port}. */
        Builder backend(String name, int... ports) {
            StringBuilder endpoints = new StringBuilder();
            for (int p : ports) {
                endpoints.append(endpoints.length() == 0 ? "" : ", ").append("\"127.0.0.1:").append(p).append('"');
            }
            TestPki pki = TestPki.get();
            backends.add("""
                    %s {
                      endpoints = [%s]
                      tls {
                        ca-bundle = %s
                        server-name = "%s"
                        certificate-chain = %s
                        private-key = %s
                      }
                    }
                    """.formatted(name, endpoints, q(pki.backendRootPem()), TestPki.BACKEND_DNS_NAME,
                    q(pki.proxyClientForBackend().chainPem()), q(pki.proxyClientForBackend().keyPem())));
            return this;
        }

        /** A route; {@code allowRules} is the HOCON inside {@code allow = [ ... ]}. */
        Builder route(String name, String host, String pathPrefix, String backend, String allowRules) {
            return route(name, host, pathPrefix, backend, allowRules, "");
        }

        /** A route with further keys, {@code extraHocon} (e.g. {@code websocket = true}). */
        Builder route(String name, String host, String pathPrefix, String backend, String allowRules,
                String extraHocon) {
            routes.add("""
                    {
                      name = %s
                      %s
                      path-prefix = "%s"
                      backend = %s
                      allow = [%s]
                      %s
                    }
                    """.formatted(name, host == null ? "" : "host = \"" + host + "\"", pathPrefix, backend,
                    allowRules, extraHocon));
            return this;
        }

        /** Raw HOCON appended after the generated config, e.g. {@code mtls-proxy.defaults.backend.x = y}. */
        Builder set(String hoconLine) {
            extra.add(hoconLine);
            return this;
        }

        /** Serves this certificate chain and key instead of the test PKI's proxy server certificate. */
        Builder listenerCertificate(Path chain, Path key) {
            this.listenerChain = chain;
            this.listenerKey = key;
            return this;
        }

        /** Replaces the listener's default CRL list (the test PKI's CRL revoking {@code revokedClient}). */
        Builder clientCrls(Path... crls) {
            StringBuilder sb = new StringBuilder();
            for (Path p : crls) {
                sb.append(sb.length() == 0 ? "" : ", ").append(q(p));
            }
            clientCrls = sb.toString();
            return this;
        }

        /**
         * Replaces the listener's whole client trust (the test client root as bundle {@code test-clients}, with its
         * CRL) by {@code hoconElements}, the HOCON inside {@code client-trust = [ ... ]}; quote file paths with
         * {@link ProxyFixture#hocon(Path)}.
         */
        Builder clientTrust(String hoconElements) {
            clientTrust = hoconElements;
            return this;
        }

        /** Further keys of the listener's {@code tls} block, e.g. {@code verify-depth = 1}. */
        Builder listenerTls(String hocon) {
            listenerTls = hocon;
            return this;
        }

        ProxyFixture start() throws Exception {
            TestPki pki = TestPki.get();
            String hocon = """
                    mtls-proxy {
                      listeners = [{
                        name = %s
                        bind = "127.0.0.1:0"
                        tls {
                          certificate-chain = %s
                          private-key = %s
                          client-trust = [%s]
                          %s
                        }
                      }]
                      routes = [%s]
                      backends {
                        %s
                      }
                      admin { bind = "127.0.0.1:0" }
                    }
                    %s
                    """.formatted(LISTENER,
                    q(listenerChain != null ? listenerChain : pki.proxyServer().chainPem()),
                    q(listenerKey != null ? listenerKey : pki.proxyServer().keyPem()),
                    clientTrust != null ? clientTrust : "{ name = test-clients, ca-bundle = " + q(pki.clientRootPem())
                            + ", crls = [" + (clientCrls != null ? clientCrls : q(pki.clientCrlPem())) + "] }",
                    listenerTls, String.join("\n", routes), String.join("\n", backends), String.join("\n", extra));
            Path file = Files.createTempFile(pki.directory(), "proxy-", ".conf");
            Files.writeString(file, hocon);
            ProxyConfig config = ConfigLoader.load(file);
            ProxyMetrics metrics = new ProxyMetrics();
            return new ProxyFixture(ProxyServer.start(config, metrics, file), metrics, file);
        }

        private static String q(Path p) {
            return '"' + p.toAbsolutePath().toString().replace("\\", "\\\\") + '"';
        }
    }
}
