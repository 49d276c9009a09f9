package org.mtlsproxy.config;

import java.util.Collection;
import java.util.Comparator;
import java.util.Locale;
import java.util.Optional;
import java.util.regex.Pattern;

/**
 * Pure checks of single configuration values. Each {@code …Error} method returns why a value is invalid, or empty
 * when it is valid.
 */
final class Syntax {

    static final String SPIFFE_ID_EXPECTED = "spiffe://<trust-domain>/<path>";
    static final String TRUST_DOMAIN_EXPECTED = "a SPIFFE trust domain name such as example.org, without spiffe://";

    /** SPIFFE ID spec section 2.1: trust domain characters. */
    private static final Pattern TRUST_DOMAIN = Pattern.compile("[a-z0-9._-]+");
    /** SPIFFE ID spec section 2.2: path segment characters. */
    private static final Pattern PATH_SEGMENT = Pattern.compile("[A-Za-z0-9._-]+");
    /** SPIFFE ID spec section 2.3: the maximum length of a SPIFFE ID is 2048 bytes. */
    private static final int SPIFFE_ID_MAX_LENGTH = 2048;
    /** SPIFFE ID spec section 2.3: the maximum length of a trust domain name is 255 bytes. */
    private static final int TRUST_DOMAIN_MAX_LENGTH = 255;

    private static final Pattern HOST_LABEL = Pattern.compile("[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?");
    /** RFC 9110 section 5.6.2: {@code tchar}. */
    private static final Pattern HEADER_TOKEN = Pattern.compile("[!#$%&'*+.^_`|~0-9a-zA-Z-]+");
    private static final Pattern SHA256_HEX = Pattern.compile("[0-9a-f]{64}");

    private Syntax() {
    }

    /**
     * Checks a SPIFFE ID pattern: a SPIFFE ID (https://github.com/spiffe/spiffe/blob/main/standards/SPIFFE-ID.md)
     * with at least one path segment, where a whole segment may be {@code *} (exactly one segment) and the last
     * segment may be {@code **} (one or more segments).
     */
    static Optional<String> spiffeIdPatternError(String id) {
        String scheme = "spiffe://";
        if (!id.startsWith(scheme)) {
            return Optional.of("it must start with " + scheme);
        }
        if (id.length() > SPIFFE_ID_MAX_LENGTH) {
            return Optional.of("it is longer than " + SPIFFE_ID_MAX_LENGTH + " characters");
        }
        String rest = id.substring(scheme.length());
        int slash = rest.indexOf('/');
        String trustDomain = slash < 0 ? rest : rest.substring(0, slash);
        Optional<String> trustDomainError = trustDomainError(trustDomain);
        if (trustDomainError.isPresent()) {
            return trustDomainError;
        }
        if (slash < 0 || slash == rest.length() - 1) {
            return Optional.of("it has no path");
        }
        String[] segments = rest.substring(slash + 1).split("/", -1);
        for (int i = 0; i < segments.length; i++) {
            String segment = segments[i];
            if (segment.isEmpty()) {
                return Optional.of("it has an empty path segment (a double or trailing '/')");
            }
            if (segment.equals("**")) {
                if (i != segments.length - 1) {
                    return Optional.of("'**' may only be the last path segment");
                }
                continue;
            }
            if (segment.equals("*")) {
                continue;
            }
            if (segment.equals(".") || segment.equals("..")) {
                return Optional.of("the path segments '.' and '..' are not allowed");
            }
            if (!PATH_SEGMENT.matcher(segment).matches()) {
                return Optional.of("the path segment \"" + segment
                        + "\" may only contain A-Z, a-z, 0-9, '.', '-' and '_', or be exactly '*' or a final '**'");
            }
        }
        return Optional.empty();
    }

    /**
     * Checks a trust domain name as it appears in a SPIFFE ID (SPIFFE ID spec section 2.1): lower-case letters,
     * digits, '.', '-' and '_', at most 255 characters.
     */
    static Optional<String> trustDomainError(String trustDomain) {
        if (trustDomain.isEmpty()) {
            return Optional.of("the trust domain is empty");
        }
        if (trustDomain.length() > TRUST_DOMAIN_MAX_LENGTH) {
            return Optional.of("the trust domain is longer than " + TRUST_DOMAIN_MAX_LENGTH + " characters");
        }
        if (!TRUST_DOMAIN.matcher(trustDomain).matches()) {
            return Optional.of("the trust domain \"" + trustDomain + "\" may only contain a-z, 0-9, '.', '-' and '_'");
        }
        return Optional.empty();
    }

    /** A DNS host name of letters, digits and hyphens, already lower-cased; IPv4 literals pass too. */
    static boolean isHostName(String host) {
        if (host.isEmpty() || host.length() > 253) {
            return false;
        }
        for (String label : host.split("\\.", -1)) {
            if (!HOST_LABEL.matcher(label).matches()) {
                return false;
            }
        }
        return true;
    }

    /** An IPv6 literal without brackets, checked by shape only so that no name is ever looked up. */
    static boolean isIpv6Literal(String host) {
        return host.indexOf(':') >= 0 && host.chars().allMatch(c -> c == ':' || c == '.' || Character.digit(c, 16) >= 0);
    }

    static boolean isHeaderToken(String name) {
        return HEADER_TOKEN.matcher(name).matches();
    }

    /** Lower-case hex without colons, or empty if {@code fingerprint} is not 64 hex digits. */
    static Optional<String> normalizeSha256Fingerprint(String fingerprint) {
        String hex = fingerprint.replace(":", "").toLowerCase(Locale.ROOT);
        return SHA256_HEX.matcher(hex).matches() ? Optional.of(hex) : Optional.empty();
    }

    /** The known word closest to {@code word}, if within edit distance 2. */
    static Optional<String> closest(String word, Collection<String> known) {
        return known.stream()
                .filter(k -> editDistance(word, k) <= 2)
                .min(Comparator.comparingInt((String k) -> editDistance(word, k)).thenComparing(k -> k));
    }

    /** Levenshtein distance. */
    static int editDistance(String a, String b) {
        int[] previous = new int[b.length() + 1];
        int[] current = new int[b.length() + 1];
        for (int j = 0; j <= b.length(); j++) {
            previous[j] = j;
        }
        for (int i = 1; i <= a.length(); i++) {
            current[0] = i;
            for (int j = 1; j <= b.length(); j++) {
                int substitution = previous[j - 1] + (a.charAt(i - 1) == b.charAt(j - 1) ? 0 : 1);
                current[j] = Math.min(substitution, Math.min(previous[j], current[j - 1]) + 1);
            }
            int[] swap = previous;
            previous = current;
            current = swap;
        }
        return previous[b.length()];
    }
}
