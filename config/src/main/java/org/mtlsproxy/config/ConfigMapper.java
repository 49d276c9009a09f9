package org.mtlsproxy.config;

import static java.util.Objects.requireNonNull;

import com.typesafe.config.ConfigFactory;
import com.typesafe.config.ConfigList;
import com.typesafe.config.ConfigObject;
import java.io.IOException;
import java.nio.file.Path;
import java.security.PrivateKey;
import java.security.cert.CertificateExpiredException;
import java.security.cert.CertificateNotYetValidException;
import java.security.cert.X509Certificate;
import java.time.Duration;
import java.time.Instant;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Collection;
import java.util.Date;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Optional;
import java.util.Set;
import java.util.stream.Collectors;
import javax.security.auth.x500.X500Principal;

/**
 * Turns the resolved {@code mtls-proxy} object into records, checking every value, every referenced file and every
 * cross-reference (route to backend, route to listener, rule to trust bundle). All problems go to one
 * {@link ConfigNode.Problems}; the caller throws if there are any.
 */
final class ConfigMapper {

    private static final List<String> PROTOCOLS = List.of("TLSv1.3", "TLSv1.2");
    private static final int MAX_HTTP_LIMIT = 1024 * 1024;
    private static final int MAX_VERIFY_DEPTH = 64;
    private static final int MAX_IDLE_PER_ENDPOINT = 10_000;
    private static final int MAX_RETRIES = 10;
    private static final int MAX_CONNECTIONS_PER_ENDPOINT = 1_000_000;
    private static final int MAX_PENDING_REQUESTS = 1_000_000;
    private static final int MAX_CONSECUTIVE_FAILURES = 1_000;

    private final ConfigNode.Problems problems;
    private final Instant now;
    private final ConfigObject schema;
    private ConfigNode defaults;

    private final Map<String, String> listenerNames = new LinkedHashMap<>();
    /** Listeners with protocol = tcp: routes do not apply to them. */
    private final Set<String> tcpListeners = new LinkedHashSet<>();
    /** Backends named by a tcp listener, each with the path of the first such listener. */
    private final Map<String, String> tcpBackends = new HashMap<>();
    private final Map<String, Set<String>> trustBundlesByListener = new HashMap<>();
    private final Map<HostPort, String> binds = new HashMap<>();
    private final Map<String, String> routeNames = new HashMap<>();
    private Set<String> backendNames = Set.of();

    ConfigMapper(ConfigNode.Problems problems, ConfigObject schema, Instant now) {
        this.problems = requireNonNull(problems, "problems");
        this.schema = requireNonNull(schema, "schema");
        this.now = requireNonNull(now, "now");
    }

    /** Returns the configuration, or {@code null} if a problem was reported. */
    ProxyConfig map(ConfigObject root, String source) {
        int before = problems.count();
        ConfigNode node = ConfigNode.element(root, ConfigFactory.empty().root(), schema, "", null, problems);
        defaults = node.child("defaults");
        if (defaults == null) {
            return null;
        }
        backendNames = backendNames(node);

        List<ListenerConfig> listeners = new ArrayList<>();
        List<ConfigNode> listenerNodes = node.elements("listeners", template("listener"), schemaOf("listener"));
        for (ConfigNode l : listenerNodes) {
            listeners.add(listener(l));
        }
        if (listenerNodes.isEmpty()) {
            node.problem("listeners", "no listener defined (expected: at least one, e.g. listeners = [{ name = public, "
                    + "bind = \"0.0.0.0:8443\", tls { … } }])");
        }
        List<RouteConfig> routes = new ArrayList<>();
        List<ConfigNode> routeNodes = node.elements("routes", template("route"), schemaOf("route"));
        for (ConfigNode r : routeNodes) {
            routes.add(route(r));
        }
        boolean anyHttpListener = listenerNames.size() > tcpListeners.size();
        if (routeNodes.isEmpty() && (anyHttpListener || listenerNodes.isEmpty())) {
            node.problem("routes", "no route defined (expected: at least one, e.g. routes = [{ name = api, "
                    + "backend = api, allow = [{ spiffe-id = \"spiffe://example.org/**\" }] }])");
        }
        Map<String, BackendConfig> backends = new LinkedHashMap<>();
        node.entries("backends", template("backend"), schemaOf("backend"))
                .forEach((name, b) -> backends.put(name, backend(name, b)));
        IdentityHeaderConfig identityHeader = identityHeader(node.child("identity-header"));
        AdminConfig admin = admin(node.child("admin"));
        ShutdownConfig shutdown = shutdown(node.child("shutdown"));
        ReloadConfig reload = reload(node.child("reload"));
        ExpiryConfig expiry = expiry(node.child("certificate-expiry"));
        return node.build(before, () -> new ProxyConfig(listeners, routes, backends, identityHeader, admin,
                shutdown, reload, expiry, source));
    }

