package org.mtlsproxy.proxy.check;

import static java.util.Objects.requireNonNull;

import java.security.cert.X509Certificate;
import java.time.Instant;
import java.util.ArrayList;
import java.util.List;
import java.util.Optional;
import java.util.stream.Collectors;
import javax.naming.ldap.Rdn;
import org.mtlsproxy.config.AllowRule;
import org.mtlsproxy.config.ListenerConfig;
import org.mtlsproxy.config.RouteConfig;
import org.mtlsproxy.proxy.authz.Decision;
import org.mtlsproxy.proxy.authz.SpiffeIdPattern;
import org.mtlsproxy.proxy.check.CheckReport.Identity;
import org.mtlsproxy.proxy.check.CheckReport.ListenerCheck;
import org.mtlsproxy.proxy.check.CheckReport.Outcome;
import org.mtlsproxy.proxy.check.CheckReport.OutcomeResult;
import org.mtlsproxy.proxy.check.CheckReport.Request;
import org.mtlsproxy.proxy.check.CheckReport.RouteCheck;
import org.mtlsproxy.proxy.check.CheckReport.Verification;
import org.mtlsproxy.proxy.check.CheckReport.VerificationResult;
import org.mtlsproxy.proxy.http.HostNormalizer;
import org.mtlsproxy.proxy.http.PathNormalizer;
import org.mtlsproxy.proxy.identity.ClientIdentity;
import org.mtlsproxy.proxy.identity.IdentityExtractor;
import org.mtlsproxy.proxy.route.RouteTable;
import org.mtlsproxy.proxy.runtime.ListenerRuntime;
import org.mtlsproxy.proxy.runtime.RouteRuntime;
import org.mtlsproxy.proxy.runtime.RuntimeSnapshot;
import org.mtlsproxy.proxy.tcp.TcpRuntime;
import org.mtlsproxy.proxy.tls.ClientCertificateVerifier;

/**
 * Answers "would this client get through, and where?" on a {@link RuntimeSnapshot}, with the runtime's own code at
 * every step, so the answer cannot drift from what the proxy does:
 * <ol>
 *   <li>chain verification: the listener's {@link ClientCertificateVerifier#explain} (the checks of
 *       {@code verify}, which the TLS handshake calls, per trust bundle);
 *   <li>identity: {@link IdentityExtractor#extract} with the bundle that verified, as the handshake handler does;
 *   <li>route: for a request, {@link HostNormalizer} and {@link PathNormalizer} then the listener's
 *       {@link RouteTable#match}, as {@code ProxyHandler} does; otherwise every route of the listener; a tcp
 *       listener is its own route;
 *   <li>decision: the route's (or tcp listener's) {@code Authorizer.decide}.
 * </ol>
 * Not modelled: what happens after authorization (body size, rate limits, WebSocket, the backend), the SNI/Host
 * agreement of one connection (421), and proof of possession of the private key (a chain alone proves nothing; the
 * real handshake needs the key).
 *
 * <p>Side-effect free: nothing is counted, logged or remembered in the snapshot, so the admin endpoint may run it
 * on the live snapshot.
 */
public final class AccessCheck {

    static final String IDENTITY_ONLY_NOTE = "identity-only check: no certificate chain was verified (trust, "
            + "validity, revocation), and trust-bundle and fingerprint-sha256 rules cannot match without one";

    private AccessCheck() {
    }

    /**
     * A request to check: the route it selects instead of every route.
     *
     * @param host the {@code Host} (authority) as a client sends it, or null for a request without one (then only
     *             routes without a host can match)
     * @param path the request target, {@code /} when null
     */
    public record Target(String host, String path) {
        public Target {
            path = path == null ? "/" : path;
        }
    }

