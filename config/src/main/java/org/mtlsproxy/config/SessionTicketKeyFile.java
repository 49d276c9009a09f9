package org.mtlsproxy.config;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Base64;
import java.util.HexFormat;
import java.util.List;

/**
 * Reads a TLS session ticket key file: the keys several proxy replicas share so that a session one replica issued
 * resumes on another.
 *
 * <p>Format: UTF-8 text, one key per line, each the standard base64 of {@value #KEY_SIZE} random bytes, laid out as
 * 16 bytes key name, 16 bytes HMAC-SHA256 secret, 16 bytes AES-128 key (the order of Netty's
 * {@code OpenSslSessionTicketKey}); {@code openssl rand -base64 48} makes one. Blank lines and lines starting with
 * {@code #} are ignored. The <b>first</b> key encrypts new tickets; <b>every</b> key decrypts tickets issued under
 * it (a ticket names its key). At most {@value #MAX_KEYS} keys; no two may share a name.
 *
 * <p>Rotation without losing resumption across replicas: (1) append a new key as the last line and wait until every
 * replica has it (all can now decrypt it); (2) move it to the first line (replicas now issue tickets under it and
 * still decrypt the previous ones); (3) later, drop the oldest line.
 */
public final class SessionTicketKeyFile {

    /** Bytes per key: name, HMAC secret and AES key, 16 each. */
    public static final int KEY_SIZE = 48;
    /** Bytes of the key name, the first part of a key. */
    public static final int NAME_SIZE = 16;
    /** A bound on the file, so a wrong file (a certificate bundle, a log) is refused instead of loaded. */
    public static final int MAX_KEYS = 16;
    private static final long MAX_FILE_BYTES = 64 * 1024;

    private SessionTicketKeyFile() {
    }

    /**
     * The keys of {@code file}, first (encrypting) key first, each {@value #KEY_SIZE} bytes.
     *
     * @throws IOException when the file cannot be read or is malformed; the message names the file, the line and
     *                     what was expected
     */
    public static List<byte[]> read(Path file) throws IOException {
        long size = Files.size(file);
        if (size > MAX_FILE_BYTES) {
            throw new IOException(file + ": " + size + " bytes is too large for a session ticket key file (expected: "
                    + "at most " + MAX_KEYS + " lines of base64, one key each)");
        }
        return parse(Files.readString(file, StandardCharsets.UTF_8), file.toString());
    }

    /**
     * Parses key file text; {@code source} names it in error messages.
     *
     * @throws IOException when the text is malformed
     */
    public static List<byte[]> parse(String text, String source) throws IOException {
        List<byte[]> keys = new ArrayList<>();
        List<Integer> lines = new ArrayList<>();
        String[] split = text.split("\r?\n", -1);
        for (int i = 0; i < split.length; i++) {
            int lineNo = i + 1;
            String line = split[i].strip();
            if (line.isEmpty() || line.startsWith("#")) {
                continue;
            }
            byte[] key;
            try {
                key = Base64.getDecoder().decode(line);
            } catch (IllegalArgumentException e) {
                throw problem(source, lineNo, "not base64 (" + e.getMessage() + ")");
            }
            if (key.length != KEY_SIZE) {
                throw problem(source, lineNo, "decodes to " + key.length + " bytes");
            }
            for (int k = 0; k < keys.size(); k++) {
                if (Arrays.equals(keys.get(k), 0, NAME_SIZE, key, 0, NAME_SIZE)) {
                    throw new IOException(source + ":" + lineNo + ": key name " + nameHex(key) + " is already used on "
                            + "line " + lines.get(k) + " (expected: every key with its own random name; a ticket "
                            + "names the key that decrypts it)");
                }
            }
            keys.add(key);
            lines.add(lineNo);
            if (keys.size() > MAX_KEYS) {
                throw new IOException(source + ":" + lineNo + ": more than " + MAX_KEYS + " keys (expected: the "
                        + "current key first, then the few previous or next ones)");
            }
        }
        if (keys.isEmpty()) {
            throw new IOException(source + ": no key (expected: at least one line with the base64 of " + KEY_SIZE
                    + " random bytes, e.g. from `openssl rand -base64 " + KEY_SIZE + "`)");
        }
        return List.copyOf(keys);
    }

    /** The first 4 bytes of a key's name in hex: enough to tell keys apart in logs; names travel in tickets anyway. */
    public static String nameHex(byte[] key) {
        return HexFormat.of().formatHex(key, 0, 4);
    }

    private static IOException problem(String source, int line, String reason) {
        return new IOException(source + ":" + line + ": " + reason + " (expected: the base64 of " + KEY_SIZE
                + " random bytes, e.g. from `openssl rand -base64 " + KEY_SIZE + "`)");
    }
}
