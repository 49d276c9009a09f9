package org.mtlsproxy.it;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import io.netty.handler.codec.http.HttpMethod;
import java.io.StringWriter;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.security.KeyPair;
import java.security.KeyPairGenerator;
import java.security.MessageDigest;
import java.security.SecureRandom;
import java.security.interfaces.ECPublicKey;
import java.security.spec.ECGenParameterSpec;
import java.util.Base64;
import java.util.List;
import java.util.Map;
import java.security.KeyFactory;
import java.security.spec.PKCS8EncodedKeySpec;
import org.bouncycastle.jce.provider.BouncyCastleProvider;
import org.bouncycastle.openssl.jcajce.JcaPEMWriter;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.mtlsproxy.testing.RecordingBackend;
import org.mtlsproxy.testing.TestHttpClient;
import org.mtlsproxy.testing.TestPki;

/**
 * The signed identity header through real mTLS, checked by {@link ReadmeIdentityVerifier}: a backend's verifier
 * written from the README alone, with Nimbus JOSE+JWT.
 */
class SignedIdentityHeaderIT {

    private static final TestPki PKI = TestPki.get();
    private static final String HEADER = "x-mtls-proxy-identity";
    private static final String ALLOW_ANY = "{ spiffe-id = \"spiffe://test.local/**\" }";

    @TempDir
    Path dir;

    private RecordingBackend backend;

    @BeforeEach
    void startBackend() {
        backend = RecordingBackend.start(PKI.backendServer());
    }

    @AfterEach
    void stopBackend() {
        backend.close();
    }

    @Test
    void es256HeaderVerifiesForTheRealRequestAndCarriesTheIdentity() throws Exception {
        KeyPair key = p256();
        try (ProxyFixture proxy = proxy("ES256", writeSec1(key, "signing.key"), "proxy-1");
                TestHttpClient client = proxy.client(PKI.goodClient())) {
            // A client's own copy of the header is forged: it must never reach the backend.
            assertThat(client.get("/orders/7?full=1", Map.of("X-Mtls-Proxy-Identity", "forged.by.client"))
                    .status()).isEqualTo(200);
        }
        RecordingBackend.Received req = only();
        assertThat(req.headers().getAll(HEADER)).hasSize(1).doesNotContain("forged.by.client");

        Map<String, Object> claims = verifier(key).verify(req.headers().getAll(HEADER), req.method(),
                req.header("host"), req.uri());

        assertThat(claims).containsEntry("sub", TestPki.GOOD_CLIENT_SPIFFE_ID).containsEntry("cn", "orders")
                .containsEntry("method", "GET").containsEntry("authority", "localhost")
                .containsEntry("path", "/orders/7?full=1")
                .containsEntry("x5t#S256", Base64.getUrlEncoder().withoutPadding().encodeToString(
                        MessageDigest.getInstance("SHA-256").digest(
                                PKI.goodClient().bundle().getCertificate().getEncoded())));
        assertThat(claims.get("uri")).isEqualTo(List.of(TestPki.GOOD_CLIENT_SPIFFE_ID));
        assertThat(((Number) claims.get("exp")).longValue() - ((Number) claims.get("iat")).longValue())
                .isEqualTo(60);
        assertThat(req.header("x-forwarded-client-cert")).contains(TestPki.GOOD_CLIENT_SPIFFE_ID);
    }

