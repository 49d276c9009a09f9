package org.mtlsproxy.proxy.authz;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;
import org.junit.jupiter.params.provider.ValueSource;

class SpiffeIdPatternTest {

    @ParameterizedTest(name = "{0} matches {1}")
    @CsvSource({
            "spiffe://td/ns/prod, spiffe://td/ns/prod",
            "spiffe://td/ns/*/sa/web, spiffe://td/ns/shop/sa/web",
            "spiffe://td/ns/*, spiffe://td/ns/shop",
            "spiffe://td/ns/**, spiffe://td/ns/shop",
            "spiffe://td/ns/**, spiffe://td/ns/shop/sa/web",
            "spiffe://td/**, spiffe://td/a",
            "spiffe://td/*/*, spiffe://td/a/b",
            "spiffe://td.example.org/a_b-c.d, spiffe://td.example.org/a_b-c.d",
    })
    void idMatchingThePatternMatches(String pattern, String id) {
        // Given
        SpiffeIdPattern compiled = SpiffeIdPattern.parse(pattern);

        // When / Then
        assertThat(compiled.matches(id)).isTrue();
    }

    @ParameterizedTest(name = "{0} does not match {1}")
    @CsvSource({
            // a literal never matches a prefix or an extension of a segment
            "spiffe://td/ns/prod, spiffe://td/ns/production",
            "spiffe://td/ns/production, spiffe://td/ns/prod",
            "spiffe://td/ns/prod, spiffe://td/ns/prod/extra",
            "spiffe://td/ns/prod, spiffe://td/ns/prod/",
            // literals are case-sensitive
            "spiffe://td/ns/prod, spiffe://td/ns/Prod",
            // * is exactly one segment
            "spiffe://td/ns/*, spiffe://td/ns/a/b",
            "spiffe://td/ns/*, spiffe://td/ns",
            "spiffe://td/ns/*, spiffe://td/ns/",
            "spiffe://td/ns/*/sa, spiffe://td/ns//sa",
            // ** needs at least one segment
            "spiffe://td/ns/**, spiffe://td/ns",
            "spiffe://td/ns/**, spiffe://td/ns/",
            "spiffe://td/ns/**, spiffe://td/ns/a//b",
            // the trust domain is compared exactly
            "spiffe://td/ns/prod, spiffe://other/ns/prod",
            "spiffe://td/ns/prod, spiffe://td.evil/ns/prod",
            "spiffe://td/ns/prod, spiffe://t/ns/prod",
            "spiffe://td/ns/prod, spiffe://TD/ns/prod",
            "spiffe://td/**, spiffe://tdx/a",
            // not a SPIFFE ID at all
            "spiffe://td/ns/prod, https://td/ns/prod",
            "spiffe://td/**, spiffe://td",
            // malformed candidates never match a wildcard
            "spiffe://td/ns/*, spiffe://td/ns/..",
            "spiffe://td/ns/**, spiffe://td/ns/a/../b",
            "spiffe://td/ns/*, spiffe://td/ns/a?b",
            "spiffe://td/ns/**, spiffe://td/ns/a#b",
    })
    void idNotMatchingThePatternDoesNotMatch(String pattern, String id) {
        // Given
        SpiffeIdPattern compiled = SpiffeIdPattern.parse(pattern);

        // When / Then
        assertThat(compiled.matches(id)).isFalse();
    }

    @ParameterizedTest
    @ValueSource(strings = {
            "spife://td/a",
            "td/a",
            "spiffe://td",
            "spiffe:///a",
            "spiffe://TD/a",
            "spiffe://td/",
            "spiffe://td/a//b",
            "spiffe://td/a/",
            "spiffe://td/**/a",
            "spiffe://td/a*",
            "spiffe://td/***",
            "spiffe://td/a/..",
            "spiffe://td/a?x",
    })
    void invalidPatternIsRejectedWithTheExpectedForm(String pattern) {
        assertThatThrownBy(() -> SpiffeIdPattern.parse(pattern))
                .isInstanceOf(IllegalArgumentException.class)
                .hasMessageContaining("\"" + pattern + "\"")
                .hasMessageEndingWith("(expected: spiffe://<trust-domain>/<path>)");
    }

    @org.junit.jupiter.api.Test
    void nullIdDoesNotMatch() {
        assertThat(SpiffeIdPattern.parse("spiffe://td/**").matches(null)).isFalse();
    }
}
