package org.mtlsproxy.proxy.route;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import java.util.List;
import java.util.Optional;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

class RouteTableTest {

    private static RouteTable.Entry<String> route(String host, String prefix, String name) {
        return new RouteTable.Entry<>(Optional.ofNullable(host), prefix, name);
    }

    @Test
    void longestMatchingPrefixWinsWithinAHostClass() {
        // Given
        RouteTable<String> table = RouteTable.build(List.of(
                route(null, "/", "root"),
                route(null, "/api/", "api"),
                route(null, "/api/admin/", "admin")));

        // When / Then
        assertThat(table.match("x", "/api/admin/users")).isEqualTo("admin");
        assertThat(table.match("x", "/api/users")).isEqualTo("api");
        assertThat(table.match("x", "/other")).isEqualTo("root");
    }

    @Test
    void entriesAreListedInTheOrderGiven() {
        List<RouteTable.Entry<String>> entries = List.of(route("b.internal", "/", "b"), route(null, "/x/", "x"),
                route("*.internal", "/", "w"));

        RouteTable<String> table = RouteTable.build(entries);

        assertThat(table.entries()).containsExactlyElementsOf(entries);
    }

    @Test
    void exactHostBeatsWildcardWhichBeatsAnyHost() {
        // Given the same prefix in all three host classes
        RouteTable<String> table = RouteTable.build(List.of(
                route(null, "/", "any"),
                route("*.internal", "/", "wildcard"),
                route("api.internal", "/", "exact")));

        // When / Then
        assertThat(table.match("api.internal", "/x")).isEqualTo("exact");
        assertThat(table.match("web.internal", "/x")).isEqualTo("wildcard");
        assertThat(table.match("example.org", "/x")).isEqualTo("any");
    }

    @Test
    void moreSpecificHostBeatsLongerPrefix() {
        // Given
        RouteTable<String> table = RouteTable.build(List.of(
                route(null, "/admin/", "any-admin"),
                route("api.internal", "/", "api-root")));

        // When
        String matched = table.match("api.internal", "/admin/x");

        // Then
        assertThat(matched).isEqualTo("api-root");
    }

    @Test
    void hostClassWithoutMatchingPrefixFallsThroughToTheNext() {
        // Given
        RouteTable<String> table = RouteTable.build(List.of(
                route("api.internal", "/v1/", "exact-v1"),
                route("*.internal", "/v2/", "wildcard-v2"),
                route(null, "/", "any")));

        // When / Then
        assertThat(table.match("api.internal", "/v1/x")).isEqualTo("exact-v1");
        assertThat(table.match("api.internal", "/v2/x")).isEqualTo("wildcard-v2");
        assertThat(table.match("api.internal", "/v3/x")).isEqualTo("any");
    }

    @Test
    void wildcardMatchesExactlyOneExtraLabel() {
        // Given
        RouteTable<String> table = RouteTable.build(List.of(route("*.internal", "/", "wildcard")));

        // When / Then
        assertThat(table.match("a.internal", "/")).isEqualTo("wildcard");
        assertThat(table.match("a.b.internal", "/")).isNull();
        assertThat(table.match("internal", "/")).isNull();
        assertThat(table.match(".internal", "/")).isNull();
        assertThat(table.match("a.internal.", "/")).isNull();
        assertThat(table.match("ainternal", "/")).isNull();
    }

    @Test
    void deeperWildcardIsUsedForDeeperHosts() {
        // Given
        RouteTable<String> table = RouteTable.build(List.of(
                route("*.internal", "/", "one"),
                route("*.b.internal", "/", "two")));

        // When / Then
        assertThat(table.match("a.internal", "/")).isEqualTo("one");
        assertThat(table.match("a.b.internal", "/")).isEqualTo("two");
    }

    @Test
    void wildcardDomainsWithEqualHashCodesAreToldApart() {
        // Given two domains with the same String.hashCode ("an" and "c0" both hash to 3117)
        assertThat("an".hashCode()).isEqualTo("c0".hashCode());
        RouteTable<String> table = RouteTable.build(List.of(
                route("*.an", "/", "an"),
                route("*.c0", "/", "c0")));

        // When / Then
        assertThat(table.match("x.an", "/")).isEqualTo("an");
        assertThat(table.match("x.c0", "/")).isEqualTo("c0");
        assertThat(table.match("x.bP", "/")).isNull();
    }

