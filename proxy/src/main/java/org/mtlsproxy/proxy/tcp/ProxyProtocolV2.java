package org.mtlsproxy.proxy.tcp;

import java.io.ByteArrayOutputStream;
import java.net.Inet4Address;
import java.net.Inet6Address;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.nio.charset.StandardCharsets;

/**
 * Encodes the binary PROXY protocol v2 header (HAProxy's proxy-protocol.txt, section 2.2) that a tcp listener sends
 * its backend first: the client's address and the verified identity. Plain Java, no Netty.
 *
 * <p>Layout: the 12-byte signature; {@code 0x21} (version 2, command PROXY); {@code 0x11} (TCP over IPv4) or
 * {@code 0x21} (TCP over IPv6; an IPv4 address next to an IPv6 one is written IPv4-mapped); the length of the rest
 * (big-endian); source address, destination address, source port, destination port; then TLVs (type, big-endian
 * 16-bit length, value):
 * <ul>
 *   <li>{@code 0x02} PP2_TYPE_AUTHORITY: the SNI host name the client sent, if any;</li>
 *   <li>{@code 0x20} PP2_TYPE_SSL: {@code client} = SSL | CERT_CONN | CERT_SESS ({@code 0x07}), {@code verify} = 0
 *       (the certificate verified), then sub-TLVs {@code 0x21} SSL_VERSION, {@code 0x22} SSL_CN (when the subject
 *       has a CN), {@code 0x23} SSL_CIPHER;</li>
 *   <li>{@code 0xE0} (custom range): the SPIFFE ID, UTF-8, when the certificate has one;</li>
 *   <li>{@code 0xE1} (custom range): the identity in {@code x-forwarded-client-cert} format, UTF-8 (left out if
 *       the header would exceed the 16-bit length).</li>
 * </ul>
 */
public final class ProxyProtocolV2 {

    static final byte[] SIGNATURE = {0x0D, 0x0A, 0x0D, 0x0A, 0x00, 0x0D, 0x0A, 0x51, 0x55, 0x49, 0x54, 0x0A};
    public static final int PP2_TYPE_AUTHORITY = 0x02;
    public static final int PP2_TYPE_SSL = 0x20;
    public static final int PP2_SUBTYPE_SSL_VERSION = 0x21;
    public static final int PP2_SUBTYPE_SSL_CN = 0x22;
    public static final int PP2_SUBTYPE_SSL_CIPHER = 0x23;
    /** Custom TLV: the client's SPIFFE ID. */
    public static final int TLV_SPIFFE_ID = 0xE0;
    /** Custom TLV: the client identity in x-forwarded-client-cert format. */
    public static final int TLV_XFCC = 0xE1;

    private static final int PP2_CLIENT_SSL = 0x01;
    private static final int PP2_CLIENT_CERT_CONN = 0x02;
    private static final int PP2_CLIENT_CERT_SESS = 0x04;
    private static final int MAX_LENGTH = 0xFFFF;

    private ProxyProtocolV2() {
    }

    /** What goes into the header besides the addresses; null fields are left out. */
    public record Identity(String sni, String tlsVersion, String cipher, String commonName, String spiffeId,
            String xfcc) {
    }

    /**
     * The header for a connection from {@code source} to {@code destination} (the listener's address). Addresses
     * that are not IP socket addresses yield a LOCAL header with no address (the backend then uses the real one).
     */
    public static byte[] encode(InetSocketAddress source, InetSocketAddress destination, Identity identity) {
        byte[] tlvs = tlvs(identity, true);
        byte[] header = header(source, destination, tlvs);
        if (header == null) {
            header = header(source, destination, tlvs(identity, false));
        }
        if (header == null) {
            throw new IllegalArgumentException("PROXY v2 header too long");
        }
        return header;
    }

    private static byte[] header(InetSocketAddress source, InetSocketAddress destination, byte[] tlvs) {
        InetAddress src = source == null ? null : source.getAddress();
        InetAddress dst = destination == null ? null : destination.getAddress();
        ByteArrayOutputStream out = new ByteArrayOutputStream(64 + tlvs.length);
        out.writeBytes(SIGNATURE);
        if (src == null || dst == null) {
            out.write(0x20); // version 2, LOCAL
            out.write(0x00); // UNSPEC
            writeShort(out, 0);
            return out.toByteArray();
        }
        out.write(0x21); // version 2, PROXY
        boolean v4 = src instanceof Inet4Address && dst instanceof Inet4Address;
        byte[] s = v4 ? src.getAddress() : v6(src);
        byte[] d = v4 ? dst.getAddress() : v6(dst);
        out.write(v4 ? 0x11 : 0x21); // AF_INET or AF_INET6, STREAM
        int length = s.length + d.length + 4 + tlvs.length;
        if (length > MAX_LENGTH) {
            return null;
        }
        writeShort(out, length);
        out.writeBytes(s);
        out.writeBytes(d);
        writeShort(out, source.getPort());
        writeShort(out, destination.getPort());
        out.writeBytes(tlvs);
        return out.toByteArray();
    }

    private static byte[] v6(InetAddress a) {
        if (a instanceof Inet6Address) {
            return a.getAddress();
        }
        byte[] mapped = new byte[16];
        mapped[10] = (byte) 0xFF;
        mapped[11] = (byte) 0xFF;
        System.arraycopy(a.getAddress(), 0, mapped, 12, 4);
        return mapped;
    }

    private static byte[] tlvs(Identity id, boolean withXfcc) {
        ByteArrayOutputStream out = new ByteArrayOutputStream(256);
        if (id.sni() != null && !id.sni().isEmpty()) {
            tlv(out, PP2_TYPE_AUTHORITY, id.sni().getBytes(StandardCharsets.UTF_8));
        }
        ByteArrayOutputStream ssl = new ByteArrayOutputStream(64);
        ssl.write(PP2_CLIENT_SSL | PP2_CLIENT_CERT_CONN | PP2_CLIENT_CERT_SESS);
        ssl.writeBytes(new byte[4]); // verify = 0: the client certificate was verified
        if (id.tlsVersion() != null) {
            tlv(ssl, PP2_SUBTYPE_SSL_VERSION, id.tlsVersion().getBytes(StandardCharsets.US_ASCII));
        }
        if (id.commonName() != null) {
            tlv(ssl, PP2_SUBTYPE_SSL_CN, id.commonName().getBytes(StandardCharsets.UTF_8));
        }
        if (id.cipher() != null) {
            tlv(ssl, PP2_SUBTYPE_SSL_CIPHER, id.cipher().getBytes(StandardCharsets.US_ASCII));
        }
        tlv(out, PP2_TYPE_SSL, ssl.toByteArray());
        if (id.spiffeId() != null) {
            tlv(out, TLV_SPIFFE_ID, id.spiffeId().getBytes(StandardCharsets.UTF_8));
        }
        if (withXfcc && id.xfcc() != null) {
            byte[] xfcc = id.xfcc().getBytes(StandardCharsets.UTF_8);
            if (xfcc.length <= MAX_LENGTH - 512) {
                tlv(out, TLV_XFCC, xfcc);
            }
        }
        return out.toByteArray();
    }

    private static void tlv(ByteArrayOutputStream out, int type, byte[] value) {
        int length = Math.min(value.length, MAX_LENGTH);
        out.write(type);
        writeShort(out, length);
        out.write(value, 0, length);
    }

    private static void writeShort(ByteArrayOutputStream out, int v) {
        out.write((v >>> 8) & 0xFF);
        out.write(v & 0xFF);
    }
}
