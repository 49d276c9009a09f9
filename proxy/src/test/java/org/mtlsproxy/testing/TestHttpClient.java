package org.mtlsproxy.testing;

import static java.util.Objects.requireNonNull;

import java.io.BufferedInputStream;
import java.io.BufferedOutputStream;
import java.io.ByteArrayInputStream;
import java.io.ByteArrayOutputStream;
import java.io.EOFException;
import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.net.InetSocketAddress;
import java.net.ProtocolException;
import java.net.Socket;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.security.GeneralSecurityException;
import java.security.KeyStore;
import java.security.MessageDigest;
import java.security.cert.Certificate;
import java.security.cert.CertificateFactory;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Collection;
import java.util.Collections;
import java.util.HexFormat;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import javax.net.ssl.KeyManager;
import javax.net.ssl.SSLContext;
import javax.net.ssl.SSLParameters;
import javax.net.ssl.SSLSession;
import javax.net.ssl.SSLSocket;
import javax.net.ssl.TrustManagerFactory;

/**
 * A small blocking HTTP/1.1 client over a JDK {@link SSLSocket}, independent of Netty and of the proxy, for
 * black-box tests. It keeps one connection open across calls (keep-alive) and reopens it when the server closed it.
 *
 * <pre>{@code
 * TestPki pki = TestPki.get();
 * try (TestHttpClient client = TestHttpClient.builder(proxyPort)
 *         .clientCertificate(pki.goodClient())
 *         .trustRootPem(pki.serverRootPem())
 *         .build()) {
 *     TestHttpClient.Response response = client.get("/orders");
 * }
 * }</pre>
 *
 * <p><b>Detecting a rejected client certificate.</b> In TLS 1.3 the server checks the client's certificate after
 * the client has already finished its side of the handshake, so {@link #connect()} succeeds and the server's alert
 * only surfaces on the first read, as an {@link javax.net.ssl.SSLException}, a {@link java.net.SocketException} or
 * an {@link EOFException}. In TLS 1.2 the handshake itself fails. {@link #expectConnectionRejected(String)} covers
 * both: it returns the {@link IOException} and fails the test if a response arrives instead.
 *
 * <p>Not thread-safe: one client per test thread.
 */
public final class TestHttpClient implements AutoCloseable {

    /** The default {@link Builder#readTimeout(Duration) read timeout}. */
    public static final Duration DEFAULT_READ_TIMEOUT = Duration.ofSeconds(10);

    private static final int IO_CHUNK_SIZE = 64 * 1024;
    private static final int MAX_LINE_LENGTH = 64 * 1024;
    private static final Map<String, String> NO_HEADERS = Map.of();

    private final SSLContext sslContext;
    private final String connectHost;
    private final int port;
    private final String serverName;
    private final boolean verifyHostname;
    private final String protocol;
    private final String hostHeader;
    private final int readTimeoutMillis;

    private SSLSocket socket;
    private InputStream in;
    private OutputStream out;
    private int connectionsOpened;
    private boolean lastRequestWasHead;
    private boolean lastBodyEndedByClose;

    /**
     * A response as received.
     *
     * @param version      the HTTP version of the status line, e.g. {@code HTTP/1.1}
     * @param status       the status code
     * @param reason       the reason phrase, possibly empty
     * @param headers      header values by lower-cased name, in arrival order; unmodifiable
     * @param body         the body, or {@code null} when the client only {@linkplain #download digested} it
     * @param bodyLength   the number of body bytes
     * @param bodySha256   SHA-256 of the body, lower-case hex
     */
    public record Response(
            String version, int status, String reason, Map<String, List<String>> headers, byte[] body,
            long bodyLength, String bodySha256) {

        /** Validates and freezes the components. */
        public Response {
            requireNonNull(version, "version");
            requireNonNull(reason, "reason");
            requireNonNull(bodySha256, "bodySha256");
            Map<String, List<String>> copy = new LinkedHashMap<>();
            requireNonNull(headers, "headers").forEach((name, values) -> copy.put(name, List.copyOf(values)));
            headers = Collections.unmodifiableMap(copy);
        }

        /** The first value of the named header (any case), or {@code null}. */
        public String header(String name) {
            List<String> values = headerValues(name);
            return values.isEmpty() ? null : values.get(0);
        }

        /** Every value of the named header (any case), in arrival order; empty if absent. */
        public List<String> headerValues(String name) {
            return headers.getOrDefault(name.toLowerCase(Locale.ROOT), List.of());
        }

        /** The body decoded as UTF-8. */
        public String bodyText() {
            if (body == null) {
                throw new IllegalStateException("The body was digested, not kept (see TestHttpClient.download)");
            }
            return new String(body, StandardCharsets.UTF_8);
        }

        @Override
        public String toString() {
            String shown = body == null ? "<" + bodyLength + " bytes digested>"
                    : bodyLength <= 512 ? bodyText() : "<" + bodyLength + " bytes>";
            return version + " " + status + " " + reason + " " + headers + " " + shown;
        }
    }

