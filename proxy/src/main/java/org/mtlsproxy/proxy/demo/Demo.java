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
import org.mtlsproxy.proxy.pki.CertificateAuthority;
import org.mtlsproxy.proxy.pki.KeyType;
import org.mtlsproxy.proxy.pki.LeafRequest;
import org.mtlsproxy.proxy.pki.PkiException;
import org.mtlsproxy.proxy.server.ProxyServer;

/**
 * {@code mtls-proxy demo}: a throwaway PKI (made by the same {@link CertificateAuthority} as {@code mtls-proxy pki},
 * so the demo directory is a PKI those commands work on), an HTTPS echo backend that requires the proxy's client
 * certificate, and the proxy in front of it, configured by a real config file written next to the certificates.
 * Prints curl commands that show a 200 (allowed identity), a 403 (verified but not allowed) and a rejected handshake
 * (no client certificate), and runs the same three requests itself; and how to revoke alice with {@code pki}.
 */
public final class Demo implements AutoCloseable {

    static final String ALLOWED_ID = "spiffe://demo.local/ns/demo/sa/alice";
    static final String DENIED_ID = "spiffe://demo.local/ns/demo/sa/bob";
    private static final String ORG = "mtls-proxy demo";

    private final Path dir;
    private final EchoBackend backend;
    private final ProxyServer proxy;
    private final CertificateAuthority.Issued alice;
    private final CertificateAuthority.Issued bob;
    private final X509Certificate ca;

    private Demo(Path dir, EchoBackend backend, ProxyServer proxy, CertificateAuthority.Issued alice,
            CertificateAuthority.Issued bob, X509Certificate ca) {
        this.dir = dir;
        this.backend = backend;
        this.proxy = proxy;
        this.alice = alice;
        this.bob = bob;
        this.ca = ca;
    }

    /**
     * Creates the PKI and config in {@code dir} (a new temp dir when null) and starts backend and proxy.
     *
     * @throws PkiException if {@code dir} already holds a PKI (the demo never overwrites one)
     */
    public static Demo start(Path dir, HostPort bind, HostPort adminBind) throws Exception {
        Path d = dir != null ? Files.createDirectories(dir) : Files.createTempDirectory("mtls-proxy-demo-");
        CertificateAuthority pki = CertificateAuthority.init(d, new CertificateAuthority.InitOptions(ORG,
                KeyType.EC, Duration.ofDays(90), Duration.ofDays(90), CertificateAuthority.DEFAULT_CRL_VALIDITY));
        pki.issue(leaf(LeafRequest.Kind.SERVER, "proxy-server")
                .dns(List.of("localhost")).ip(List.of("127.0.0.1", "::1")).build());
        CertificateAuthority.Issued backendCert = pki.issue(leaf(LeafRequest.Kind.SERVER, "backend.demo.local")
                .dns(List.of("backend.demo.local")).build());
        pki.issue(leaf(LeafRequest.Kind.CLIENT, "proxy-to-backend")
                .uri(List.of("spiffe://demo.local/mtls-proxy")).ou("infra").build());
        CertificateAuthority.Issued alice = pki.issue(leaf(LeafRequest.Kind.CLIENT, "alice")
                .uri(List.of(ALLOWED_ID)).ou("demo").build());
        CertificateAuthority.Issued bob = pki.issue(leaf(LeafRequest.Kind.CLIENT, "bob")
                .uri(List.of(DENIED_ID)).ou("demo").build());

        EchoBackend backend = EchoBackend.start(backendCert, pki.rootCertificate(), "x-forwarded-client-cert");
        Path conf = d.resolve("proxy.conf");
        Files.writeString(conf, """
                # Written by `mtls-proxy demo`. Relative paths resolve against this file's directory.
                mtls-proxy {
                  listeners = [{
                    name = demo
                    bind = "%s"
                    tls {
                      certificate-chain = "proxy-server-chain.pem"
                      private-key = "proxy-server.key"
                      client-trust = [{ name = demo, ca-bundle = "root-ca.pem", crls = ["crl.pem"] }]
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
                        ca-bundle = "root-ca.pem"
                        server-name = "backend.demo.local"
                        certificate-chain = "proxy-to-backend-chain.pem"
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
        return new Demo(d, backend, proxy, alice, bob, pki.rootCertificate());
    }

    private static LeafRequest.Builder leaf(LeafRequest.Kind kind, String name) {
        // Longer than the proxy's default expiry warning (7 days), so the demo starts without warnings.
        return LeafRequest.builder(kind, name).org(ORG).validity(Duration.ofDays(30));
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
        String caFile = dir.resolve(CertificateAuthority.ROOT_PEM).toString();
        out.println();
        out.println("mtls-proxy demo is running: proxy on " + proxy.address("demo") + " -> echo backend on 127.0.0.1:"
                + backend.port());
        out.println("PKI and config (proxy.conf) written to " + dir);
        out.println();
        out.println("1) alice (" + ALLOWED_ID + ") is allowed -> 200 with the identity the backend saw:");
        out.println("   curl --cacert " + caFile + " --cert " + alice.chainFile() + " --key " + alice.keyFile() + " "
                + url());
        out.println("2) bob (" + DENIED_ID + ") is verified but not allowed -> 403:");
        out.println("   curl --cacert " + caFile + " --cert " + bob.chainFile() + " --key " + bob.keyFile() + " "
                + url());
        out.println("3) no client certificate -> the TLS handshake is rejected:");
        out.println("   curl --cacert " + caFile + " " + url());
        out.println("4) revoke alice: the proxy sees the new CRL and refuses her next handshake (reason revoked):");
        out.println("   " + selfCommand() + " pki revoke " + alice.serialHex() + " --dir " + dir + " && "
                + selfCommand() + " pki crl --dir " + dir);
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

    /** How to run this program again: {@code java -jar <this jar>}, or {@code mtls-proxy} outside a jar. */
    private static String selfCommand() {
        try {
            Path code = Path.of(Demo.class.getProtectionDomain().getCodeSource().getLocation().toURI());
            if (code.toString().endsWith(".jar")) {
                return "java -jar " + code;
            }
        } catch (java.net.URISyntaxException | RuntimeException e) {
            // No code source to point at: fall through to the plain command name.
        }
        return "mtls-proxy";
    }

    private SSLContext sslContext(CertificateAuthority.Issued client) throws Exception {
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
            keys.setKeyEntry("client", client.key(), pw, client.chain());
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