    private ListenerConfig listener(ConfigNode node) {
        int before = problems.count();
        String name = uniqueName(node, listenerNames, "listener");
        HostPort bind = node.hostPort("bind", 0);
        if (bind != null && bind.port() != 0) {
            String previous = binds.putIfAbsent(bind, node.path("bind"));
            if (previous != null) {
                node.problem("bind", bind + " is already bound by " + previous + " (expected: a unique address)");
            }
        }
        ConfigNode tlsNode = node.child("tls");
        ServerTlsConfig tls = tlsNode == null ? null : serverTls(tlsNode, name);
        ConfigNode httpNode = node.child("http");
        HttpConfig http = httpNode == null ? null : http(httpNode);
        ListenerConfig.Protocol protocol = listenerProtocol(node);
        Optional<TcpListenerConfig> tcp = Optional.empty();
        if (protocol == ListenerConfig.Protocol.TCP) {
            if (name != null) {
                tcpListeners.add(name);
            }
            if (node.written("http")) {
                problems.add(node.writtenOriginOf("http"), node.path("http"), "a tcp listener has no HTTP settings "
                        + "(expected: no http { … } on a listener with protocol = tcp; its relay settings are in "
                        + "tcp { … })");
            }
            tcp = Optional.ofNullable(tcpListener(node, name));
            if (tlsNode != null && tlsNode.object().get("groups") instanceof ConfigList groups && !groups.isEmpty()) {
                problems.add(tlsNode.originOf("groups"), tlsNode.path("groups"), "a tcp listener cannot choose "
                        + "key-exchange groups: it runs the JDK TLS engine, which on Java 17 takes them only for the "
                        + "whole process (jdk.tls.namedGroups) (expected: groups = [] on a listener with protocol = "
                        + "tcp)");
            }
            ConfigNode tickets = tlsNode == null ? null : tlsNode.child("session-tickets");
            if (tickets != null && tickets.written("key-file")) {
                problems.add(tickets.writtenOriginOf("key-file"), tickets.path("key-file"), "a tcp listener cannot "
                        + "use shared session ticket keys: it runs the JDK TLS engine, which keeps its own (expected: "
                        + "no key-file on a listener with protocol = tcp)");
            }
        } else if (protocol == ListenerConfig.Protocol.HTTP) {
            for (String key : List.of("backend", "allow", "shadow-allow", "tcp")) {
                if (node.written(key)) {
                    problems.add(node.writtenOriginOf(key), node.path(key), "only a listener with protocol = tcp has "
                            + key + " (expected: protocol = tcp, or remove " + key + "; an http listener sends "
                            + "requests to the backends of its routes, authorized by the routes' allow rules)");
                }
            }
        }
        Optional<TcpListenerConfig> tcpConfig = tcp;
        ConfigNode limitsNode = node.child("limits");
        ListenerLimitsConfig limits = limitsNode == null ? null : listenerLimits(limitsNode);
        return node.build(before, () -> new ListenerConfig(name, bind, tls, http, protocol, tcpConfig, limits));
    }

    private static ListenerConfig.Protocol listenerProtocol(ConfigNode node) {
        String written = node.string("protocol", "http or tcp");
        if (written == null) {
            return null;
        }
        Optional<ListenerConfig.Protocol> protocol = ListenerConfig.Protocol.of(written);
        if (protocol.isEmpty()) {
            node.problem("protocol", "\"" + written + "\" is not a listener protocol (expected: http or tcp)");
        }
        return protocol.orElse(null);
    }

    /** The backend, allow rules and relay settings of a tcp listener. */
    private TcpListenerConfig tcpListener(ConfigNode node, String listenerName) {
        int before = problems.count();
        String backend = node.string("backend", "the name of a backend under backends; a listener with protocol = "
                + "tcp relays to it");
        if (backend != null && !backendNames.contains(backend)) {
            node.problem("backend", "listener `" + listenerName + "` names backend `" + backend + "`, which is not "
                    + "defined" + suggestAndList(backend, backendNames));
        } else if (backend != null) {
            tcpBackends.putIfAbsent(backend, listenerName == null ? node.path()
                    : "`" + listenerName + "` (" + node.path() + ")");
        }
        Set<String> bundles = listenerName == null ? Set.of()
                : trustBundlesByListener.getOrDefault(listenerName, Set.of());
        List<AllowRule> allow = allowRules(node, "allow", bundles, "of this listener");
        List<AllowRule> shadowAllow = allowRules(node, "shadow-allow", bundles, "of this listener");
        ConfigNode tcpNode = node.child("tcp");
        if (tcpNode == null) {
            return null;
        }
        TcpListenerConfig.ProxyProtocol proxyProtocol = proxyProtocol(tcpNode);
        Duration idleTimeout = tcpNode.duration("idle-timeout");
        return node.build(before, () -> new TcpListenerConfig(backend, allow, proxyProtocol, idleTimeout,
                shadowAllow));
    }

    private static TcpListenerConfig.ProxyProtocol proxyProtocol(ConfigNode node) {
        String written = node.string("proxy-protocol", "none or v2");
        if (written == null) {
            return null;
        }
        Optional<TcpListenerConfig.ProxyProtocol> p = TcpListenerConfig.ProxyProtocol.of(written);
        if (p.isEmpty()) {
            node.problem("proxy-protocol", "\"" + written + "\" is not supported (expected: none or v2)");
        }
        return p.orElse(null);
    }