    /**
     * Identity fields declared instead of a certificate. At least one must be set.
     *
     * @param spiffeId      a SPIFFE ID, also a URI SAN (as in a certificate)
     * @param uris          further URI SANs
     * @param dnsNames      DNS SANs
     * @param commonName    the subject CN
     * @param units         subject OUs
     * @param organizations subject Os
     */
    public record DeclaredIdentity(String spiffeId, List<String> uris, List<String> dnsNames, String commonName,
            List<String> units, List<String> organizations) {
        public DeclaredIdentity {
            uris = List.copyOf(uris);
            dnsNames = List.copyOf(dnsNames);
            units = List.copyOf(units);
            organizations = List.copyOf(organizations);
            if (spiffeId == null && uris.isEmpty() && dnsNames.isEmpty() && commonName == null && units.isEmpty()
                    && organizations.isEmpty()) {
                throw new IllegalArgumentException("no identity field given (expected: a SPIFFE ID, URI, DNS name, "
                        + "CN, OU or O)");
            }
            if (spiffeId != null) {
                // What `pki issue --uri` enforces: a pattern would match rules no client could ever match.
                SpiffeIdPattern.requireConcrete(spiffeId);
            }
        }
    }

    /**
     * Checks a client certificate chain (leaf first, then intermediates as the client would send them).
     *
     * @param listener the listener to check, or null for every listener
     * @param target   the request to check, or null for every route
     * @throws IllegalArgumentException when there is no listener of that name, or the chain is empty
     */
    public static CheckReport certificate(RuntimeSnapshot snapshot, List<X509Certificate> chain, String listener,
            Target target) {
        requireNonNull(snapshot, "snapshot");
        requireNonNull(chain, "chain");
        if (chain.isEmpty()) {
            throw new IllegalArgumentException("no certificate (expected: the client's leaf, then intermediates)");
        }
        X509Certificate[] certificates = chain.toArray(new X509Certificate[0]);
        Request request = request(target);
        List<String> notes = new ArrayList<>();
        List<ListenerCheck> checks = new ArrayList<>();
        for (ListenerConfig l : listeners(snapshot, listener)) {
            ListenerRuntime runtime = snapshot.listener(l.name());
            ClientCertificateVerifier.Explanation ex = runtime.verifier().explain(certificates);
            Verification verification = ex.verified()
                    ? new Verification(VerificationResult.VERIFIED, null, ex.trustBundle(), ex.detail(), ex.bundles())
                    : new Verification(VerificationResult.REFUSED, ex.reason(), null, ex.detail(), ex.bundles());
            ClientIdentity identity = null;
            try {
                // The handshake handler records "" when no bundle is known; a refused chain has none.
                identity = IdentityExtractor.extract(certificates[0], ex.verified() ? ex.trustBundle() : "");
            } catch (IllegalArgumentException e) {
                addOnce(notes, "the certificate's names cannot be read: " + e.getMessage());
            }
            List<RouteCheck> routes = ex.verified() && identity != null
                    ? routes(snapshot, l, identity, request, false, notes) : List.of();
            checks.add(new ListenerCheck(l.name(), l.protocol().label(), verification,
                    identity == null ? null : view(identity, ex.verified()), routes));
        }
        return new CheckReport(CheckReport.Mode.CERTIFICATE, allowed(checks), request, notes, checks);
    }

    /**
     * Checks declared identity fields against the allow rules, without a certificate: verification is
     * {@code not_checked}, and rules on trust-bundle or fingerprint cannot match (the report says so).
     *
     * @throws IllegalArgumentException when there is no listener of that name
     */
    public static CheckReport identity(RuntimeSnapshot snapshot, DeclaredIdentity declared, String listener,
            Target target) {
        requireNonNull(snapshot, "snapshot");
        requireNonNull(declared, "declared");
        ClientIdentity identity = toClientIdentity(declared);
        Request request = request(target);
        List<String> notes = new ArrayList<>();
        notes.add(IDENTITY_ONLY_NOTE);
        Identity view = declaredView(identity);
        List<ListenerCheck> checks = new ArrayList<>();
        for (ListenerConfig l : listeners(snapshot, listener)) {
            Verification verification = new Verification(VerificationResult.NOT_CHECKED, null, null,
                    "no certificate given", List.of());
            checks.add(new ListenerCheck(l.name(), l.protocol().label(), verification, view,
                    routes(snapshot, l, identity, request, true, notes)));
        }
        return new CheckReport(CheckReport.Mode.IDENTITY, allowed(checks), request, notes, checks);
    }

