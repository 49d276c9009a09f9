package org.mtlsproxy.proxy.http;

import java.util.Locale;

/**
 * Turns a request's authority ({@code Host} header, absolute-form target or HTTP/2 {@code :authority}) into the host
 * a route is chosen by. Shared by the request path and the {@code check} tool, so both pick the same route.
 */
public final class HostNormalizer {

    private HostNormalizer() {
    }

    /**
     * The host part of an authority, lower-cased, without port and trailing dot; null when {@code authority} is
     * null; {@code ""} when it is malformed (user info, an unclosed IPv6 literal, characters no host name has), which
     * the request path answers with 400.
     */
    public static String normalize(String authority) {
        if (authority == null) {
            return null;
        }
        String a = authority.trim();
        int at = a.lastIndexOf('@');
        if (at >= 0) {
            return "";
        }
        String host;
        if (a.startsWith("[")) {
            int close = a.indexOf(']');
            if (close < 0) {
                return "";
            }
            host = a.substring(1, close);
        } else {
            int colon = a.indexOf(':');
            host = colon < 0 ? a : a.substring(0, colon);
        }
        if (host.endsWith(".")) {
            host = host.substring(0, host.length() - 1);
        }
        for (int i = 0; i < host.length(); i++) {
            char c = host.charAt(i);
            if (c <= ' ' || c == '/' || c == '\\' || c == '?' || c == '#' || c == '%' || c >= 0x7f) {
                return "";
            }
        }
        return host.toLowerCase(Locale.ROOT);
    }
}
