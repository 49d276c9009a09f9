package org.mtlsproxy.proxy.check;

import java.util.LinkedHashSet;
import java.util.List;
import java.util.Set;
import org.mtlsproxy.proxy.check.CheckReport.Identity;
import org.mtlsproxy.proxy.check.CheckReport.ListenerCheck;
import org.mtlsproxy.proxy.check.CheckReport.RouteCheck;
import org.mtlsproxy.proxy.check.CheckReport.Verification;
import org.mtlsproxy.proxy.check.CheckReport.VerificationResult;
import org.mtlsproxy.proxy.tls.ClientCertificateVerifier.BundleOutcome;

/** A {@link CheckReport} for a person: per listener the verification, the identity and the routes, then a verdict. */
public final class CheckReportText {

    private static final String FIELD = "  %-14s %s%n";

    private CheckReportText() {
    }

    public static String render(CheckReport report) {
        StringBuilder out = new StringBuilder();
        if (report.request() != null) {
            out.append(String.format("request          host %s, path %s%n",
                    report.request().host() == null ? "(none)" : report.request().host(), report.request().path()));
        }
        for (String note : report.notes()) {
            out.append("note: ").append(note).append('\n');
        }
        for (ListenerCheck l : report.listeners()) {
            out.append('\n').append("listener ").append(l.listener()).append(" (").append(l.protocol()).append(")\n");
            verification(out, l.verification());
            if (l.identity() != null) {
                identity(out, l.identity());
            }
            routes(out, l);
        }
        out.append('\n').append(verdict(report)).append('\n');
        return out.toString();
    }

    private static void verification(StringBuilder out, Verification v) {
        String line = switch (v.result()) {
            case VERIFIED -> "verified by trust bundle " + v.trustBundle();
            case REFUSED -> "REFUSED " + v.reason().label() + ": " + v.detail();
            case NOT_CHECKED -> "not checked (" + v.detail() + ")";
        };
        out.append(String.format(FIELD, "verification", line));
        if (v.result() == VerificationResult.REFUSED || v.bundles().size() > 1) {
            int width = v.bundles().stream().mapToInt(b -> b.bundle().length()).max().orElse(0);
            for (BundleOutcome b : v.bundles()) {
                out.append(String.format("    bundle %-" + width + "s  %s%s%n", b.bundle(), b.result().label(),
                        b.reason() == null ? "" : " " + b.reason().label() + ": " + b.detail()));
            }
        }
    }

    private static void identity(StringBuilder out, Identity id) {
        field(out, "spiffe id", id.spiffeId());
        list(out, "uri sans", id.uriSans());
        list(out, "dns sans", id.dnsSans());
        list(out, "email sans", id.emailSans());
        list(out, "ip sans", id.ipSans());
        field(out, "subject", id.subject());
        field(out, "issuer", id.issuer());
        field(out, "serial", id.serial());
        field(out, "sha-256", id.sha256Fingerprint());
        field(out, "not after", id.notAfter() == null ? null : id.notAfter().toString());
        field(out, "trust bundle", id.trustBundle());
    }

    private static void routes(StringBuilder out, ListenerCheck l) {
        if (l.routes().isEmpty()) {
            if (l.verification().result() == VerificationResult.REFUSED) {
                out.append("  routes         none reached: the TLS handshake is refused\n");
            }
            return;
        }
        int nameWidth = 1;
        int matchWidth = 1;
        for (RouteCheck r : l.routes()) {
            nameWidth = Math.max(nameWidth, name(r).length());
            matchWidth = Math.max(matchWidth, match(r).length());
        }
        out.append("  routes\n");
        String row = "    %-11s %-" + nameWidth + "s  %-" + matchWidth + "s  %s%n";
        for (RouteCheck r : l.routes()) {
            out.append(String.format(row, r.decision().result().label().toUpperCase(java.util.Locale.ROOT), name(r),
                    match(r), r.decision().reason()).stripTrailing()).append('\n');
            if (r.shadow() != null) {
                out.append("      shadow: ").append(r.shadow().result().label()).append(" (")
                        .append(r.shadow().reason()).append("; shadow-allow is never enforced)\n");
            }
            for (String note : r.notes()) {
                out.append("      note: ").append(note).append('\n');
            }
        }
    }

    private static String name(RouteCheck r) {
        return r.route() == null ? "-" : r.route();
    }

    private static String match(RouteCheck r) {
        if ("tcp".equals(r.kind())) {
            return "(tcp listener)";
        }
        if (r.route() == null) {
            return "";
        }
        return (r.host() == null ? "*" : r.host()) + " " + r.pathPrefix();
    }

    /** The last line: the answer to the question that was asked. */
    static String verdict(CheckReport report) {
        int allowedRoutes = 0;
        int reachable = 0;
        Set<String> refusals = new LinkedHashSet<>();
        String allowedBy = null;
        for (ListenerCheck l : report.listeners()) {
            if (l.verification().result() == VerificationResult.REFUSED) {
                refusals.add(l.verification().reason().label());
                continue;
            }
            reachable++;
            for (RouteCheck r : l.routes()) {
                if (r.decision().allowed()) {
                    allowedRoutes++;
                    if (allowedBy == null) {
                        allowedBy = "route " + r.route() + " on listener " + l.listener() + " (rule "
                                + r.decision().rule() + ")";
                    }
                }
            }
        }
        if (report.allowed()) {
            return report.request() != null ? "ALLOWED: " + allowedBy
                    : "ALLOWED on " + allowedRoutes + " route" + (allowedRoutes == 1 ? "" : "s");
        }
        if (reachable == 0) {
            return "REJECTED at the TLS handshake: " + String.join(", ", refusals);
        }
        if (report.request() != null) {
            List<String> why = report.listeners().stream()
                    .filter(l -> l.verification().result() != VerificationResult.REFUSED)
                    .flatMap(l -> l.routes().stream()).map(CheckReportText::why).distinct().toList();
            return String.join("; ", why);
        }
        return "DENIED: no route allows this client";
    }

    private static String why(RouteCheck r) {
        return switch (r.decision().result()) {
            case DENIED -> "DENIED on route " + r.route() + ": " + r.decision().reason();
            case NO_ROUTE -> "NO ROUTE (404): " + r.decision().reason();
            case BAD_REQUEST -> "BAD REQUEST (400): " + r.decision().reason();
            case ALLOWED -> "ALLOWED on route " + r.route();
        };
    }

    private static void field(StringBuilder out, String name, String value) {
        if (value != null && !value.isEmpty()) {
            out.append(String.format(FIELD, name, value));
        }
    }

    private static void list(StringBuilder out, String name, List<String> values) {
        if (!values.isEmpty()) {
            out.append(String.format(FIELD, name, String.join(", ", values)));
        }
    }
}