    private ServerTlsConfig serverTls(ConfigNode node, String listenerName) {
        int before = problems.count();
        Path chain = node.file("certificate-chain", "a PEM file with the server certificate and its intermediates");
        Path key = node.file("private-key", "a PEM file with the private key of the server certificate");
        checkKeyPair(node, chain, key);

        List<TrustBundleConfig> clientTrust = new ArrayList<>();
        Map<String, String> bundleNames = new HashMap<>();
        Map<String, String> trustDomains = new HashMap<>();
        List<ConfigNode> bundles = node.elements("client-trust", template("client-trust"), schemaOf("client-trust"));
        boolean anyEnabled = false;
        for (ConfigNode bundle : bundles) {
            TrustBundleConfig built = trustBundle(bundle, bundleNames, trustDomains);
            clientTrust.add(built);
            // A bundle that could not be built already has its problem; do not pile "none enabled" on top.
            anyEnabled |= built == null || built.enabled();
        }
        if (bundles.isEmpty()) {
            node.problem("client-trust", "no CA bundle for client certificates (expected: at least one, e.g. "
                    + "client-trust = [{ name = clients, ca-bundle = \"clients-ca.pem\" }])");
        } else if (!anyEnabled) {
            node.problem("client-trust", "every bundle has enabled = false, so no client could connect (expected: "
                    + "at least one enabled bundle; remove the listener to stop serving it)");
        }
        if (listenerName != null) {
            trustBundlesByListener.put(listenerName, bundleNames.keySet());
        }
        List<String> protocols = protocols(node);
        List<String> ciphers = node.strings("ciphers", "a TLS 1.2 cipher suite name");
        List<String> groups = groups(node);
        int verifyDepth = node.integer("verify-depth", 1, MAX_VERIFY_DEPTH);
        Duration handshakeTimeout = node.duration("handshake-timeout");
        ConfigNode ticketsNode = node.child("session-tickets");
        SessionTicketsConfig tickets = ticketsNode == null ? null : sessionTickets(ticketsNode);
        return node.build(before, () -> new ServerTlsConfig(
                chain, key, clientTrust, protocols, ciphers, groups, verifyDepth, handshakeTimeout, tickets));
    }

    private static SessionTicketsConfig sessionTickets(ConfigNode node) {
        int before = node.problems().count();
        Optional<Path> keyFile = node.optionalFile("key-file", "a file of session ticket keys, one base64 line of "
                + SessionTicketKeyFile.KEY_SIZE + " bytes each");
        keyFile.ifPresent(file -> {
            try {
                SessionTicketKeyFile.read(file);
            } catch (IOException e) {
                node.problem("key-file", e.getMessage());
            }
        });
        Duration interval = node.duration("rotation-interval");
        if (interval != null && interval.compareTo(SessionTicketsConfig.MIN_ROTATION_INTERVAL) < 0) {
            node.problem("rotation-interval", node.object().get("rotation-interval").unwrapped()
                    + " is too short (expected: at least 1m; a ticket must stay decryptable for its lifetime)");
        }
        return node.build(before, () -> new SessionTicketsConfig(keyFile, interval));
    }

    private TrustBundleConfig trustBundle(ConfigNode node, Map<String, String> bundleNames,
            Map<String, String> trustDomains) {
        int before = problems.count();
        String name = uniqueName(node, bundleNames, "client-trust");
        Optional<String> trustDomain = trustDomain(node);
        trustDomain.ifPresent(td -> {
            String previous = trustDomains.putIfAbsent(td, node.path());
            if (previous != null) {
                node.problem("trust-domain", "trust domain `" + td + "` is already declared by " + previous
                        + " (expected: one bundle per trust domain; put all CA certificates of a domain in its "
                        + "ca-bundle)");
            }
        });
        boolean enabled = node.bool("enabled");
        CrlExpiredPolicy crlExpiredPolicy = crlExpiredPolicy(node);
        Duration crlGracePeriod = node.duration("crl-grace-period");
        Path caBundle = node.file("ca-bundle", "a PEM file with the CA certificates that may sign client certificates");
        readCaBundle(node, "ca-bundle", caBundle);
        List<Path> crls = node.files("crls", "a CRL file (PEM or DER)");
        for (int i = 0; i < crls.size(); i++) {
            Path crl = crls.get(i);
            if (crl == null) {
                continue;
            }
            try {
                PemFiles.readCrls(crl);
            } catch (IOException e) {
                problems.add(node.originOf("crls"), node.path("crls") + "[" + i + "]", e.getMessage());
            }
        }
        return node.build(before, () -> new TrustBundleConfig(name, caBundle, crls, trustDomain, enabled,
                crlExpiredPolicy, crlGracePeriod));
    }

    private static CrlExpiredPolicy crlExpiredPolicy(ConfigNode node) {
        String expected = Arrays.stream(CrlExpiredPolicy.values()).map(CrlExpiredPolicy::label)
                .collect(Collectors.joining(" or "));
        String written = node.string("crl-expired-policy", expected);
        if (written == null) {
            return null;
        }
        Optional<CrlExpiredPolicy> policy = CrlExpiredPolicy.of(written);
        if (policy.isEmpty()) {
            node.problem("crl-expired-policy", "\"" + written + "\" is not a policy (expected: " + expected + ")");
        }
        return policy.orElse(null);
    }