    @Test
    void tamperingAnotherRequestAWrongKeyReplayAndTheTimeWindowAreRefused() throws Exception {
        KeyPair key = p256();
        try (ProxyFixture proxy = proxy("ES256", writeSec1(key, "signing.key"), "proxy-1");
                TestHttpClient client = proxy.client(PKI.goodClient())) {
            assertThat(client.request("POST", "/orders/", List.of(), "x".getBytes(StandardCharsets.US_ASCII))
                    .status()).isEqualTo(200);
        }
        RecordingBackend.Received req = only();
        String token = req.header(HEADER);
        String host = req.header("host");
        String[] parts = token.split("\\.");
        ReadmeIdentityVerifier fresh = verifier(key);
        assertThat(fresh.verify(List.of(token), "POST", host, "/orders/")).isNotNull();

        // Any segment tampered with
        for (int i = 0; i < 3; i++) {
            String[] changed = parts.clone();
            changed[i] = flipOneChar(changed[i]);
            String tampered = String.join(".", changed);
            assertThatThrownBy(() -> verifier(key).verify(List.of(tampered), "POST", host, "/orders/"))
                    .as("segment %d", i).isInstanceOf(ReadmeIdentityVerifier.Refused.class);
        }
        // The token moved to another request
        assertRefused(verifier(key), token, "GET", host, "/orders/", "step 5: method");
        assertRefused(verifier(key), token, "POST", "evil.test", "/orders/", "step 5: authority");
        assertRefused(verifier(key), token, "POST", host, "/orders/admin", "step 5: path");
        // Another key, another kid, another algorithm
        assertRefused(verifier(p256()), token, "POST", host, "/orders/", "step 3: bad signature");
        assertRefused(new ReadmeIdentityVerifier().pinEs256("proxy-2", (ECPublicKey) key.getPublic()), token,
                "POST", host, "/orders/", "step 2: unknown kid proxy-1");
        assertRefused(new ReadmeIdentityVerifier().pinHs256("proxy-1", new byte[32]), token, "POST", host,
                "/orders/", "step 2: alg ES256");
        // Replayed
        assertRefused(fresh, token, "POST", host, "/orders/", "step 6: replayed jti");
        // Outside the time window
        long now = System.currentTimeMillis() / 1000;
        assertRefused(verifier(key, now + 120), token, "POST", host, "/orders/", "step 4: expired");
        assertRefused(verifier(key, now - 60), token, "POST", host, "/orders/", "step 4: issued in the future");
        assertThat(verifier(key, now + 50).verify(List.of(token), "POST", host, "/orders/")).isNotNull();
        // Two headers
        assertRefused(verifier(key), List.of(token, token), "POST", host, "/orders/", "step 1: 2 headers");
    }

    @Test
    void aForgedTrailerIsStripped() throws Exception {
        KeyPair key = p256();
        try (ProxyFixture proxy = proxy("ES256", writeSec1(key, "signing.key"), "proxy-1");
                TestHttpClient client = proxy.client(PKI.goodClient())) {
            client.sendRaw(("POST /upload HTTP/1.1\r\nHost: localhost\r\nTransfer-Encoding: chunked\r\n\r\n"
                    + "3\r\nabc\r\n0\r\nX-Mtls-Proxy-Identity: forged.in.trailer\r\nx-keep: yes\r\n\r\n")
                    .getBytes(StandardCharsets.US_ASCII));
            assertThat(client.readResponse().status()).isEqualTo(200);
        }
        RecordingBackend.Received req = only();
        assertThat(req.trailers().contains(HEADER)).isFalse();
        assertThat(req.trailers().get("x-keep")).isEqualTo("yes");
        assertThat(verifier(key).verify(req.headers().getAll(HEADER), "POST", "localhost", "/upload")).isNotNull();
    }

    @Test
    void hs256HeaderVerifiesWithTheSharedSecret() throws Exception {
        byte[] secret = new byte[32];
        new SecureRandom().nextBytes(secret);
        Path file = Files.writeString(dir.resolve("hmac.key"), Base64.getEncoder().encodeToString(secret) + "\n");
        try (ProxyFixture proxy = proxy("HS256", file, "shared-1");
                TestHttpClient client = proxy.client(PKI.goodClient())) {
            assertThat(client.get("/hs/1").status()).isEqualTo(200);
        }
        RecordingBackend.Received req = only();

        Map<String, Object> claims = new ReadmeIdentityVerifier().pinHs256("shared-1", secret)
                .verify(req.headers().getAll(HEADER), "GET", req.header("host"), req.uri());

        assertThat(claims).containsEntry("sub", TestPki.GOOD_CLIENT_SPIFFE_ID);
        byte[] other = secret.clone();
        other[0] ^= 1;
        assertRefused(new ReadmeIdentityVerifier().pinHs256("shared-1", other), req.header(HEADER), "GET",
                req.header("host"), req.uri(), "step 3: bad signature");
    }

    @Test
    void http2RequestsAreSignedWithTheirAuthority() throws Exception {
        KeyPair key = p256();
        try (ProxyFixture proxy = proxy("ES256", writeSec1(key, "signing.key"), "proxy-1");
                H2Client client = new H2Client(proxy.port(), PKI.goodClient(), TestPki.PROXY_DNS_NAME,
                        List.of("h2"))) {
            assertThat(client.request(HttpMethod.DELETE, "/orders/9", TestPki.PROXY_DNS_NAME, null).get().status())
                    .isEqualTo(200);
        }
        RecordingBackend.Received req = only();

        Map<String, Object> claims = verifier(key).verify(req.headers().getAll(HEADER), "DELETE",
                req.header("host"), "/orders/9");

        assertThat(claims).containsEntry("authority", TestPki.PROXY_DNS_NAME);
    }