    /** Builds a {@link TestHttpClient}. */
    public static final class Builder {
        private final int port;
        private String connectHost = "127.0.0.1";
        private String serverName = "localhost";
        private boolean verifyHostname = true;
        private String hostHeader = "localhost";
        private String protocol = "TLSv1.3";
        private TestPki.Issued clientCertificate;
        private Path trustRootPem;
        private Duration readTimeout = DEFAULT_READ_TIMEOUT;

        private Builder(int port) {
            if (port < 1 || port > 65535) {
                throw new IllegalArgumentException("port: " + port + " (expected: 1-65535)");
            }
            this.port = port;
        }

        /** The address to connect to; default {@code 127.0.0.1}. */
        public Builder connectHost(String connectHost) {
            this.connectHost = requireNonNull(connectHost, "connectHost");
            return this;
        }

        /**
         * The TLS server name: sent as SNI (when it is a DNS name with a dot) and, unless
         * {@link #verifyHostname(boolean) disabled}, matched against the server certificate; default
         * {@code localhost}. For a {@link RecordingBackend} use {@link TestPki#BACKEND_DNS_NAME}.
         */
        public Builder serverName(String serverName) {
            this.serverName = requireNonNull(serverName, "serverName");
            return this;
        }

        /** Whether the server certificate must match the {@link #serverName(String) server name}; default true. */
        public Builder verifyHostname(boolean verifyHostname) {
            this.verifyHostname = verifyHostname;
            return this;
        }

        /** The {@code Host} header sent unless a request sets its own; default {@code localhost}. */
        public Builder hostHeader(String hostHeader) {
            this.hostHeader = requireNonNull(hostHeader, "hostHeader");
            return this;
        }

        /** The only TLS protocol offered: {@code TLSv1.3} (default) or {@code TLSv1.2}. */
        public Builder protocol(String protocol) {
            this.protocol = requireNonNull(protocol, "protocol");
            return this;
        }

        /** The client certificate chain and key to present; by default none is presented. */
        public Builder clientCertificate(TestPki.Issued clientCertificate) {
            this.clientCertificate = requireNonNull(clientCertificate, "clientCertificate");
            return this;
        }

        /** PEM file of the certificates to trust as roots for the server's chain; required. */
        public Builder trustRootPem(Path trustRootPem) {
            this.trustRootPem = requireNonNull(trustRootPem, "trustRootPem");
            return this;
        }

        /** The socket read timeout; default {@link #DEFAULT_READ_TIMEOUT}. */
        public Builder readTimeout(Duration readTimeout) {
            requireNonNull(readTimeout, "readTimeout");
            if (readTimeout.isNegative() || readTimeout.isZero()) {
                throw new IllegalArgumentException("readTimeout: " + readTimeout + " (expected: > 0)");
            }
            this.readTimeout = readTimeout;
            return this;
        }

        /**
         * Builds the client; connects lazily, on {@link #connect()} or the first request.
         *
         * @throws IllegalStateException if no trust root was given or the TLS material cannot be loaded
         */
        public TestHttpClient build() {
            if (trustRootPem == null) {
                throw new IllegalStateException("trustRootPem is required (expected: e.g. TestPki.serverRootPem())");
            }
            return new TestHttpClient(this);
        }
    }