    /** An optional {@code trust-domain}: a bare SPIFFE trust domain name, as in client-trust and allow rules. */
    private static Optional<String> trustDomain(ConfigNode node) {
        Optional<String> written = field(node, "trust-domain");
        if (written.isEmpty()) {
            return written;
        }
        String td = written.get();
        Optional<String> reason = Syntax.trustDomainError(td);
        if (reason.isPresent()) {
            node.problem("trust-domain", "\"" + td + "\" is not a SPIFFE trust domain: " + reason.get()
                    + " (expected: " + Syntax.TRUST_DOMAIN_EXPECTED + ")");
            return Optional.empty();
        }
        return written;
    }

    private ListenerLimitsConfig listenerLimits(ConfigNode node) {
        int before = problems.count();
        int maxConnections = node.integer("max-connections", 1, 10_000_000);
        Duration lifetime = node.duration("max-connection-lifetime");
        int maxHeaderCount = node.integer("max-header-count", 1, 10_000);
        Duration headerReadTimeout = node.duration("header-read-timeout");
        return node.build(before,
                () -> new ListenerLimitsConfig(maxConnections, lifetime, maxHeaderCount, headerReadTimeout));
    }

    private RouteLimitsConfig routeLimits(ConfigNode node) {
        int before = problems.count();
        long maxBody = node.bytes("max-request-body-size", 0);
        ConfigNode rate = node.child("rate-limit");
        Optional<RouteLimitsConfig.RateLimitConfig> rateLimit = Optional.empty();
        if (rate != null && rate.bool("enabled")) {
            int rateBefore = problems.count();
            double rps = rate.positiveNumber("requests-per-second");
            int burst = rate.integer("burst", 1, 1_000_000);
            int maxIdentities = rate.integer("max-identities", 1, 10_000_000);
            RouteLimitsConfig.RateLimitConfig r = rate.build(rateBefore,
                    () -> new RouteLimitsConfig.RateLimitConfig(rps, burst, maxIdentities));
            rateLimit = Optional.ofNullable(r);
        }
        Optional<RouteLimitsConfig.RateLimitConfig> finalRate = rateLimit;
        return node.build(before, () -> new RouteLimitsConfig(maxBody, finalRate));
    }

    private HttpConfig http(ConfigNode node) {
        int before = problems.count();
        int maxInitialLineLength = node.integer("max-initial-line-length", 64, MAX_HTTP_LIMIT);
        int maxHeaderSize = node.integer("max-header-size", 256, MAX_HTTP_LIMIT);
        Duration idleTimeout = node.duration("idle-timeout");
        List<String> protocols = node.strings("protocols", "h2 or http/1.1");
        for (int i = 0; i < protocols.size(); i++) {
            String p = protocols.get(i);
            if (!HttpConfig.KNOWN_PROTOCOLS.contains(p)) {
                problems.add(node.originOf("protocols"), node.path("protocols") + "[" + i + "]",
                        "\"" + p + "\" is not a supported protocol (expected: h2 or http/1.1)");
            } else if (protocols.indexOf(p) != i) {
                problems.add(node.originOf("protocols"), node.path("protocols") + "[" + i + "]",
                        "\"" + p + "\" is listed twice (expected: each protocol once)");
            }
        }
        if (protocols.isEmpty()) {
            node.problem("protocols", "no protocol (expected: [\"h2\", \"http/1.1\"] or one of them)");
        }
        int maxConcurrentStreams = node.integer("max-concurrent-streams", 1, 10_000);
        return node.build(before, () -> new HttpConfig(maxInitialLineLength, maxHeaderSize, idleTimeout, protocols,
                maxConcurrentStreams));
    }

    private RouteConfig route(ConfigNode node) {
        int before = problems.count();
        String name = uniqueName(node, routeNames, "route");
        List<String> listeners = node.strings("listeners", "a listener name");
        for (int i = 0; i < listeners.size(); i++) {
            if (!listenerNames.containsKey(listeners.get(i))) {
                problems.add(node.originOf("listeners"), node.path("listeners") + "[" + i + "]",
                        notDefined("listener", listeners.get(i), listenerNames.keySet()));
            } else if (tcpListeners.contains(listeners.get(i))) {
                problems.add(node.originOf("listeners"), node.path("listeners") + "[" + i + "]",
                        "listener `" + listeners.get(i) + "` has protocol = tcp and takes no routes (expected: an "
                                + "http listener; a tcp listener's backend and allow rules are set on the listener)");
            }
        }
        Optional<String> host = node.optionalString("host", "a host name or *.suffix").map(h -> routeHost(node, h));
        String pathPrefix = node.string("path-prefix", "a path prefix starting with /");
        if (pathPrefix != null && !pathPrefix.startsWith("/")) {
            node.problem("path-prefix", "\"" + pathPrefix + "\" does not start with / (expected: e.g. /orders/)");
        }
        String backend = node.string("backend", "the name of a backend under backends");
        if (backend != null && !backendNames.contains(backend)) {
            node.problem("backend", "route `" + name + "` names backend `" + backend + "`, which is not defined"
                    + suggestAndList(backend, backendNames));
        }
        Set<String> bundles = trustBundlesFor(listeners);
        List<AllowRule> allow = allowRules(node, "allow", bundles, "of any listener this route applies to");
        List<AllowRule> shadowAllow = allowRules(node, "shadow-allow", bundles,
                "of any listener this route applies to");
        ConfigNode limitsNode = node.child("limits");
        RouteLimitsConfig limits = limitsNode == null ? null : routeLimits(limitsNode);
        boolean websocket = node.bool("websocket");
        return node.build(before, () -> new RouteConfig(name, listeners, host, pathPrefix, backend, allow, limits,
                websocket, shadowAllow));
    }

