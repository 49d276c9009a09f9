package org.mtlsproxy.proxy.authz;

import static java.util.Objects.requireNonNull;

/**
 * A SPIFFE ID, optionally with wildcards, that client SPIFFE IDs are matched against.
 *
 * <p>Syntax: {@code spiffe://<trust-domain>/<segment>/<segment>...}
 * <ul>
 *   <li>the trust domain is compared exactly; it must be lower case, as the SPIFFE ID spec (section 2.1) requires;
 *   <li>a segment {@code *} matches exactly one non-empty segment;
 *   <li>a last segment {@code **} matches one or more remaining segments;
 *   <li>every other segment is literal and case-sensitive.
 * </ul>
 * A literal never matches part of a segment: {@code spiffe://td/ns/prod} does not match
 * {@code spiffe://td/ns/production}.
 *
 * <p>The pattern is split into segments once, by {@link #parse}; {@link #matches} walks the candidate in place,
 * without regular expressions or allocation. Candidates that are not well-formed SPIFFE IDs (empty segments,
 * {@code .} or {@code ..} segments, characters outside the SPIFFE path alphabet under a wildcard, a query or
 * fragment) do not match.
 */
public final class SpiffeIdPattern {

    private static final String SCHEME = "spiffe://";
    private static final String EXPECTED = " (expected: spiffe://<trust-domain>/<path>)";
    private static final String ONE = "*";
    private static final String REST = "**";

    private final String pattern;
    private final String trustDomain;
    private final String[] segments;
    private final boolean endsWithRest;

    private SpiffeIdPattern(String pattern, String trustDomain, String[] segments) {
        this.pattern = pattern;
        this.trustDomain = trustDomain;
        this.segments = segments;
        this.endsWithRest = REST.equals(segments[segments.length - 1]);
    }

    /**
     * Checks one concrete SPIFFE ID (what a certificate can carry): the rules of {@link #parse} and no wildcard.
     *
     * @throws IllegalArgumentException naming the ID, the problem, and the expected form
     */
    public static void requireConcrete(String id) {
        if (id.indexOf('*') >= 0) {
            throw new IllegalArgumentException("\"" + id + "\" has a wildcard (expected: one concrete SPIFFE ID, e.g. "
                    + "spiffe://example.org/ns/prod/sa/orders)");
        }
        parse(id);
    }

    /**
     * Parses a pattern.
     *
     * @throws IllegalArgumentException naming the pattern, the problem, and the expected form
     */
    public static SpiffeIdPattern parse(String pattern) {
        requireNonNull(pattern, "pattern");
        if (!pattern.startsWith(SCHEME)) {
            throw invalid(pattern, "does not start with " + SCHEME);
        }
        int slash = pattern.indexOf('/', SCHEME.length());
        if (slash < 0) {
            throw invalid(pattern, "has no path");
        }
        String trustDomain = pattern.substring(SCHEME.length(), slash);
        if (trustDomain.isEmpty()) {
            throw invalid(pattern, "has an empty trust domain");
        }
        for (int i = 0; i < trustDomain.length(); i++) {
            if (!isTrustDomainChar(trustDomain.charAt(i))) {
                throw invalid(pattern, "has a trust domain with '" + trustDomain.charAt(i)
                        + "' (only lower-case letters, digits, '.', '-' and '_')");
            }
        }
        String[] segments = pattern.substring(slash + 1).split("/", -1);
        for (int i = 0; i < segments.length; i++) {
            String segment = segments[i];
            if (segment.isEmpty()) {
                throw invalid(pattern, "has an empty path segment");
            }
            if (REST.equals(segment)) {
                if (i != segments.length - 1) {
                    throw invalid(pattern, "has ** before the last segment");
                }
                continue;
            }
            if (ONE.equals(segment)) {
                continue;
            }
            if (segment.equals(".") || segment.equals("..")) {
                throw invalid(pattern, "has a '" + segment + "' segment");
            }
            for (int j = 0; j < segment.length(); j++) {
                char c = segment.charAt(j);
                if (c == '*') {
                    throw invalid(pattern, "has * inside the segment \"" + segment
                            + "\" (a wildcard is a whole segment)");
                }
                if (!isPathChar(c)) {
                    throw invalid(pattern, "has '" + c
                            + "' in a path segment (only letters, digits, '.', '-' and '_')");
                }
            }
        }
        return new SpiffeIdPattern(pattern, trustDomain, segments);
    }

    /**
     * Whether {@code spiffeId} matches this pattern.
     */
    public boolean matches(String spiffeId) {
        if (spiffeId == null
                || !spiffeId.startsWith(SCHEME)
                || !spiffeId.startsWith(trustDomain, SCHEME.length())) {
            return false;
        }
        int length = spiffeId.length();
        int pos = SCHEME.length() + trustDomain.length();
        if (pos >= length || spiffeId.charAt(pos) != '/') {
            return false;
        }
        pos++;
        int last = segments.length - 1;
        for (int i = 0; i <= last; i++) {
            String segment = segments[i];
            if (i == last && endsWithRest) {
                return restIsWellFormed(spiffeId, pos);
            }
            int end = spiffeId.indexOf('/', pos);
            if (end < 0) {
                end = length;
            }
            if (end == pos) {
                return false;
            }
            if (ONE.equals(segment)) {
                if (!isWellFormedSegment(spiffeId, pos, end)) {
                    return false;
                }
            } else if (end - pos != segment.length() || !spiffeId.regionMatches(pos, segment, 0, segment.length())) {
                return false;
            }
            if (i == last) {
                return end == length;
            }
            if (end == length) {
                return false;
            }
            pos = end + 1;
        }
        return false;
    }

    /** One or more non-empty, well-formed segments from {@code pos} to the end. */
    private static boolean restIsWellFormed(String id, int pos) {
        int length = id.length();
        if (pos >= length) {
            return false;
        }
        while (true) {
            int end = id.indexOf('/', pos);
            if (end < 0) {
                return isWellFormedSegment(id, pos, length);
            }
            if (!isWellFormedSegment(id, pos, end)) {
                return false;
            }
            pos = end + 1;
        }
    }

    private static boolean isWellFormedSegment(String id, int from, int to) {
        if (from >= to) {
            return false;
        }
        boolean allDots = true;
        for (int i = from; i < to; i++) {
            char c = id.charAt(i);
            if (!isPathChar(c)) {
                return false;
            }
            allDots &= c == '.';
        }
        // "." and ".." are forbidden as SPIFFE path segments (SPIFFE ID spec, section 2.2).
        return !(allDots && to - from <= 2);
    }

    /** SPIFFE ID spec, section 2.1: lower-case letters, digits, dots, dashes and underscores. */
    private static boolean isTrustDomainChar(char c) {
        return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '.' || c == '-' || c == '_';
    }

    /** SPIFFE ID spec, section 2.2: letters, digits, dots, dashes and underscores. */
    private static boolean isPathChar(char c) {
        return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9')
                || c == '.' || c == '-' || c == '_';
    }

    private static IllegalArgumentException invalid(String pattern, String problem) {
        return new IllegalArgumentException("\"" + pattern + "\" " + problem + EXPECTED);
    }

    @Override
    public String toString() {
        return pattern;
    }

    @Override
    public boolean equals(Object o) {
        return o instanceof SpiffeIdPattern other && pattern.equals(other.pattern);
    }

    @Override
    public int hashCode() {
        return pattern.hashCode();
    }
}
