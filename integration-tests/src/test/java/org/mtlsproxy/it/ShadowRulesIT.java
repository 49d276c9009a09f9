package org.mtlsproxy.it;

import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

import ch.qos.logback.classic.Level;
import ch.qos.logback.classic.Logger;
import ch.qos.logback.classic.spi.ILoggingEvent;
import ch.qos.logback.core.read.ListAppender;
import io.netty.handler.codec.http.HttpMethod;
import java.nio.file.Files;
import java.time.Duration;
import java.util.List;
import java.util.Map;
import java.util.stream.Collectors;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.mtlsproxy.testing.RecordingBackend;
import org.mtlsproxy.testing.TestHttpClient;
import org.mtlsproxy.testing.TestPki;
import org.slf4j.LoggerFactory;

/**
 * shadow-allow rules through real mTLS: counted and logged beside the enforced decision, never enforced, swapped by a
 * reload. The good client ({@value TestPki#GOOD_CLIENT_SPIFFE_ID}) is allowed by the enforced rules, the other
 * client ({@value TestPki#OTHER_CLIENT_SPIFFE_ID}) is not.
 */
class ShadowRulesIT {

    private static final TestPki PKI = TestPki.get();
    private static final String ENFORCED = "{ name = prod, spiffe-id = \"spiffe://test.local/ns/prod/**\" }";
    /** The opposite of the enforced rules: dev in, prod out. */
    private static final String FLIPPED = "shadow-allow = [{ name = dev, spiffe-id = \"spiffe://test.local/ns/dev/**\" }]";
    /** Agrees with the enforced rules for both clients. */
    private static final String AGREEING = "shadow-allow = [{ name = orders-cn, subject-cn = orders }]";

    private final ListAppender<ILoggingEvent> shadowLog = new ListAppender<>();
    private final ListAppender<ILoggingEvent> accessLog = new ListAppender<>();
    private final Logger shadowLogger = (Logger) LoggerFactory.getLogger("mtls_proxy.authz.shadow");
    private final Logger accessLogger = (Logger) LoggerFactory.getLogger("mtls_proxy.access");
    private RecordingBackend backend;

    @BeforeEach
    void start() {
        backend = RecordingBackend.start(PKI.backendServer());
        for (var pair : List.of(Map.entry(shadowLogger, shadowLog), Map.entry(accessLogger, accessLog))) {
            pair.getValue().start();
            pair.getKey().addAppender(pair.getValue());
            pair.getKey().setLevel(Level.INFO);
        }
    }

    @AfterEach
    void stop() {
        shadowLogger.detachAppender(shadowLog);
        accessLogger.detachAppender(accessLog);
        shadowLogger.setLevel(null);
        accessLogger.setLevel(null);
        backend.close();
    }

    private ProxyFixture.Builder proxy() {
        return ProxyFixture.builder().backend("b", backend.port())
                .route("flip", null, "/flip/", "b", ENFORCED, FLIPPED)
                .route("agree", null, "/agree/", "b", ENFORCED, AGREEING)
                .route("plain", null, "/plain/", "b", ENFORCED);
    }

    @Test
    void shadowDecisionsAreCountedAndLoggedButTheEnforcedDecisionStands() throws Exception {
        try (ProxyFixture proxy = proxy().start();
                TestHttpClient good = proxy.client(PKI.goodClient());
                TestHttpClient other = proxy.client(PKI.otherClient())) {
            // Given rules that flip the enforced decision on /flip/ and agree with it on /agree/
            // When both clients call both routes
            assertThat(good.get("/flip/a").status()).isEqualTo(200);
            assertThat(other.get("/flip/b").status()).isEqualTo(403);
            assertThat(good.get("/agree/c").status()).isEqualTo(200);
            assertThat(other.get("/agree/d").status()).isEqualTo(403);
            assertThat(good.get("/plain/e").status()).isEqualTo(200);

            // Then only the enforced rules decided what reached the backend
            assertThat(backend.received()).extracting(RecordingBackend.Received::uri)
                    .containsExactly("/flip/a", "/agree/c", "/plain/e");
            // and the shadow rules were counted with the right tags
            assertThat(shadow(proxy, "flip", "allowed")).isEqualTo(1);
            assertThat(shadow(proxy, "flip", "denied")).isEqualTo(1);
            assertThat(disagreements(proxy, "flip", "allowed", "denied")).isEqualTo(1);
            assertThat(disagreements(proxy, "flip", "denied", "allowed")).isEqualTo(1);
            assertThat(shadow(proxy, "agree", "allowed")).isEqualTo(1);
            assertThat(shadow(proxy, "agree", "denied")).isEqualTo(1);
            assertThat(disagreements(proxy, "agree", "allowed", "denied")).isZero();
            assertThat(disagreements(proxy, "agree", "denied", "allowed")).isZero();
            assertThat(proxy.metrics().registry().find("mtls_proxy.authz.shadow.decisions").tag("route", "plain")
                    .counters()).as("a route without shadow rules has no shadow meters").isEmpty();
            // the enforced decisions are counted as before
            assertThat(proxy.counter("mtls_proxy.authz.decisions", "route", "flip", "result", "allowed",
                    "rule", "prod")).isEqualTo(1);
            assertThat(proxy.counter("mtls_proxy.authz.decisions", "route", "flip", "result", "denied",
                    "rule", "")).isEqualTo(1);

            // and each disagreement was logged once, with both decisions and who the client was
            await().atMost(Duration.ofSeconds(5)).until(() -> accessLog.list.size() >= 5);
            assertThat(shadowLog.list).hasSize(2);
            assertThat(kv(shadowLog.list.get(0))).containsEntry("route", "flip")
                    .containsEntry("enforced", "allowed").containsEntry("enforced_rule", "prod")
                    .containsEntry("shadow", "denied").containsEntry("shadow_rule", "no allow rule matched")
                    .containsEntry("spiffe_id", TestPki.GOOD_CLIENT_SPIFFE_ID)
                    .containsKey("fingerprint_sha256");
            assertThat(kv(shadowLog.list.get(1))).containsEntry("route", "flip")
                    .containsEntry("enforced", "denied").containsEntry("enforced_rule", "no allow rule matched")
                    .containsEntry("shadow", "allowed").containsEntry("shadow_rule", "dev")
                    .containsEntry("spiffe_id", TestPki.OTHER_CLIENT_SPIFFE_ID);
            // and the access log carries the shadow decision where the route has shadow rules
            Map<String, Map<String, String>> byPath = accessLog.list.stream().map(ShadowRulesIT::kv)
                    .filter(m -> m.containsKey("path")).collect(Collectors.toMap(m -> m.get("path"), m -> m));
            assertThat(byPath.get("/flip/a")).containsEntry("shadow", "denied").containsEntry("shadow_rule", "");
            assertThat(byPath.get("/flip/b")).containsEntry("decision", "denied").containsEntry("shadow", "allowed")
                    .containsEntry("shadow_rule", "dev");
            assertThat(byPath.get("/agree/c")).containsEntry("shadow", "allowed")
                    .containsEntry("shadow_rule", "orders-cn");
            assertThat(byPath.get("/plain/e")).doesNotContainKey("shadow");
        }
    }

