package org.mtlsproxy.testing;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;
import static org.awaitility.Awaitility.await;

import java.io.EOFException;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.List;
import java.util.Map;
import javax.net.ssl.SSLHandshakeException;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

/** The backend and the client against each other, over real TLS on loopback. */
class RecordingBackendTest {

    private static final int FIVE_MIB = 5 * 1024 * 1024;
    private static final long FIFTY_MIB = 50L * 1024 * 1024;

    private final TestPki pki = TestPki.get();
    private RecordingBackend backend;
    private TestHttpClient client;

    @BeforeEach
    void startBackend() {
        backend = RecordingBackend.start(pki.backendServer());
        client = clientOf(backend).build();
    }

    @AfterEach
    void stopBackend() {
        client.close();
        backend.close();
    }

    @Test
    void anyPathAnswersOkAndIsRecorded() throws IOException {
        // When
        TestHttpClient.Response response = client.get("/hello?name=x", Map.of("X-Trace", "abc"));

        // Then
        assertThat(response.status()).isEqualTo(200);
        assertThat(response.bodyText()).isEqualTo("ok GET /hello?name=x\n");
        assertThat(response.header("Content-Type")).startsWith("text/plain");
        RecordingBackend.Received received = backend.received().get(0);
        assertThat(received.method()).isEqualTo("GET");
        assertThat(received.uri()).isEqualTo("/hello?name=x");
        assertThat(received.path()).isEqualTo("/hello");
        assertThat(received.header("x-trace")).isEqualTo("abc");
        assertThat(received.header("host")).isEqualTo("localhost");
        assertThat(received.bodyLength()).isZero();
        assertThat(received.bodySha256Hex()).isEqualTo(RecordingBackend.sha256Hex(new byte[0]));
        assertThat(received.peerSubject()).isNull();
    }

    @Test
    void keepAliveServesEveryRequestOnOneConnection() throws IOException {
        // When
        for (int i = 0; i < 5; i++) {
            assertThat(client.get("/request-" + i).status()).isEqualTo(200);
        }

        // Then
        assertThat(backend.connectionsAccepted()).isEqualTo(1);
        assertThat(client.connectionsOpened()).isEqualTo(1);
        assertThat(backend.received()).extracting(RecordingBackend.Received::uri)
                .containsExactly("/request-0", "/request-1", "/request-2", "/request-3", "/request-4");
    }

    @Test
    void connectionCloseRequestEndsTheConnection() throws IOException {
        // When
        TestHttpClient.Response response =
                client.request("GET", "/first", List.of(Map.entry("Connection", "close")), null);
        client.get("/second");

        // Then
        assertThat(response.header("connection")).isEqualTo("close");
        assertThat(backend.connectionsAccepted()).isEqualTo(2);
        assertThat(client.connectionsOpened()).isEqualTo(2);
    }

    @Test
    void uploadIsHashedAsItStreams() throws IOException {
        // When
        TestHttpClient.Response response =
                client.upload("/upload", RecordingBackend.patternStream(FIVE_MIB), FIVE_MIB);

        // Then
        String expectedSha256 = RecordingBackend.expectedSha256(FIVE_MIB);
        assertThat(response.status()).isEqualTo(200);
        assertThat(response.bodyText()).isEqualTo(FIVE_MIB + " " + expectedSha256);
        RecordingBackend.Received received = backend.received().get(0);
        assertThat(received.method()).isEqualTo("POST");
        assertThat(received.bodyLength()).isEqualTo(FIVE_MIB);
        assertThat(received.bodySha256Hex()).isEqualTo(expectedSha256);
    }

