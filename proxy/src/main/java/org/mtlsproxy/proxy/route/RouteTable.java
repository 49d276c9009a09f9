package org.mtlsproxy.proxy.route;

import static java.util.Objects.requireNonNull;

import java.util.ArrayList;
import java.util.Arrays;
import java.util.Comparator;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Optional;
import java.util.function.Function;

/**
 * Finds the route for a request from its host and path.
 *
 * <p>Host patterns come in three classes, tried in this order:
 * <ol>
 *   <li>exact, e.g. {@code api.internal};
 *   <li>wildcard, e.g. {@code *.internal}, which matches exactly one more label: {@code a.internal}, but neither
 *       {@code a.b.internal} nor {@code internal} (as TLS wildcard names, RFC 6125 section 6.4.3);
 *   <li>absent, which matches any host, and requests without one.
 * </ol>
 * The first class that has a route whose path prefix the path starts with decides, and within it the longest such
 * prefix wins. A more specific host therefore beats a longer prefix: with {@code api.internal /} and
 * {@code (any host) /admin/}, a request to {@code api.internal/admin/x} goes to the first. Prefixes are compared
 * with plain {@link String#startsWith}, so the caller must normalise the path first (see
 * {@code org.mtlsproxy.proxy.http.PathNormalizer}) and should end a directory prefix with {@code /}.
 *
 * <p>Everything is indexed at {@link #build} time; {@link #match} does hash lookups and string comparisons and
 * allocates nothing.
 *
 * @param <T> what a route resolves to
 */
public final class RouteTable<T> {

    /**
     * One route.
     *
     * @param host       exact host, {@code *.}-wildcard host, or empty for any host; compared in lower case
     * @param pathPrefix the prefix the path must start with; starts with {@code /}
     * @param value      what the route resolves to
     */
    public record Entry<T>(Optional<String> host, String pathPrefix, T value) {
        public Entry {
            requireNonNull(host, "host");
            requireNonNull(pathPrefix, "pathPrefix");
            requireNonNull(value, "value");
            if (!pathPrefix.startsWith("/")) {
                throw new IllegalArgumentException("path prefix \"" + pathPrefix + "\" (expected: starts with /)");
            }
            host.ifPresent(Entry::checkHost);
        }

        private static void checkHost(String host) {
            if (host.isEmpty()) {
                throw new IllegalArgumentException("host \"\" (expected: a host name, *.<domain>, or no host)");
            }
            int star = host.indexOf('*');
            if (star >= 0 && (star != 0 || !host.startsWith("*.") || host.length() == 2
                    || host.indexOf('*', 1) >= 0)) {
                throw new IllegalArgumentException("host \"" + host
                        + "\" (expected: a host name or *.<domain>; * stands for one whole leading label)");
            }
        }
    }

    private final Map<String, Bucket<T>> exact;
    private final WildcardIndex<T> wildcard;
    private final Bucket<T> anyHost;
    private final List<Entry<T>> entries;

    private RouteTable(Map<String, Bucket<T>> exact, WildcardIndex<T> wildcard, Bucket<T> anyHost,
            List<Entry<T>> entries) {
        this.exact = exact;
        this.wildcard = wildcard;
        this.anyHost = anyHost;
        this.entries = entries;
    }

    /** Every entry, in the order given to {@link #build}: for listing routes (the {@code check} tool), not routing. */
    public List<Entry<T>> entries() {
        return entries;
    }

    /**
     * Indexes the entries.
     *
     * @throws IllegalArgumentException if two entries have the same host and path prefix, naming both
     */
    public static <T> RouteTable<T> build(List<Entry<T>> entries) {
        return build(entries, String::valueOf);
    }

    /**
     * Indexes the entries, naming values in error messages with {@code describe} (for example a route's name,
     * where the value's {@code toString} would dump a whole runtime object).
     *
     * @throws IllegalArgumentException if two entries have the same host and path prefix, naming both
     */
    public static <T> RouteTable<T> build(List<Entry<T>> entries, Function<? super T, String> describe) {
        requireNonNull(entries, "entries");
        requireNonNull(describe, "describe");
        Map<String, List<Indexed<T>>> exact = new LinkedHashMap<>();
        Map<String, List<Indexed<T>>> wildcard = new LinkedHashMap<>();
        List<Indexed<T>> anyHost = new ArrayList<>();
        Map<String, Integer> seen = new HashMap<>();
        for (int i = 0; i < entries.size(); i++) {
            Entry<T> entry = requireNonNull(entries.get(i), "entries[" + i + "]");
            String host = entry.host().map(h -> h.toLowerCase(Locale.ROOT)).orElse(null);
            // NUL cannot occur in a host or a prefix, so the key is unambiguous.
            Integer earlier = seen.putIfAbsent(host + '\0' + entry.pathPrefix(), i);
            if (earlier != null) {
                throw new IllegalArgumentException("entries[" + earlier + "] ("
                        + describe.apply(entries.get(earlier).value()) + ") and entries[" + i + "] ("
                        + describe.apply(entry.value()) + ") both have host "
                        + (host == null ? "(any)" : "\"" + host + "\"") + " and path prefix \""
                        + entry.pathPrefix() + "\"");
            }
            Indexed<T> indexed = new Indexed<>(entry.pathPrefix(), entry.value());
            if (host == null) {
                anyHost.add(indexed);
            } else if (host.startsWith("*.")) {
                wildcard.computeIfAbsent(host.substring(2), k -> new ArrayList<>()).add(indexed);
            } else {
                exact.computeIfAbsent(host, k -> new ArrayList<>()).add(indexed);
            }
        }
        Map<String, Bucket<T>> exactBuckets = new HashMap<>();
        exact.forEach((host, list) -> exactBuckets.put(host, Bucket.of(list)));
        return new RouteTable<>(exactBuckets, WildcardIndex.of(wildcard), Bucket.of(anyHost),
                List.copyOf(entries));
    }