    @Test
    void http2StreamsAreShadowEvaluatedToo() throws Exception {
        try (ProxyFixture proxy = proxy().start();
                H2Client good = new H2Client(proxy.port(), PKI.goodClient(), TestPki.PROXY_DNS_NAME, List.of("h2"));
                H2Client other = new H2Client(proxy.port(), PKI.otherClient(), TestPki.PROXY_DNS_NAME,
                        List.of("h2"))) {
            assertThat(good.protocol()).isEqualTo("h2");

            assertThat(good.get("/flip/1", TestPki.PROXY_DNS_NAME).status()).isEqualTo(200);
            assertThat(good.get("/flip/2", TestPki.PROXY_DNS_NAME).status()).isEqualTo(200);
            assertThat(other.request(HttpMethod.GET, "/flip/3", TestPki.PROXY_DNS_NAME, null).get().status())
                    .isEqualTo(403);

            assertThat(shadow(proxy, "flip", "denied")).isEqualTo(2);
            assertThat(shadow(proxy, "flip", "allowed")).isEqualTo(1);
            assertThat(disagreements(proxy, "flip", "allowed", "denied")).isEqualTo(2);
            assertThat(disagreements(proxy, "flip", "denied", "allowed")).isEqualTo(1);
            assertThat(backend.received()).hasSize(2);
        }
    }

    @Test
    void aReloadSwapsTheShadowRules() throws Exception {
        try (ProxyFixture proxy = proxy().start();
                TestHttpClient good = proxy.client(PKI.goodClient())) {
            assertThat(good.get("/flip/before").status()).isEqualTo(200);
            assertThat(disagreements(proxy, "flip", "allowed", "denied")).isEqualTo(1);

            // When the shadow rules of /flip/ are changed to agree and the config is reloaded
            String conf = Files.readString(proxy.configFile());
            Files.writeString(proxy.configFile(), conf.replace(FLIPPED,
                    "shadow-allow = [{ name = prod-too, spiffe-id = \"spiffe://test.local/ns/prod/sa/*\" }]"));
            assertThat(proxy.server().reload("test").get().success()).isTrue();

            // Then a new connection is judged by the new shadow rules (and the enforced result is unchanged)
            try (TestHttpClient fresh = proxy.client(PKI.goodClient())) {
                assertThat(fresh.get("/flip/after").status()).isEqualTo(200);
            }
            assertThat(disagreements(proxy, "flip", "allowed", "denied")).isEqualTo(1);
            assertThat(shadow(proxy, "flip", "allowed")).isEqualTo(1);
            await().atMost(Duration.ofSeconds(5)).until(() -> accessLog.list.stream().map(ShadowRulesIT::kv)
                    .anyMatch(m -> "/flip/after".equals(m.get("path"))));
            assertThat(accessLog.list.stream().map(ShadowRulesIT::kv)
                    .filter(m -> "/flip/after".equals(m.get("path"))).findFirst().orElseThrow())
                    .containsEntry("shadow", "allowed").containsEntry("shadow_rule", "prod-too");
        }
    }

    private static double shadow(ProxyFixture proxy, String route, String result) {
        return proxy.counter("mtls_proxy.authz.shadow.decisions", "route", route, "result", result);
    }

    private static double disagreements(ProxyFixture proxy, String route, String enforced, String shadow) {
        return proxy.counter("mtls_proxy.authz.shadow.disagreements", "route", route, "enforced", enforced,
                "shadow", shadow);
    }

    private static Map<String, String> kv(ILoggingEvent e) {
        return e.getKeyValuePairs() == null ? Map.of() : e.getKeyValuePairs().stream()
                .collect(Collectors.toMap(kv -> kv.key, kv -> String.valueOf(kv.value), (a, b) -> b));
    }
}