    @Test
    void requestWithoutHostOnlyMatchesHostlessRoutes() {
        // Given
        RouteTable<String> table = RouteTable.build(List.of(
                route("api.internal", "/", "exact"),
                route("*.internal", "/", "wildcard")));
        RouteTable<String> withAny = RouteTable.build(List.of(
                route("api.internal", "/", "exact"),
                route(null, "/", "any")));

        // When / Then
        assertThat(table.match(null, "/")).isNull();
        assertThat(table.match("", "/")).isNull();
        assertThat(withAny.match(null, "/")).isEqualTo("any");
        assertThat(withAny.match("", "/")).isEqualTo("any");
    }

    @Test
    void noMatchingRouteReturnsNull() {
        // Given
        RouteTable<String> table = RouteTable.build(List.of(route(null, "/api/", "api")));

        // When / Then
        assertThat(table.match("x", "/ap")).isNull();
        assertThat(RouteTable.<String>build(List.of()).match("x", "/")).isNull();
    }

    @Test
    void prefixIsAPlainStringPrefix() {
        // Given a prefix without a trailing slash
        RouteTable<String> table = RouteTable.build(List.of(route(null, "/api", "api")));

        // When / Then: it also covers /apix, which is why directory prefixes should end with /
        assertThat(table.match("x", "/apix")).isEqualTo("api");
    }

    @Test
    void configuredHostsAreMatchedInLowerCase() {
        // Given
        RouteTable<String> table = RouteTable.build(List.of(
                route("API.Internal", "/", "exact"),
                route("*.Example.ORG", "/", "wildcard")));

        // When / Then
        assertThat(table.match("api.internal", "/")).isEqualTo("exact");
        assertThat(table.match("www.example.org", "/")).isEqualTo("wildcard");
    }

    @Test
    void duplicateHostAndPrefixIsRejectedNamingBothEntries() {
        assertThatThrownBy(() -> RouteTable.build(List.of(
                route("api.internal", "/x/", "first"),
                route(null, "/x/", "other"),
                route("API.internal", "/x/", "second"))))
                .isInstanceOf(IllegalArgumentException.class)
                .hasMessageContaining("entries[0] (first)")
                .hasMessageContaining("entries[2] (second)")
                .hasMessageContaining("\"api.internal\"")
                .hasMessageContaining("\"/x/\"");
    }

    @Test
    void duplicateHostlessPrefixIsRejected() {
        assertThatThrownBy(() -> RouteTable.build(List.of(route(null, "/", "a"), route(null, "/", "b"))))
                .isInstanceOf(IllegalArgumentException.class)
                .hasMessageContaining("entries[0] (a)")
                .hasMessageContaining("entries[1] (b)");
    }

    @Test
    void duplicateMessageUsesTheGivenDescription() {
        assertThatThrownBy(() -> RouteTable.build(
                List.of(route(null, "/", "a-long-runtime-object"), route(null, "/", "b-long-runtime-object")),
                value -> value.substring(0, 1)))
                .isInstanceOf(IllegalArgumentException.class)
                .hasMessage("entries[0] (a) and entries[1] (b) both have host (any) and path prefix \"/\"");
    }

    @ParameterizedTest
    @ValueSource(strings = {"", "*", "*.", "a.*.b", "*a.b", "*.*.b", "a*"})
    void malformedHostPatternIsRejected(String host) {
        assertThatThrownBy(() -> route(host, "/", "r")).isInstanceOf(IllegalArgumentException.class)
                .hasMessageContaining("expected:");
    }

    @Test
    void prefixMustStartWithSlash() {
        assertThatThrownBy(() -> route(null, "api", "r")).isInstanceOf(IllegalArgumentException.class)
                .hasMessageContaining("(expected: starts with /)");
    }
}