    /**
     * The rules under {@code key} ({@code allow} or {@code shadow-allow}: the same shape, checked the same way); a
     * rule's default name is {@code key[i]}, so a shadow rule is never mistaken for an enforced one in logs.
     */
    private List<AllowRule> allowRules(ConfigNode node, String key, Set<String> bundles, String scope) {
        List<AllowRule> rules = new ArrayList<>();
        List<ConfigNode> nodes = node.elements(key, template("allow-rule"), schemaOf("allow-rule"));
        for (int i = 0; i < nodes.size(); i++) {
            rules.add(allowRule(nodes.get(i), key + "[" + i + "]", bundles, scope));
        }
        return rules;
    }

    private String routeHost(ConfigNode node, String written) {
        String host = written.toLowerCase(Locale.ROOT);
        String name = host.startsWith("*.") ? host.substring(2) : host;
        if (!Syntax.isHostName(name)) {
            node.problem("host", "\"" + written + "\" is not a host name (expected: a DNS name such as "
                    + "api.example.org, or *.example.org for one label; leave host unset to match any host)");
        }
        return host;
    }

    private AllowRule allowRule(ConfigNode node, String defaultName, Set<String> knownBundles, String scope) {
        int before = problems.count();
        String name = node.optionalString("name", "a label for logs and metrics").orElse(defaultName);
        Optional<String> spiffeId = field(node, "spiffe-id");
        spiffeId.ifPresent(id -> Syntax.spiffeIdPatternError(id).ifPresent(reason -> node.problem("spiffe-id",
                "\"" + id + "\" is not a SPIFFE ID: " + reason + " (expected: " + Syntax.SPIFFE_ID_EXPECTED + ")")));
        Optional<String> uriSan = field(node, "uri-san");
        Optional<String> dnsSan = field(node, "dns-san").map(s -> s.toLowerCase(Locale.ROOT));
        Optional<String> subjectCn = field(node, "subject-cn");
        Optional<String> subjectOu = field(node, "subject-ou");
        Optional<String> subjectO = field(node, "subject-o");
        Optional<String> fingerprint = field(node, "fingerprint-sha256").flatMap(f -> {
            Optional<String> hex = Syntax.normalizeSha256Fingerprint(f);
            if (hex.isEmpty()) {
                node.problem("fingerprint-sha256", "\"" + f + "\" is not a SHA-256 fingerprint (expected: 64 hex "
                        + "digits, colons allowed, e.g. `openssl x509 -noout -fingerprint -sha256`)");
            }
            return hex;
        });
        Optional<String> trustBundle = field(node, "trust-bundle");
        trustBundle.filter(b -> !knownBundles.contains(b)).ifPresent(b -> node.problem("trust-bundle",
                "`" + b + "` is not a client-trust name " + scope
                        + suggestAndList(b, knownBundles)));
        Optional<String> trustDomain = trustDomain(node);
        if (problems.count() == before && spiffeId.isEmpty() && uriSan.isEmpty() && dnsSan.isEmpty()
                && subjectCn.isEmpty() && subjectOu.isEmpty() && subjectO.isEmpty() && fingerprint.isEmpty()
                && trustBundle.isEmpty() && trustDomain.isEmpty()) {
            node.problem("empty allow rule (expected: at least one of spiffe-id, uri-san, dns-san, subject-cn, "
                    + "subject-ou, subject-o, fingerprint-sha256, trust-bundle, trust-domain)");
        }
        return node.build(before, () -> new AllowRule(name, spiffeId, uriSan, dnsSan, subjectCn, subjectOu, subjectO,
                fingerprint, trustBundle, trustDomain));
    }

    /** An optional allow-rule field; an empty string is refused rather than read as "matches nothing". */
    private static Optional<String> field(ConfigNode node, String key) {
        Optional<String> value = node.optionalString(key, "a string");
        if (value.isPresent() && value.get().isBlank()) {
            node.problem(key, "empty (expected: a value, or leave " + key + " out)");
            return Optional.empty();
        }
        return value;
    }

