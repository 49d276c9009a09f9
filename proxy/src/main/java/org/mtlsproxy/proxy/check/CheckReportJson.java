package org.mtlsproxy.proxy.check;

import java.util.List;
import org.mtlsproxy.proxy.check.CheckReport.Identity;
import org.mtlsproxy.proxy.check.CheckReport.ListenerCheck;
import org.mtlsproxy.proxy.check.CheckReport.Outcome;
import org.mtlsproxy.proxy.check.CheckReport.RouteCheck;
import org.mtlsproxy.proxy.check.CheckReport.Verification;
import org.mtlsproxy.proxy.tls.ClientCertificateVerifier.BundleOutcome;
import tools.jackson.databind.json.JsonMapper;
import tools.jackson.databind.node.ArrayNode;
import tools.jackson.databind.node.ObjectNode;

/**
 * The JSON of a {@link CheckReport}, identical for {@code check --format json} and the admin {@code POST /check}.
 * Field names are snake_case and stable; every field is always present (null when it does not apply), so scripts
 * can read them without probing. Written with the Jackson that logstash-logback-encoder already brings.
 */
public final class CheckReportJson {

    private static final JsonMapper MAPPER = JsonMapper.builder().build();

    private CheckReportJson() {
    }

    /** The report as pretty-printed JSON, ending with a newline. */
    public static String render(CheckReport report) {
        ObjectNode root = MAPPER.createObjectNode();
        root.put("allowed", report.allowed());
        root.put("mode", report.mode().label());
        if (report.request() == null) {
            root.putNull("request");
        } else {
            ObjectNode request = root.putObject("request");
            request.put("host", report.request().host());
            request.put("path", report.request().path());
            request.put("routing_host", report.request().routingHost());
            request.put("normalized_path", report.request().normalizedPath());
        }
        strings(root.putArray("notes"), report.notes());
        ArrayNode listeners = root.putArray("listeners");
        for (ListenerCheck l : report.listeners()) {
            ObjectNode node = listeners.addObject();
            node.put("listener", l.listener());
            node.put("protocol", l.protocol());
            verification(node.putObject("verification"), l.verification());
            if (l.identity() == null) {
                node.putNull("identity");
            } else {
                identity(node.putObject("identity"), l.identity());
            }
            ArrayNode routes = node.putArray("routes");
            for (RouteCheck r : l.routes()) {
                route(routes.addObject(), r);
            }
        }
        return MAPPER.writerWithDefaultPrettyPrinter().writeValueAsString(root) + "\n";
    }

    private static void verification(ObjectNode node, Verification v) {
        node.put("result", v.result().label());
        node.put("reason", v.reason() == null ? null : v.reason().label());
        node.put("trust_bundle", v.trustBundle());
        node.put("detail", v.detail());
        ArrayNode bundles = node.putArray("bundles");
        for (BundleOutcome b : v.bundles()) {
            ObjectNode bundle = bundles.addObject();
            bundle.put("bundle", b.bundle());
            bundle.put("result", b.result().label());
            bundle.put("reason", b.reason() == null ? null : b.reason().label());
            bundle.put("detail", b.detail());
        }
    }

    private static void identity(ObjectNode node, Identity id) {
        node.put("spiffe_id", id.spiffeId());
        strings(node.putArray("uri_sans"), id.uriSans());
        strings(node.putArray("dns_sans"), id.dnsSans());
        strings(node.putArray("email_sans"), id.emailSans());
        strings(node.putArray("ip_sans"), id.ipSans());
        node.put("subject", id.subject());
        node.put("common_name", id.commonName());
        strings(node.putArray("organizational_units"), id.organizationalUnits());
        strings(node.putArray("organizations"), id.organizations());
        node.put("issuer", id.issuer());
        node.put("serial", id.serial());
        node.put("sha256_fingerprint", id.sha256Fingerprint());
        node.put("not_after", id.notAfter() == null ? null : id.notAfter().toString());
        node.put("trust_bundle", id.trustBundle());
    }

    private static void route(ObjectNode node, RouteCheck r) {
        node.put("route", r.route());
        node.put("kind", r.kind());
        node.put("host", r.host());
        node.put("path_prefix", r.pathPrefix());
        outcome(node.putObject("decision"), r.decision());
        if (r.shadow() == null) {
            node.putNull("shadow");
        } else {
            outcome(node.putObject("shadow"), r.shadow());
        }
        strings(node.putArray("notes"), r.notes());
    }

    private static void outcome(ObjectNode node, Outcome o) {
        node.put("result", o.result().label());
        node.put("rule", o.rule());
        node.put("reason", o.reason());
    }

    private static void strings(ArrayNode array, List<String> values) {
        values.forEach(array::add);
    }
}