    private static List<ListenerConfig> listeners(RuntimeSnapshot snapshot, String name) {
        List<ListenerConfig> all = snapshot.config().listeners();
        if (name == null) {
            return all;
        }
        for (ListenerConfig l : all) {
            if (l.name().equals(name)) {
                return List.of(l);
            }
        }
        throw new IllegalArgumentException("no listener named " + name + " (expected one of: "
                + all.stream().map(ListenerConfig::name).collect(Collectors.joining(", ")) + ")");
    }

    private static Request request(Target target) {
        if (target == null) {
            return null;
        }
        String host = HostNormalizer.normalize(target.host());
        String normalized = PathNormalizer.normalize(target.path());
        return new Request(target.host(), target.path(), host,
                normalized == null ? null : PathNormalizer.withoutQuery(normalized));
    }

    private static boolean allowed(List<ListenerCheck> checks) {
        for (ListenerCheck l : checks) {
            if (l.verification().result() == VerificationResult.REFUSED) {
                continue;
            }
            for (RouteCheck r : l.routes()) {
                if (r.decision().allowed()) {
                    return true;
                }
            }
        }
        return false;
    }

    private static List<RouteCheck> routes(RuntimeSnapshot snapshot, ListenerConfig l, ClientIdentity identity,
            Request request, boolean declared, List<String> notes) {
        if (l.isTcp()) {
            TcpRuntime tcp = snapshot.tcpOrNull(l.name());
            if (request != null) {
                addOnce(notes, "tcp listeners have no host or path: listener " + l.name() + " is its own route");
            }
            return List.of(new RouteCheck(l.name(), "tcp", null, null, outcome(tcp.authorizer().decide(identity)),
                    tcp.shadowAuthorizer().map(a -> outcome(a.decide(identity))).orElse(null),
                    ruleNotes(tcp.config().allow(), declared)));
        }
        RouteTable<RouteRuntime> table = snapshot.listener(l.name()).routes();
        List<RouteCheck> routes = new ArrayList<>();
        if (request == null) {
            for (RouteTable.Entry<RouteRuntime> e : table.entries()) {
                routes.add(check(snapshot, e, identity, declared));
            }
            return routes;
        }
        if (request.routingHost() != null && request.routingHost().isEmpty()) {
            return List.of(notRouted(OutcomeResult.BAD_REQUEST, "invalid Host \"" + request.host() + "\""));
        }
        if (request.normalizedPath() == null) {
            return List.of(notRouted(OutcomeResult.BAD_REQUEST, "invalid request path \"" + request.path()
                    + "\" (dot-segments, backslashes, control characters and non-ASCII are refused)"));
        }
        RouteRuntime matched = table.match(request.routingHost(), request.normalizedPath());
        if (matched == null) {
            return List.of(notRouted(OutcomeResult.NO_ROUTE, "no route for host "
                    + (request.routingHost() == null ? "(none)" : request.routingHost()) + " and path "
                    + request.normalizedPath()));
        }
        for (RouteTable.Entry<RouteRuntime> e : table.entries()) {
            if (e.value() == matched) {
                return List.of(check(snapshot, e, identity, declared));
            }
        }
        throw new IllegalStateException("route " + matched.name() + " matched but is not among the table's entries");
    }

