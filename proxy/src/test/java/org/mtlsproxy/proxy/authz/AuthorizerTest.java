package org.mtlsproxy.proxy.authz;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;
import static org.mtlsproxy.proxy.authz.TestIdentities.FINGERPRINT;
import static org.mtlsproxy.proxy.authz.TestIdentities.identity;
import static org.mtlsproxy.proxy.authz.TestRules.rule;

import java.util.List;
import java.util.Optional;
import org.junit.jupiter.api.Nested;
import org.junit.jupiter.api.Test;
import org.mtlsproxy.config.AllowRule;
import org.mtlsproxy.proxy.identity.ClientIdentity;

class AuthorizerTest {

    private static Decision decide(AllowRule rule, ClientIdentity id) {
        return Authorizer.compile(List.of(rule)).decide(id);
    }

    @Test
    void emptyRuleListDeniesEveryone() {
        // Given
        Authorizer authorizer = Authorizer.compile(List.of());

        // When
        Decision decision = authorizer.decide(identity().spiffeId("spiffe://td/a").cn("a").build());

        // Then
        assertThat(decision.allowed()).isFalse();
        assertThat(decision.rule()).isNull();
        assertThat(decision.reason()).isEqualTo("route has no allow rules");
    }

    @Test
    void noMatchingRuleDeniesWithReason() {
        // Given
        Authorizer authorizer = Authorizer.compile(List.of(rule("allow[0]").subjectCn("admin").build()));

        // When
        Decision decision = authorizer.decide(identity().cn("guest").build());

        // Then
        assertThat(decision).isEqualTo(new Decision(false, null, "no allow rule matched"));
    }

    @Test
    void firstMatchingRuleWinsAndNamesItself() {
        // Given three rules, the second and third both matching
        Authorizer authorizer = Authorizer.compile(List.of(
                rule("admins").subjectCn("admin").build(),
                rule("shop").spiffeId("spiffe://td/ns/shop/**").build(),
                rule("anyone-internal").trustBundle("internal").build()));

        // When
        Decision decision = authorizer.decide(identity().spiffeId("spiffe://td/ns/shop/sa/web").build());

        // Then
        assertThat(decision).isEqualTo(new Decision(true, "shop", "allowed by shop"));
    }

    @Test
    void rulesAreOredSoALaterRuleCanAllow() {
        // Given
        Authorizer authorizer = Authorizer.compile(List.of(
                rule("allow[0]").subjectCn("admin").build(),
                rule("allow[1]").subjectCn("ops").build()));

        // When / Then
        assertThat(authorizer.decide(identity().cn("ops").build()).rule()).isEqualTo("allow[1]");
        assertThat(authorizer.decide(identity().cn("admin").build()).rule()).isEqualTo("allow[0]");
    }

    @Test
    void everyFieldOfARuleMustMatch() {
        // Given a rule with three fields
        Authorizer authorizer = Authorizer.compile(List.of(
                rule("ops-in-acme").subjectOu("ops").subjectO("acme").trustBundle("internal").build()));

        // When / Then: all three match
        assertThat(authorizer.decide(identity().ous("ops").os("acme").build()).allowed()).isTrue();
        // each one missing denies
        assertThat(authorizer.decide(identity().ous("dev").os("acme").build()).allowed()).isFalse();
        assertThat(authorizer.decide(identity().ous("ops").os("other").build()).allowed()).isFalse();
        assertThat(authorizer.decide(identity().ous("ops").os("acme").trustBundle("partners").build()).allowed())
                .isFalse();
    }

    @Test
    void decisionsArePrebuiltSoDecidingReturnsTheSameInstances() {
        // Given
        Authorizer authorizer = Authorizer.compile(List.of(rule("allow[0]").subjectCn("a").build()));
        ClientIdentity allowed = identity().cn("a").build();
        ClientIdentity denied = identity().cn("b").build();

        // When / Then
        assertThat(authorizer.decide(allowed)).isSameAs(authorizer.decide(allowed));
        assertThat(authorizer.decide(denied)).isSameAs(authorizer.decide(denied));
    }

    @Test
    void invalidSpiffePatternFailsCompilationNamingTheRule() {
        assertThatThrownBy(() -> Authorizer.compile(List.of(rule("allow[3]").spiffeId("spife://x").build())))
                .isInstanceOf(IllegalArgumentException.class)
                .hasMessageContaining("allow[3]")
                .hasMessageContaining("(expected: spiffe://<trust-domain>/<path>)");
    }

    @Test
    void malformedFingerprintFailsCompilation() {
        assertThatThrownBy(() -> Authorizer.compile(List.of(rule("fp").fingerprint("AB:CD").build())))
                .isInstanceOf(IllegalArgumentException.class)
                .hasMessageContaining("fp")
                .hasMessageContaining("64 lower-case hex digits");
    }

    @Test
    void ruleWithoutFieldsCannotBeCompiledIntoAllowAll() {
        // AllowRule itself refuses this; the matcher layer refuses it again, independently.
        assertThatThrownBy(() -> new Matchers.AllOf(List.of())).isInstanceOf(IllegalArgumentException.class);
    }

    @Test
    void decisionRefusesInconsistentFields() {
        assertThatThrownBy(() -> new Decision(true, null, "x")).isInstanceOf(IllegalArgumentException.class);
        assertThatThrownBy(() -> new Decision(false, "r", "x")).isInstanceOf(IllegalArgumentException.class);
    }

