package org.mtlsproxy.config;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;
import static org.assertj.core.api.Assertions.catchThrowableOfType;
import static org.assertj.core.api.Assertions.tuple;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** Every kind of mistake yields a problem naming the file and line, the path and what was expected. */
class ConfigProblemsTest {

    private static final String SOURCE = "proxy.conf";

    @TempDir
    Path dir;

    TestPki pki;

    @BeforeEach
    void createPki() throws Exception {
        pki = new TestPki(dir);
    }

    @Test
    void unknownKeyIsReportedWithFileLineAndSuggestion() {
        String hocon = TestPki.validConfigWith("path-prefix = \"/orders/\"", "path-prefx = \"/orders/\"");

        assertThat(problems(hocon)).containsExactly(new ConfigProblem(
                at(hocon, "path-prefx"), "routes[0].path-prefx", "unknown key, did you mean `path-prefix`?"));
    }

    @Test
    void unknownKeyWithoutCloseMatchListsTheKnownKeys() {
        String hocon = TestPki.validConfigWith("bind = \"127.0.0.1:8443\"", "bind = \"127.0.0.1:8443\", colour = red");

        assertThat(problems(hocon)).singleElement().satisfies(p -> {
            assertThat(p.path()).isEqualTo("listeners[0].colour");
            assertThat(p.message()).isEqualTo(
                    "unknown key (expected one of: allow, backend, bind, http, limits, name, protocol, shadow-allow, tcp, "
                            + "tls)");
        });
    }

    @Test
    void unknownKeysAreFoundInTlsBlocksTrustBundlesAllowRulesBackendsDefaultsAndAtTopLevel() {
        String hocon = TestPki.validConfigWith("private-key = \"server.key\"", "private-key = \"server.key\"\n"
                        + "verify-dept = 2")
                .replace("crls = [\"clients.crl\"]", "crl = [\"clients.crl\"]")
                .replace("subject-ou = analytics", "subject-ou = analytics, subjct-o = acme")
                .replace("server-name = \"Orders.Internal\"", "server-name = \"Orders.Internal\", sni = x")
                + "mtls-proxy.defaults.route.hots = x\nmtls-prox.admin.enabled = false\n";

        assertThat(problems(hocon)).extracting(ConfigProblem::path).containsExactlyInAnyOrder(
                "listeners[0].tls.verify-dept",
                "listeners[0].tls.client-trust[0].crl",
                "routes[0].allow[1].subjct-o",
                "backends.orders.tls.sni",
                "defaults.route.hots",
                "mtls-prox");
        assertThat(problems(hocon)).filteredOn(p -> p.path().equals("mtls-prox")).singleElement()
                .extracting(ConfigProblem::message).isEqualTo("unknown key, did you mean `mtls-proxy`?");
    }

    @Test
    void wrongTypesSayWhatWasExpected() {
        String hocon = TestPki.validConfigWith("backend = orders", "backend = orders, listeners = public")
                + """
                mtls-proxy.defaults.listener.tls.handshake-timeout = abc
                mtls-proxy.backends.orders.response-timeout = 30
                mtls-proxy.backends.orders.max-idle-per-endpoint = lots
                mtls-proxy.admin.enabled = maybe
                mtls-proxy.defaults.backend.tls = "tls.pem"
                """;

        List<ConfigProblem> problems = problems(hocon);

        assertThat(problems).extracting(ConfigProblem::toString).containsExactlyInAnyOrder(
                at(hocon, "listeners = public") + ": routes[0].listeners: \"public\" is not a list (expected: a list "
                        + "of a listener name, e.g. [\"a\", \"b\"])",
                at(hocon, "handshake-timeout = abc") + ": listeners[0].tls.handshake-timeout: \"abc\" is not a "
                        + "duration (expected: a duration with a unit, e.g. 500ms, 10s, 1m)",
                at(hocon, "response-timeout = 30") + ": backends.orders.response-timeout: 30 has no unit (expected: "
                        + "a duration with a unit, e.g. 500ms, 10s, 1m)",
                at(hocon, "= lots") + ": backends.orders.max-idle-per-endpoint: \"lots\" is not an integer (expected: "
                        + "an integer in 0..10000)",
                at(hocon, "enabled = maybe") + ": admin.enabled: \"maybe\" is not a boolean (expected: true or false)",
                at(hocon, "tls = \"tls.pem\"") + ": defaults.backend.tls: \"tls.pem\" is not an object (expected: an "
                        + "object, e.g. tls { … })");
    }

    @Test
    void badLoadBalancingRetriesAndEjectionValuesAreReported() {
        String hocon = TestPki.VALID_CONFIG + """
                mtls-proxy.backends.orders.load-balancing = random
                mtls-proxy.backends.orders.retries = -1
                mtls-proxy.backends.orders.ejection { max-ejected-percent = 150, base-time = 1m, max-time = 10s }
                mtls-proxy.backends.orders.ejection.consecutiv-failures = 2
                """;

        assertThat(problems(hocon)).extracting(ConfigProblem::toString).containsExactlyInAnyOrder(
                at(hocon, "= random") + ": backends.orders.load-balancing: \"random\" is not a load-balancing policy "
                        + "(expected: round-robin or least-outstanding)",
                at(hocon, "retries = -1") + ": backends.orders.retries: -1 is out of range (expected: an integer in "
                        + "0..10)",
                at(hocon, "max-ejected-percent = 150") + ": backends.orders.ejection.max-ejected-percent: 150 is out "
                        + "of range (expected: an integer in 0..100)",
                at(hocon, "max-ejected-percent = 150") + ": backends.orders.ejection.max-time: is shorter than "
                        + "base-time (expected: a duration >= base-time)",
                at(hocon, "consecutiv-failures") + ": backends.orders.ejection.consecutiv-failures: unknown key, did "
                        + "you mean `consecutive-failures`?");
    }