    private BackendConfig backend(String name, ConfigNode node) {
        int before = problems.count();
        List<String> written = node.strings("endpoints", "host:port");
        if (written.isEmpty() && problems.count() == before) {
            node.problem("endpoints", "no endpoint (expected: at least one host:port, e.g. [\"orders.internal:8443\"])");
        }
        List<HostPort> endpoints = new ArrayList<>();
        for (int i = 0; i < written.size(); i++) {
            endpoints.add(node.hostPort(written.get(i), node.originOf("endpoints"),
                    node.path("endpoints") + "[" + i + "]", 1));
        }
        ConfigNode tlsNode = node.child("tls");
        BackendTlsConfig tls = tlsNode == null ? null : backendTls(tlsNode, name);
        Duration connectTimeout = node.duration("connect-timeout");
        Duration responseTimeout = node.duration("response-timeout");
        Duration idleTimeout = node.duration("idle-timeout");
        int beforeLimits = problems.count();
        int maxIdle = node.integer("max-idle-per-endpoint", 0, MAX_IDLE_PER_ENDPOINT);
        int maxConnections = node.integer("max-connections-per-endpoint", 0, MAX_CONNECTIONS_PER_ENDPOINT);
        if (maxConnections > 0 && maxConnections < maxIdle && problems.count() == beforeLimits) {
            // Idle pooled connections count against the cap: a pool allowed to keep more than the cap is a
            // contradiction, and the idle connections of one event loop could hold every slot.
            node.problem("max-connections-per-endpoint", maxConnections + " is below max-idle-per-endpoint ("
                    + maxIdle + "): idle pooled connections count against the cap (expected: an integer >= "
                    + maxIdle + ", 0 for no cap, or lower max-idle-per-endpoint to at most " + maxConnections + ")");
        }
        int maxPending = node.integer("max-pending-requests", 0, MAX_PENDING_REQUESTS);
        LoadBalancing loadBalancing = loadBalancing(node);
        int retries = node.integer("retries", 0, MAX_RETRIES);
        ConfigNode ejectionNode = node.child("ejection");
        EjectionConfig ejection = ejectionNode == null ? null : ejection(ejectionNode);
        return node.build(before, () -> new BackendConfig(
                name, endpoints, tls, connectTimeout, responseTimeout, idleTimeout, maxIdle, maxConnections, maxPending,
                loadBalancing, retries, ejection));
    }

    private static LoadBalancing loadBalancing(ConfigNode node) {
        String expected = Arrays.stream(LoadBalancing.values()).map(LoadBalancing::label)
                .collect(Collectors.joining(" or "));
        String written = node.string("load-balancing", expected);
        if (written == null) {
            return null;
        }
        Optional<LoadBalancing> policy = LoadBalancing.of(written);
        if (policy.isEmpty()) {
            node.problem("load-balancing", "\"" + written + "\" is not a load-balancing policy (expected: "
                    + expected + ")");
        }
        return policy.orElse(null);
    }

    private EjectionConfig ejection(ConfigNode node) {
        int before = problems.count();
        int failures = node.integer("consecutive-failures", 0, MAX_CONSECUTIVE_FAILURES);
        Duration baseTime = node.duration("base-time");
        Duration maxTime = node.duration("max-time");
        int maxPercent = node.integer("max-ejected-percent", 0, 100);
        if (baseTime != null && maxTime != null && maxTime.compareTo(baseTime) < 0) {
            node.problem("max-time", "is shorter than base-time (expected: a duration >= base-time)");
        }
        return node.build(before, () -> new EjectionConfig(failures, baseTime, maxTime, maxPercent));
    }

    private BackendTlsConfig backendTls(ConfigNode node, String backendName) {
        int before = problems.count();
        Path caBundle = node.file("ca-bundle", "a PEM file with the CA certificates that may sign the backend's "
                + "certificate");
        readCaBundle(node, "ca-bundle", caBundle);
        String serverName = Optional.ofNullable(node.string("server-name",
                "the backend's DNS name or IP address, as in its certificate")).map(s -> s.toLowerCase(Locale.ROOT)).orElse(null);
        if (serverName != null && !Syntax.isHostName(serverName) && !Syntax.isIpv6Literal(serverName)) {
            node.problem("server-name", "\"" + serverName + "\" is not a DNS name or IP address (expected: the name "
                    + "in the backend certificate's SAN, e.g. orders.internal)");
        }
        boolean hasChain = node.isSet("certificate-chain");
        boolean hasKey = node.isSet("private-key");
        if (hasChain != hasKey) {
            String missing = hasChain ? "private-key" : "certificate-chain";
            node.problem(missing, "missing: certificate-chain and private-key go together (expected: both or neither)");
        }
        Optional<Path> chain = node.optionalFile("certificate-chain", "a PEM file with the proxy's client certificate");
        Optional<Path> key = node.optionalFile("private-key", "a PEM file with the key of the proxy's client "
                + "certificate");
        if (hasChain && hasKey) {
            checkKeyPair(node, chain.orElse(null), key.orElse(null));
        }
        List<String> protocols = protocols(node);
        List<String> groups = groups(node);
        String tcpListener = tcpBackends.get(backendName);
        if (!groups.isEmpty() && tcpListener != null) {
            node.problem("groups", "backend `" + backendName + "` is named by the tcp listener " + tcpListener
                    + ", whose backend connections run the JDK TLS engine, which on Java 17 takes key-exchange groups "
                    + "only for the whole process (expected: groups = [] on a backend a tcp listener names; give "
                    + "the tcp listener a backend entry of its own)");
        }
        return node.build(before, () -> new BackendTlsConfig(caBundle, serverName, chain, key, protocols, groups));
    }

    private IdentityHeaderConfig identityHeader(ConfigNode node) {
        if (node == null) {
            return null;
        }
        int before = problems.count();
        String name = headerName(node, "name", node.string("name", "an HTTP header name"));
        List<String> written = node.strings("strip", "an HTTP header name");
        List<String> strip = new ArrayList<>();
        for (int i = 0; i < written.size(); i++) {
            strip.add(headerName(node, "strip", written.get(i)));
        }
        ConfigNode signedNode = node.child("signed");
        Optional<SignedHeaderConfig> signed = signedNode == null || !signedNode.bool("enabled") ? Optional.empty()
                : Optional.ofNullable(signedHeader(signedNode, name));
        return node.build(before, () -> new IdentityHeaderConfig(name, strip, signed));
    }

