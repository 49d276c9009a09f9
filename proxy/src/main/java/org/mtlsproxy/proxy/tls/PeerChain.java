package org.mtlsproxy.proxy.tls;

import io.netty.channel.Channel;
import io.netty.handler.ssl.SslHandler;
import java.security.cert.Certificate;
import java.security.cert.X509Certificate;
import javax.net.ssl.SSLPeerUnverifiedException;

/** The client certificate chain of a connection, as the client sent it (leaf first). */
public final class PeerChain {

    private PeerChain() {
    }

    /**
     * The verified peer chain of {@code channel}'s TLS session, or null before the handshake completed (or without
     * TLS). Used to re-verify open connections after a reload.
     */
    public static X509Certificate[] of(Channel channel) {
        SslHandler ssl = channel.pipeline().get(SslHandler.class);
        if (ssl == null) {
            return null;
        }
        try {
            Certificate[] certs = ssl.engine().getSession().getPeerCertificates();
            X509Certificate[] chain = new X509Certificate[certs.length];
            for (int i = 0; i < certs.length; i++) {
                chain[i] = (X509Certificate) certs[i];
            }
            return chain.length == 0 ? null : chain;
        } catch (SSLPeerUnverifiedException e) {
            return null;
        }
    }
}