    @Test
    void connectionCapBelowTheIdlePoolOrNegativeIsReported() {
        String hocon = TestPki.VALID_CONFIG + """
                mtls-proxy.backends.orders.max-connections-per-endpoint = 8
                mtls-proxy.defaults.backend.max-pending-requests = -5
                """;

        assertThat(problems(hocon)).extracting(ConfigProblem::toString).containsExactlyInAnyOrder(
                at(hocon, "max-connections-per-endpoint = 8") + ": backends.orders.max-connections-per-endpoint: 8 "
                        + "is below max-idle-per-endpoint (32): idle pooled connections count against the cap "
                        + "(expected: an integer >= 32, 0 for no cap, or lower max-idle-per-endpoint to at most 8)",
                at(hocon, "max-pending-requests = -5") + ": backends.orders.max-pending-requests: -5 is out of range "
                        + "(expected: an integer in 0..1000000)");

        String negative = TestPki.VALID_CONFIG + "mtls-proxy.backends.orders.max-connections-per-endpoint = -1\n";
        assertThat(problems(negative)).extracting(ConfigProblem::toString).containsExactly(
                at(negative, "= -1") + ": backends.orders.max-connections-per-endpoint: -1 is out of range "
                        + "(expected: an integer in 0..1000000)");
    }

    @Test
    void connectionCapAtLeastTheIdlePoolIsAccepted() throws Exception {
        String hocon = TestPki.VALID_CONFIG + """
                mtls-proxy.backends.orders { max-connections-per-endpoint = 4, max-idle-per-endpoint = 4 }
                mtls-proxy.backends.orders.max-pending-requests = 0
                """;

        BackendConfig orders = ConfigLoader.parse(hocon, dir, SOURCE).backends().get("orders");

        assertThat(orders.maxConnectionsPerEndpoint()).isEqualTo(4);
        assertThat(orders.connectionsCapped()).isTrue();
        assertThat(orders.maxPendingRequests()).isZero();
        assertThat(ConfigLoader.parse(TestPki.VALID_CONFIG, dir, SOURCE).backends().get("orders").connectionsCapped())
                .isFalse();
    }

    @Test
    void requiredValuesThatAreMissingAreReportedAtTheElementThatLacksThem() {
        String hocon = """
                mtls-proxy {
                  listeners = [{ tls { client-trust = [{ name = prod }] } }]
                  routes = [{ name = r }]
                  backends { b { tls {} } }
                }
                """;

        assertThat(problems(hocon)).extracting(ConfigProblem::toString).containsExactly(
                "proxy.conf:2: listeners[0].name: missing (expected: a unique listener name)",
                "proxy.conf:2: listeners[0].tls.certificate-chain: missing (expected: a PEM file with the server "
                        + "certificate and its intermediates)",
                "proxy.conf:2: listeners[0].tls.private-key: missing (expected: a PEM file with the private key of "
                        + "the server certificate)",
                "proxy.conf:2: listeners[0].tls.client-trust[0].ca-bundle: missing (expected: a PEM file with the CA "
                        + "certificates that may sign client certificates)",
                "proxy.conf:3: routes[0].backend: missing (expected: the name of a backend under backends)",
                "proxy.conf:4: backends.b.endpoints: no endpoint (expected: at least one host:port, e.g. "
                        + "[\"orders.internal:8443\"])",
                "proxy.conf:4: backends.b.tls.ca-bundle: missing (expected: a PEM file with the CA certificates that "
                        + "may sign the backend's certificate)",
                "proxy.conf:4: backends.b.tls.server-name: missing (expected: the backend's DNS name or IP address, "
                        + "as in its certificate)");
    }

    @Test
    void configWithoutListenersRoutesOrClientTrustSaysWhatIsNeeded() {
        String hocon = TestPki.validConfigWith("crls = [\"clients.crl\"] }]", "crls = [] }]")
                .replace("client-trust = [{ name = prod, ca-bundle = \"clients-ca.pem\", crls = [] }]",
                        "client-trust = []");

        assertThat(problems(hocon)).extracting(ConfigProblem::path, ConfigProblem::origin)
                .containsExactly(tuple("listeners[0].tls.client-trust",
                        at(hocon, "client-trust = []")), tuple(
                        "routes[0].allow[1].trust-bundle", at(hocon, "trust-bundle = prod")));
        assertThat(problems("mtls-proxy {}")).extracting(ConfigProblem::toString).containsExactly(
                "proxy.conf: listeners: no listener defined (expected: at least one, e.g. listeners = [{ name = "
                        + "public, bind = \"0.0.0.0:8443\", tls { … } }])",
                "proxy.conf: routes: no route defined (expected: at least one, e.g. routes = [{ name = api, backend "
                        + "= api, allow = [{ spiffe-id = \"spiffe://example.org/**\" }] }])");
    }