    /** A builder for a client of {@code port} on {@code 127.0.0.1}. */
    public static Builder builder(int port) {
        return new Builder(port);
    }

    private TestHttpClient(Builder builder) {
        this.sslContext = sslContext(builder.clientCertificate, builder.trustRootPem);
        this.connectHost = builder.connectHost;
        this.port = builder.port;
        this.serverName = builder.serverName;
        this.verifyHostname = builder.verifyHostname;
        this.protocol = builder.protocol;
        this.hostHeader = builder.hostHeader;
        this.readTimeoutMillis = Math.toIntExact(builder.readTimeout.toMillis());
    }

    /**
     * Opens a connection and completes the TLS handshake, unless a connection is already open.
     *
     * @throws IOException if the connection or (in TLS 1.2) the handshake fails
     */
    public void connect() throws IOException {
        if (socket != null) {
            return;
        }
        Socket plain = new Socket();
        try {
            plain.connect(new InetSocketAddress(connectHost, port), readTimeoutMillis);
            plain.setSoTimeout(readTimeoutMillis);
            plain.setTcpNoDelay(true);
            SSLSocket tls = (SSLSocket) sslContext.getSocketFactory().createSocket(plain, serverName, port, true);
            tls.setEnabledProtocols(new String[] {protocol});
            SSLParameters parameters = tls.getSSLParameters();
            if (verifyHostname) {
                parameters.setEndpointIdentificationAlgorithm("HTTPS");
            }
            tls.setSSLParameters(parameters);
            tls.startHandshake();
            socket = tls;
            in = new BufferedInputStream(tls.getInputStream(), IO_CHUNK_SIZE);
            out = new BufferedOutputStream(tls.getOutputStream(), IO_CHUNK_SIZE);
            connectionsOpened++;
        } catch (IOException | RuntimeException e) {
            plain.close();
            throw e;
        }
    }

    /** Whether a connection is open (as far as this client knows: the server may have closed it since). */
    public boolean isConnected() {
        return socket != null;
    }

    /** The TLS session of the open connection, or {@code null} when none is open. */
    public SSLSession session() {
        return socket == null ? null : socket.getSession();
    }

    /** How many connections this client has opened (handshakes completed on its side). */
    public int connectionsOpened() {
        return connectionsOpened;
    }

    /** {@code GET path} with no extra headers. */
    public Response get(String path) throws IOException {
        return get(path, NO_HEADERS);
    }

    /** {@code GET path} with the given extra headers. */
    public Response get(String path, Map<String, String> headers) throws IOException {
        return request("GET", path, List.copyOf(requireNonNull(headers, "headers").entrySet()), null);
    }

    /**
     * Sends one request and reads its response, keeping the body.
     *
     * <p>Adds {@code Host} unless {@code headers} has one, and {@code Content-Length} when {@code body} is not null
     * unless {@code headers} has a {@code Content-Length} or {@code Transfer-Encoding} (then the caller frames the
     * body). Headers are sent in order, duplicates included.
     *
     * @param method  the method, e.g. {@code POST}
     * @param path    the request target, e.g. {@code /upload?x=1}
     * @param headers extra headers, in order, duplicates allowed
     * @param body    the body, or {@code null} for none
     */
    public Response request(String method, String path, List<Map.Entry<String, String>> headers, byte[] body)
            throws IOException {
        requireNonNull(method, "method");
        requireNonNull(path, "path");
        requireNonNull(headers, "headers");
        List<Map.Entry<String, String>> all = new ArrayList<>(headers);
        if (body != null && !hasHeader(all, "content-length") && !hasHeader(all, "transfer-encoding")) {
            all.add(Map.entry("Content-Length", Long.toString(body.length)));
        }
        return exchange(method, path, all, body == null ? null : new ByteArrayInputStream(body), true);
    }

    /** {@code POST path} streaming {@code length} bytes of {@code body} with {@code Content-Length}. */
    public Response upload(String path, InputStream body, long length) throws IOException {
        requireNonNull(body, "body");
        if (length < 0) {
            throw new IllegalArgumentException("length: " + length + " (expected: >= 0)");
        }
        List<Map.Entry<String, String>> headers = List.of(Map.entry("Content-Length", Long.toString(length)));
        return exchange("POST", path, headers, new BoundedInputStream(body, length), true);
    }