    @Test
    void reloadWithANewKeyAndKidRotatesTheSigningKey() throws Exception {
        KeyPair oldKey = p256();
        KeyPair newKey = p256();
        Path keyFile = writeSec1(oldKey, "signing.key");
        try (ProxyFixture proxy = proxy("ES256", keyFile, "proxy-1")) {
            try (TestHttpClient client = proxy.client(PKI.goodClient())) {
                assertThat(client.get("/before").status()).isEqualTo(200);
            }
            // Rotation: new key file and key-id, then a reload
            writeSec1(newKey, "signing.key");
            Files.writeString(proxy.configFile(), Files.readString(proxy.configFile())
                    .replace("key-id = \"proxy-1\"", "key-id = \"proxy-2\""));
            assertThat(proxy.server().reload("test").get().success()).isTrue();
            try (TestHttpClient client = proxy.client(PKI.goodClient())) {
                assertThat(client.get("/after").status()).isEqualTo(200);
            }
        }
        List<RecordingBackend.Received> received = backend.received();
        assertThat(received).hasSize(2);
        String before = received.get(0).header(HEADER);
        String after = received.get(1).header(HEADER);

        // A backend that pinned only the old key refuses new requests
        assertRefused(verifier(oldKey), after, "GET", "localhost", "/after", "step 2: unknown kid proxy-2");
        // the new kid does not verify with the old key
        assertRefused(new ReadmeIdentityVerifier().pinEs256("proxy-2", (ECPublicKey) oldKey.getPublic()), after,
                "GET", "localhost", "/after", "step 3: bad signature");
        // A backend holding both keys by kid accepts both sides of the rotation
        ReadmeIdentityVerifier both = verifier(oldKey).pinEs256("proxy-2", (ECPublicKey) newKey.getPublic());
        assertThat(both.verify(List.of(before), "GET", "localhost", "/before")).isNotNull();
        assertThat(both.verify(List.of(after), "GET", "localhost", "/after")).isNotNull();
    }

    @Test
    void theKeyFileIsWatchedLikeTheCertificates() throws Exception {
        KeyPair oldKey = p256();
        KeyPair newKey = p256();
        Path keyFile = writeSec1(oldKey, "signing.key");
        try (ProxyFixture proxy = ProxyFixture.builder().backend("b", backend.port())
                .route("all", null, "/", "b", ALLOW_ANY)
                .set("mtls-proxy.reload { debounce = 200ms, check-interval = 1s }")
                .set("mtls-proxy.identity-header.signed { enabled = true, key-file = " + ProxyFixture.hocon(keyFile)
                        + ", key-id = \"proxy-1\" }")
                .start()) {
            // Only the key file changes (same kid: a rotation should change both, but this shows the watch)
            writeSec1(newKey, "signing.key");
            org.awaitility.Awaitility.await().atMost(java.time.Duration.ofSeconds(10))
                    .until(() -> proxy.reloads("success") >= 1);
            try (TestHttpClient client = proxy.client(PKI.goodClient())) {
                assertThat(client.get("/watched").status()).isEqualTo(200);
            }
        }
        String token = only().header(HEADER);
        assertRefused(verifier(oldKey), token, "GET", "localhost", "/watched", "step 3: bad signature");
        assertThat(verifier(newKey).verify(List.of(token), "GET", "localhost", "/watched")).isNotNull();
    }

    @Test
    void aReloadWithAnUnusableKeyKeepsSigningWithTheOldOne() throws Exception {
        KeyPair key = p256();
        Path keyFile = writeSec1(key, "signing.key");
        try (ProxyFixture proxy = proxy("ES256", keyFile, "proxy-1")) {
            Files.writeString(keyFile, "not a key");
            assertThat(proxy.server().reload("test").get().success()).isFalse();
            try (TestHttpClient client = proxy.client(PKI.goodClient())) {
                assertThat(client.get("/still").status()).isEqualTo(200);
            }
        }
        assertThat(verifier(key).verify(only().headers().getAll(HEADER), "GET", "localhost", "/still")).isNotNull();
    }

    // ---------------------------------------------------------------- helpers

