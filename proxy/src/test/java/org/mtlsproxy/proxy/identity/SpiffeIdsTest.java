package org.mtlsproxy.proxy.identity;

import static org.assertj.core.api.Assertions.assertThat;

import org.junit.jupiter.api.Test;

class SpiffeIdsTest {

    @Test
    void trustDomainMembershipIsExactUpToTheFirstSlash() {
        assertThat(SpiffeIds.isInTrustDomain("spiffe://prod.test/ns/a", "prod.test")).isTrue();
        assertThat(SpiffeIds.isInTrustDomain("spiffe://prod.test", "prod.test")).isTrue();
        assertThat(SpiffeIds.isInTrustDomain("SPIFFE://prod.test/a", "prod.test")).isTrue();
        assertThat(SpiffeIds.isInTrustDomain("spiffe://prod.test.evil/a", "prod.test")).isFalse();
        assertThat(SpiffeIds.isInTrustDomain("spiffe://Prod.test/a", "prod.test")).isFalse();
        assertThat(SpiffeIds.isInTrustDomain("spiffe://prod.test:443/a", "prod.test")).isFalse();
        assertThat(SpiffeIds.isInTrustDomain("spiffe://x.prod.test/a", "prod.test")).isFalse();
        assertThat(SpiffeIds.isInTrustDomain("https://prod.test/a", "prod.test")).isFalse();
    }

    @Test
    void lenientTrustDomainStripsCasePortAndUserInfo() {
        assertThat(SpiffeIds.lenientTrustDomain("spiffe://prod.test/a")).isEqualTo("prod.test");
        assertThat(SpiffeIds.lenientTrustDomain("Spiffe://u:p@PROD.Test:8443/a")).isEqualTo("prod.test");
        assertThat(SpiffeIds.lenientTrustDomain("spiffe://prod.test?x#y")).isEqualTo("prod.test");
        assertThat(SpiffeIds.lenientTrustDomain("spiffe:prod.test")).isEmpty();
        assertThat(SpiffeIds.lenientTrustDomain("https://prod.test/a")).isEmpty();
    }
}