    /** {@code POST path} streaming {@code body} until its end with {@code Transfer-Encoding: chunked}. */
    public Response uploadChunked(String path, InputStream body) throws IOException {
        requireNonNull(body, "body");
        List<Map.Entry<String, String>> headers = List.of(Map.entry("Transfer-Encoding", "chunked"));
        return exchange("POST", path, headers, new ChunkedEncodingStream(body), true);
    }

    /** {@code GET path}, keeping only the body's length and SHA-256 (for bodies too large to hold). */
    public Response download(String path) throws IOException {
        return exchange("GET", path, List.of(), null, false);
    }

    /**
     * Writes {@code bytes} as they are on the connection (opening one if needed): for hand-crafted, possibly
     * malformed requests. Read the answer with {@link #readResponse()}.
     */
    public void sendRaw(byte[] bytes) throws IOException {
        requireNonNull(bytes, "bytes");
        connect();
        lastRequestWasHead = false;
        out.write(bytes);
        out.flush();
    }

    /**
     * Reads the next response on the connection, keeping its body. Expects a body unless the status forbids one,
     * so a response to a raw {@code HEAD} request cannot be read with it.
     *
     * @throws IOException if the connection fails or closes before a complete response
     */
    public Response readResponse() throws IOException {
        if (socket == null) {
            throw new IllegalStateException("No open connection (expected: a request sent with sendRaw first)");
        }
        return receive(true);
    }

    /**
     * Connects and sends {@code GET path}, expecting the server to refuse the connection: returns the
     * {@link IOException} that shows it (handshake failure, TLS alert, reset or end of stream).
     *
     * @throws AssertionError if a response arrives instead
     */
    public IOException expectConnectionRejected(String path) {
        Response response;
        try {
            response = get(path);
        } catch (IOException e) {
            disconnect();
            return e;
        }
        throw new AssertionError("Expected the server to reject the connection, but it answered: " + response);
    }

    /** Closes the open connection, if any; the next request opens a new one. */
    public void disconnect() {
        if (socket == null) {
            return;
        }
        try {
            socket.close();
        } catch (IOException e) {
            // Closing after a failure may fail again; the socket is released either way.
        } finally {
            socket = null;
            in = null;
            out = null;
        }
    }

    /** Closes the open connection, if any. */
    @Override
    public void close() {
        disconnect();
    }

    private Response exchange(String method, String path, List<Map.Entry<String, String>> headers,
            InputStream body, boolean keepBody) throws IOException {
        connect();
        try {
            StringBuilder head = new StringBuilder()
                    .append(method).append(' ').append(path).append(" HTTP/1.1\r\n");
            if (!hasHeader(headers, "host")) {
                head.append("Host: ").append(hostHeader).append("\r\n");
            }
            for (Map.Entry<String, String> header : headers) {
                head.append(header.getKey()).append(": ").append(header.getValue()).append("\r\n");
            }
            head.append("\r\n");
            lastRequestWasHead = "HEAD".equalsIgnoreCase(method);
            out.write(head.toString().getBytes(StandardCharsets.ISO_8859_1));
            if (body != null) {
                body.transferTo(out);
            }
            out.flush();
            return receive(keepBody);
        } catch (IOException | RuntimeException e) {
            disconnect();
            throw e;
        }
    }

    private Response receive(boolean keepBody) throws IOException {
        try {
            Response response = readOneResponse(keepBody);
            if (lastBodyEndedByClose || !keepsConnectionOpen(response)) {
                disconnect();
            }
            return response;
        } catch (IOException | RuntimeException e) {
            disconnect();
            throw e;
        }
    }