    @Test
    void aSigningFailureRefusesTheRequestWith500NeverForwardsItUnsignedAndIsCountedAndLoggedOnce() throws Exception {
        ch.qos.logback.classic.Logger handlerLog = (ch.qos.logback.classic.Logger) org.slf4j.LoggerFactory
                .getLogger("org.mtlsproxy.proxy.http.ProxyHandler");
        ch.qos.logback.core.read.ListAppender<ch.qos.logback.classic.spi.ILoggingEvent> errors =
                new ch.qos.logback.core.read.ListAppender<>();
        errors.start();
        handlerLog.addAppender(errors);
        try (AccessLog log = new AccessLog();
                FailingSignatureProvider failing = new FailingSignatureProvider();
                ProxyFixture proxy = proxy("ES256", writeSec1(p256(), "signing.key"), "proxy-1");
                TestHttpClient client = proxy.client(PKI.goodClient())) {
            // Given a signer that loaded but cannot sign: every request is refused, none reaches the backend
            for (int i = 0; i < 3; i++) {
                assertThat(client.get("/signed-" + i).status()).isEqualTo(500);
            }
            assertThat(backend.received()).isEmpty();
            // and each is counted and logged in the access log with the reason
            assertThat(proxy.counter("mtls_proxy.request.rejections", "listener", ProxyFixture.LISTENER,
                    "route", "all", "reason", "signing_failed")).isEqualTo(3);
            assertThat(log.forPath("/signed-0").get(0)).containsEntry("decision", "signing_failed")
                    .containsEntry("status", "500");
            assertThat(log.forPath("/signed-0").get(0).get("detail")).contains("simulated signing failure");
            // while the error log says it once (rate-limited), never with key material
            List<ch.qos.logback.classic.spi.ILoggingEvent> lines;
            synchronized (errors) {
                lines = List.copyOf(errors.list);
            }
            assertThat(lines).filteredOn(e -> e.getLevel() == ch.qos.logback.classic.Level.ERROR).hasSize(1)
                    .allSatisfy(e -> assertThat(e.getFormattedMessage() + e.getKeyValuePairs())
                            .contains("identity header").doesNotContain("BEGIN"));
        } finally {
            handlerLog.detachAppender(errors);
        }
    }

    private ProxyFixture proxy(String algorithm, Path keyFile, String keyId) throws Exception {
        return ProxyFixture.builder().backend("b", backend.port()).route("all", null, "/", "b", ALLOW_ANY)
                .set("mtls-proxy.reload.watch = false")
                .set("mtls-proxy.identity-header.signed { enabled = true, algorithm = " + algorithm
                        + ", key-file = " + ProxyFixture.hocon(keyFile) + ", key-id = \"" + keyId + "\" }")
                .start();
    }

    private RecordingBackend.Received only() {
        assertThat(backend.received()).hasSize(1);
        return backend.received().get(0);
    }

    private static ReadmeIdentityVerifier verifier(KeyPair key) throws Exception {
        return new ReadmeIdentityVerifier().pinEs256("proxy-1", (ECPublicKey) key.getPublic());
    }

    private static ReadmeIdentityVerifier verifier(KeyPair key, long nowSeconds) throws Exception {
        return new ReadmeIdentityVerifier(() -> nowSeconds).pinEs256("proxy-1", (ECPublicKey) key.getPublic());
    }

    private static void assertRefused(ReadmeIdentityVerifier v, String token, String method, String host,
            String target, String reason) {
        assertRefused(v, List.of(token), method, host, target, reason);
    }

    private static void assertRefused(ReadmeIdentityVerifier v, List<String> tokens, String method, String host,
            String target, String reason) {
        assertThatThrownBy(() -> v.verify(tokens, method, host, target))
                .isInstanceOf(ReadmeIdentityVerifier.Refused.class).hasMessageStartingWith(reason);
    }

    /** Changes one base64url character in the middle of a segment (the string stays base64url). */
    private static String flipOneChar(String segment) {
        int i = segment.length() / 2;
        char c = segment.charAt(i);
        return segment.substring(0, i) + (c == 'A' ? 'B' : 'A') + segment.substring(i + 1);
    }

    /**
     * The private key as {@code openssl ecparam -genkey} writes it: SEC1, BEGIN EC PRIVATE KEY, with the curve inside
     * (BouncyCastle's key class writes it; the JDK's would leave it out).
     */
    private Path writeSec1(KeyPair key, String name) throws Exception {
        StringWriter out = new StringWriter();
        try (JcaPEMWriter pem = new JcaPEMWriter(out)) {
            pem.writeObject(KeyFactory.getInstance("EC", new BouncyCastleProvider())
                    .generatePrivate(new PKCS8EncodedKeySpec(key.getPrivate().getEncoded())));
        }
        assertThat(out.toString()).startsWith("-----BEGIN EC PRIVATE KEY-----");
        return Files.writeString(dir.resolve(name), out.toString());
    }

    private static KeyPair p256() throws Exception {
        KeyPairGenerator g = KeyPairGenerator.getInstance("EC");
        g.initialize(new ECGenParameterSpec("secp256r1"));
        return g.generateKeyPair();
    }
}
