package org.mtlsproxy.proxy.authz;

import java.util.function.Predicate;
import org.mtlsproxy.proxy.identity.ClientIdentity;

/**
 * One condition on a client identity, in the spirit of Envoy's RBAC matchers ({@code rbac/matchers.h}).
 *
 * <p>Implementations are immutable, precompiled, and must not allocate in {@link #test}. An identity that lacks the
 * field a matcher looks at does not match.
 */
@FunctionalInterface
interface IdentityMatcher extends Predicate<ClientIdentity> {
}
