package org.mtlsproxy.proxy.http;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.security.KeyPair;
import java.security.KeyPairGenerator;
import java.security.MessageDigest;
import java.security.Signature;
import java.security.spec.ECGenParameterSpec;
import java.time.Duration;
import java.time.Instant;
import java.util.Base64;
import java.util.HashSet;
import java.util.List;
import java.util.Optional;
import java.util.Set;
import javax.crypto.Mac;
import javax.crypto.spec.SecretKeySpec;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.mtlsproxy.config.SignedHeaderConfig;
import org.mtlsproxy.config.SignedHeaderConfig.Algorithm;
import org.mtlsproxy.proxy.identity.ClientIdentity;

class IdentitySignerTest {

    private static final long NOW = Instant.parse("2026-01-02T03:04:05.678Z").toEpochMilli();
    private static final String FINGERPRINT = "00ff".repeat(16);
    private static final ClientIdentity ORDERS = new ClientIdentity(
            Optional.of("spiffe://test.local/ns/prod/sa/orders"), List.of("spiffe://test.local/ns/prod/sa/orders"),
            List.of("orders.test"), List.of(), List.of(), "CN=orders,OU=prod,O=Acme", Optional.of("orders"),
            List.of("prod"), List.of("Acme"), "CN=CA", "1", FINGERPRINT, Instant.parse("2030-01-01T00:00:00Z"),
            "clients");

    @TempDir
    Path dir;

    @Test
    void es256SignatureVerifiesWithThePublicKeyOverHeaderDotPayload() throws Exception {
        KeyPair pair = p256();
        IdentitySigner signer = IdentitySigner.load(es256(pair, "proxy-1"));

        String jws = signer.sign(IdentitySigner.identityClaims(ORDERS), "GET", "api.test:8443", "/orders/1?x=y", NOW);

        String[] parts = jws.split("\\.", -1);
        assertThat(parts).hasSize(3);
        assertThat(decode(parts[0])).isEqualTo("{\"alg\":\"ES256\",\"kid\":\"proxy-1\",\"typ\":\"JWT\"}");
        byte[] signature = Base64.getUrlDecoder().decode(parts[2]);
        assertThat(signature).hasSize(64);
        Signature verify = Signature.getInstance("SHA256withECDSAinP1363Format");
        verify.initVerify(pair.getPublic());
        verify.update((parts[0] + "." + parts[1]).getBytes(StandardCharsets.US_ASCII));
        assertThat(verify.verify(signature)).isTrue();

        verify.initVerify(pair.getPublic());
        verify.update((parts[0] + "." + parts[1].substring(1)).getBytes(StandardCharsets.US_ASCII));
        assertThat(verify.verify(signature)).as("a changed payload").isFalse();
        verify.initVerify(p256().getPublic());
        verify.update((parts[0] + "." + parts[1]).getBytes(StandardCharsets.US_ASCII));
        assertThat(verify.verify(signature)).as("another key").isFalse();
    }

    @Test
    void payloadCarriesIdentityRequestAndTimeWindow() throws Exception {
        IdentitySigner signer = IdentitySigner.load(es256(p256(), "k"));

        String jws = signer.sign(IdentitySigner.identityClaims(ORDERS), "POST", "api.test", "/orders/?a=1&b=%20",
                NOW);

        String payload = decode(jws.split("\\.")[1]);
        String x5t = Base64.getUrlEncoder().withoutPadding().encodeToString(java.util.HexFormat.of()
                .parseHex(FINGERPRINT));
        assertThat(payload).startsWith("{\"sub\":\"spiffe://test.local/ns/prod/sa/orders\",\"x5t#S256\":\"" + x5t
                + "\",\"cn\":\"orders\",\"uri\":[\"spiffe://test.local/ns/prod/sa/orders\"],\"dns\":[\"orders.test\"],"
                + "\"method\":\"POST\",\"authority\":\"api.test\",\"path\":\"/orders/?a=1&b=%20\","
                + "\"iat\":1767323045,\"exp\":1767323105,\"jti\":\"");
        assertThat(payload).matches(".*\"jti\":\"[A-Za-z0-9_-]{22}\"}$");
    }

    @Test
    void everyRequestGetsItsOwnJti() throws Exception {
        IdentitySigner signer = IdentitySigner.load(hs256(new byte[32], "h"));
        String claims = IdentitySigner.identityClaims(ORDERS);
        Set<String> jtis = new HashSet<>();
        for (int i = 0; i < 1000; i++) {
            String payload = decode(signer.sign(claims, "GET", "a", "/", NOW).split("\\.")[1]);
            jtis.add(payload.substring(payload.indexOf("\"jti\":")));
        }
        assertThat(jtis).hasSize(1000);
    }

