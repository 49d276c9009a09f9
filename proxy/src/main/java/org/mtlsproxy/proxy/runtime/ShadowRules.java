package org.mtlsproxy.proxy.runtime;

import static java.util.Objects.requireNonNull;

import java.util.List;
import java.util.concurrent.atomic.AtomicLong;
import java.util.concurrent.atomic.LongAdder;
import org.mtlsproxy.config.AllowRule;
import org.mtlsproxy.proxy.authz.Authorizer;
import org.mtlsproxy.proxy.authz.Decision;
import org.mtlsproxy.proxy.identity.ClientIdentity;
import org.mtlsproxy.proxy.metrics.ProxyMetrics.ShadowMeters;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The dry-run ({@code shadow-allow}) rules of one route or tcp listener: decided beside the enforced rules, counted,
 * and logged when the two disagree, never enforced. A route without shadow rules has none of this (null), so its
 * requests pay nothing.
 *
 * <p>Disagreement lines go to the logger {@code mtls_proxy.authz.shadow}, at most {@value #LOG_LINES_PER_SECOND}
 * per second per route (a misjudged rule on a busy route would otherwise flood the log); the next line logged
 * says how many were left out. The counters see every request.
 */
public final class ShadowRules {

    static final int LOG_LINES_PER_SECOND = 10;
    private static final Logger LOG = LoggerFactory.getLogger("mtls_proxy.authz.shadow");
    private static final long SECOND_NANOS = 1_000_000_000L;

    private final String scopeKind;
    private final String scope;
    private final Authorizer authorizer;
    private final ShadowMeters meters;
    /** Start of the current one-second log window (nanoTime) and lines logged in it. */
    private final AtomicLong window = new AtomicLong(System.nanoTime());
    private final AtomicLong loggedInWindow = new AtomicLong();
    private final LongAdder suppressed = new LongAdder();

    private ShadowRules(String scopeKind, String scope, Authorizer authorizer, ShadowMeters meters) {
        this.scopeKind = scopeKind;
        this.scope = scope;
        this.authorizer = authorizer;
        this.meters = meters;
    }

    /**
     * Compiles {@code rules}; null when there are none.
     *
     * @param scopeKind {@code route} or {@code listener}, the log key naming {@code scope}
     * @throws IllegalArgumentException if a rule cannot be compiled, naming the rule
     */
    public static ShadowRules compileOrNull(List<AllowRule> rules, String scopeKind, String scope,
            ShadowMeters meters) {
        requireNonNull(rules, "rules");
        if (rules.isEmpty()) {
            return null;
        }
        return new ShadowRules(requireNonNull(scopeKind, "scopeKind"), requireNonNull(scope, "scope"),
                Authorizer.compile(rules), requireNonNull(meters, "meters"));
    }

    /** The compiled shadow rules, e.g. for a tool that reports what they would decide. */
    public Authorizer authorizer() {
        return authorizer;
    }

    /**
     * Decides {@code identity} with the shadow rules, counts the outcome next to {@code enforced} and logs a
     * disagreement. Allocates nothing unless it logs.
     *
     * @param remote the client address, for the log line
     * @return the shadow decision, for the access log
     */
    public Decision evaluate(Decision enforced, ClientIdentity identity, String remote) {
        Decision shadow = authorizer.decide(identity);
        meters.decided(enforced.allowed(), shadow.allowed());
        if (enforced.allowed() != shadow.allowed() && LOG.isInfoEnabled() && mayLog(System.nanoTime())) {
            LOG.atInfo()
                    .addKeyValue(scopeKind, scope)
                    .addKeyValue("remote", remote == null ? "" : remote)
                    .addKeyValue("enforced", label(enforced))
                    .addKeyValue("enforced_rule", enforced.allowed() ? enforced.rule() : enforced.reason())
                    .addKeyValue("shadow", label(shadow))
                    .addKeyValue("shadow_rule", shadow.allowed() ? shadow.rule() : shadow.reason())
                    .addKeyValue("spiffe_id", identity.spiffeId().orElse(""))
                    .addKeyValue("subject", identity.subjectDn())
                    .addKeyValue("fingerprint_sha256", identity.sha256Fingerprint())
                    .addKeyValue("suppressed", suppressed.sumThenReset())
                    .log("shadow rules disagree with the enforced decision");
        }
        return shadow;
    }

    /** {@code allowed} or {@code denied}. */
    public static String label(Decision d) {
        return d.allowed() ? "allowed" : "denied";
    }

    private boolean mayLog(long now) {
        long start = window.get();
        if (now - start >= SECOND_NANOS && window.compareAndSet(start, now)) {
            loggedInWindow.set(0);
        }
        if (loggedInWindow.incrementAndGet() <= LOG_LINES_PER_SECOND) {
            return true;
        }
        suppressed.increment();
        return false;
    }
}
