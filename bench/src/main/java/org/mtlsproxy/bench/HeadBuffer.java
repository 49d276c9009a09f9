package org.mtlsproxy.bench;

import io.netty.buffer.ByteBuf;

/**
 * An HTTP/1.1 message head read into a fixed byte array, and the few lookups the bench's hand-rolled HTTP needs
 * (the generator's keep-alive responses, the backend's requests): no objects per message.
 */
final class HeadBuffer {
    private final byte[] bytes;
    private int length;

    HeadBuffer(int max) {
        this.bytes = new byte[max];
    }

    /**
     * Copies bytes of {@code in} into the head up to its end (the empty line). True when the head is complete:
     * {@code in}'s reader index is then just past it. False when more is needed (all of {@code in} was taken) or the
     * head is {@linkplain #isFull() full}.
     */
    boolean readFrom(ByteBuf in) {
        int old = length;
        int n = Math.min(in.readableBytes(), bytes.length - length);
        in.getBytes(in.readerIndex(), bytes, length, n);
        length += n;
        for (int i = Math.max(3, old); i < length; i++) {
            if (bytes[i] == '\n' && bytes[i - 1] == '\r' && bytes[i - 2] == '\n' && bytes[i - 3] == '\r') {
                in.skipBytes(i + 1 - old);
                length = i + 1;
                return true;
            }
        }
        in.skipBytes(n);
        return false;
    }

    boolean isFull() {
        return length == bytes.length;
    }

    int max() {
        return bytes.length;
    }

    void clear() {
        length = 0;
    }

    int length() {
        return length;
    }

    byte at(int i) {
        return bytes[i];
    }

    /** Index of {@code b} at or after {@code from}, or {@link #length()}. */
    int indexOf(int from, byte b) {
        for (int i = from; i < length; i++) {
            if (bytes[i] == b) {
                return i;
            }
        }
        return length;
    }

    /** End of the line starting at {@code from} (its '\n'), or {@link #length()}. */
    int lineEnd(int from) {
        return indexOf(from, (byte) '\n');
    }

    /** Whether the bytes at {@code at} are {@code lowerName}, ASCII case ignored. */
    boolean startsWithIgnoreCase(int at, byte[] lowerName) {
        if (at + lowerName.length > length) {
            return false;
        }
        for (int i = 0; i < lowerName.length; i++) {
            if (lower(bytes[at + i]) != lowerName[i]) {
                return false;
            }
        }
        return true;
    }

    /** Whether {@code [from, to)} contains {@code lowerText}, ASCII case ignored. */
    boolean containsIgnoreCase(int from, int to, String lowerText) {
        outer:
        for (int i = from; i + lowerText.length() <= to; i++) {
            for (int j = 0; j < lowerText.length(); j++) {
                if (lower(bytes[i + j]) != lowerText.charAt(j)) {
                    continue outer;
                }
            }
            return true;
        }
        return false;
    }

    private static int lower(byte c) {
        return c >= 'A' && c <= 'Z' ? c + ('a' - 'A') : c;
    }
}