    @Test
    void duplicateNamesAndBindAddressesAreReported() {
        String listener = "{ name = public, bind = \"127.0.0.1:8443\", tls { certificate-chain = server-chain.pem, "
                + "private-key = server.key, client-trust = [{ name = a, ca-bundle = clients-ca.pem }, "
                + "{ name = a, ca-bundle = clients-ca.pem }] } }";
        String hocon = """
                mtls-proxy {
                  listeners = [
                    %s
                    %s
                  ]
                  routes = [{ name = r, backend = b }, { name = r, backend = b }]
                  backends.b { endpoints = ["b:1"], tls { ca-bundle = backend-ca.pem, server-name = b } }
                  admin.bind = "127.0.0.1:8443"
                }
                """.formatted(listener, listener.replace("name = public", "name = public "));

        assertThat(problems(hocon)).extracting(ConfigProblem::toString).containsExactly(
                "proxy.conf:3: listeners[0].tls.client-trust[1].name: client-trust name `a` is already used by "
                        + "listeners[0].tls.client-trust[0] (expected: a unique name)",
                "proxy.conf:4: listeners[1].name: listener name `public` is already used by listeners[0] (expected: "
                        + "a unique name)",
                "proxy.conf:4: listeners[1].bind: 127.0.0.1:8443 is already bound by listeners[0].bind (expected: a "
                        + "unique address)",
                "proxy.conf:4: listeners[1].tls.client-trust[1].name: client-trust name `a` is already used by "
                        + "listeners[1].tls.client-trust[0] (expected: a unique name)",
                "proxy.conf:6: routes[1].name: route name `r` is already used by routes[0] (expected: a unique name)",
                "proxy.conf:8: admin.bind: 127.0.0.1:8443 is already bound by listeners[0].bind (expected: a unique "
                        + "address)");
    }

    @Test
    void trustBundleTrustDomainPolicyAndGracePeriodAreChecked() {
        String hocon = TestPki.validConfigWith(
                "client-trust = [{ name = prod, ca-bundle = \"clients-ca.pem\", crls = [\"clients.crl\"] }]",
                """
                client-trust = [
                        { name = prod, ca-bundle = "clients-ca.pem", trust-domain = "Prod.Example" }
                        { name = partner, ca-bundle = "clients-ca.pem", crl-expired-policy = soft }
                        { name = legacy, ca-bundle = "clients-ca.pem", crl-grace-period = 24 }
                        { name = other, ca-bundle = "clients-ca.pem", trust-domain = "spiffe://other.example" }
                      ]""")
                .replace("{ spiffe-id = \"spiffe://example.org/ns/prod/sa/*\" }",
                        "{ trust-domain = \"\" }, { trust-domain = \"a b\" }");

        assertThat(problems(hocon)).extracting(ConfigProblem::toString).containsExactly(
                at(hocon, "Prod.Example") + ": listeners[0].tls.client-trust[0].trust-domain: \"Prod.Example\" is "
                        + "not a SPIFFE trust domain: the trust domain \"Prod.Example\" may only contain a-z, 0-9, "
                        + "'.', '-' and '_' (expected: a SPIFFE trust domain name such as example.org, without "
                        + "spiffe://)",
                at(hocon, "= soft") + ": listeners[0].tls.client-trust[1].crl-expired-policy: \"soft\" is not a "
                        + "policy (expected: hard-fail or soft-fail)",
                at(hocon, "= 24") + ": listeners[0].tls.client-trust[2].crl-grace-period: 24 has no unit (expected: "
                        + "a duration with a unit, e.g. 500ms, 10s, 1m)",
                at(hocon, "spiffe://other.example") + ": listeners[0].tls.client-trust[3].trust-domain: "
                        + "\"spiffe://other.example\" is not a SPIFFE trust domain: the trust domain "
                        + "\"spiffe://other.example\" may only contain a-z, 0-9, '.', '-' and '_' (expected: a SPIFFE "
                        + "trust domain name such as example.org, without spiffe://)",
                at(hocon, "trust-domain = \"\"") + ": routes[0].allow[0].trust-domain: empty (expected: a value, or "
                        + "leave trust-domain out)",
                at(hocon, "\"a b\"") + ": routes[0].allow[1].trust-domain: \"a b\" is not a SPIFFE trust domain: "
                        + "the trust domain \"a b\" may only contain a-z, 0-9, '.', '-' and '_' (expected: a SPIFFE "
                        + "trust domain name such as example.org, without spiffe://)");
    }

