package org.mtlsproxy.proxy.authz;

import static java.util.Objects.requireNonNull;

/**
 * The outcome of authorizing one request, with the reason a person reads in the access log.
 *
 * <p>{@link Authorizer} builds every possible decision when it compiles the rules and returns one of those
 * instances, so deciding allocates nothing.
 *
 * @param allowed whether the request may proceed
 * @param rule    the name of the allow rule that matched; {@code null} when denied
 * @param reason  why, e.g. {@code allowed by allow[0]} or {@code no allow rule matched}
 */
public record Decision(boolean allowed, String rule, String reason) {

    public Decision {
        requireNonNull(reason, "reason");
        if (allowed && rule == null) {
            throw new IllegalArgumentException("an allowing decision must name its rule");
        }
        if (!allowed && rule != null) {
            throw new IllegalArgumentException("a denying decision names no rule (got: " + rule + ")");
        }
    }

    static Decision allowedBy(String rule) {
        return new Decision(true, rule, "allowed by " + rule);
    }

    static Decision denied(String reason) {
        return new Decision(false, null, reason);
    }
}
