package org.mtlsproxy.proxy.tcp;

import static org.assertj.core.api.Assertions.assertThat;

import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.nio.ByteBuffer;
import java.nio.charset.StandardCharsets;
import java.util.Arrays;
import org.junit.jupiter.api.Test;

class ProxyProtocolV2Test {

    private static final ProxyProtocolV2.Identity ID = new ProxyProtocolV2.Identity("db.internal", "TLSv1.3",
            "TLS_AES_128_GCM_SHA256", "billing", "spiffe://example.org/ns/prod/sa/billing", "Hash=ab;URI=x");

    @Test
    void ipv4HeaderHasSignatureAddressesPortsAndTlvs() throws Exception {
        byte[] h = ProxyProtocolV2.encode(new InetSocketAddress(InetAddress.getByName("10.1.2.3"), 40000),
                new InetSocketAddress(InetAddress.getByName("10.9.9.9"), 5433), ID);

        ByteBuffer b = ByteBuffer.wrap(h);
        byte[] sig = new byte[12];
        b.get(sig);
        assertThat(sig).isEqualTo(ProxyProtocolV2.SIGNATURE);
        assertThat(b.get()).isEqualTo((byte) 0x21);
        assertThat(b.get()).isEqualTo((byte) 0x11);
        assertThat(b.getShort() & 0xFFFF).isEqualTo(h.length - 16);
        byte[] src = new byte[4];
        b.get(src);
        assertThat(InetAddress.getByAddress(src).getHostAddress()).isEqualTo("10.1.2.3");
        b.position(b.position() + 4);
        assertThat(b.getShort() & 0xFFFF).isEqualTo(40000);
        assertThat(b.getShort() & 0xFFFF).isEqualTo(5433);
        // TLVs in order: authority, ssl, spiffe id, xfcc
        assertThat(tlv(b, ProxyProtocolV2.PP2_TYPE_AUTHORITY)).isEqualTo("db.internal");
        assertThat(b.get() & 0xFF).isEqualTo(ProxyProtocolV2.PP2_TYPE_SSL);
        int sslLength = b.getShort() & 0xFFFF;
        byte[] ssl = new byte[sslLength];
        b.get(ssl);
        assertThat(ssl[0]).isEqualTo((byte) 0x07);
        assertThat(Arrays.copyOfRange(ssl, 1, 5)).containsOnly(0);
        ByteBuffer sub = ByteBuffer.wrap(ssl, 5, ssl.length - 5);
        assertThat(tlv(sub, ProxyProtocolV2.PP2_SUBTYPE_SSL_VERSION)).isEqualTo("TLSv1.3");
        assertThat(tlv(sub, ProxyProtocolV2.PP2_SUBTYPE_SSL_CN)).isEqualTo("billing");
        assertThat(tlv(sub, ProxyProtocolV2.PP2_SUBTYPE_SSL_CIPHER)).isEqualTo("TLS_AES_128_GCM_SHA256");
        assertThat(tlv(b, ProxyProtocolV2.TLV_SPIFFE_ID)).isEqualTo("spiffe://example.org/ns/prod/sa/billing");
        assertThat(tlv(b, ProxyProtocolV2.TLV_XFCC)).isEqualTo("Hash=ab;URI=x");
        assertThat(b.hasRemaining()).isFalse();
    }

    @Test
    void mixedFamiliesAreWrittenAsIpv6WithMappedIpv4() throws Exception {
        byte[] h = ProxyProtocolV2.encode(new InetSocketAddress(InetAddress.getByName("192.0.2.1"), 1),
                new InetSocketAddress(InetAddress.getByName("2001:db8::1"), 2), ID);

        assertThat(h[13]).isEqualTo((byte) 0x21);
        byte[] src = Arrays.copyOfRange(h, 16, 32);
        assertThat(src).startsWith(new byte[10]).endsWith((byte) 0xFF, (byte) 0xFF, (byte) 192, 0, 2, 1);
    }

    @Test
    void withoutIpAddressesTheHeaderIsLocal() {
        byte[] h = ProxyProtocolV2.encode(null, null, ID);

        assertThat(h).hasSize(16);
        assertThat(h[12]).isEqualTo((byte) 0x20);
        assertThat(h[13]).isZero();
    }

    private static String tlv(ByteBuffer b, int type) {
        assertThat(b.get() & 0xFF).isEqualTo(type);
        byte[] v = new byte[b.getShort() & 0xFFFF];
        b.get(v);
        return new String(v, StandardCharsets.UTF_8);
    }
}