    @Test
    void throttledUploadIsReadSlowlyAndArrivesIntact() throws IOException {
        // When: 1 MiB read at most one socket read per 20 ms
        long start = System.nanoTime();
        TestHttpClient.Response response =
                client.upload("/upload?pause-ms=20", RecordingBackend.patternStream(1 << 20), 1 << 20);

        // Then
        assertThat(response.bodyText()).isEqualTo((1 << 20) + " " + RecordingBackend.expectedSha256(1 << 20));
        assertThat(System.nanoTime() - start).isGreaterThan(100_000_000L);
        // The connection reads at full speed again afterwards.
        assertThat(client.get("/after").status()).isEqualTo(200);
    }

    @Test
    void aClosedBackendCanBeStartedAgainOnItsPort() throws IOException {
        // Given
        int port = backend.port();
        client.close();
        backend.close();

        // When
        backend = RecordingBackend.startOnPort(pki.backendServer(), port);
        client = clientOf(backend).build();

        // Then
        assertThat(backend.port()).isEqualTo(port);
        assertThat(client.get("/again").status()).isEqualTo(200);
    }

    @Test
    void chunkedUploadIsReassembled() throws IOException {
        // When
        TestHttpClient.Response response = client.uploadChunked("/upload", RecordingBackend.patternStream(FIVE_MIB));

        // Then
        assertThat(response.bodyText()).isEqualTo(FIVE_MIB + " " + RecordingBackend.expectedSha256(FIVE_MIB));
        assertThat(backend.received().get(0).header("transfer-encoding")).isEqualTo("chunked");
    }

    @Test
    void smallBodyIsSentWithContentLength() throws IOException {
        // Given
        byte[] body = "hello".getBytes(StandardCharsets.UTF_8);

        // When
        TestHttpClient.Response response = client.request("PUT", "/upload", List.of(), body);

        // Then
        assertThat(response.bodyText()).isEqualTo("5 " + RecordingBackend.sha256Hex(body));
        assertThat(backend.received().get(0).header("content-length")).isEqualTo("5");
    }

    @Test
    void downloadStreamsThePatternWithContentLength() throws IOException {
        // When
        TestHttpClient.Response response = client.download("/download?bytes=" + FIFTY_MIB);

        // Then
        assertThat(response.status()).isEqualTo(200);
        assertThat(response.header("content-length")).isEqualTo(Long.toString(FIFTY_MIB));
        assertThat(response.body()).isNull();
        assertThat(response.bodyLength()).isEqualTo(FIFTY_MIB);
        assertThat(response.bodySha256()).isEqualTo(RecordingBackend.expectedSha256(FIFTY_MIB));
    }

    @Test
    void chunkedDownloadEndsWithTheLastChunk() throws IOException {
        // Given a length that is not a multiple of the chunk size
        long length = 3L * RecordingBackend.CHUNK_SIZE + 17;

        // When
        TestHttpClient.Response chunked = client.get("/download?bytes=" + length + "&chunked=true");
        TestHttpClient.Response next = client.get("/after");

        // Then
        assertThat(chunked.header("transfer-encoding")).isEqualTo("chunked");
        assertThat(chunked.header("content-length")).isNull();
        assertThat(chunked.body()).isEqualTo(RecordingBackend.patternChunk(0, (int) length));
        assertThat(chunked.bodySha256()).isEqualTo(RecordingBackend.expectedSha256(length));
        assertThat(next.status()).isEqualTo(200);
        assertThat(backend.connectionsAccepted()).isEqualTo(1);
    }

    @Test
    void emptyDownloadHasNoBody() throws IOException {
        TestHttpClient.Response response = client.get("/download?bytes=0");

        assertThat(response.header("content-length")).isEqualTo("0");
        assertThat(response.bodyLength()).isZero();
    }

    @Test
    void echoHeadersListsTheReceivedHeadersLowerCased() throws IOException {
        // When
        TestHttpClient.Response response = client.request("GET", "/echo-headers",
                List.of(Map.entry("X-Forwarded-For", "10.0.0.1"), Map.entry("X-Forwarded-For", "10.0.0.2")), null);

        // Then
        assertThat(response.bodyText().lines())
                .containsSubsequence("host: localhost", "x-forwarded-for: 10.0.0.1", "x-forwarded-for: 10.0.0.2");
    }