    private static RouteCheck check(RuntimeSnapshot snapshot, RouteTable.Entry<RouteRuntime> e,
            ClientIdentity identity, boolean declared) {
        RouteRuntime r = e.value();
        Outcome outcome = outcome(r.authorizer().decide(identity));
        List<AllowRule> rules = snapshot.config().routes().stream().filter(rc -> rc.name().equals(r.name()))
                .findFirst().map(RouteConfig::allow).orElse(List.of());
        Outcome shadow = r.shadowAuthorizer().map(a -> outcome(a.decide(identity))).orElse(null);
        return new RouteCheck(r.name(), "http", e.host().orElse(null), e.pathPrefix(), outcome, shadow,
                outcome.allowed() ? List.of() : ruleNotes(rules, declared));
    }

    private static RouteCheck notRouted(OutcomeResult result, String reason) {
        return new RouteCheck(null, "http", null, null, new Outcome(result, null, reason), null, List.of());
    }

    private static Outcome outcome(Decision d) {
        return new Outcome(d.allowed() ? OutcomeResult.ALLOWED : OutcomeResult.DENIED, d.rule(), d.reason());
    }

    /** For a declared identity: the rules that need a certificate field it cannot have. */
    private static List<String> ruleNotes(List<AllowRule> rules, boolean declared) {
        if (!declared) {
            return List.of();
        }
        List<String> needCertificate = rules.stream()
                .filter(r -> r.trustBundle().isPresent() || r.fingerprintSha256().isPresent())
                .map(AllowRule::name).toList();
        return needCertificate.isEmpty() ? List.of() : List.of("rule" + (needCertificate.size() == 1 ? " " : "s ")
                + String.join(", ", needCertificate) + " match on trust-bundle or fingerprint-sha256 and cannot "
                + "match without a certificate");
    }

    private static void addOnce(List<String> notes, String note) {
        if (!notes.contains(note)) {
            notes.add(note);
        }
    }

    private static Identity view(ClientIdentity id, boolean verified) {
        return new Identity(id.spiffeId().orElse(null), id.uriSans(), id.dnsSans(), id.emailSans(), id.ipSans(),
                id.subjectDn(), id.commonName().orElse(null), id.organizationalUnits(), id.organizations(),
                id.issuerDn(), id.serialHex(), id.sha256Fingerprint(), id.notAfter(),
                verified ? id.trustBundle() : null);
    }

    private static Identity declaredView(ClientIdentity id) {
        return new Identity(id.spiffeId().orElse(null), id.uriSans(), id.dnsSans(), List.of(), List.of(),
                id.subjectDn().isEmpty() ? null : id.subjectDn(), id.commonName().orElse(null),
                id.organizationalUnits(), id.organizations(), null, null, null, null, null);
    }

    /**
     * A {@link ClientIdentity} from declared fields. Certificate-only fields get values no rule can match: no trust
     * bundle ({@code ""}, as the handshake records when it knows none; bundle names are never empty), no fingerprint
     * ({@code ""}; a fingerprint rule is 64 hex digits), and no issuer or serial (no rule reads them).
     */
    static ClientIdentity toClientIdentity(DeclaredIdentity d) {
        List<String> uris = new ArrayList<>();
        if (d.spiffeId() != null) {
            uris.add(d.spiffeId());
        }
        d.uris().stream().filter(u -> !uris.contains(u)).forEach(uris::add);
        // The extractor's rule: the SPIFFE ID is the one spiffe:// URI SAN; two make none.
        Optional<String> spiffeId = IdentityExtractor.spiffeId(uris);
        List<String> rdns = new ArrayList<>();
        if (d.commonName() != null) {
            rdns.add("CN=" + Rdn.escapeValue(d.commonName()));
        }
        d.units().forEach(ou -> rdns.add("OU=" + Rdn.escapeValue(ou)));
        d.organizations().forEach(o -> rdns.add("O=" + Rdn.escapeValue(o)));
        return new ClientIdentity(spiffeId, uris, d.dnsNames(), List.of(), List.of(), String.join(",", rdns),
                Optional.ofNullable(d.commonName()), d.units(), d.organizations(), "", "", "", Instant.MAX, "");
    }
}
