package org.mtlsproxy.proxy.demo;

import java.io.IOException;
import java.io.PrintStream;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.file.Files;
import java.nio.file.Path;
import java.security.KeyStore;
import java.security.cert.Certificate;
import java.security.cert.X509Certificate;
import java.time.Duration;
import java.util.List;
import javax.net.ssl.KeyManagerFactory;
import javax.net.ssl.SSLContext;
import javax.net.ssl.TrustManagerFactory;
import org.mtlsproxy.config.ConfigLoader;
import org.mtlsproxy.config.HostPort;
import org.mtlsproxy.config.ProxyConfig;
import org.mtlsproxy.proxy.metrics.ProxyMetrics;
import org.mtlsproxy.proxy.server.ProxyServer;

/**
 * {@code mtls-proxy demo}: a throwaway PKI, an HTTPS echo backend that requires the proxy's client certificate,
 * and the proxy in front of it, configured by a real config file written next to the certificates. Prints curl
 * commands that show a 200 (allowed identity), a 403 (verified but not allowed) and a rejected handshake (no
 * client certificate), and runs the same three requests itself.
 */
public final class Demo implements AutoCloseable {

    static final String ALLOWED_ID = "spiffe://demo.local/ns/demo/sa/alice";
    static final String DENIED_ID = "spiffe://demo.local/ns/demo/sa/bob";

    private final Path dir;
    private final EchoBackend backend;
    private final ProxyServer proxy;
    private final DemoPki.Issued alice;
    private final DemoPki.Issued bob;
    private final X509Certificate ca;

    private Demo(Path dir, EchoBackend backend, ProxyServer proxy, DemoPki.Issued alice, DemoPki.Issued bob,
            X509Certificate ca) {
        this.dir = dir;
        this.backend = backend;
        this.proxy = proxy;
        this.alice = alice;
        this.bob = bob;
        this.ca = ca;
    }

    /** Creates the PKI and config in {@code dir} (a new temp dir when null) and starts backend and proxy. */
    public static Demo start(Path dir, HostPort bind, HostPort adminBind) throws Exception {
        Path d = dir != null ? Files.createDirectories(dir) : Files.createTempDirectory("mtls-proxy-demo-");
        DemoPki pki = DemoPki.create(d, "demo-ca");
        DemoPki.Issued server = pki.issueServer("proxy-server", List.of("localhost"), List.of("127.0.0.1", "::1"));
        DemoPki.Issued backendCert = pki.issueServer("backend.demo.local", List.of("backend.demo.local"),
                List.of());
        DemoPki.Issued proxyClient = pki.issueClient("proxy-to-backend", "spiffe://demo.local/mtls-proxy",
                "infra");
        DemoPki.Issued alice = pki.issueClient("alice", ALLOWED_ID, "demo");
        DemoPki.Issued bob = pki.issueClient("bob", DENIED_ID, "demo");

        EchoBackend backend = EchoBackend.start(backendCert, pki.caCertificate(), "x-forwarded-client-cert");
        Path conf = d.resolve("proxy.conf");
        Files.writeString(conf, """
                # Written by `mtls-proxy demo`. Relative paths resolve against this file's directory.
                mtls-proxy {
                  listeners = [{
                    name = demo
                    bind = "%s"
                    tls {
                      certificate-chain = "proxy-server.pem"
                      private-key = "proxy-server.key"
                      client-trust = [{ name = demo, ca-bundle = "demo-ca.pem" }]
                    }
                  }]
                  routes = [{
                    name = hello
                    path-prefix = "/"
                    backend = echo
                    allow = [{ name = alice, spiffe-id = "%s" }]
                  }]
                  backends {
                    echo {
                      endpoints = ["127.0.0.1:%d"]
                      tls {
                        ca-bundle = "demo-ca.pem"
                        server-name = "backend.demo.local"
                        certificate-chain = "proxy-to-backend.pem"
                        private-key = "proxy-to-backend.key"
                      }
                    }
                  }
                  admin { bind = "%s" }
                }
                """.formatted(bind, ALLOWED_ID, backend.port(), adminBind));
        ProxyConfig config = ConfigLoader.load(conf);
        ProxyServer proxy;
        try {
            proxy = ProxyServer.start(config, new ProxyMetrics().withProcessMeters(), conf);
        } catch (RuntimeException e) {
            backend.close();
            throw e;
        }
        return new Demo(d, backend, proxy, alice, bob, pki.caCertificate());
    }

