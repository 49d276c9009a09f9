package org.mtlsproxy.proxy.http;

import static org.assertj.core.api.Assertions.assertThat;

import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;
import org.junit.jupiter.params.provider.ValueSource;

class HostNormalizerTest {

    @ParameterizedTest
    @CsvSource({"api.internal,api.internal", "API.Internal:8443,api.internal", "api.internal.,api.internal",
            "' api.internal ',api.internal", "[::1]:8443,::1", "127.0.0.1:1,127.0.0.1"})
    void hostIsLowerCasedWithoutPortAndTrailingDot(String authority, String host) {
        assertThat(HostNormalizer.normalize(authority)).isEqualTo(host);
    }

    @ParameterizedTest
    @ValueSource(strings = {"user@api.internal", "[::1", "api/internal", "api%2einternal", "api\\\\internal",
            "a\u00e9.internal"})
    void malformedAuthorityIsEmptyForA400(String authority) {
        assertThat(HostNormalizer.normalize(authority)).isEmpty();
    }

    @org.junit.jupiter.api.Test
    void noAuthorityIsNull() {
        assertThat(HostNormalizer.normalize(null)).isNull();
    }
}
