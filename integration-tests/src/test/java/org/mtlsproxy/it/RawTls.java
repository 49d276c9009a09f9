package org.mtlsproxy.it;

import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.net.InetAddress;
import java.net.Socket;
import java.net.SocketTimeoutException;
import java.nio.charset.StandardCharsets;
import java.security.KeyStore;
import java.security.cert.X509Certificate;
import java.util.concurrent.BlockingQueue;
import java.util.concurrent.LinkedBlockingQueue;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import javax.net.ssl.KeyManagerFactory;
import javax.net.ssl.SSLContext;
import javax.net.ssl.SSLServerSocket;
import javax.net.ssl.SSLSocket;
import javax.net.ssl.TrustManagerFactory;
import org.mtlsproxy.testing.TestPki;

/** Byte-level TLS client and scripted TLS backend for data-path tests. */
final class RawTls {

    private RawTls() {
    }

    static SSLContext context(TestPki.Issued own, X509Certificate trustRoot) throws Exception {
        KeyStore ks = KeyStore.getInstance("PKCS12");
        ks.load(null, null);
        if (own != null) {
            ks.setKeyEntry("k", own.privateKey(), new char[0], own.chain());
        }
        KeyManagerFactory kmf = KeyManagerFactory.getInstance(KeyManagerFactory.getDefaultAlgorithm());
        kmf.init(ks, new char[0]);
        KeyStore ts = KeyStore.getInstance("PKCS12");
        ts.load(null, null);
        if (trustRoot != null) {
            ts.setCertificateEntry("r", trustRoot);
        }
        TrustManagerFactory tmf = TrustManagerFactory.getInstance(TrustManagerFactory.getDefaultAlgorithm());
        tmf.init(ts);
        SSLContext c = SSLContext.getInstance("TLS");
        c.init(kmf.getKeyManagers(), trustRoot == null ? new javax.net.ssl.TrustManager[] {
            new javax.net.ssl.X509TrustManager() {
                public void checkClientTrusted(X509Certificate[] a, String b) { }
                public void checkServerTrusted(X509Certificate[] a, String b) { }
                public X509Certificate[] getAcceptedIssuers() { return new X509Certificate[0]; }
            } } : tmf.getTrustManagers(), null);
        return c;
    }

    /** A raw client connection to the proxy. */
    static final class Client implements AutoCloseable {
        final SSLSocket socket;
        final InputStream in;
        final OutputStream out;

        Client(int port, TestPki.Issued identity) throws Exception {
            TestPki pki = TestPki.get();
            SSLContext ctx = context(identity, pki.serverRootCa().certificate());
            socket = (SSLSocket) ctx.getSocketFactory().createSocket(InetAddress.getLoopbackAddress(), port);
            socket.setSoTimeout(5000);
            socket.startHandshake();
            in = socket.getInputStream();
            out = socket.getOutputStream();
        }

        void send(String s) throws IOException {
            out.write(s.getBytes(StandardCharsets.ISO_8859_1));
            out.flush();
        }

        /** Reads until {@code marker} has been seen (inclusive), or EOF/timeout; returns what was read. */
        String readUntil(String marker, long timeoutMillis) throws IOException {
            ByteArrayOutputStream buf = new ByteArrayOutputStream();
            long deadline = System.currentTimeMillis() + timeoutMillis;
            socket.setSoTimeout(100);
            try {
                while (System.currentTimeMillis() < deadline) {
                    int b;
                    try {
                        b = in.read();
                    } catch (SocketTimeoutException e) {
                        continue;
                    }
                    if (b < 0) {
                        buf.write("<EOF>".getBytes(StandardCharsets.ISO_8859_1));
                        break;
                    }
                    buf.write(b);
                    if (marker != null && buf.toString(StandardCharsets.ISO_8859_1).endsWith(marker)) {
                        break;
                    }
                }
            } catch (IOException e) {
                buf.write(("<" + e.getClass().getSimpleName() + ">").getBytes(StandardCharsets.ISO_8859_1));
            }
            return buf.toString(StandardCharsets.ISO_8859_1);
        }

        /** Everything until EOF or the timeout. */
        String readAll(long timeoutMillis) throws IOException {
            return readUntil(null, timeoutMillis);
        }

        @Override
        public void close() throws IOException {
            socket.close();
        }
    }

    /** A TLS backend whose per-connection behaviour is scripted by the test. */
    static final class ScriptedBackend implements AutoCloseable {
        interface Script {
            void run(int connectionIndex, Socket s, InputStream in, OutputStream out) throws Exception;
        }

        final SSLServerSocket server;
        final AtomicInteger accepted = new AtomicInteger();
        final BlockingQueue<String> requests = new LinkedBlockingQueue<>();
        private final Thread thread;

        ScriptedBackend(Script script) throws Exception {
            TestPki pki = TestPki.get();
            SSLContext ctx = context(pki.backendServer(), null);
            server = (SSLServerSocket) ctx.getServerSocketFactory().createServerSocket(0, 50,
                    InetAddress.getLoopbackAddress());
            thread = new Thread(() -> {
                while (!server.isClosed()) {
                    try {
                        Socket s = server.accept();
                        int idx = accepted.getAndIncrement();
                        Thread t = new Thread(() -> {
                            try (s) {
                                script.run(idx, s, s.getInputStream(), s.getOutputStream());
                            } catch (Exception e) {
                                // ignore
                            }
                        });
                        t.setDaemon(true);
                        t.start();
                    } catch (IOException e) {
                        return;
                    }
                }
            });
            thread.setDaemon(true);
            thread.start();
        }

        int port() {
            return server.getLocalPort();
        }

        /** Reads one request head (through the blank line) and records it. */
        String readHead(InputStream in) throws IOException {
            ByteArrayOutputStream buf = new ByteArrayOutputStream();
            while (true) {
                int b = in.read();
                if (b < 0) {
                    return null;
                }
                buf.write(b);
                if (buf.toString(StandardCharsets.ISO_8859_1).endsWith("\r\n\r\n")) {
                    String head = buf.toString(StandardCharsets.ISO_8859_1);
                    requests.add(head);
                    return head;
                }
            }
        }

        /** Reads raw bytes until {@code marker} (inclusive) and records them. */
        String readUntil(InputStream in, String marker) throws IOException {
            ByteArrayOutputStream buf = new ByteArrayOutputStream();
            while (true) {
                int b = in.read();
                if (b < 0) {
                    requests.add(buf.toString(StandardCharsets.ISO_8859_1) + "<EOF>");
                    return null;
                }
                buf.write(b);
                if (buf.toString(StandardCharsets.ISO_8859_1).endsWith(marker)) {
                    String s = buf.toString(StandardCharsets.ISO_8859_1);
                    requests.add(s);
                    return s;
                }
            }
        }

        String nextRequest() throws InterruptedException {
            return requests.poll(5, TimeUnit.SECONDS);
        }

        static void write(OutputStream out, String s) throws IOException {
            out.write(s.getBytes(StandardCharsets.ISO_8859_1));
            out.flush();
        }

        @Override
        public void close() throws IOException {
            server.close();
        }
    }
}