    private Response readOneResponse(boolean keepBody) throws IOException {
        while (true) {
            String statusLine = readLine(true);
            String[] parts = statusLine.split(" ", 3);
            if (parts.length < 2 || !parts[0].startsWith("HTTP/") || parts[1].length() != 3) {
                throw new ProtocolException("Malformed status line: " + statusLine);
            }
            int status;
            try {
                status = Integer.parseInt(parts[1]);
            } catch (NumberFormatException e) {
                throw new ProtocolException("Malformed status line: " + statusLine);
            }
            Map<String, List<String>> headers = readHeaders();
            if (status >= 100 && status < 200 && status != 101) {
                continue; // An interim response (e.g. 100 Continue); the final one follows.
            }
            BodySink sink = new BodySink(keepBody);
            lastBodyEndedByClose = readBody(status, headers, sink);
            return new Response(parts[0], status, parts.length == 3 ? parts[2] : "", headers,
                    sink.bytes(), sink.length(), sink.sha256());
        }
    }

    /** Reads the body as RFC 9112 section 6.3 frames it; returns whether it was delimited by the connection closing. */
    private boolean readBody(int status, Map<String, List<String>> headers, BodySink sink) throws IOException {
        if (lastRequestWasHead || status == 204 || status == 304 || status == 101) {
            return false;
        }
        List<String> transferEncoding = headers.getOrDefault("transfer-encoding", List.of());
        if (!transferEncoding.isEmpty()) {
            String last = transferEncoding.get(transferEncoding.size() - 1);
            String[] codings = last.split(",");
            if (!"chunked".equalsIgnoreCase(codings[codings.length - 1].trim())) {
                copy(in, sink, Long.MAX_VALUE);
                return true;
            }
            readChunkedBody(sink);
            return false;
        }
        List<String> contentLength = headers.getOrDefault("content-length", List.of());
        if (!contentLength.isEmpty()) {
            long length = parseContentLength(contentLength);
            long copied = copy(in, sink, length);
            if (copied < length) {
                throw new EOFException("Connection closed after " + copied + " of " + length + " body bytes");
            }
            return false;
        }
        copy(in, sink, Long.MAX_VALUE);
        return true;
    }

    private void readChunkedBody(BodySink sink) throws IOException {
        while (true) {
            String sizeLine = readLine(false);
            int extension = sizeLine.indexOf(';');
            String size = (extension >= 0 ? sizeLine.substring(0, extension) : sizeLine).trim();
            long chunkSize;
            try {
                chunkSize = Long.parseLong(size, 16);
            } catch (NumberFormatException e) {
                throw new ProtocolException("Malformed chunk size line: " + sizeLine);
            }
            if (chunkSize < 0) {
                throw new ProtocolException("Malformed chunk size line: " + sizeLine);
            }
            if (chunkSize == 0) {
                readHeaders(); // The trailer section, ended by an empty line.
                return;
            }
            long copied = copy(in, sink, chunkSize);
            if (copied < chunkSize) {
                throw new EOFException("Connection closed inside a chunk");
            }
            if (!readLine(false).isEmpty()) {
                throw new ProtocolException("Missing CRLF after a chunk");
            }
        }
    }

    private static long parseContentLength(List<String> values) throws ProtocolException {
        long length = -1;
        for (String value : values) {
            for (String item : value.split(",")) {
                long parsed;
                try {
                    parsed = Long.parseLong(item.trim());
                } catch (NumberFormatException e) {
                    throw new ProtocolException("Malformed Content-Length: " + values);
                }
                if (parsed < 0 || (length >= 0 && parsed != length)) {
                    throw new ProtocolException("Malformed Content-Length: " + values);
                }
                length = parsed;
            }
        }
        return length;
    }

    private boolean keepsConnectionOpen(Response response) {
        List<String> connection = response.headerValues("connection");
        boolean close = connection.stream().anyMatch(value -> containsToken(value, "close"));
        if (close) {
            return false;
        }
        return !"HTTP/1.0".equals(response.version())
                || connection.stream().anyMatch(value -> containsToken(value, "keep-alive"));
    }

    private Map<String, List<String>> readHeaders() throws IOException {
        Map<String, List<String>> headers = new LinkedHashMap<>();
        while (true) {
            String line = readLine(false);
            if (line.isEmpty()) {
                return headers;
            }
            int colon = line.indexOf(':');
            if (colon <= 0) {
                throw new ProtocolException("Malformed header line: " + line);
            }
            String name = line.substring(0, colon).trim().toLowerCase(Locale.ROOT);
            headers.computeIfAbsent(name, key -> new ArrayList<>()).add(line.substring(colon + 1).trim());
        }
    }