    @Test
    void hs256IsHmacSha256OfHeaderDotPayload() throws Exception {
        byte[] secret = new byte[40];
        new java.security.SecureRandom().nextBytes(secret);
        IdentitySigner signer = IdentitySigner.load(hs256(secret, "shared-1"));

        String jws = signer.sign(IdentitySigner.identityClaims(ORDERS), "GET", "api.test", "/", NOW);

        String[] parts = jws.split("\\.");
        assertThat(decode(parts[0])).isEqualTo("{\"alg\":\"HS256\",\"kid\":\"shared-1\",\"typ\":\"JWT\"}");
        Mac mac = Mac.getInstance("HmacSHA256");
        mac.init(new SecretKeySpec(secret, "HmacSHA256"));
        byte[] expected = mac.doFinal((parts[0] + "." + parts[1]).getBytes(StandardCharsets.US_ASCII));
        assertThat(MessageDigest.isEqual(Base64.getUrlDecoder().decode(parts[2]), expected)).isTrue();
    }

    @Test
    void aNewSignerOnTheSameThreadSignsWithItsOwnKey() throws Exception {
        KeyPair first = p256();
        KeyPair second = p256();
        IdentitySigner one = IdentitySigner.load(es256(first, "one"));
        IdentitySigner two = IdentitySigner.load(es256(second, "two"));
        String claims = IdentitySigner.identityClaims(ORDERS);

        assertThat(verifies(one.sign(claims, "GET", "a", "/", NOW), first)).isTrue();
        assertThat(verifies(two.sign(claims, "GET", "a", "/", NOW), second)).isTrue();
        assertThat(verifies(one.sign(claims, "GET", "a", "/", NOW), first)).isTrue();
        assertThat(verifies(two.sign(claims, "GET", "a", "/", NOW), first)).isFalse();
    }

    @Test
    void certificateTextIsJsonEscaped() {
        ClientIdentity odd = new ClientIdentity(Optional.empty(), List.of(), List.of(), List.of(), List.of(),
                "CN=a\"b\\c\n,O=x", Optional.of("a\"b\\c\n\u00e9"), List.of(), List.of(), "CN=CA", "1", FINGERPRINT,
                Instant.parse("2030-01-01T00:00:00Z"), "clients");

        String claims = IdentitySigner.identityClaims(odd);

        assertThat(claims).startsWith("\"sub\":\"CN=a\\\"b\\\\c\\u000a,O=x\",\"x5t#S256\":");
        assertThat(claims).endsWith(",\"cn\":\"a\\\"b\\\\c\\u000a\u00e9\"");
    }

    @Test
    void loadingNamesTheFileOfAnUnusableKey() throws Exception {
        Path key = Files.writeString(dir.resolve("hmac.key"), "c2hvcnQ=");

        assertThatThrownBy(() -> IdentitySigner.load(new SignedHeaderConfig("x-id", Algorithm.HS256, key, "k",
                Duration.ofSeconds(60)))).hasMessageContaining(key.toString()).hasMessageContaining("5 bytes");
    }

    private static boolean verifies(String jws, KeyPair pair) throws Exception {
        String[] parts = jws.split("\\.");
        Signature verify = Signature.getInstance("SHA256withECDSAinP1363Format");
        verify.initVerify(pair.getPublic());
        verify.update((parts[0] + "." + parts[1]).getBytes(StandardCharsets.US_ASCII));
        return verify.verify(Base64.getUrlDecoder().decode(parts[2]));
    }

    private SignedHeaderConfig es256(KeyPair pair, String kid) throws Exception {
        Path file = Files.createTempFile(dir, "signing-", ".key");
        Files.writeString(file, "-----BEGIN PRIVATE KEY-----\n"
                + Base64.getMimeEncoder().encodeToString(pair.getPrivate().getEncoded()) + "\n-----END PRIVATE KEY-----\n");
        return new SignedHeaderConfig("x-mtls-proxy-identity", Algorithm.ES256, file, kid, Duration.ofSeconds(60));
    }

    private SignedHeaderConfig hs256(byte[] secret, String kid) throws Exception {
        Path file = Files.createTempFile(dir, "hmac-", ".key");
        Files.writeString(file, Base64.getEncoder().encodeToString(secret) + "\n");
        return new SignedHeaderConfig("x-mtls-proxy-identity", Algorithm.HS256, file, kid, Duration.ofSeconds(60));
    }

    private static KeyPair p256() throws Exception {
        KeyPairGenerator g = KeyPairGenerator.getInstance("EC");
        g.initialize(new ECGenParameterSpec("secp256r1"));
        return g.generateKeyPair();
    }

    private static String decode(String segment) {
        return new String(Base64.getUrlDecoder().decode(segment), StandardCharsets.UTF_8);
    }
}
