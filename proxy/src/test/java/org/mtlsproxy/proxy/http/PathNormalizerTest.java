package org.mtlsproxy.proxy.http;

import static org.assertj.core.api.Assertions.assertThat;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;
import org.junit.jupiter.params.provider.ValueSource;

class PathNormalizerTest {

    @ParameterizedTest
    @ValueSource(strings = {
            "/",
            "/api/v1/users",
            "/api/v1/users?id=1&x=y",
            "/a/%2F/b",
            "/files/a%20b",
            "/.well-known/acme",
            "/a/.../b",
            "/a;b=c/d",
            "/a..b/c.",
            "/q?a=%zz&b=/../&c=%5c",
    })
    void normalTargetIsReturnedAsTheSameInstance(String target) {
        // When
        String normalized = PathNormalizer.normalize(target);

        // Then
        assertThat(normalized).isSameAs(target);
    }

    @ParameterizedTest(name = "{0} -> {1}")
    @CsvSource({
            // encoded unreserved characters are decoded, so /%61dmin/ is routed as /admin/
            "/%61dmin/x, /admin/x",
            "/%41%5a%30%2D%2e%5F%7e, /AZ0-._~",
            // other escapes keep their encoding with upper-case hex
            "/a%2fb, /a%2Fb",
            "/a%3fb%c3%a9, /a%3Fb%C3%A9",
            // runs of slashes are merged
            "//admin, /admin",
            "/a///b//c/, /a/b/c/",
            // the query is carried over untouched
            "//a/%61?x=%61&y=//z, /a/a?x=%61&y=//z",
            // a fragment is dropped
            "/a#frag, /a",
            "/a?q=1#frag, /a?q=1",
            "/a/b#/../../etc, /a/b",
    })
    void targetIsNormalised(String target, String expected) {
        assertThat(PathNormalizer.normalize(target)).isEqualTo(expected);
    }

    @ParameterizedTest
    @ValueSource(strings = {
            // traversal
            "/..",
            "/.",
            "/a/../admin",
            "/a/./b",
            "/a/..",
            "/public//../admin",
            // encoded traversal
            "/a/%2e%2e/admin",
            "/a/%2E%2E/admin",
            "/a/.%2e/admin",
            "/a/%2e/b",
            // traversal that some backends resolve: ..;/ (Tomcat) and ..%2F (decode-then-resolve)
            "/public/..;/admin",
            "/public/..;x=y/admin",
            "/public/..%2Fadmin",
            "/public/%2e%2e%2fadmin",
            "/public/a%2F..%2Fadmin",
            // backslashes
            "/public\\..\\admin",
            "/public/%5c..%5cadmin",
            // malformed escapes
            "/a%",
            "/a%2",
            "/a%zz",
            "/a%g1",
            "/a%\u0661\u0661",
            // NUL and control characters, encoded or raw
            "/a%00b",
            "/a%0ab",
            "/a%0D%0Ab",
            "/a%7Fb",
            "/a\u0000b",
            "/a\tb",
            "/a\u007fb",
            "/a b",
            "/a?q=\u0001",
            "/a?q=x y",
            // non-ASCII
            "/caf\u00e9",
            "/a?q=\u00e9",
            // not origin-form
            "",
            "a/b",
            "*",
            "http://host/p",
            "?q",
    })
    void unsafeTargetIsRejected(String target) {
        assertThat(PathNormalizer.normalize(target)).isNull();
    }

    @Test
    void nullIsRejected() {
        assertThat(PathNormalizer.normalize(null)).isNull();
    }

    @Test
    void encodedSlashIsNotASeparatorForMerging() {
        // Given an identifier that contains an encoded slash next to a real one
        String target = "/ids/%2F/%2f";

        // When
        String normalized = PathNormalizer.normalize(target);

        // Then both stay encoded and nothing is merged
        assertThat(normalized).isEqualTo("/ids/%2F/%2F");
    }

    @Test
    void alreadyCanonicalEscapesReturnTheSameInstance() {
        // Given a target that takes the slow path but does not change
        String target = "/a%2Fb%C3%A9?x=1";

        // When / Then
        assertThat(PathNormalizer.normalize(target)).isSameAs(target);
    }

    @Test
    void routingPathIsTheNormalisedTargetWithoutItsQuery() {
        assertThat(PathNormalizer.withoutQuery("/a/b?x=1&y=/c")).isEqualTo("/a/b");
        assertThat(PathNormalizer.withoutQuery("/a/b")).isEqualTo("/a/b");
    }
}
