package org.mtlsproxy.proxy.tls;

import io.netty.channel.ChannelHandlerContext;
import io.netty.handler.ssl.ReferenceCountedOpenSslEngine;
import io.netty.handler.ssl.SslHandler;
import io.netty.internal.tcnative.Buffer;
import io.netty.internal.tcnative.SSL;
import java.nio.ByteBuffer;

/**
 * Sends the TLS 1.3 NewSessionTicket messages of a finished server handshake at once.
 *
 * <p>BoringSSL makes them when the client's Finished arrives but holds them until the server's next write ("a
 * zero-byte write flushes them", ssl/tls13_server.cc), and Netty's engine never writes zero bytes. Until the
 * response, the server then sends nothing: the client's Finished waits for a delayed ACK (up to 40 ms on Linux),
 * and a client that does not set TCP_NODELAY (ab, Java's HttpsURLConnection, many others) has its first request
 * held back by Nagle's algorithm until that ACK comes. nginx and HAProxy (OpenSSL) send the tickets at once.
 */
public final class PendingTickets {

    private PendingTickets() {
    }

    /**
     * A valid address for the zero-byte write (nothing is read from it), one for the process. A holder: {@link
     * Buffer#address} is native, so it is first used once an OpenSSL engine exists (the library is loaded).
     */
    private static final class Nothing {
        private static final ByteBuffer BUFFER = ByteBuffer.allocateDirect(1);
        static final long ADDRESS = Buffer.address(BUFFER);
    }

    /**
     * After a successful server handshake, on the channel's event loop: has BoringSSL move the tickets into the
     * engine's network buffer (a zero-byte write), then flushes from {@code ctx}, whose flush passes the
     * {@link SslHandler}, which sends them. Other engines and protocols only get the flush (the JDK's engine sends
     * tickets during the handshake).
     */
    public static void send(ChannelHandlerContext ctx, SslHandler ssl) {
        if (ssl.engine() instanceof ReferenceCountedOpenSslEngine engine
                && "TLSv1.3".equals(engine.getSession().getProtocol())) {
            // The engine's lock, which its wrap and unwrap hold while they use the SSL object.
            synchronized (engine) {
                long pointer = engine.sslPointer();
                if (pointer != 0) {
                    SSL.writeToSSL(pointer, Nothing.ADDRESS, 0);
                    SSL.clearError();
                }
            }
        }
        ctx.flush();
    }
}
