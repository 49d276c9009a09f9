package org.mtlsproxy.config;

import static org.assertj.core.api.Assertions.assertThat;

import java.util.List;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;
import org.junit.jupiter.params.provider.ValueSource;

class SyntaxTest {

    @ParameterizedTest
    @ValueSource(strings = {
        "spiffe://example.org/ns/prod/sa/orders",
        "spiffe://example.org/ns/*/sa/orders",
        "spiffe://example.org/ns/prod/**",
        "spiffe://example.org/**",
        "spiffe://my-td_1.example/A.b-C_9",
    })
    void validSpiffeIdPatternsAreAccepted(String id) {
        assertThat(Syntax.spiffeIdPatternError(id)).isEmpty();
    }

    @ParameterizedTest
    @CsvSource(delimiter = '|', value = {
        "spife://x                            | it must start with spiffe://",
        "SPIFFE://example.org/a               | it must start with spiffe://",
        "spiffe:///a                          | the trust domain is empty",
        "spiffe://Example.org/a               | the trust domain \"Example.org\" may only contain a-z, 0-9, '.', '-' and '_'",
        "spiffe://example.org:8080/a          | the trust domain \"example.org:8080\" may only contain a-z, 0-9, '.', '-' and '_'",
        "spiffe://example.org                 | it has no path",
        "spiffe://example.org/                | it has no path",
        "spiffe://example.org/a/              | it has an empty path segment (a double or trailing '/')",
        "spiffe://example.org/a//b            | it has an empty path segment (a double or trailing '/')",
        "spiffe://example.org/**/a            | '**' may only be the last path segment",
        "spiffe://example.org/a/../b          | the path segments '.' and '..' are not allowed",
        "spiffe://example.org/sa/orders-*     | the path segment \"orders-*\" may only contain A-Z, a-z, 0-9, '.', '-' and '_', or be exactly '*' or a final '**'",
        "spiffe://example.org/a?x=1           | the path segment \"a?x=1\" may only contain A-Z, a-z, 0-9, '.', '-' and '_', or be exactly '*' or a final '**'",
        "spiffe://example.org/a#f             | the path segment \"a#f\" may only contain A-Z, a-z, 0-9, '.', '-' and '_', or be exactly '*' or a final '**'",
    })
    void invalidSpiffeIdPatternsSayWhy(String id, String reason) {
        assertThat(Syntax.spiffeIdPatternError(id)).contains(reason);
    }

    @Test
    void trustDomainsAreLowerCaseSpiffeNamesOfAtMost255Characters() {
        assertThat(List.of("example.org", "prod_1.example-x.org", "a".repeat(255)))
                .allSatisfy(td -> assertThat(Syntax.trustDomainError(td)).isEmpty());
        assertThat(Syntax.trustDomainError("")).contains("the trust domain is empty");
        assertThat(Syntax.trustDomainError("a".repeat(256))).contains("the trust domain is longer than 255 characters");
        assertThat(Syntax.trustDomainError("Example.org")).contains(
                "the trust domain \"Example.org\" may only contain a-z, 0-9, '.', '-' and '_'");
        assertThat(Syntax.trustDomainError("example.org:443")).isPresent();
    }

    @Test
    void hostNamesFollowDnsLabelRules() {
        assertThat(List.of("api.internal", "a", "10.0.0.1", "x-1.example.org")).allMatch(Syntax::isHostName);
        assertThat(List.of("", "-a.org", "a-.org", "a..org", "a_b.org", "a.org.", "a".repeat(64) + ".org"))
                .noneMatch(Syntax::isHostName);
    }

    @Test
    void fingerprintAcceptsColonsAndAnyCase() {
        assertThat(Syntax.normalizeSha256Fingerprint("AB:cd:".repeat(16).replaceAll(":$", "")))
                .contains("abcd".repeat(16));
        assertThat(Syntax.normalizeSha256Fingerprint("ab".repeat(31))).isEmpty();
        assertThat(Syntax.normalizeSha256Fingerprint("zz".repeat(32))).isEmpty();
    }

    @Test
    void closestKnownWordIsSuggestedOnlyWithinTwoEdits() {
        List<String> known = List.of("path-prefix", "backend", "host");

        assertThat(Syntax.closest("path-prefx", known)).contains("path-prefix");
        assertThat(Syntax.closest("hots", known)).contains("host");
        assertThat(Syntax.closest("upstream", known)).isEmpty();
        assertThat(Syntax.editDistance("kitten", "sitting")).isEqualTo(3);
    }
}