    /**
     * The route for a request, or {@code null} if none matches.
     *
     * @param host the request's host, lower case and without port; {@code null} or empty if it had none, in which
     *             case only routes without a host can match
     * @param path the normalised request path (a query after it does no harm, as prefixes cannot contain {@code ?})
     */
    public T match(String host, String path) {
        requireNonNull(path, "path");
        if (host != null && !host.isEmpty()) {
            Bucket<T> bucket = exact.get(host);
            if (bucket != null) {
                T value = bucket.match(path);
                if (value != null) {
                    return value;
                }
            }
            bucket = wildcard.find(host);
            if (bucket != null) {
                T value = bucket.match(path);
                if (value != null) {
                    return value;
                }
            }
        }
        return anyHost.match(path);
    }

    private record Indexed<T>(String prefix, T value) {
    }

    /** The routes of one host pattern, longest prefix first, so the first hit is the longest match. */
    private static final class Bucket<T> {
        private final String[] prefixes;
        private final Object[] values;

        private Bucket(String[] prefixes, Object[] values) {
            this.prefixes = prefixes;
            this.values = values;
        }

        static <T> Bucket<T> of(List<Indexed<T>> entries) {
            List<Indexed<T>> sorted = new ArrayList<>(entries);
            sorted.sort(Comparator.comparingInt((Indexed<T> e) -> e.prefix().length()).reversed());
            String[] prefixes = new String[sorted.size()];
            Object[] values = new Object[sorted.size()];
            for (int i = 0; i < sorted.size(); i++) {
                prefixes[i] = sorted.get(i).prefix();
                values[i] = sorted.get(i).value();
            }
            return new Bucket<>(prefixes, values);
        }

        @SuppressWarnings("unchecked")
        T match(String path) {
            for (int i = 0; i < prefixes.length; i++) {
                if (path.startsWith(prefixes[i])) {
                    return (T) values[i];
                }
            }
            return null;
        }
    }

    /**
     * Wildcard buckets keyed by the domain after {@code *.}, looked up by the part of the host after its first
     * label.
     *
     * <p>A {@code HashMap<String, …>} would need that part as a new String on every request. Instead the domains'
     * {@link String#hashCode} values are kept sorted in an {@code int[]}; a lookup computes the same hash over the
     * host's suffix in place, binary-searches it, and confirms with {@link String#regionMatches}.
     */
    private static final class WildcardIndex<T> {
        private final int[] hashes;
        private final String[] domains;
        private final List<Bucket<T>> buckets;

        private WildcardIndex(int[] hashes, String[] domains, List<Bucket<T>> buckets) {
            this.hashes = hashes;
            this.domains = domains;
            this.buckets = buckets;
        }

        static <T> WildcardIndex<T> of(Map<String, List<Indexed<T>>> byDomain) {
            List<String> sorted = new ArrayList<>(byDomain.keySet());
            sorted.sort(Comparator.comparingInt(String::hashCode).thenComparing(Comparator.naturalOrder()));
            int[] hashes = new int[sorted.size()];
            String[] domains = new String[sorted.size()];
            List<Bucket<T>> buckets = new ArrayList<>(sorted.size());
            for (int i = 0; i < sorted.size(); i++) {
                domains[i] = sorted.get(i);
                hashes[i] = domains[i].hashCode();
                buckets.add(Bucket.of(byDomain.get(domains[i])));
            }
            return new WildcardIndex<>(hashes, domains, List.copyOf(buckets));
        }

        Bucket<T> find(String host) {
            if (hashes.length == 0) {
                return null;
            }
            int dot = host.indexOf('.');
            // The wildcard stands for one non-empty label: "internal" and ".internal" have none.
            if (dot <= 0 || dot == host.length() - 1) {
                return null;
            }
            int from = dot + 1;
            int length = host.length() - from;
            int hash = 0;
            for (int i = from; i < host.length(); i++) {
                hash = 31 * hash + host.charAt(i);
            }
            int at = Arrays.binarySearch(hashes, hash);
            if (at < 0) {
                return null;
            }
            // Several domains may share a hash; they sit next to each other.
            while (at > 0 && hashes[at - 1] == hash) {
                at--;
            }
            for (; at < hashes.length && hashes[at] == hash; at++) {
                String domain = domains[at];
                if (domain.length() == length && host.regionMatches(from, domain, 0, length)) {
                    return buckets.get(at);
                }
            }
            return null;
        }
    }
}
