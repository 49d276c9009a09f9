package org.mtlsproxy.config;

import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Optional;

/**
 * The TLS key-exchange groups a listener's or backend's {@code tls.groups} may name (nginx {@code ssl_ecdh_curve},
 * HAProxy {@code curves}, Envoy {@code ecdh_curves}).
 *
 * <p>The canonical names are BoringSSL's own ({@code ssl/ssl_key_share.cc}, {@code kNamedGroups}), which is what
 * {@code SSL_CTX_set1_curves_list} matches, case-sensitively, once Netty's {@code GroupsConverter} has had its
 * say; they are also the default list Netty gives a BoringSSL context, in the same order. The aliases are the
 * JDK's and OpenSSL's names for the same curves. Every accepted spelling is matched case-insensitively: no two
 * groups differ only in case, so none is ambiguous. Not offered: BoringSSL's pure post-quantum {@code MLKEM1024}
 * and the withdrawn {@code X25519Kyber768Draft00}.
 */
public final class TlsGroups {

    /** The canonical names, in the provider's default order of preference. */
    public static final List<String> NAMES = List.of("X25519MLKEM768", "X25519", "P-256", "P-384", "P-521");

    /** Further names accepted for a group, each with its canonical name. */
    private static final Map<String, String> ALIASES = Map.of(
            "secp256r1", "P-256",
            "prime256v1", "P-256",
            "secp384r1", "P-384",
            "secp521r1", "P-521");

    /** What a config problem says was expected. */
    static final String EXPECTED = String.join(", ", NAMES) + "; also secp256r1, prime256v1, secp384r1, secp521r1";

    private TlsGroups() {
    }

    /** The canonical name of {@code written} (any case), or empty when it names no supported group. */
    public static Optional<String> canonical(String written) {
        String lower = written.toLowerCase(Locale.ROOT);
        for (String name : NAMES) {
            if (name.toLowerCase(Locale.ROOT).equals(lower)) {
                return Optional.of(name);
            }
        }
        return Optional.ofNullable(ALIASES.get(lower));
    }

    /** An immutable copy of {@code groups}, which must be canonical names, each at most once. */
    static List<String> requireCanonical(List<String> groups) {
        List<String> copy = List.copyOf(groups);
        for (int i = 0; i < copy.size(); i++) {
            if (!NAMES.contains(copy.get(i))) {
                throw new IllegalArgumentException("groups: \"" + copy.get(i) + "\" is not a canonical group name "
                        + "(expected: one of " + String.join(", ", NAMES) + ")");
            }
            if (copy.indexOf(copy.get(i)) != i) {
                throw new IllegalArgumentException("groups: " + copy.get(i) + " is listed twice");
            }
        }
        return copy;
    }

    /** Every spelling documented as accepted: the canonical names, then the aliases (x25519 included). */
    public static List<String> accepted() {
        return List.of("X25519MLKEM768", "X25519", "P-256", "P-384", "P-521",
                "x25519", "secp256r1", "prime256v1", "secp384r1", "secp521r1");
    }
}