    public Path directory() {
        return dir;
    }

    public ProxyServer proxy() {
        return proxy;
    }

    private String url() {
        return "https://localhost:" + proxy.port("demo") + "/hello";
    }

    /** Prints what was started and the curl commands to try. */
    public void printInstructions(PrintStream out) {
        String caFile = dir.resolve("demo-ca.pem").toString();
        out.println();
        out.println("mtls-proxy demo is running: proxy on " + proxy.address("demo") + " -> echo backend on 127.0.0.1:"
                + backend.port());
        out.println("PKI and config (proxy.conf) written to " + dir);
        out.println();
        out.println("1) alice (" + ALLOWED_ID + ") is allowed -> 200 with the identity the backend saw:");
        out.println("   curl --cacert " + caFile + " --cert " + alice.chainPem() + " --key " + alice.keyPem() + " "
                + url());
        out.println("2) bob (" + DENIED_ID + ") is verified but not allowed -> 403:");
        out.println("   curl --cacert " + caFile + " --cert " + bob.chainPem() + " --key " + bob.keyPem() + " "
                + url());
        out.println("3) no client certificate -> the TLS handshake is rejected:");
        out.println("   curl --cacert " + caFile + " " + url());
        if (proxy.adminPort() > 0) {
            out.println("Metrics: curl http://127.0.0.1:" + proxy.adminPort() + "/metrics | grep mtls_proxy");
        }
        out.println();
    }

    /**
     * Sends the three demo requests with the JDK HTTP client and prints what happened.
     *
     * @return true when alice got 200, bob 403 and the certificate-less client was refused
     */
    public boolean selfCheck(PrintStream out) throws Exception {
        int a = get(sslContext(alice));
        int b = get(sslContext(bob));
        String none;
        boolean refused;
        try {
            int s = get(sslContext(null));
            none = "HTTP " + s + " (unexpected)";
            refused = false;
        } catch (IOException e) {
            none = "refused at the TLS layer (" + e.getClass().getSimpleName() + ")";
            refused = true;
        }
        out.println("self-check: alice -> HTTP " + a + ", bob -> HTTP " + b + ", no certificate -> " + none);
        return a == 200 && b == 403 && refused;
    }

    private int get(SSLContext ssl) throws IOException, InterruptedException {
        HttpClient client = HttpClient.newBuilder().sslContext(ssl).version(HttpClient.Version.HTTP_1_1)
                .connectTimeout(Duration.ofSeconds(5)).build();
        HttpResponse<String> r = client.send(HttpRequest.newBuilder(URI.create(url()))
                .timeout(Duration.ofSeconds(10)).GET().build(), HttpResponse.BodyHandlers.ofString());
        return r.statusCode();
    }

    private SSLContext sslContext(DemoPki.Issued client) throws Exception {
        KeyStore trust = KeyStore.getInstance("PKCS12");
        trust.load(null, null);
        trust.setCertificateEntry("ca", ca);
        TrustManagerFactory tmf = TrustManagerFactory.getInstance(TrustManagerFactory.getDefaultAlgorithm());
        tmf.init(trust);
        KeyManagerFactory kmf = null;
        if (client != null) {
            char[] pw = "demo".toCharArray();
            KeyStore keys = KeyStore.getInstance("PKCS12");
            keys.load(null, null);
            keys.setKeyEntry("client", client.key(), pw, new Certificate[] {client.certificate(), ca});
            kmf = KeyManagerFactory.getInstance(KeyManagerFactory.getDefaultAlgorithm());
            kmf.init(keys, pw);
        }
        SSLContext ctx = SSLContext.getInstance("TLS");
        ctx.init(kmf == null ? null : kmf.getKeyManagers(), tmf.getTrustManagers(), null);
        return ctx;
    }

    @Override
    public void close() {
        proxy.close();
        backend.close();
    }
}