    @Test
    void httpProtocolsStreamsAndRouteWebsocketAreReadAndChecked() {
        ProxyConfig ok = ConfigLoader.parse(TestPki.VALID_CONFIG
                + "mtls-proxy.defaults.listener.http { protocols = [\"http/1.1\"], max-concurrent-streams = 7 }\n"
                + "mtls-proxy.defaults.route.websocket = true\n", dir, SOURCE);
        assertThat(ok.listeners().get(0).http().protocols()).containsExactly("http/1.1");
        assertThat(ok.listeners().get(0).http().maxConcurrentStreams()).isEqualTo(7);
        assertThat(ok.routes().get(0).websocket()).isTrue();
        ProxyConfig defaults = ConfigLoader.parse(TestPki.VALID_CONFIG, dir, SOURCE);
        assertThat(defaults.listeners().get(0).http().protocols()).containsExactly("h2", "http/1.1");
        assertThat(defaults.routes().get(0).websocket()).isFalse();

        String hocon = TestPki.VALID_CONFIG
                + "mtls-proxy.defaults.listener.http { protocols = [\"h3\", \"h2\", \"h2\"], "
                + "max-concurrent-streams = 0 }\n";
        assertThat(problems(hocon)).extracting(ConfigProblem::path, ConfigProblem::message).containsExactly(
                tuple("listeners[0].http.protocols[0]", "\"h3\" is not a supported protocol (expected: h2 or "
                        + "http/1.1)"),
                tuple("listeners[0].http.protocols[2]", "\"h2\" is listed twice (expected: each protocol once)"),
                tuple("listeners[0].http.max-concurrent-streams", "0 is out of range (expected: an integer in "
                        + "1..10000)"));
        assertThat(problems(TestPki.VALID_CONFIG + "mtls-proxy.defaults.listener.http.protocols = []\n"))
                .extracting(ConfigProblem::path).containsExactly("listeners[0].http.protocols");
    }

    @Test
    void twoBundlesOfOneListenerMayNotDeclareTheSameTrustDomain() {
        String hocon = TestPki.validConfigWith(
                "client-trust = [{ name = prod, ca-bundle = \"clients-ca.pem\", crls = [\"clients.crl\"] }]",
                """
                client-trust = [
                        { name = prod, ca-bundle = "clients-ca.pem", trust-domain = "example.org" }
                        { name = partner, ca-bundle = "clients-ca.pem", trust-domain = "example.org", enabled = false }
                      ]""");

        assertThat(problems(hocon)).containsExactly(new ConfigProblem(at(hocon, "name = partner"),
                "listeners[0].tls.client-trust[1].trust-domain", "trust domain `example.org` is already declared by "
                        + "listeners[0].tls.client-trust[0] (expected: one bundle per trust domain; put all CA "
                        + "certificates of a domain in its ca-bundle)"));
    }

    @Test
    void aListenerWhoseBundlesAreAllDisabledIsRefused() {
        String hocon = TestPki.validConfigWith("crls = [\"clients.crl\"] }]", "crls = [], enabled = false }]");

        assertThat(problems(hocon)).containsExactly(new ConfigProblem(at(hocon, "enabled = false"),
                "listeners[0].tls.client-trust", "every bundle has enabled = false, so no client could connect "
                        + "(expected: at least one enabled bundle; remove the listener to stop serving it)"));
    }

    @Test
    void routeNamingAnUndefinedBackendOrListenerListsTheDefinedOnes() {
        String hocon = TestPki.validConfigWith("backend = orders", "backend = ordrs, listeners = [public, pubic]");

        assertThat(problems(hocon)).extracting(ConfigProblem::toString).containsExactly(
                at(hocon, "listeners = [public") + ": routes[0].listeners[1]: listener `pubic` is not defined; did "
                        + "you mean `public`? (defined: public)",
                at(hocon, "backend = ordrs") + ": routes[0].backend: route `orders` names backend `ordrs`, which is "
                        + "not defined; did you mean `orders`? (defined: orders)");
    }

    @Test
    void tcpListenerMistakesAreReportedWhereTheyWereWritten() {
        String hocon = TestPki.validConfigWith("bind = \"127.0.0.1:8443\"", """
                bind = "127.0.0.1:8443"
                    protocol = tcp
                    backend = ordrs
                    allow = [{ trust-bundle = nope }]
                    http { idle-timeout = 5s }
                    tcp { proxy-protocol = v3 }""").replace("backend = orders, ", "");
        hocon = hocon.replace("path-prefix = \"/orders/\"", "path-prefix = \"/orders/\", listeners = [public]");

        assertThat(problems(hocon)).extracting(ConfigProblem::toString).containsExactlyInAnyOrder(
                at(hocon, "backend = ordrs") + ": listeners[0].backend: listener `public` names backend `ordrs`, "
                        + "which is not defined; did you mean `orders`? (defined: orders)",
                at(hocon, "trust-bundle = nope") + ": listeners[0].allow[0].trust-bundle: `nope` is not a "
                        + "client-trust name of this listener (defined: prod)",
                at(hocon, "http { idle-timeout") + ": listeners[0].http: a tcp listener has no HTTP settings "
                        + "(expected: no http { … } on a listener with protocol = tcp; its relay settings are in "
                        + "tcp { … })",
                at(hocon, "proxy-protocol = v3") + ": listeners[0].tcp.proxy-protocol: \"v3\" is not supported "
                        + "(expected: none or v2)",
                at(hocon, "listeners = [public]") + ": routes[0].listeners[0]: listener `public` has protocol = tcp "
                        + "and takes no routes (expected: an http listener; a tcp listener's backend and allow rules "
                        + "are set on the listener)");
    }

    @Test
    void httpListenerWithTcpSettingsOrAnUnknownProtocolIsRefused() {
        String hocon = TestPki.validConfigWith("bind = \"127.0.0.1:8443\"", """
                bind = "127.0.0.1:8443"
                    backend = orders
                    tcp { idle-timeout = 5m }""");
        String unknown = TestPki.validConfigWith("bind = \"127.0.0.1:8443\"", "bind = \"127.0.0.1:8443\", protocol = udp");

        assertThat(problems(hocon)).extracting(ConfigProblem::path).containsExactly(
                "listeners[0].backend", "listeners[0].tcp");
        assertThat(problems(hocon).get(0).message()).startsWith("only a listener with protocol = tcp has backend");
        assertThat(problems(unknown)).extracting(ConfigProblem::toString).containsExactly(at(unknown, "protocol = udp")
                + ": listeners[0].protocol: \"udp\" is not a listener protocol (expected: http or tcp)");
    }