    /** Reads a line ended by LF (a preceding CR is dropped), as ISO-8859-1. */
    private String readLine(boolean firstOfResponse) throws IOException {
        ByteArrayOutputStream line = new ByteArrayOutputStream(128);
        while (true) {
            int b = in.read();
            if (b < 0) {
                throw new EOFException(firstOfResponse && line.size() == 0
                        ? "Connection closed by the server before a response"
                        : "Connection closed in the middle of a response");
            }
            if (b == '\n') {
                byte[] bytes = line.toByteArray();
                int length = bytes.length > 0 && bytes[bytes.length - 1] == '\r' ? bytes.length - 1 : bytes.length;
                return new String(bytes, 0, length, StandardCharsets.ISO_8859_1);
            }
            if (line.size() >= MAX_LINE_LENGTH) {
                throw new ProtocolException("Line longer than " + MAX_LINE_LENGTH + " bytes");
            }
            line.write(b);
        }
    }

    /** Copies up to {@code limit} bytes; returns how many were copied before the limit or the end of the stream. */
    private static long copy(InputStream from, BodySink to, long limit) throws IOException {
        byte[] buffer = new byte[IO_CHUNK_SIZE];
        long copied = 0;
        while (copied < limit) {
            int read = from.read(buffer, 0, (int) Math.min(buffer.length, limit - copied));
            if (read < 0) {
                break;
            }
            to.write(buffer, read);
            copied += read;
        }
        return copied;
    }

    private static boolean hasHeader(Collection<Map.Entry<String, String>> headers, String name) {
        return headers.stream().anyMatch(header -> header.getKey().equalsIgnoreCase(name));
    }

    private static boolean containsToken(String value, String token) {
        for (String item : value.split(",")) {
            if (item.trim().equalsIgnoreCase(token)) {
                return true;
            }
        }
        return false;
    }

    private static SSLContext sslContext(TestPki.Issued clientCertificate, Path trustRootPem) {
        try {
            KeyStore trustStore = KeyStore.getInstance(KeyStore.getDefaultType());
            trustStore.load(null, null);
            Collection<? extends Certificate> roots;
            try (InputStream pem = Files.newInputStream(trustRootPem)) {
                roots = CertificateFactory.getInstance("X.509").generateCertificates(pem);
            }
            if (roots.isEmpty()) {
                throw new IllegalStateException("trustRootPem: " + trustRootPem + " (expected: PEM certificates)");
            }
            int index = 0;
            for (Certificate root : roots) {
                trustStore.setCertificateEntry("root-" + index++, root);
            }
            TrustManagerFactory trust = TrustManagerFactory.getInstance(TrustManagerFactory.getDefaultAlgorithm());
            trust.init(trustStore);
            KeyManager[] keys = clientCertificate == null
                    ? new KeyManager[0]
                    : new KeyManager[] {new AlwaysPresent(clientCertificate)};
            SSLContext context = SSLContext.getInstance("TLS");
            context.init(keys, trust.getTrustManagers(), null);
            return context;
        } catch (IOException | GeneralSecurityException e) {
            throw new IllegalStateException("Cannot build the client's TLS context", e);
        }
    }

    /**
     * Presents the configured certificate whatever CA names the server asks for, as curl and OpenSSL-based clients
     * do. The JDK's own key manager silently sends no certificate when the chain's issuers are not in the server's
     * list, which would hide the server's verdict on an untrusted or incomplete chain.
     */
    private static final class AlwaysPresent extends javax.net.ssl.X509ExtendedKeyManager {
        private static final String ALIAS = "client";
        private final TestPki.Issued identity;

        AlwaysPresent(TestPki.Issued identity) {
            this.identity = identity;
        }

        @Override
        public String[] getClientAliases(String keyType, java.security.Principal[] issuers) {
            return new String[] {ALIAS};
        }

        @Override
        public String chooseClientAlias(String[] keyType, java.security.Principal[] issuers, java.net.Socket s) {
            return ALIAS;
        }

