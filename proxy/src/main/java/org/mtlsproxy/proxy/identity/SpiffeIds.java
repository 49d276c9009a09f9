package org.mtlsproxy.proxy.identity;

import static java.util.Objects.requireNonNull;

import java.util.Locale;

/**
 * Reading the trust domain of a SPIFFE ID (https://github.com/spiffe/spiffe/blob/main/standards/SPIFFE-ID.md,
 * section 2.1: {@code spiffe://<trust-domain>/<path>}). Pure and allocation-free where it runs per request.
 */
public final class SpiffeIds {

    private static final String SCHEME = "spiffe:";
    private static final String PREFIX = "spiffe://";

    private SpiffeIds() {
    }

    /** Whether {@code uri} has the {@code spiffe} scheme; URI schemes compare case-insensitively (RFC 3986 3.1). */
    public static boolean isSpiffeUri(String uri) {
        return uri.regionMatches(true, 0, SCHEME, 0, SCHEME.length());
    }

    /**
     * Whether {@code spiffeId} is in {@code trustDomain}: {@code spiffe://}, exactly {@code trustDomain}, then
     * {@code /} or the end. The trust domain compares exactly, as the spec requires it lower case; an ID whose
     * authority carries upper case, a port or user info is in no trust domain.
     */
    public static boolean isInTrustDomain(String spiffeId, String trustDomain) {
        requireNonNull(spiffeId, "spiffeId");
        requireNonNull(trustDomain, "trustDomain");
        int start = PREFIX.length();
        int end = start + trustDomain.length();
        if (!spiffeId.regionMatches(true, 0, PREFIX, 0, start)
                || !spiffeId.regionMatches(start, trustDomain, 0, trustDomain.length())) {
            return false;
        }
        return spiffeId.length() == end || spiffeId.charAt(end) == '/';
    }

    /**
     * The trust domain {@code uri} could be taken to name by the most lenient reader: its authority lower-cased,
     * without user info or port. Used to refuse look-alikes ({@code spiffe://Prod.Example:443/x}) of a protected
     * domain, never to grant anything. Empty string when {@code uri} is not a {@code spiffe://} URI.
     */
    public static String lenientTrustDomain(String uri) {
        requireNonNull(uri, "uri");
        if (!uri.regionMatches(true, 0, PREFIX, 0, PREFIX.length())) {
            return "";
        }
        int start = PREFIX.length();
        int end = start;
        while (end < uri.length() && "/?#".indexOf(uri.charAt(end)) < 0) {
            end++;
        }
        String authority = uri.substring(start, end);
        int at = authority.lastIndexOf('@');
        if (at >= 0) {
            authority = authority.substring(at + 1);
        }
        int colon = authority.indexOf(':');
        if (colon >= 0) {
            authority = authority.substring(0, colon);
        }
        return authority.toLowerCase(Locale.ROOT);
    }
}