    @Test
    void statusEndpointAnswersWithTheRequestedStatus() throws IOException {
        TestHttpClient.Response unavailable = client.get("/status/503");
        TestHttpClient.Response noContent = client.get("/status/204");
        TestHttpClient.Response invalid = client.get("/status/99");

        assertThat(unavailable.status()).isEqualTo(503);
        assertThat(unavailable.bodyText()).isEqualTo("status 503\n");
        assertThat(noContent.status()).isEqualTo(204);
        assertThat(noContent.bodyLength()).isZero();
        assertThat(invalid.status()).isEqualTo(400);
    }

    @Test
    void headResponseHasHeadersButNoBody() throws IOException {
        // When
        TestHttpClient.Response head = client.request("HEAD", "/download?bytes=1000", List.of(), null);
        TestHttpClient.Response next = client.get("/after-head");

        // Then
        assertThat(head.status()).isEqualTo(200);
        assertThat(head.header("content-length")).isEqualTo("1000");
        assertThat(head.bodyLength()).isZero();
        assertThat(next.bodyText()).isEqualTo("ok GET /after-head\n");
        assertThat(backend.connectionsAccepted()).isEqualTo(1);
    }

    @Test
    void slowEndpointDelaysTheResponse() throws IOException {
        // When
        long started = System.nanoTime();
        TestHttpClient.Response response = client.get("/slow?ms=300");

        // Then
        assertThat(Duration.ofNanos(System.nanoTime() - started)).isGreaterThanOrEqualTo(Duration.ofMillis(300));
        assertThat(response.bodyText()).isEqualTo("ok GET /slow?ms=300\n");
    }

    @Test
    void closeEndpointDropsTheConnectionWithoutResponse() throws IOException {
        // When / Then
        assertThatThrownBy(() -> client.get("/close")).isInstanceOf(EOFException.class);
        assertThat(backend.received()).extracting(RecordingBackend.Received::path).containsExactly("/close");
        assertThat(client.isConnected()).isFalse();

        // And the client reconnects for the next request
        assertThat(client.get("/again").status()).isEqualTo(200);
        assertThat(backend.connectionsAccepted()).isEqualTo(2);
    }

    @Test
    void pipelinedRequestsAreAnsweredInOrder() throws IOException {
        // When two requests leave in one write
        client.sendRaw(("GET /slow?ms=100 HTTP/1.1\r\nHost: localhost\r\n\r\n"
                + "GET /fast HTTP/1.1\r\nHost: localhost\r\n\r\n").getBytes(StandardCharsets.US_ASCII));

        // Then
        assertThat(client.readResponse().bodyText()).isEqualTo("ok GET /slow?ms=100\n");
        assertThat(client.readResponse().bodyText()).isEqualTo("ok GET /fast\n");
    }

    @Test
    void malformedRequestIsAnsweredWithBadRequestAndClose() throws IOException {
        // When
        client.sendRaw("NOT A REQUEST\r\n\r\n".getBytes(StandardCharsets.US_ASCII));
        TestHttpClient.Response response = client.readResponse();

        // Then
        assertThat(response.status()).isEqualTo(400);
        assertThat(response.header("connection")).isEqualTo("close");
        assertThat(client.isConnected()).isFalse();
    }

    @Test
    void invalidDownloadParameterIsABadRequest() throws IOException {
        TestHttpClient.Response response = client.get("/download?bytes=lots");

        assertThat(response.status()).isEqualTo(400);
        assertThat(response.bodyText()).contains("bytes: lots");
    }

    @Test
    void tls12IsServedToo() throws IOException {
        try (TestHttpClient tls12 = clientOf(backend).protocol("TLSv1.2").build()) {
            tls12.connect();

            assertThat(tls12.session().getProtocol()).isEqualTo("TLSv1.2");
            assertThat(tls12.get("/").status()).isEqualTo(200);
        }
    }

