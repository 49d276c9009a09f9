package org.mtlsproxy.proxy.check;

import static java.util.Objects.requireNonNull;

import java.time.Instant;
import java.util.List;
import org.mtlsproxy.proxy.RejectReason;
import org.mtlsproxy.proxy.tls.ClientCertificateVerifier.BundleOutcome;

/**
 * What {@link AccessCheck} found: per listener, how the client chain verified, the identity, and per route the
 * authorization decision. Rendered as JSON ({@link CheckReportJson}, the shape of {@code check --format json} and of
 * the admin {@code POST /check}) and as text ({@link CheckReportText}).
 *
 * @param mode      {@link Mode#CERTIFICATE} when a chain was checked, {@link Mode#IDENTITY} for declared fields
 * @param allowed   the verdict: some listener verifies the client and some route reached allows it (with a request:
 *                  the route that request selects)
 * @param request   the request checked (host and path), or null when every route was checked
 * @param notes     what a reader must know to read the result right (e.g. what an identity-only check cannot see)
 * @param listeners one entry per listener checked, in configured order
 */
public record CheckReport(Mode mode, boolean allowed, Request request, List<String> notes,
        List<ListenerCheck> listeners) {

    public CheckReport {
        requireNonNull(mode, "mode");
        notes = List.copyOf(notes);
        listeners = List.copyOf(listeners);
    }

    /** Whether the check ran on a certificate chain or on declared identity fields. */
    public enum Mode {
        CERTIFICATE("certificate"), IDENTITY("identity");

        private final String label;

        Mode(String label) {
            this.label = label;
        }

        public String label() {
            return label;
        }
    }

    /**
     * The request whose route is checked.
     *
     * @param host           the host as given ({@code Host} header value), or null for a request without one
     * @param path           the request target as given
     * @param routingHost    the host the route table is asked with ({@code HostNormalizer}); null without host
     * @param normalizedPath the path the route table is asked with ({@code PathNormalizer}); null when refused
     */
    public record Request(String host, String path, String routingHost, String normalizedPath) {
        public Request {
            requireNonNull(path, "path");
        }
    }

    /**
     * One listener.
     *
     * @param listener     its name
     * @param protocol     {@code http} or {@code tcp}
     * @param verification how its client trust saw the chain
     * @param identity     the identity its routes are authorized against; null when the leaf's names cannot be read
     * @param routes       per route (a tcp listener: the listener itself); with a request, the one route it selects;
     *                     empty when verification refused the chain (the handshake fails: no route is reached)
     */
    public record ListenerCheck(String listener, String protocol, Verification verification, Identity identity,
            List<RouteCheck> routes) {
        public ListenerCheck {
            requireNonNull(listener, "listener");
            requireNonNull(protocol, "protocol");
            requireNonNull(verification, "verification");
            routes = List.copyOf(routes);
        }
    }

    /** The outcome of chain verification. */
    public enum VerificationResult {
        VERIFIED("verified"),
        /** The TLS handshake would be refused: {@link Verification#reason()} says why. */
        REFUSED("refused"),
        /** Identity-only check: there was no chain to verify. */
        NOT_CHECKED("not_checked");

        private final String label;

        VerificationResult(String label) {
            this.label = label;
        }

        public String label() {
            return label;
        }
    }

    /**
     * Chain verification by the listener's {@code ClientCertificateVerifier}.
     *
     * @param result      verified, refused or not checked
     * @param reason      the rejection reason (the vocabulary of logs and metrics) when refused, else null
     * @param trustBundle the bundle that verified the chain, else null
     * @param detail      what a person reads
     * @param bundles     how each trust bundle saw the chain
     */
    public record Verification(VerificationResult result, RejectReason reason, String trustBundle, String detail,
            List<BundleOutcome> bundles) {
        public Verification {
            requireNonNull(result, "result");
            requireNonNull(detail, "detail");
            bundles = List.copyOf(bundles);
        }
    }

    /**
     * The identity fields, as {@code IdentityExtractor} reads them (or as declared). Fields a declared identity does
     * not have are null or empty.
     */
    public record Identity(String spiffeId, List<String> uriSans, List<String> dnsSans, List<String> emailSans,
            List<String> ipSans, String subject, String commonName, List<String> organizationalUnits,
            List<String> organizations, String issuer, String serial, String sha256Fingerprint, Instant notAfter,
            String trustBundle) {
        public Identity {
            uriSans = List.copyOf(uriSans);
            dnsSans = List.copyOf(dnsSans);
            emailSans = List.copyOf(emailSans);
            ipSans = List.copyOf(ipSans);
            organizationalUnits = List.copyOf(organizationalUnits);
            organizations = List.copyOf(organizations);
        }
    }

    /**
     * One route and what it decides for the identity.
     *
     * <p>Each decision is its own {@link Outcome} so that further decisions per route (e.g. a shadow authorizer's)
     * can be added beside {@code decision} without changing its meaning.
     *
     * @param route      the route name (a tcp listener: the listener name); null when a request selects no route
     * @param kind       {@code http} route or {@code tcp} listener
     * @param host       the route's host pattern, null for any host (or tcp)
     * @param pathPrefix the route's path prefix, null for tcp
     * @param decision   allowed, denied, or why no route was reached
     * @param shadow     what the route's {@code shadow-allow} rules would decide (never enforced); null when the
     *                   route has none or no route was reached
     * @param notes      what limits this result (e.g. rules an identity-only check cannot match)
     */
    public record RouteCheck(String route, String kind, String host, String pathPrefix, Outcome decision,
            Outcome shadow, List<String> notes) {
        public RouteCheck {
            requireNonNull(kind, "kind");
            requireNonNull(decision, "decision");
            notes = List.copyOf(notes);
        }
    }

    /** The result of a route or request. */
    public enum OutcomeResult {
        ALLOWED("allowed"),
        /** No allow rule matched ({@code denied}, 403). */
        DENIED("denied"),
        /** The request selects no route ({@code no_route}, 404). */
        NO_ROUTE("no_route"),
        /** The request's host or path is refused before routing ({@code bad_request}, 400). */
        BAD_REQUEST("bad_request");

        private final String label;

        OutcomeResult(String label) {
            this.label = label;
        }

        public String label() {
            return label;
        }
    }

    /**
     * A decision.
     *
     * @param result allowed, or why not
     * @param rule   the allow rule that matched; null unless allowed
     * @param reason the decision's reason as the access log writes it ({@code detail})
     */
    public record Outcome(OutcomeResult result, String rule, String reason) {
        public Outcome {
            requireNonNull(result, "result");
            requireNonNull(reason, "reason");
        }

        public boolean allowed() {
            return result == OutcomeResult.ALLOWED;
        }
    }
}