    @Test
    void pathPrefixHostAndAllowRulesAreChecked() {
        String hocon = TestPki.validConfigWith("path-prefix = \"/orders/\"", "path-prefix = \"orders/\"")
                .replace("\"API.Internal\"", "\"api_internal\"")
                .replace("{ spiffe-id = \"spiffe://example.org/ns/prod/sa/*\" }",
                        "{ spiffe-id = \"spife://x\" }, { name = only-a-name }, { fingerprint-sha256 = \"abc\" }");

        assertThat(problems(hocon)).extracting(ConfigProblem::path, ConfigProblem::message).containsExactly(
                tuple("routes[0].host", "\"api_internal\" is not a host name (expected: "
                        + "a DNS name such as api.example.org, or *.example.org for one label; leave host unset to "
                        + "match any host)"),
                tuple("routes[0].path-prefix",
                        "\"orders/\" does not start with / (expected: e.g. /orders/)"),
                tuple("routes[0].allow[0].spiffe-id", "\"spife://x\" is not a SPIFFE ID: "
                        + "it must start with spiffe:// (expected: spiffe://<trust-domain>/<path>)"),
                tuple("routes[0].allow[1]", "empty allow rule (expected: at least one of "
                        + "spiffe-id, uri-san, dns-san, subject-cn, subject-ou, subject-o, fingerprint-sha256, "
                        + "trust-bundle, trust-domain)"),
                tuple("routes[0].allow[2].fingerprint-sha256", "\"abc\" is not a SHA-256 "
                        + "fingerprint (expected: 64 hex digits, colons allowed, e.g. `openssl x509 -noout "
                        + "-fingerprint -sha256`)"));
    }

    @Test
    void spiffeIdProblemIsReportedAtTheLineOfTheRule() {
        String hocon = TestPki.validConfigWith("spiffe://example.org/ns/prod/sa/*", "spiffe://Example.org/ns/**/x");

        assertThat(problems(hocon)).containsExactly(new ConfigProblem(at(hocon, "Example.org"),
                "routes[0].allow[0].spiffe-id", "\"spiffe://Example.org/ns/**/x\" is not a SPIFFE ID: the trust domain "
                        + "\"Example.org\" may only contain a-z, 0-9, '.', '-' and '_' (expected: "
                        + "spiffe://<trust-domain>/<path>)"));
    }

    @Test
    void limitsProtocolsPortsAndDurationsAreRangeChecked() {
        String hocon = TestPki.validConfigWith("bind = \"127.0.0.1:8443\"", "bind = \"127.0.0.1:99999\"")
                .replace("\"[::1]:9443\"", "\"::1:9443\", \"orders-2.internal:0\"")
                + """
                mtls-proxy.defaults.listener.tls.protocols = ["TLSv1.3", "TLSv1.1"]
                mtls-proxy.defaults.listener.tls.verify-depth = 0
                mtls-proxy.defaults.listener.http.max-header-size = 100
                mtls-proxy.backends.orders.idle-timeout = 0s
                mtls-proxy.backends.orders.tls.protocols = []
                """;

        assertThat(problems(hocon)).extracting(ConfigProblem::path, ConfigProblem::message).containsExactly(
                tuple("listeners[0].bind",
                        "\"127.0.0.1:99999\" port out of range (expected: 0..65535)"),
                tuple("listeners[0].tls.protocols[1]",
                        "\"TLSv1.1\" is not supported (expected: TLSv1.3, TLSv1.2)"),
                tuple("listeners[0].tls.verify-depth",
                        "0 is out of range (expected: an integer in 1..64)"),
                tuple("listeners[0].http.max-header-size",
                        "100 is out of range (expected: an integer in 256..1048576)"),
                tuple("backends.orders.endpoints[1]",
                        "\"::1:9443\" (expected: host:port, [v6-address]:port)"),
                tuple("backends.orders.endpoints[2]",
                        "\"orders-2.internal:0\" port 0 is out of range (expected: 1..65535)"),
                tuple("backends.orders.tls.protocols",
                        "empty (expected: one or more of TLSv1.3, TLSv1.2)"),
                tuple("backends.orders.idle-timeout",
                        "\"0s\" is not positive (expected: a duration with a unit, e.g. 500ms, 10s, 1m)"));
    }

    @Test
    void missingFilesAndDirectoriesAreReportedWithTheResolvedPath() throws Exception {
        Files.createDirectory(dir.resolve("certs"));
        String hocon = TestPki.validConfigWith("\"server.key\"", "\"nope.key\"")
                .replace("\"backend-ca.pem\"", "\"certs\"");

        assertThat(problems(hocon)).containsExactly(
                new ConfigProblem(at(hocon, "nope.key"), "listeners[0].tls.private-key",
                        "\"nope.key\" (" + dir.resolve("nope.key") + ") does not exist (expected: an existing file)"),
                new ConfigProblem(at(hocon, "\"certs\""), "backends.orders.tls.ca-bundle",
                        "\"certs\" (" + dir.resolve("certs") + ") is not a regular file (expected: a file, not a "
                                + "directory)"));
    }

