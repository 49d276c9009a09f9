package org.mtlsproxy.proxy.http;

/**
 * Canonicalises an origin-form request target ({@code /path?query}) before it is routed, or rejects it.
 *
 * <p>Why: a route's path prefix decides which allow rules apply, so it is an authorization boundary. If the proxy
 * compared prefixes against one spelling of a path while the backend resolved another, a client could reach
 * {@code /admin/} through a route it is allowed on. Every rule below closes one such gap:
 * <ul>
 *   <li>percent-encoded unreserved characters are decoded (RFC 3986 section 6.2.2.2), so {@code /%61dmin/} is
 *       routed as the {@code /admin/} the backend will see; the hex of every other escape is upper-cased (section
 *       6.2.2.1) so there is one spelling;
 *   <li>{@code .} and {@code ..} segments are rejected, not resolved, also when encoded ({@code %2e%2e}): a client
 *       has no business sending them, and resolving them here would still leave backends that resolve differently;
 *   <li>for the same reason a dot segment is rejected when it ends at {@code ;} ({@code ..;/}, which Tomcat treats
 *       as {@code ../}) or at an encoded slash ({@code ..%2F}, which some backends decode before resolving) -
 *       Orange Tsai, "Breaking Parser Logic", Black Hat USA 2018;
 *   <li>backslashes, raw or encoded ({@code %5C}), are rejected because some servers treat them as separators;
 *   <li>runs of {@code /} are merged, since most backends treat {@code //admin} as {@code /admin};
 *   <li>{@code %00}, other encoded or raw control characters, spaces and non-ASCII characters are rejected: none is
 *       valid in a request target (RFC 9112 section 3.2, RFC 3986 section 2) and several truncate or split paths
 *       downstream.
 * </ul>
 * An encoded slash {@code %2F} is kept as it is: it is legitimate inside an identifier and is not a separator.
 * The query is validated for the same raw characters but otherwise left untouched. A fragment, which a client
 * should never send (RFC 9112 section 3.2), is dropped.
 */
public final class PathNormalizer {

    private PathNormalizer() {
    }

    /**
     * Returns the normalised target, or {@code null} if the request must be rejected with 400.
     *
     * <p>When the target is already normal the argument itself is returned, without allocating.
     *
     * @param requestUri an origin-form request target; absolute-form ({@code http://host/p}) and asterisk-form
     *                   return {@code null}, the caller handles those separately
     */
    public static String normalize(String requestUri) {
        if (requestUri == null || requestUri.isEmpty() || requestUri.charAt(0) != '/') {
            return null;
        }
        int fragment = requestUri.indexOf('#');
        int end = fragment < 0 ? requestUri.length() : fragment;
        int query = requestUri.indexOf('?');
        int pathEnd = query < 0 || query > end ? end : query;

        for (int i = pathEnd; i < end; i++) {
            if (!isVisibleAscii(requestUri.charAt(i))) {
                return null;
            }
        }

        boolean rewrite = false;
        for (int i = 0; i < pathEnd; i++) {
            char c = requestUri.charAt(i);
            if (!isVisibleAscii(c) || c == '\\') {
                return null;
            }
            if (c == '%' || (c == '/' && i + 1 < pathEnd && requestUri.charAt(i + 1) == '/')) {
                rewrite = true;
                break;
            }
        }
        if (!rewrite) {
            if (hasDotSegment(requestUri, pathEnd)) {
                return null;
            }
            return fragment < 0 ? requestUri : requestUri.substring(0, end);
        }
        return rewrite(requestUri, pathEnd, end, fragment);
    }

    /** The path a route is chosen by: a normalised target without its query. */
    public static String withoutQuery(String normalized) {
        int q = normalized.indexOf('?');
        return q < 0 ? normalized : normalized.substring(0, q);
    }

    private static String rewrite(String uri, int pathEnd, int end, int fragment) {
        StringBuilder out = new StringBuilder(end);
        for (int i = 0; i < pathEnd; i++) {
            char c = uri.charAt(i);
            if (!isVisibleAscii(c) || c == '\\') {
                return null;
            }
            if (c == '/') {
                if (out.length() == 0 || out.charAt(out.length() - 1) != '/') {
                    out.append('/');
                }
                continue;
            }
            if (c != '%') {
                out.append(c);
                continue;
            }
            if (i + 2 >= pathEnd) {
                return null;
            }
            int high = hexValue(uri.charAt(i + 1));
            int low = hexValue(uri.charAt(i + 2));
            if (high < 0 || low < 0) {
                return null;
            }
            char decoded = (char) (high << 4 | low);
            if (decoded < 0x20 || decoded == 0x7F || decoded == '\\') {
                return null;
            }
            if (isUnreserved(decoded)) {
                out.append(decoded);
            } else {
                out.append('%').append(Character.toUpperCase(uri.charAt(i + 1)))
                        .append(Character.toUpperCase(uri.charAt(i + 2)));
            }
            i += 2;
        }
        if (hasDotSegment(out, out.length())) {
            return null;
        }
        out.append(uri, pathEnd, end);
        if (fragment < 0 && out.length() == uri.length() && uri.contentEquals(out)) {
            // Only the hex case could have differed, and it did not: e.g. "/a%2Fb".
            return uri;
        }
        return out.toString();
    }

    /**
     * Whether the path {@code [0, pathEnd)} has a unit that is {@code .} or {@code ..}, where units are delimited
     * by {@code /} and {@code %2F} and a unit ends at its first {@code ;}. Escapes are upper-case here.
     */
    private static boolean hasDotSegment(CharSequence path, int pathEnd) {
        int start = 0;
        int i = 0;
        while (i <= pathEnd) {
            int delimiter;
            if (i == pathEnd || path.charAt(i) == '/') {
                delimiter = 1;
            } else if (path.charAt(i) == '%' && i + 2 < pathEnd && path.charAt(i + 1) == '2'
                    && path.charAt(i + 2) == 'F') {
                delimiter = 3;
            } else {
                i++;
                continue;
            }
            if (isDotUnit(path, start, i)) {
                return true;
            }
            i += delimiter;
            start = i;
        }
        return false;
    }

    private static boolean isDotUnit(CharSequence path, int from, int to) {
        int end = from;
        while (end < to && path.charAt(end) != ';') {
            end++;
        }
        int length = end - from;
        return (length == 1 && path.charAt(from) == '.')
                || (length == 2 && path.charAt(from) == '.' && path.charAt(from + 1) == '.');
    }

    /** ASCII hex only: {@link Character#digit} would also accept non-ASCII digits such as U+0663. */
    private static int hexValue(char c) {
        if (c >= '0' && c <= '9') {
            return c - '0';
        }
        if (c >= 'A' && c <= 'F') {
            return c - 'A' + 10;
        }
        if (c >= 'a' && c <= 'f') {
            return c - 'a' + 10;
        }
        return -1;
    }

    /** RFC 3986 section 2.3. */
    private static boolean isUnreserved(char c) {
        return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9')
                || c == '-' || c == '.' || c == '_' || c == '~';
    }

    /** Printable US-ASCII without space: the only characters a request target may hold (RFC 3986 section 2). */
    private static boolean isVisibleAscii(char c) {
        return c > 0x20 && c < 0x7F;
    }
}