        @Override
        public String chooseEngineClientAlias(String[] keyType, java.security.Principal[] issuers,
                javax.net.ssl.SSLEngine engine) {
            return ALIAS;
        }

        @Override
        public String[] getServerAliases(String keyType, java.security.Principal[] issuers) {
            return new String[0];
        }

        @Override
        public String chooseServerAlias(String keyType, java.security.Principal[] issuers, java.net.Socket s) {
            return null;
        }

        @Override
        public java.security.cert.X509Certificate[] getCertificateChain(String alias) {
            return ALIAS.equals(alias) ? identity.chain() : null;
        }

        @Override
        public java.security.PrivateKey getPrivateKey(String alias) {
            return ALIAS.equals(alias) ? identity.privateKey() : null;
        }
    }

    /** Keeps the body or only counts and hashes it. */
    private static final class BodySink {
        private final ByteArrayOutputStream kept;
        private final MessageDigest digest = RecordingBackend.sha256();
        private long length;

        BodySink(boolean keep) {
            this.kept = keep ? new ByteArrayOutputStream() : null;
        }

        void write(byte[] bytes, int count) {
            digest.update(bytes, 0, count);
            length += count;
            if (kept != null) {
                kept.write(bytes, 0, count);
            }
        }

        byte[] bytes() {
            return kept == null ? null : kept.toByteArray();
        }

        long length() {
            return length;
        }

        String sha256() {
            return HexFormat.of().formatHex(digest.digest());
        }
    }

    /** The first {@code limit} bytes of a stream; fails if the stream ends earlier. */
    private static final class BoundedInputStream extends InputStream {
        private final InputStream delegate;
        private long remaining;

        BoundedInputStream(InputStream delegate, long limit) {
            this.delegate = delegate;
            this.remaining = limit;
        }

        @Override
        public int read() throws IOException {
            byte[] one = new byte[1];
            return read(one, 0, 1) < 0 ? -1 : one[0] & 0xff;
        }

        @Override
        public int read(byte[] buffer, int off, int len) throws IOException {
            if (remaining == 0) {
                return -1;
            }
            int read = delegate.read(buffer, off, (int) Math.min(len, remaining));
            if (read < 0) {
                throw new EOFException("Upload body ended " + remaining + " bytes before its declared length");
            }
            remaining -= read;
            return read;
        }
    }

    /** Frames a stream with the chunked transfer coding, one chunk per read of the source. */
    private static final class ChunkedEncodingStream extends InputStream {
        private static final byte[] LAST_CHUNK = "0\r\n\r\n".getBytes(StandardCharsets.US_ASCII);

        private final InputStream source;
        private final byte[] buffer = new byte[IO_CHUNK_SIZE];
        private byte[] pending = new byte[0];
        private int position;
        private boolean finished;

        ChunkedEncodingStream(InputStream source) {
            this.source = source;
        }

        @Override
        public int read() throws IOException {
            byte[] one = new byte[1];
            return read(one, 0, 1) < 0 ? -1 : one[0] & 0xff;
        }

        @Override
        public int read(byte[] target, int off, int len) throws IOException {
            if (len == 0) {
                return 0;
            }
            if (position == pending.length && !refill()) {
                return -1;
            }
            int count = Math.min(len, pending.length - position);
            System.arraycopy(pending, position, target, off, count);
            position += count;
            return count;
        }

        private boolean refill() throws IOException {
            if (finished) {
                return false;
            }
            int read;
            do {
                read = source.read(buffer);
            } while (read == 0); // A zero-size chunk would end the body.
            if (read < 0) {
                finished = true;
                pending = LAST_CHUNK;
            } else {
                byte[] size = (Integer.toHexString(read) + "\r\n").getBytes(StandardCharsets.US_ASCII);
                pending = new byte[size.length + read + 2];
                System.arraycopy(size, 0, pending, 0, size.length);
                System.arraycopy(buffer, 0, pending, size.length, read);
                pending[pending.length - 2] = '\r';
                pending[pending.length - 1] = '\n';
            }
            position = 0;
            return true;
        }
    }
}
