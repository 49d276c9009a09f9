package org.mtlsproxy.proxy.authz;

import static java.util.Objects.requireNonNull;

import java.util.List;
import org.mtlsproxy.proxy.identity.ClientIdentity;
import org.mtlsproxy.proxy.identity.SpiffeIds;

/**
 * The matchers an allow rule is built from, one per rule field, and {@link AllOf} to combine them.
 *
 * <p>List fields are walked by index rather than with an iterator so that matching allocates nothing.
 */
final class Matchers {

    private Matchers() {
    }

    /** The identity's SPIFFE ID matches the pattern; no SPIFFE ID, no match. */
    record SpiffeId(SpiffeIdPattern pattern) implements IdentityMatcher {
        SpiffeId {
            requireNonNull(pattern, "pattern");
        }

        @Override
        public boolean test(ClientIdentity id) {
            return id.spiffeId().isPresent() && pattern.matches(id.spiffeId().get());
        }
    }

    /** Some URI SAN equals the value exactly. */
    record UriSan(String value) implements IdentityMatcher {
        UriSan {
            requireNonNull(value, "value");
        }

        @Override
        public boolean test(ClientIdentity id) {
            return containsExactly(id.uriSans(), value);
        }
    }

    /**
     * Some DNS SAN equals the value, ignoring ASCII case.
     *
     * <p>Not {@link String#equalsIgnoreCase}: that folds Unicode too, so the Kelvin sign U+212A would equal
     * {@code k}. DNS names compare case-insensitively in ASCII only (RFC 4343 section 3).
     */
    record DnsSan(String value) implements IdentityMatcher {
        DnsSan {
            requireNonNull(value, "value");
        }

        @Override
        public boolean test(ClientIdentity id) {
            List<String> sans = id.dnsSans();
            for (int i = 0; i < sans.size(); i++) {
                if (asciiEqualsIgnoreCase(sans.get(i), value)) {
                    return true;
                }
            }
            return false;
        }
    }

    /** The subject's common name equals the value exactly. */
    record SubjectCn(String value) implements IdentityMatcher {
        SubjectCn {
            requireNonNull(value, "value");
        }

        @Override
        public boolean test(ClientIdentity id) {
            return id.commonName().isPresent() && id.commonName().get().equals(value);
        }
    }

    /** Some organizational unit of the subject equals the value exactly. */
    record SubjectOu(String value) implements IdentityMatcher {
        SubjectOu {
            requireNonNull(value, "value");
        }

        @Override
        public boolean test(ClientIdentity id) {
            return containsExactly(id.organizationalUnits(), value);
        }
    }

    /** Some organization of the subject equals the value exactly. */
    record SubjectO(String value) implements IdentityMatcher {
        SubjectO {
            requireNonNull(value, "value");
        }

        @Override
        public boolean test(ClientIdentity id) {
            return containsExactly(id.organizations(), value);
        }
    }

    /** The certificate's SHA-256 fingerprint equals the value (both lower-case hex without colons). */
    record FingerprintSha256(String value) implements IdentityMatcher {
        FingerprintSha256 {
            requireNonNull(value, "value");
            if (value.length() != 64 || !value.chars().allMatch(Matchers::isLowerHex)) {
                throw new IllegalArgumentException("fingerprint-sha256: \"" + value
                        + "\" (expected: 64 lower-case hex digits without colons)");
            }
        }

        @Override
        public boolean test(ClientIdentity id) {
            return id.sha256Fingerprint().equals(value);
        }
    }

    /** The certificate was verified by the named trust bundle. */
    record TrustBundle(String name) implements IdentityMatcher {
        TrustBundle {
            requireNonNull(name, "name");
        }

        @Override
        public boolean test(ClientIdentity id) {
            return id.trustBundle().equals(name);
        }
    }

    /** The identity's SPIFFE ID is in the trust domain (exact); no SPIFFE ID, no match. */
    record TrustDomain(String name) implements IdentityMatcher {
        TrustDomain {
            requireNonNull(name, "name");
            if (name.isEmpty()) {
                throw new IllegalArgumentException("trust-domain: empty (expected: a trust domain such as example.org)");
            }
        }

        @Override
        public boolean test(ClientIdentity id) {
            return id.spiffeId().isPresent() && SpiffeIds.isInTrustDomain(id.spiffeId().get(), name);
        }
    }

    /**
     * Every one of the matchers matches. Refuses to be empty: an empty conjunction is true, and a rule that
     * matches everyone by accident is the failure this package exists to prevent.
     */
    static final class AllOf implements IdentityMatcher {
        private final IdentityMatcher[] matchers;

        AllOf(List<IdentityMatcher> matchers) {
            requireNonNull(matchers, "matchers");
            if (matchers.isEmpty()) {
                throw new IllegalArgumentException("AllOf needs at least one matcher");
            }
            this.matchers = matchers.toArray(new IdentityMatcher[0]);
            for (IdentityMatcher m : this.matchers) {
                requireNonNull(m, "matcher");
            }
        }

        @Override
        public boolean test(ClientIdentity id) {
            for (IdentityMatcher matcher : matchers) {
                if (!matcher.test(id)) {
                    return false;
                }
            }
            return true;
        }

        @Override
        public String toString() {
            return "AllOf" + List.of(matchers);
        }
    }

    private static boolean containsExactly(List<String> values, String wanted) {
        for (int i = 0; i < values.size(); i++) {
            if (values.get(i).equals(wanted)) {
                return true;
            }
        }
        return false;
    }

    private static boolean isLowerHex(int c) {
        return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f');
    }

    static boolean asciiEqualsIgnoreCase(String a, String b) {
        if (a.length() != b.length()) {
            return false;
        }
        for (int i = 0; i < a.length(); i++) {
            if (asciiLower(a.charAt(i)) != asciiLower(b.charAt(i))) {
                return false;
            }
        }
        return true;
    }

    private static char asciiLower(char c) {
        return c >= 'A' && c <= 'Z' ? (char) (c + ('a' - 'A')) : c;
    }
}