    @Test
    void garbageAndEncryptedPemFilesAreRejectedWithoutPrintingTheirContent() throws Exception {
        pki.write("server.key", TestPki.encryptedTraditionalPem(pki.server.getKeyPair().getPrivate()));
        pki.write("server-chain.pem", "not a certificate");
        pki.write("clients.crl", "garbage-crl-bytes");
        pki.write("backend-ca.pem", pki.server.getPrivateKeyPEM());

        List<ConfigProblem> problems = problems(TestPki.VALID_CONFIG);

        assertThat(problems).extracting(ConfigProblem::path, ConfigProblem::message).containsExactly(
                tuple("listeners[0].tls.certificate-chain", "no PEM certificate found in "
                        + dir.resolve("server-chain.pem") + " (expected: BEGIN CERTIFICATE)"),
                tuple("listeners[0].tls.private-key", "the private key in "
                        + dir.resolve("server.key") + " is encrypted (expected: an unencrypted key, e.g. decrypt it "
                        + "with `openssl pkey -in key.pem -out plain.pem`)"),
                tuple("listeners[0].tls.client-trust[0].crls[0]", "no CRL found in "
                        + dir.resolve("clients.crl") + " (expected: PEM BEGIN X509 CRL, or DER)"),
                tuple("backends.orders.tls.ca-bundle", "no PEM certificate found in "
                        + dir.resolve("backend-ca.pem") + " (expected: BEGIN CERTIFICATE)"));
        assertThat(problems.toString()).doesNotContain("BEGIN PRIVATE KEY", "MII");
    }

    @Test
    void privateKeyOfAnotherCertificateIsRejected() throws Exception {
        pki.write("server.key", TestPki.leaf("other", pki.serverCa).getPrivateKeyPEM());

        assertThat(problems(TestPki.VALID_CONFIG)).containsExactly(new ConfigProblem(
                at(TestPki.VALID_CONFIG, "\"server.key\""), "listeners[0].tls.private-key",
                "private-key does not match the first certificate in certificate-chain (subject CN=proxy.example.org)"));
    }

    @Test
    void expiredServerCertificateIsRejectedButAnExpiredCaIsNot() throws Exception {
        var expired = TestPki.expiredLeaf("old.example.org", pki.serverCa);
        pki.write("server-chain.pem", expired.getCertificatePathPEM());
        pki.write("server.key", expired.getPrivateKeyPEM());
        var expiredCa = new io.netty.pkitesting.CertificateBuilder().subject("CN=old-ca").ecp256()
                .setIsCertificateAuthority(true).notBefore(java.time.Instant.now().minusSeconds(7200))
                .notAfter(java.time.Instant.now().minusSeconds(3600)).buildSelfSigned();
        pki.write("clients-ca.pem", expiredCa.getCertificatePEM());

        assertThat(problems(TestPki.VALID_CONFIG)).singleElement().satisfies(p -> {
            assertThat(p.path()).isEqualTo("listeners[0].tls.certificate-chain");
            assertThat(p.message()).startsWith("the certificate (subject CN=old.example.org) expired at ")
                    .endsWith("(expected: a currently valid certificate)");
        });
    }

    @Test
    void backendClientCertificateNeedsItsKeyAndMustBeCurrent() throws Exception {
        var expired = TestPki.expiredLeaf("proxy-client", pki.backendCa);
        pki.write("client.pem", expired.getCertificatePathPEM());
        String withoutKey = TestPki.validConfigWith("server-name = \"Orders.Internal\"",
                "server-name = \"Orders.Internal\", certificate-chain = client.pem");
        String expiredPair = withoutKey.replace("certificate-chain = client.pem",
                "certificate-chain = client.pem, private-key = client.key");
        pki.write("client.key", expired.getPrivateKeyPEM());

        assertThat(problems(withoutKey)).extracting(ConfigProblem::path, ConfigProblem::message).containsExactly(
                tuple("backends.orders.tls.private-key",
                        "missing: certificate-chain and private-key go together (expected: both or neither)"));
        assertThat(problems(expiredPair)).extracting(ConfigProblem::path)
                .containsExactly("backends.orders.tls.certificate-chain");
    }

    @Test
    void identityHeaderMustBeAHeaderTokenAndIsLowerCased() {
        assertThat(ConfigLoader.parse(TestPki.VALID_CONFIG + "mtls-proxy.identity-header.name = X-Client-Identity\n",
                dir, SOURCE).identityHeader().name()).isEqualTo("x-client-identity");

        String hocon = TestPki.VALID_CONFIG + "mtls-proxy.identity-header { name = \"x client\", strip = [\"a:b\"] }\n";
        assertThat(problems(hocon)).extracting(ConfigProblem::path, ConfigProblem::message).containsExactly(
                tuple("identity-header.name", "\"x client\" is not a valid header name "
                        + "(expected: an HTTP token such as x-forwarded-client-cert)"),
                tuple("identity-header.strip", "\"a:b\" is not a valid header name "
                        + "(expected: an HTTP token such as x-forwarded-client-cert)"));
    }