    /** The enabled signed identity header; its key is read here, so a bad key fails validate and reload alike. */
    private SignedHeaderConfig signedHeader(ConfigNode node, String xfccName) {
        int before = problems.count();
        String header = headerName(node, "header", node.string("header", "an HTTP header name"));
        if (header != null && header.equals(xfccName)) {
            node.problem("header", "\"" + header + "\" is also identity-header.name (expected: a header of its own, "
                    + "e.g. x-mtls-proxy-identity)");
        }
        String expected = "ES256 or HS256";
        String written = node.string("algorithm", expected);
        SignedHeaderConfig.Algorithm algorithm = written == null ? null
                : SignedHeaderConfig.Algorithm.of(written).orElse(null);
        if (written != null && algorithm == null) {
            node.problem("algorithm", "\"" + written + "\" is not supported (expected: " + expected + ")");
        }
        Path keyFile = node.file("key-file", algorithm == SignedHeaderConfig.Algorithm.HS256
                ? "a file with the base64 HS256 secret" : "a PEM file with the EC P-256 signing key");
        String keyId = node.string("key-id", "the JWS kid that names this key to backends, e.g. \"proxy-2025-01\"");
        if (keyId != null && !SignedHeaderConfig.KEY_ID.matcher(keyId).matches()) {
            node.problem("key-id", "\"" + keyId + "\" is not a usable key id (expected: 1 to 128 of A-Z a-z 0-9 "
                    + ". _ : + / = -)");
        }
        Duration maxAge = node.duration("max-age");
        if (maxAge != null && maxAge.getSeconds() < 1) {
            node.problem("max-age", maxAge + " is shorter than a second (expected: at least 1s; iat and exp are "
                    + "whole seconds)");
        }
        if (problems.count() == before) {
            try {
                SigningKeys.read(new SignedHeaderConfig(header, algorithm, keyFile, keyId, maxAge));
            } catch (IOException e) {
                node.problem("key-file", e.getMessage());
            }
        }
        return node.build(before, () -> new SignedHeaderConfig(header, algorithm, keyFile, keyId, maxAge));
    }

    private static String headerName(ConfigNode node, String key, String written) {
        if (written == null) {
            return null;
        }
        if (!Syntax.isHeaderToken(written)) {
            node.problem(key, "\"" + written + "\" is not a valid header name (expected: an HTTP token such as "
                    + "x-forwarded-client-cert)");
            return null;
        }
        return written.toLowerCase(Locale.ROOT);
    }

    private ShutdownConfig shutdown(ConfigNode node) {
        if (node == null) {
            return null;
        }
        int before = problems.count();
        Duration drainTimeout = node.duration("drain-timeout");
        return node.build(before, () -> new ShutdownConfig(drainTimeout));
    }

    private ReloadConfig reload(ConfigNode node) {
        if (node == null) {
            return null;
        }
        int before = problems.count();
        boolean watch = node.bool("watch");
        Duration debounce = node.duration("debounce");
        Duration checkInterval = node.duration("check-interval");
        Duration grace = node.duration("revoked-connection-grace");
        return node.build(before, () -> new ReloadConfig(watch, debounce, checkInterval, grace));
    }

    private ExpiryConfig expiry(ConfigNode node) {
        if (node == null) {
            return null;
        }
        int before = problems.count();
        List<Duration> warnBefore = node.durations("warn-before");
        Duration clientWarnBefore = node.duration("client-warn-before");
        Duration clientWindow = node.duration("client-window");
        return node.build(before, () -> new ExpiryConfig(warnBefore, clientWarnBefore, clientWindow));
    }

    private AdminConfig admin(ConfigNode node) {
        if (node == null) {
            return null;
        }
        int before = problems.count();
        boolean enabled = node.bool("enabled");
        HostPort bind = node.hostPort("bind", 0);
        if (enabled && bind != null && binds.containsKey(bind)) {
            node.problem("bind", bind + " is already bound by " + binds.get(bind) + " (expected: a unique address)");
        }
        return node.build(before, () -> new AdminConfig(enabled, bind));
    }

    private List<String> protocols(ConfigNode node) {
        List<String> protocols = node.strings("protocols", "a TLS protocol version");
        if (protocols.isEmpty() && node.isSet("protocols")) {
            node.problem("protocols", "empty (expected: one or more of " + String.join(", ", PROTOCOLS) + ")");
        }
        for (int i = 0; i < protocols.size(); i++) {
            if (!PROTOCOLS.contains(protocols.get(i))) {
                problems.add(node.originOf("protocols"), node.path("protocols") + "[" + i + "]", "\""
                        + protocols.get(i) + "\" is not supported (expected: " + String.join(", ", PROTOCOLS) + ")");
            }
        }
        return protocols;
    }

