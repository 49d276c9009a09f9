package org.mtlsproxy.proxy.identity;

import static java.util.Objects.requireNonNull;

import java.security.cert.CertificateEncodingException;
import java.security.cert.X509Certificate;
import java.util.Arrays;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;

/**
 * Remembers the {@link ClientIdentity} of recently seen client certificates. Extraction parses the SANs and the
 * subject DN and hashes the certificate (a few microseconds, the largest share of the Java work in a full
 * handshake once the chain verification is remembered); a client that reconnects presents the same certificate, so
 * its identity is looked up by the certificate's DER encoding instead.
 *
 * <p>An identity is a pure function of the certificate and the name of the bundle that verified it, so an entry
 * never goes stale: no expiry is needed, and a reload does not have to start afresh (validity and revocation are the
 * verifier's business, checked before this is asked). Bounded: when full, it starts over.
 */
public final class IdentityCache {

    private static final IdentityCache SHARED = new IdentityCache(4096);

    private final int capacity;
    private final Map<Key, ClientIdentity> identities = new ConcurrentHashMap<>();

    /**
     * The process's cache, used wherever a connection's identity is extracted: at the handshake and when an open
     * connection is re-verified after a reload. One is enough: entries depend on nothing but their key.
     */
    public static IdentityCache shared() {
        return SHARED;
    }

    /** @param capacity how many certificates to remember before starting over */
    public IdentityCache(int capacity) {
        if (capacity < 1) {
            throw new IllegalArgumentException("capacity must be positive (got: " + capacity + ")");
        }
        this.capacity = capacity;
    }

    /**
     * The identity of {@code leaf} as verified by {@code trustBundle}: remembered, or extracted now.
     *
     * @throws IllegalArgumentException as {@link IdentityExtractor#extract} does
     */
    public ClientIdentity identity(X509Certificate leaf, String trustBundle) {
        requireNonNull(leaf, "leaf");
        requireNonNull(trustBundle, "trustBundle");
        byte[] der;
        try {
            der = leaf.getEncoded();
        } catch (CertificateEncodingException e) {
            return IdentityExtractor.extract(leaf, trustBundle);
        }
        Key key = new Key(der, trustBundle);
        ClientIdentity known = identities.get(key);
        if (known != null) {
            return known;
        }
        ClientIdentity identity = IdentityExtractor.extract(leaf, trustBundle);
        if (identities.size() >= capacity) {
            identities.clear();
        }
        identities.put(key, identity);
        return identity;
    }

    /** How many identities are remembered (for tests). */
    int size() {
        return identities.size();
    }

    private static final class Key {
        private final byte[] der;
        private final String bundle;
        private final int hash;

        Key(byte[] der, String bundle) {
            this.der = der;
            this.bundle = bundle;
            this.hash = 31 * Arrays.hashCode(der) + bundle.hashCode();
        }

        @Override
        public boolean equals(Object o) {
            return o instanceof Key k && hash == k.hash && bundle.equals(k.bundle) && Arrays.equals(der, k.der);
        }

        @Override
        public int hashCode() {
            return hash;
        }
    }
}
