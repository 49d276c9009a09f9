package org.mtlsproxy.proxy.runtime;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import ch.qos.logback.classic.Logger;
import ch.qos.logback.classic.spi.ILoggingEvent;
import ch.qos.logback.core.read.ListAppender;
import java.time.Instant;
import java.util.List;
import java.util.Optional;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.mtlsproxy.config.AllowRule;
import org.mtlsproxy.proxy.authz.Authorizer;
import org.mtlsproxy.proxy.authz.Decision;
import org.mtlsproxy.proxy.identity.ClientIdentity;
import org.mtlsproxy.proxy.metrics.ProxyMetrics;
import org.slf4j.LoggerFactory;
import org.slf4j.event.KeyValuePair;

class ShadowRulesTest {

    private static final String FINGERPRINT = "ab".repeat(32);
    private static final ClientIdentity ORDERS = identity("spiffe://test.local/ns/prod/sa/orders");
    private static final ClientIdentity BILLING = identity("spiffe://test.local/ns/prod/sa/billing");

    private final ListAppender<ILoggingEvent> logged = new ListAppender<>();
    private final Logger logger = (Logger) LoggerFactory.getLogger("mtls_proxy.authz.shadow");
    private final ProxyMetrics metrics = new ProxyMetrics();

    @BeforeEach
    void capture() {
        logged.start();
        logger.addAppender(logged);
    }

    @AfterEach
    void release() {
        logger.detachAppender(logged);
    }

    @Test
    void noRulesCompileToNothing() {
        assertThat(ShadowRules.compileOrNull(List.of(), "route", "r", metrics.shadowRoute("r"))).isNull();
    }

    @Test
    void aRuleThatCannotCompileIsNamed() {
        assertThatThrownBy(() -> ShadowRules.compileOrNull(List.of(rule("shadow-allow[0]", "spiffe://test.local/**"),
                rule("shadow-allow[1]", "not-a-spiffe-id")), "route", "r", metrics.shadowRoute("r")))
                .isInstanceOf(IllegalArgumentException.class)
                .hasMessageStartingWith("allow rule shadow-allow[1]: ");
    }

    @Test
    void countsEveryDecisionAndDisagreementsByDirection() {
        ShadowRules shadow = ShadowRules.compileOrNull(
                List.of(rule("orders-only", "spiffe://test.local/ns/prod/sa/orders")), "route", "api",
                metrics.shadowRoute("api"));
        Decision allowed = Authorizer.compile(List.of(rule("all", "spiffe://test.local/**"))).decide(ORDERS);
        Decision denied = Authorizer.compile(List.of(rule("none", "spiffe://other.local/**"))).decide(ORDERS);

        assertThat(shadow.evaluate(allowed, ORDERS, "10.0.0.1").rule()).isEqualTo("orders-only");
        assertThat(shadow.evaluate(allowed, BILLING, "10.0.0.2").allowed()).isFalse();
        assertThat(shadow.evaluate(denied, ORDERS, "10.0.0.3").allowed()).isTrue();

        assertThat(count("mtls_proxy.authz.shadow.decisions", "route", "api", "result", "allowed")).isEqualTo(2);
        assertThat(count("mtls_proxy.authz.shadow.decisions", "route", "api", "result", "denied")).isEqualTo(1);
        assertThat(count("mtls_proxy.authz.shadow.disagreements", "route", "api", "enforced", "allowed", "shadow",
                "denied")).isEqualTo(1);
        assertThat(count("mtls_proxy.authz.shadow.disagreements", "route", "api", "enforced", "denied", "shadow",
                "allowed")).isEqualTo(1);
        assertThat(shadow.authorizer().decide(ORDERS).rule()).isEqualTo("orders-only");
    }

    @Test
    void logsOneLinePerDisagreementWithBothDecisionsAndTheIdentity() {
        ShadowRules shadow = ShadowRules.compileOrNull(
                List.of(rule("orders-only", "spiffe://test.local/ns/prod/sa/orders")), "route", "api",
                metrics.shadowRoute("api"));
        Decision allowed = Authorizer.compile(List.of(rule("all", "spiffe://test.local/**"))).decide(BILLING);

        shadow.evaluate(allowed, ORDERS, "10.0.0.1");
        shadow.evaluate(allowed, BILLING, "10.0.0.2");

        assertThat(logged.list).singleElement().satisfies(e -> {
            assertThat(e.getFormattedMessage()).isEqualTo("shadow rules disagree with the enforced decision");
            assertThat(e.getKeyValuePairs()).extracting(kv -> kv.key + "=" + kv.value).contains(
                    "route=api", "remote=10.0.0.2", "enforced=allowed", "enforced_rule=all", "shadow=denied",
                    "shadow_rule=no allow rule matched", "spiffe_id=spiffe://test.local/ns/prod/sa/billing",
                    "subject=CN=billing", "fingerprint_sha256=" + FINGERPRINT, "suppressed=0");
        });
    }

    @Test
    void disagreementLinesAreRateLimitedAndTheNextLineCountsWhatWasLeftOut() throws Exception {
        ShadowRules shadow = ShadowRules.compileOrNull(List.of(rule("none", "spiffe://other.local/**")), "route",
                "busy", metrics.shadowRoute("busy"));
        Decision allowed = Authorizer.compile(List.of(rule("all", "spiffe://test.local/**"))).decide(ORDERS);

        for (int i = 0; i < 25; i++) {
            shadow.evaluate(allowed, ORDERS, "10.0.0.1");
        }
        assertThat(logged.list).hasSize(ShadowRules.LOG_LINES_PER_SECOND);
        Thread.sleep(1_100);
        shadow.evaluate(allowed, ORDERS, "10.0.0.1");

        assertThat(logged.list).hasSize(ShadowRules.LOG_LINES_PER_SECOND + 1);
        List<KeyValuePair> last = logged.list.get(logged.list.size() - 1).getKeyValuePairs();
        assertThat(last).filteredOn(kv -> kv.key.equals("suppressed")).singleElement()
                .extracting(kv -> kv.value).isEqualTo(15L);
        assertThat(count("mtls_proxy.authz.shadow.disagreements", "route", "busy", "enforced", "allowed", "shadow",
                "denied")).isEqualTo(26);
    }

    private double count(String name, String... tags) {
        return metrics.registry().get(name).tags(tags).counter().count();
    }

    private static AllowRule rule(String name, String spiffeId) {
        return new AllowRule(name, Optional.of(spiffeId), Optional.empty(), Optional.empty(), Optional.empty(),
                Optional.empty(), Optional.empty(), Optional.empty(), Optional.empty(), Optional.empty());
    }

    private static ClientIdentity identity(String spiffeId) {
        String cn = spiffeId.substring(spiffeId.lastIndexOf('/') + 1);
        return new ClientIdentity(Optional.of(spiffeId), List.of(spiffeId), List.of(), List.of(), List.of(),
                "CN=" + cn, Optional.of(cn), List.of(), List.of(), "CN=Test CA", "1", FINGERPRINT,
                Instant.parse("2030-01-01T00:00:00Z"), "internal");
    }
}