    @Test
    void severalErrorsAreAllReportedAtOnceOnePerLine() {
        String hocon = TestPki.validConfigWith("path-prefix = \"/orders/\"", "path-prefx = \"/orders/\"")
                .replace("backend = orders", "backend = billing")
                .replace("spiffe://example.org/ns/prod/sa/*", "spife://x");

        ConfigException e = catchThrowableOfType(ConfigException.class,
                () -> ConfigLoader.parse(hocon, dir, SOURCE));

        assertThat(e.problems()).hasSize(3);
        assertThat(e.getMessage().split("\n")).containsExactly(
                at(hocon, "path-prefx") + ": routes[0].path-prefx: unknown key, did you mean `path-prefix`?",
                at(hocon, "backend = billing") + ": routes[0].backend: route `orders` names backend `billing`, which "
                        + "is not defined (defined: orders)",
                at(hocon, "spife://x") + ": routes[0].allow[0].spiffe-id: \"spife://x\" is not a SPIFFE ID: it must "
                        + "start with spiffe:// (expected: spiffe://<trust-domain>/<path>)");
    }

    @Test
    void listElementsAndBackendsThatAreNotObjectsAreReported() {
        String hocon = TestPki.validConfigWith("backends {", "backends {\n    billing = \"billing:443\"")
                .replace("allow = [", "allow = [\n      \"spiffe://example.org/a\"");

        assertThat(problems(hocon)).extracting(ConfigProblem::toString).containsExactly(
                at(hocon, "\"spiffe://example.org/a\"") + ": routes[0].allow[0]: \"spiffe://example.org/a\" is not an "
                        + "object (expected: { … })",
                at(hocon, "billing = ") + ": backends.billing: \"billing:443\" is not an object (expected: billing { … })");
    }

    @Test
    void missingConfigFileIsAProblemNotAStackTrace() {
        Path file = dir.resolve("absent.conf");

        assertThatThrownBy(() -> ConfigLoader.load(file))
                .isInstanceOf(ConfigException.class)
                .hasMessage(file + ": no such file (expected: a HOCON config file)");
    }

    @Test
    void unparseableConfigFileIsReportedWithItsLine() throws Exception {
        Path file = pki.write("broken.conf", "mtls-proxy {\n  listeners = [\n}\n");

        ConfigException e = catchThrowableOfType(ConfigException.class, () -> ConfigLoader.load(file));

        assertThat(e.problems()).singleElement().satisfies(p -> {
            assertThat(p.origin()).isEqualTo(file + ":3");
            assertThat(p.message()).isNotBlank().doesNotStartWith(file.toString());
        });
    }

    @Test
    void unresolvableSubstitutionIsReportedWithItsLine() {
        String hocon = TestPki.VALID_CONFIG + "mtls-proxy.admin.bind = ${MTLS_PROXY_TEST_VARIABLE_THAT_IS_NEVER_SET}\n";

        assertThat(problems(hocon)).singleElement().satisfies(p -> {
            assertThat(p.origin()).isEqualTo(at(hocon, "${MTLS_PROXY_TEST"));
            assertThat(p.message()).contains("MTLS_PROXY_TEST_VARIABLE_THAT_IS_NEVER_SET");
        });
    }

    @Test
    void shadowAllowRulesAreCheckedLikeAllowRulesAndNamedByTheirPath() {
        String hocon = TestPki.validConfigWith("backend = orders\n", "backend = orders\n"
                + "shadow-allow = [{ spiffe-id = \"spife://x\" }, { trust-bundle = staging }, {}]\n");

        assertThat(problems(hocon)).extracting(ConfigProblem::path, ConfigProblem::message).containsExactly(
                tuple("routes[0].shadow-allow[0].spiffe-id", "\"spife://x\" is not a SPIFFE ID: it must start with "
                        + "spiffe:// (expected: " + Syntax.SPIFFE_ID_EXPECTED + ")"),
                tuple("routes[0].shadow-allow[1].trust-bundle", "`staging` is not a client-trust name of any "
                        + "listener this route applies to (defined: prod)"),
                tuple("routes[0].shadow-allow[2]", "empty allow rule (expected: at least one of spiffe-id, uri-san, "
                        + "dns-san, subject-cn, subject-ou, subject-o, fingerprint-sha256, trust-bundle, "
                        + "trust-domain)"));
    }

    @Test
    void shadowAllowBelongsToRoutesAndTcpListenersNotToHttpListeners() {
        String hocon = TestPki.validConfigWith("bind = \"127.0.0.1:8443\"",
                "bind = \"127.0.0.1:8443\", shadow-allow = [{ subject-cn = x }]");

        assertThat(problems(hocon)).singleElement().satisfies(p -> {
            assertThat(p.path()).isEqualTo("listeners[0].shadow-allow");
            assertThat(p.message()).startsWith("only a listener with protocol = tcp has shadow-allow");
        });
    }

    @Test
    void signedIdentityHeaderNeedsAKeyFileAndKeyId() {
        String hocon = TestPki.VALID_CONFIG + "mtls-proxy.identity-header.signed.enabled = true\n";

        assertThat(problems(hocon)).extracting(ConfigProblem::path).containsExactly(
                "identity-header.signed.key-file", "identity-header.signed.key-id");
    }

