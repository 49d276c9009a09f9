package org.mtlsproxy.proxy.authz;

import static java.util.Objects.requireNonNull;

import java.util.ArrayList;
import java.util.List;
import org.mtlsproxy.config.AllowRule;
import org.mtlsproxy.proxy.identity.ClientIdentity;

/**
 * Decides whether a client identity may use a route, from the route's allow rules.
 *
 * <p>Semantics (fail closed throughout):
 * <ul>
 *   <li>a rule matches when every field it sets matches (AND);
 *   <li>rules are tried in order and the first that matches allows the request (OR), naming itself;
 *   <li>when none matches, or there are none, the request is denied.
 * </ul>
 *
 * <p>{@link #compile} does all the work that can be done once: it parses patterns, builds the matchers and every
 * {@link Decision} this authorizer can return. {@link #decide} then runs per request without allocating.
 */
public final class Authorizer {

    static final Decision NO_RULES = Decision.denied("route has no allow rules");
    static final Decision NO_MATCH = Decision.denied("no allow rule matched");

    private final IdentityMatcher[] matchers;
    private final Decision[] allowed;
    private final Decision denied;

    private Authorizer(IdentityMatcher[] matchers, Decision[] allowed) {
        this.matchers = matchers;
        this.allowed = allowed;
        this.denied = matchers.length == 0 ? NO_RULES : NO_MATCH;
    }

    /**
     * Compiles allow rules, in order.
     *
     * @throws IllegalArgumentException if a rule sets no field or holds an invalid value, naming the rule
     */
    public static Authorizer compile(List<AllowRule> rules) {
        requireNonNull(rules, "rules");
        IdentityMatcher[] matchers = new IdentityMatcher[rules.size()];
        Decision[] allowed = new Decision[rules.size()];
        for (int i = 0; i < rules.size(); i++) {
            AllowRule rule = requireNonNull(rules.get(i), "rules[" + i + "]");
            try {
                matchers[i] = compile(rule);
            } catch (IllegalArgumentException e) {
                throw new IllegalArgumentException("allow rule " + rule.name() + ": " + e.getMessage(), e);
            }
            allowed[i] = Decision.allowedBy(rule.name());
        }
        return new Authorizer(matchers, allowed);
    }

    private static IdentityMatcher compile(AllowRule rule) {
        List<IdentityMatcher> all = new ArrayList<>();
        // Cheapest and most selective first; the order does not change the result.
        rule.trustBundle().ifPresent(v -> all.add(new Matchers.TrustBundle(v)));
        rule.trustDomain().ifPresent(v -> all.add(new Matchers.TrustDomain(v)));
        rule.fingerprintSha256().ifPresent(v -> all.add(new Matchers.FingerprintSha256(v)));
        rule.spiffeId().ifPresent(v -> all.add(new Matchers.SpiffeId(SpiffeIdPattern.parse(v))));
        rule.uriSan().ifPresent(v -> all.add(new Matchers.UriSan(v)));
        rule.dnsSan().ifPresent(v -> all.add(new Matchers.DnsSan(v)));
        rule.subjectCn().ifPresent(v -> all.add(new Matchers.SubjectCn(v)));
        rule.subjectOu().ifPresent(v -> all.add(new Matchers.SubjectOu(v)));
        rule.subjectO().ifPresent(v -> all.add(new Matchers.SubjectO(v)));
        // AllOf refuses an empty list, so a rule with no fields can never allow everyone.
        return new Matchers.AllOf(all);
    }

    /**
     * The decision for {@code identity}: the first matching rule allows it, otherwise it is denied.
     */
    public Decision decide(ClientIdentity identity) {
        requireNonNull(identity, "identity");
        for (int i = 0; i < matchers.length; i++) {
            if (matchers[i].test(identity)) {
                return allowed[i];
            }
        }
        return denied;
    }

    @Override
    public String toString() {
        return "Authorizer" + List.of(matchers);
    }
}