    @Nested
    class EachMatcher {

        @Test
        void spiffeIdMatchesThePatternAndNeedsASpiffeId() {
            AllowRule r = rule("r").spiffeId("spiffe://td/ns/*/sa/web").build();
            assertThat(decide(r, identity().spiffeId("spiffe://td/ns/shop/sa/web").build()).allowed()).isTrue();
            assertThat(decide(r, identity().spiffeId("spiffe://td/ns/shop/sa/db").build()).allowed()).isFalse();
            // the same text as a plain URI SAN, without being the SPIFFE ID, does not count
            assertThat(decide(r, identity().uriSans("spiffe://td/ns/shop/sa/web").build()).allowed()).isFalse();
        }

        @Test
        void uriSanMatchesAnySanExactly() {
            AllowRule r = rule("r").uriSan("https://example.org/id").build();
            assertThat(decide(r, identity().uriSans("urn:x", "https://example.org/id").build()).allowed()).isTrue();
            assertThat(decide(r, identity().uriSans("https://example.org/ID").build()).allowed()).isFalse();
            assertThat(decide(r, identity().uriSans("https://example.org/id/x").build()).allowed()).isFalse();
            assertThat(decide(r, identity().build()).allowed()).isFalse();
        }

        @Test
        void dnsSanMatchesAnySanIgnoringAsciiCase() {
            AllowRule r = rule("r").dnsSan("api.example.org").build();
            assertThat(decide(r, identity().dnsSans("x.example.org", "API.Example.ORG").build()).allowed()).isTrue();
            assertThat(decide(r, identity().dnsSans("api.example.org.evil").build()).allowed()).isFalse();
            assertThat(decide(r, identity().build()).allowed()).isFalse();
        }

        @Test
        void dnsSanDoesNotFoldNonAsciiLookalikes() {
            // U+212A KELVIN SIGN equalsIgnoreCase "k" in Java; it must not match here.
            AllowRule r = rule("r").dnsSan("k.example.org").build();
            assertThat(decide(r, identity().dnsSans("\u212A.example.org").build()).allowed()).isFalse();
        }

        @Test
        void subjectCnMatchesExactly() {
            AllowRule r = rule("r").subjectCn("orders").build();
            assertThat(decide(r, identity().cn("orders").build()).allowed()).isTrue();
            assertThat(decide(r, identity().cn("Orders").build()).allowed()).isFalse();
            assertThat(decide(r, identity().build()).allowed()).isFalse();
        }

        @Test
        void subjectOuMatchesAnyOuExactly() {
            AllowRule r = rule("r").subjectOu("ops").build();
            assertThat(decide(r, identity().ous("dev", "ops").build()).allowed()).isTrue();
            assertThat(decide(r, identity().ous("ops-team").build()).allowed()).isFalse();
            assertThat(decide(r, identity().build()).allowed()).isFalse();
        }

        @Test
        void subjectOMatchesAnyOExactly() {
            AllowRule r = rule("r").subjectO("acme").build();
            assertThat(decide(r, identity().os("other", "acme").build()).allowed()).isTrue();
            assertThat(decide(r, identity().os("ACME").build()).allowed()).isFalse();
            assertThat(decide(r, identity().build()).allowed()).isFalse();
        }

        @Test
        void fingerprintMatchesExactly() {
            AllowRule r = rule("r").fingerprint(FINGERPRINT).build();
            assertThat(decide(r, identity().build()).allowed()).isTrue();
            assertThat(decide(r, identity().fingerprint("f".repeat(64)).build()).allowed()).isFalse();
        }

        @Test
        void trustBundleMatchesExactly() {
            AllowRule r = rule("r").trustBundle("partners").build();
            assertThat(decide(r, identity().trustBundle("partners").build()).allowed()).isTrue();
            assertThat(decide(r, identity().trustBundle("internal").build()).allowed()).isFalse();
        }

        @Test
        void trustDomainMatchesTheWholeAuthorityOfTheSpiffeIdExactly() {
            AllowRule r = rule("r").trustDomain("partner.example").build();
            assertThat(decide(r, identity().spiffeId("spiffe://partner.example/ns/a/sa/b").build()).allowed())
                    .isTrue();
            assertThat(decide(r, identity().spiffeId("spiffe://partner.example").build()).allowed()).isTrue();
            assertThat(decide(r, identity().spiffeId("spiffe://partner.example.evil/x").build()).allowed())
                    .isFalse();
            assertThat(decide(r, identity().spiffeId("spiffe://Partner.Example/x").build()).allowed()).isFalse();
            assertThat(decide(r, identity().spiffeId("spiffe://partner.example:443/x").build()).allowed())
                    .isFalse();
            assertThat(decide(r, identity().spiffeId("spiffe://prod.example/x").build()).allowed()).isFalse();
            assertThat(decide(r, identity().cn("partner.example").build()).allowed()).isFalse();
        }
    }

    @Test
    void identityWithoutSpiffeIdIsNotMatchedByAnyWildcard() {
        // Given the broadest possible SPIFFE rule
        Authorizer authorizer = Authorizer.compile(List.of(rule("any").spiffeId("spiffe://td/**").build()));

        // When
        Decision decision = authorizer.decide(identity().cn("x").build());

        // Then
        assertThat(decision.allowed()).isFalse();
        assertThat(Optional.ofNullable(decision.rule())).isEmpty();
    }
}