    @Test
    void signedIdentityHeaderRefusesAShortHmacSecretNamingTheFile() throws Exception {
        pki.write("hmac.key", java.util.Base64.getEncoder().encodeToString(new byte[31]) + "\n");
        String hocon = TestPki.VALID_CONFIG + """
                mtls-proxy.identity-header.signed { enabled = true, algorithm = HS256, key-file = "hmac.key",
                  key-id = k1 }
                """;

        assertThat(problems(hocon)).singleElement().satisfies(p -> {
            assertThat(p.path()).isEqualTo("identity-header.signed.key-file");
            assertThat(p.message()).isEqualTo("the HS256 key in " + dir.resolve("hmac.key") + " is 31 bytes "
                    + "(expected: at least 32 bytes once base64-decoded, e.g. `openssl rand -base64 32`)");
        });
    }

    @Test
    void signedIdentityHeaderRefusesANonBase64SecretAndANonP256Key() throws Exception {
        pki.write("hmac.key", "not base64 at all!");
        java.security.KeyPairGenerator p384 = java.security.KeyPairGenerator.getInstance("EC");
        p384.initialize(new java.security.spec.ECGenParameterSpec("secp384r1"));
        pki.write("p384.key", TestPki.traditionalPem(p384.generateKeyPair().getPrivate()));
        String hmac = TestPki.VALID_CONFIG + """
                mtls-proxy.identity-header.signed { enabled = true, algorithm = HS256, key-file = "hmac.key",
                  key-id = k1 }
                """;
        String ec = TestPki.VALID_CONFIG + """
                mtls-proxy.identity-header.signed { enabled = true, key-file = "p384.key", key-id = k1 }
                """;

        assertThat(problems(hmac)).singleElement().extracting(ConfigProblem::message).asString()
                .startsWith("the HS256 key file " + dir.resolve("hmac.key") + " is not base64");
        assertThat(problems(ec)).singleElement().extracting(ConfigProblem::message).isEqualTo(
                "the EC key in " + dir.resolve("p384.key") + " is not on curve P-256 (expected: prime256v1 / "
                        + "secp256r1 for ES256)");
    }

    @Test
    void signedIdentityHeaderChecksAlgorithmKeyIdHeaderAndMaxAge() throws Exception {
        pki.write("signing.key", pki.server.getPrivateKeyPEM());
        String hocon = TestPki.VALID_CONFIG + """
                mtls-proxy.identity-header.signed { enabled = true, algorithm = RS256, key-file = "signing.key",
                  key-id = "a b", header = x-forwarded-client-cert, max-age = 10ms }
                """;

        assertThat(problems(hocon)).extracting(ConfigProblem::path).containsExactly(
                "identity-header.signed.header", "identity-header.signed.algorithm", "identity-header.signed.key-id",
                "identity-header.signed.max-age");
    }

    @Test
    void signedIdentityHeaderAcceptsAnSec1P256KeyAndIsWatched() throws Exception {
        Path key = pki.write("signing.key", TestPki.traditionalPem(pki.server.getKeyPair().getPrivate()));
        assertThat(Files.readString(key)).contains("BEGIN EC PRIVATE KEY");
        String hocon = TestPki.VALID_CONFIG + """
                mtls-proxy.identity-header.signed { enabled = true, key-file = "signing.key", key-id = proxy-1 }
                """;

        ProxyConfig config = ConfigLoader.parse(hocon, dir, SOURCE);

        SignedHeaderConfig signed = config.identityHeader().signed().orElseThrow();
        assertThat(signed.header()).isEqualTo("x-mtls-proxy-identity");
        assertThat(signed.algorithm()).isEqualTo(SignedHeaderConfig.Algorithm.ES256);
        assertThat(signed.keyId()).isEqualTo("proxy-1");
        assertThat(signed.maxAge()).isEqualTo(java.time.Duration.ofSeconds(60));
        assertThat(config.referencedFiles()).contains(key);
        assertThat(ConfigLoader.parse(TestPki.VALID_CONFIG, dir, SOURCE).identityHeader().signed()).isEmpty();
    }

    @Test
    void shadowAllowRulesAreReadBesideAllowWithTheirOwnDefaultNames() {
        String hocon = TestPki.validConfigWith("backend = orders\n", "backend = orders\n"
                + "shadow-allow = [{ spiffe-id = \"spiffe://example.org/ns/prod/**\" }, { name = ops, subject-o = "
                + "acme }]\n");

        RouteConfig route = ConfigLoader.parse(hocon, dir, SOURCE).routes().get(0);

        assertThat(route.allow()).extracting(AllowRule::name).containsExactly("allow[0]", "reporting");
        assertThat(route.shadowAllow()).extracting(AllowRule::name).containsExactly("shadow-allow[0]", "ops");
        assertThat(route.shadowAllow().get(0).spiffeId()).contains("spiffe://example.org/ns/prod/**");
        assertThat(ConfigLoader.parse(TestPki.VALID_CONFIG, dir, SOURCE).routes().get(0).shadowAllow()).isEmpty();
    }

    private List<ConfigProblem> problems(String hocon) {
        ConfigException e = catchThrowableOfType(ConfigException.class,
                () -> ConfigLoader.parse(hocon, dir, SOURCE));
        assertThat(e).as("expected a ConfigException").isNotNull();
        return e.problems();
    }

    /** {@code proxy.conf:N} for the first line of {@code hocon} that contains {@code snippet}. */
    private static String at(String hocon, String snippet) {
        String[] lines = hocon.split("\n", -1);
        for (int i = 0; i < lines.length; i++) {
            if (lines[i].contains(snippet)) {
                return SOURCE + ":" + (i + 1);
            }
        }
        throw new IllegalArgumentException("not in the config: " + snippet);
    }
}
