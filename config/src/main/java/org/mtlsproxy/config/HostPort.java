package org.mtlsproxy.config;

import static java.util.Objects.requireNonNull;

/**
 * A host (name or IP literal, without brackets) and a TCP port. Port 0 asks the OS for a free port.
 */
public record HostPort(String host, int port) {

    public HostPort {
        requireNonNull(host, "host");
        if (host.isEmpty()) {
            throw new IllegalArgumentException("empty host (expected: host:port, [v6]:port)");
        }
        if (port < 0 || port > 65535) {
            throw new IllegalArgumentException("port " + port + " out of range (expected: 0..65535)");
        }
    }

    /**
     * Parses {@code host:port}, {@code [v6-literal]:port}.
     *
     * @throws IllegalArgumentException with a message that says what was expected
     */
    public static HostPort parse(String text) {
        requireNonNull(text, "text");
        String s = text.trim();
        String host;
        String port;
        if (s.startsWith("[")) {
            int close = s.indexOf(']');
            if (close < 0 || close + 1 >= s.length() || s.charAt(close + 1) != ':') {
                throw new IllegalArgumentException("\"" + text + "\" (expected: [v6-address]:port)");
            }
            host = s.substring(1, close);
            port = s.substring(close + 2);
        } else {
            int colon = s.lastIndexOf(':');
            if (colon <= 0 || s.indexOf(':') != colon) {
                throw new IllegalArgumentException("\"" + text + "\" (expected: host:port, [v6-address]:port)");
            }
            host = s.substring(0, colon);
            port = s.substring(colon + 1);
        }
        int p;
        try {
            p = Integer.parseInt(port);
        } catch (NumberFormatException e) {
            throw new IllegalArgumentException("\"" + text + "\" has no numeric port (expected: host:port)");
        }
        if (p < 0 || p > 65535) {
            throw new IllegalArgumentException("\"" + text + "\" port out of range (expected: 0..65535)");
        }
        return new HostPort(host, p);
    }

    @Override
    public String toString() {
        return host.indexOf(':') >= 0 ? "[" + host + "]:" + port : host + ":" + port;
    }
}
