package org.mtlsproxy.proxy.identity;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import java.security.cert.X509Certificate;
import org.junit.jupiter.api.Test;
import org.mtlsproxy.testing.TestPki;

class IdentityCacheTest {

    private static final TestPki PKI = TestPki.get();

    @Test
    void sameCertificateAndBundleGiveTheRememberedIdentityEqualToAFreshExtraction() {
        IdentityCache cache = new IdentityCache(8);
        X509Certificate leaf = PKI.goodClient().certificate();

        ClientIdentity first = cache.identity(leaf, "prod");
        ClientIdentity again = cache.identity(leaf, "prod");

        assertThat(again).isSameAs(first);
        assertThat(first).isEqualTo(IdentityExtractor.extract(leaf, "prod"));
    }

    @Test
    void theBundleIsPartOfTheKey() {
        IdentityCache cache = new IdentityCache(8);
        X509Certificate leaf = PKI.goodClient().certificate();

        assertThat(cache.identity(leaf, "prod").trustBundle()).isEqualTo("prod");
        assertThat(cache.identity(leaf, "staging").trustBundle()).isEqualTo("staging");
    }

    @Test
    void differentCertificatesNeverShareAnIdentity() {
        IdentityCache cache = new IdentityCache(8);

        ClientIdentity good = cache.identity(PKI.goodClient().certificate(), "prod");
        ClientIdentity other = cache.identity(PKI.otherClient().certificate(), "prod");

        assertThat(other.sha256Fingerprint()).isNotEqualTo(good.sha256Fingerprint());
        assertThat(other).isEqualTo(IdentityExtractor.extract(PKI.otherClient().certificate(), "prod"));
    }

    @Test
    void staysWithinItsCapacity() {
        IdentityCache cache = new IdentityCache(1);

        cache.identity(PKI.goodClient().certificate(), "a");
        cache.identity(PKI.goodClient().certificate(), "b");
        cache.identity(PKI.otherClient().certificate(), "c");

        assertThat(cache.size()).isEqualTo(1);
        assertThatThrownBy(() -> new IdentityCache(0)).isInstanceOf(IllegalArgumentException.class);
    }
}