    @Test
    void clientVerifiesTheServerName() {
        try (TestHttpClient wrongName = clientOf(backend).serverName("other.test").build()) {
            assertThatThrownBy(wrongName::connect).isInstanceOf(SSLHandshakeException.class);
        }
    }

    @Test
    void clientRejectsAnUntrustedServer() {
        try (RecordingBackend untrusted = RecordingBackend.start(pki.untrustedBackendServer());
             TestHttpClient trustingBackendRoot = clientOf(untrusted).build()) {
            assertThatThrownBy(trustingBackendRoot::connect).isInstanceOf(SSLHandshakeException.class);
        }
    }

    @Test
    void backendRequiringClientCertRecordsThePeerSubject() throws IOException {
        try (RecordingBackend mutual = RecordingBackend.startRequiringClientCert(
                pki.backendServer(), pki.backendRootCa().certificate());
             TestHttpClient proxyIdentity = clientOf(mutual).clientCertificate(pki.proxyClientForBackend()).build()) {
            // When
            TestHttpClient.Response response = proxyIdentity.get("/with-cert");

            // Then
            assertThat(response.status()).isEqualTo(200);
            assertThat(mutual.received().get(0).peerSubject()).isEqualTo(TestPki.PROXY_CLIENT_SUBJECT);
        }
    }

    @Test
    void backendRequiringClientCertRejectsAMissingCertificate() {
        for (String protocol : List.of("TLSv1.3", "TLSv1.2")) {
            try (RecordingBackend mutual = RecordingBackend.startRequiringClientCert(
                    pki.backendServer(), pki.backendRootCa().certificate());
                 TestHttpClient anonymous = clientOf(mutual).protocol(protocol).build()) {
                // When
                IOException rejection = anonymous.expectConnectionRejected("/without-cert");

                // Then
                assertThat(rejection).as(protocol).isNotNull();
                await().atMost(Duration.ofSeconds(5)).untilAsserted(
                        () -> assertThat(mutual.handshakeFailures()).as(protocol).hasSize(1));
                assertThat(mutual.received()).as(protocol).isEmpty();
            }
        }
    }

    @Test
    void backendRequiringClientCertRejectsACertificateFromAnotherHierarchy() {
        try (RecordingBackend mutual = RecordingBackend.startRequiringClientCert(
                pki.backendServer(), pki.backendRootCa().certificate());
             TestHttpClient foreign = clientOf(mutual).clientCertificate(pki.goodClient()).build()) {
            IOException rejection = foreign.expectConnectionRejected("/foreign-cert");

            assertThat(rejection).isNotNull();
            assertThat(mutual.received()).isEmpty();
        }
    }

    @Test
    void patternHelpersAgree() throws IOException {
        // Given a length spanning several chunks and a partial one
        int length = 2 * RecordingBackend.CHUNK_SIZE + 1000;

        // Then the stream, the chunk and the expected hash describe the same bytes
        byte[] streamed = RecordingBackend.patternStream(length).readAllBytes();
        assertThat(streamed).isEqualTo(RecordingBackend.patternChunk(0, length));
        assertThat(RecordingBackend.sha256Hex(streamed)).isEqualTo(RecordingBackend.expectedSha256(length));
        assertThat(RecordingBackend.patternChunk(300, 4))
                .containsExactly((byte) (300 * 31 + 7), (byte) (301 * 31 + 7), (byte) (302 * 31 + 7),
                        (byte) (303 * 31 + 7));
    }

    private TestHttpClient.Builder clientOf(RecordingBackend target) {
        return TestHttpClient.builder(target.port())
                .serverName(TestPki.BACKEND_DNS_NAME)
                .trustRootPem(pki.backendRootPem());
    }
}