    /**
     * The key-exchange groups of a {@code tls} block as canonical names, in the order written; each unknown or
     * repeated name is a problem at its own line.
     */
    private List<String> groups(ConfigNode node) {
        List<String> written = node.strings("groups", "a TLS key-exchange group name");
        Map<String, Integer> firstAt = new LinkedHashMap<>();
        for (int i = 0; i < written.size(); i++) {
            String name = written.get(i);
            Optional<String> canonical = TlsGroups.canonical(name);
            String at = node.path("groups") + "[" + i + "]";
            if (canonical.isEmpty()) {
                String suggestion = Syntax.closest(name.toUpperCase(Locale.ROOT), TlsGroups.NAMES)
                        .map(s -> "; did you mean `" + s + "`?").orElse("");
                problems.add(node.originOf("groups", i), at, "\"" + name + "\" is not a supported key-exchange "
                        + "group" + suggestion + " (expected: " + TlsGroups.EXPECTED + ")");
                continue;
            }
            Integer first = firstAt.putIfAbsent(canonical.get(), i);
            if (first != null) {
                problems.add(node.originOf("groups", i), at, "\"" + name + "\" is " + canonical.get()
                        + " again, already groups[" + first + "] (expected: each group once, most preferred first)");
            }
        }
        return List.copyOf(firstAt.keySet());
    }

    /** Reads and records the required {@code name} of a listener, route or trust bundle, which must be unique. */
    private static String uniqueName(ConfigNode node, Map<String, String> seen, String kind) {
        String name = node.string("name", "a unique " + kind + " name");
        if (name == null) {
            return null;
        }
        if (name.isBlank()) {
            node.problem("name", "empty (expected: a unique " + kind + " name)");
            return null;
        }
        String previous = seen.putIfAbsent(name, node.path());
        if (previous != null) {
            node.problem("name", kind + " name `" + name + "` is already used by " + previous
                    + " (expected: a unique name)");
        }
        return name;
    }

    /** Parses the certificate chain and key, then checks that they belong together and the certificate is valid. */
    private void checkKeyPair(ConfigNode node, Path chainFile, Path keyFile) {
        X509Certificate leaf = null;
        if (chainFile != null) {
            try {
                leaf = PemFiles.readCertificates(chainFile).get(0);
                checkValidity(node, leaf);
            } catch (IOException e) {
                node.problem("certificate-chain", e.getMessage());
            }
        }
        PrivateKey key = null;
        if (keyFile != null) {
            try {
                key = PemFiles.readPrivateKey(keyFile);
            } catch (IOException e) {
                node.problem("private-key", e.getMessage());
            }
        }
        if (leaf == null || key == null) {
            return;
        }
        try {
            if (!PemFiles.keyMatches(key, leaf)) {
                node.problem("private-key", "private-key does not match the first certificate in certificate-chain "
                        + "(subject " + subject(leaf) + ")");
            }
        } catch (IllegalArgumentException e) {
            node.problem("private-key", e.getMessage());
        }
    }

    private void checkValidity(ConfigNode node, X509Certificate certificate) {
        try {
            certificate.checkValidity(Date.from(now));
        } catch (CertificateExpiredException e) {
            node.problem("certificate-chain", "the certificate (subject " + subject(certificate) + ") expired at "
                    + certificate.getNotAfter().toInstant() + " (expected: a currently valid certificate)");
        } catch (CertificateNotYetValidException e) {
            node.problem("certificate-chain", "the certificate (subject " + subject(certificate) + ") is not valid "
                    + "before " + certificate.getNotBefore().toInstant() + " (expected: a currently valid certificate)");
        }
    }

    /** CA certificates are only parsed: an expired CA shows up as failed handshakes, and may be deliberate. */
    private static void readCaBundle(ConfigNode node, String key, Path file) {
        if (file == null) {
            return;
        }
        try {
            PemFiles.readCertificates(file);
        } catch (IOException e) {
            node.problem(key, e.getMessage());
        }
    }

    private static String subject(X509Certificate certificate) {
        return certificate.getSubjectX500Principal().getName(X500Principal.RFC2253);
    }

    private Set<String> trustBundlesFor(List<String> routeListeners) {
        Collection<String> names = routeListeners.isEmpty() ? listenerNames.keySet().stream()
                .filter(l -> !tcpListeners.contains(l)).toList() : routeListeners;
        Set<String> bundles = new LinkedHashSet<>();
        for (String listener : names) {
            bundles.addAll(trustBundlesByListener.getOrDefault(listener, Set.of()));
        }
        return bundles;
    }

    private static Set<String> backendNames(ConfigNode root) {
        return root.object().get("backends") instanceof ConfigObject backends ? backends.keySet() : Set.of();
    }

    private static String notDefined(String kind, String name, Collection<String> defined) {
        return kind + " `" + name + "` is not defined" + suggestAndList(name, defined);
    }

    /** {@code ; did you mean `x`? (defined: a, b)}, the first part only when a defined name is close. */
    private static String suggestAndList(String name, Collection<String> defined) {
        String list = defined.isEmpty() ? "none" : defined.stream().sorted().collect(Collectors.joining(", "));
        return Syntax.closest(name, defined).map(s -> "; did you mean `" + s + "`?").orElse("")
                + " (defined: " + list + ")";
    }

    /** The effective defaults for one kind of element: reference.conf's, overridden by the user's {@code defaults}. */
    private ConfigObject template(String kind) {
        return defaults.object().get(kind) instanceof ConfigObject object ? object : schemaOf(kind);
    }

    private ConfigObject schemaOf(String kind) {
        return (ConfigObject) ((ConfigObject) schema.get("defaults")).get(kind);
    }
}
