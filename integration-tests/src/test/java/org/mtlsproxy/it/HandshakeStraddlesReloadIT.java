package org.mtlsproxy.it;

import static org.assertj.core.api.Assertions.assertThat;

import java.io.DataInputStream;
import java.io.InputStream;
import java.io.OutputStream;
import java.net.InetAddress;
import java.net.ServerSocket;
import java.net.Socket;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.time.Duration;
import java.util.concurrent.CountDownLatch;
import javax.net.ssl.SSLContext;
import javax.net.ssl.SSLSocket;
import org.awaitility.Awaitility;
import org.junit.jupiter.api.Test;
import org.mtlsproxy.testing.RecordingBackend;
import org.mtlsproxy.testing.TestPki;

/**
 * A connection accepted before a reload whose TLS handshake finishes after it must be served under the new rules.
 */
class HandshakeStraddlesReloadIT {

    private static final TestPki PKI = TestPki.get();

    @Test
    void handshakeFinishingAfterAReloadThatRemovedTheAllowRuleIsDenied() throws Exception {
        TestPki.Issued victim = PKI.issue("CN=victim", b -> { });
        try (RecordingBackend backend = RecordingBackend.start(PKI.backendServer());
                ProxyFixture proxy = ProxyFixture.builder().backend("b", backend.port())
                        .route("r", null, "/", "b", "{ subject-cn = \"victim\" }, { subject-cn = \"bystander\" }")
                        .set("mtls-proxy.reload { debounce = 200ms, check-interval = 1s }").start();
                ServerSocket gateListener = new ServerSocket(0, 1, InetAddress.getLoopbackAddress())) {
            CountDownLatch gate = new CountDownLatch(1);
            Thread fwd = new Thread(() -> {
                try (Socket down = gateListener.accept();
                        Socket up = new Socket(InetAddress.getLoopbackAddress(), proxy.port())) {
                    Thread back = new Thread(() -> copy(up, down));
                    back.setDaemon(true);
                    back.start();
                    DataInputStream in = new DataInputStream(down.getInputStream());
                    OutputStream out = up.getOutputStream();
                    byte[] head = new byte[5];
                    in.readFully(head); // the ClientHello record passes; everything after waits for the gate
                    byte[] body = new byte[((head[3] & 0xff) << 8) | (head[4] & 0xff)];
                    in.readFully(body);
                    out.write(head);
                    out.write(body);
                    out.flush();
                    gate.await();
                    in.transferTo(out);
                } catch (Exception ignored) {
                    // test ends
                }
            });
            fwd.setDaemon(true);
            fwd.start();

            SSLContext ctx = RawTls.context(victim, PKI.serverRootCa().certificate());
            try (SSLSocket s = (SSLSocket) ctx.getSocketFactory().createSocket(InetAddress.getLoopbackAddress(),
                    gateListener.getLocalPort())) {
                s.setSoTimeout(8000);
                s.startHandshake(); // TLS 1.3: the client is done; its Certificate/Finished wait at the gate

                Files.writeString(proxy.configFile(), Files.readString(proxy.configFile())
                        .replace("{ subject-cn = \"victim\" }, ", ""));
                Awaitility.await().atMost(Duration.ofSeconds(10)).until(() -> proxy.reloads("success") == 1);

                s.getOutputStream().write("GET /after-reload HTTP/1.1\r\nHost: localhost\r\n\r\n"
                        .getBytes(StandardCharsets.ISO_8859_1));
                s.getOutputStream().flush();
                gate.countDown();
                byte[] buf = new byte[12];
                new DataInputStream(s.getInputStream()).readFully(buf);
                String statusLine = new String(buf, StandardCharsets.ISO_8859_1);
                assertThat(backend.received()).as("requests the backend received").isEmpty();
                assertThat(statusLine).isEqualTo("HTTP/1.1 403");
            }
        }
    }

    private static void copy(Socket from, Socket to) {
        try {
            InputStream in = from.getInputStream();
            in.transferTo(to.getOutputStream());
        } catch (Exception ignored) {
            // closed
        }
    }
}
