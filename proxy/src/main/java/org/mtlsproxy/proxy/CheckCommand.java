package org.mtlsproxy.proxy;

import java.io.IOException;
import java.io.PrintWriter;
import java.nio.file.Path;
import java.security.cert.X509Certificate;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.Callable;
import org.mtlsproxy.config.PemFiles;
import org.mtlsproxy.proxy.check.AccessCheck;
import org.mtlsproxy.proxy.check.CheckReport;
import org.mtlsproxy.proxy.check.CheckReportJson;
import org.mtlsproxy.proxy.check.CheckReportText;
import org.mtlsproxy.proxy.runtime.RuntimeSnapshot;
import picocli.CommandLine;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;
import picocli.CommandLine.Spec;

/**
 * {@code mtls-proxy check}: would this client certificate (or identity) get through, and to which routes? Compiles
 * the config into the same {@link RuntimeSnapshot} that {@code run} serves (no port bound, no backend contacted) and
 * asks {@link AccessCheck}, which runs the proxy's own verifier, extractor, route table and authorizers.
 */
@Command(name = "check", mixinStandardHelpOptions = true, sortOptions = false,
        description = {
            "Explain access: verify a client certificate chain with each listener's client trust (the reason it "
                    + "would be rejected at the TLS handshake, from the vocabulary of logs and metrics), show the "
                    + "identity read from it, and for every route (or the one --host/--path selects) whether the "
                    + "allow rules admit it and which rule matched.",
            "Without a certificate, --identity/--uri/--dns/--cn/--ou/--o check the allow rules alone (trust-bundle "
                    + "and fingerprint-sha256 rules cannot match then).",
            "The admin listener answers the same on the running proxy: POST /check with the PEM chain as body."},
        exitCodeListHeading = "%nExit codes:%n",
        exitCodeList = {
            "0:allowed (with --host/--path: the route selected allows; without: at least one route allows)",
            "2:usage error, unreadable certificate file or invalid configuration",
            "3:denied, no route, or the certificate is refused at the TLS handshake"})
public final class CheckCommand implements Callable<Integer> {

    static final int EXIT_ALLOWED = 0;
    static final int EXIT_DENIED = 3;

    /** Output formats of {@code --format}. */
    public enum Format {
        text, json
    }

    @Option(names = {"-c", "--config"}, paramLabel = "FILE",
            description = "The HOCON config file (default: -Dconfig.file).")
    Path config;

    @Option(names = "--cert", paramLabel = "FILE",
            description = "PEM file with the client's certificate chain: the leaf first, then the intermediates the "
                    + "client sends.")
    Path cert;

    @Option(names = "--listener", paramLabel = "NAME", description = "Check this listener only (default: all).")
    String listener;

    @Option(names = "--host", paramLabel = "HOST",
            description = "Check the route a request with this Host selects (port ignored). Without --host, a "
                    + "request without Host: only routes without a host match.")
    String host;

    @Option(names = "--path", paramLabel = "PATH",
            description = "Check the route a request for this path selects, normalised as the proxy does "
                    + "(default with --host: /).")
    String path;

    @Option(names = "--format", paramLabel = "FORMAT", defaultValue = "text",
            description = "text (for people) or json (for scripts; the shape of the admin POST /check) "
                    + "(default: ${DEFAULT-VALUE}).")
    Format format;

    @Option(names = "--identity", paramLabel = "SPIFFE_ID", description = "Without a certificate: this SPIFFE ID.")
    String spiffeId;

    @Option(names = "--uri", paramLabel = "URI", description = "Without a certificate: a URI SAN (repeatable).")
    List<String> uris = new ArrayList<>();

    @Option(names = "--dns", paramLabel = "NAME", description = "Without a certificate: a DNS SAN (repeatable).")
    List<String> dnsNames = new ArrayList<>();

    @Option(names = "--cn", paramLabel = "CN", description = "Without a certificate: the subject common name.")
    String commonName;

    @Option(names = "--ou", paramLabel = "OU", description = "Without a certificate: a subject OU (repeatable).")
    List<String> units = new ArrayList<>();

    @Option(names = "--o", paramLabel = "O", description = "Without a certificate: a subject O (repeatable).")
    List<String> organizations = new ArrayList<>();

    @Spec
    CommandLine.Model.CommandSpec spec;

    @Override
    public Integer call() {
        // stdout is the answer; any log line (e.g. a stale-CRL warning while compiling) goes to stderr.
        Logging.toStandardError();
        PrintWriter err = spec.commandLine().getErr();
        boolean declared = spiffeId != null || !uris.isEmpty() || !dnsNames.isEmpty() || commonName != null
                || !units.isEmpty() || !organizations.isEmpty();
        if ((cert == null) == !declared) {
            throw new CommandLine.ParameterException(spec.commandLine(), cert == null
                    ? "give --cert FILE, or identity fields (--identity, --uri, --dns, --cn, --ou, --o)"
                    : "--cert and identity fields (--identity, --uri, --dns, --cn, --ou, --o) exclude each other");
        }
        AccessCheck.DeclaredIdentity identity = null;
        List<X509Certificate> chain = null;
        try {
            if (declared) {
                identity = new AccessCheck.DeclaredIdentity(spiffeId, uris, dnsNames, commonName, units,
                        organizations);
            } else {
                chain = PemFiles.readCertificates(cert);
            }
        } catch (IllegalArgumentException | IOException e) {
            throw new CommandLine.ParameterException(spec.commandLine(), e.getMessage(), e);
        }
        Path file = Main.configPath(config, err);
        // The snapshot `run` would serve, compiled as `validate` does: no port bound, no backend contacted.
        RuntimeSnapshot snapshot = file == null ? null : Main.compile(file, err);
        if (snapshot == null) {
            return Main.EXIT_CONFIG;
        }
        CheckReport report;
        try {
            AccessCheck.Target target = host != null || path != null ? new AccessCheck.Target(host, path) : null;
            report = chain != null ? AccessCheck.certificate(snapshot, chain, listener, target)
                    : AccessCheck.identity(snapshot, identity, listener, target);
        } catch (IllegalArgumentException e) {
            throw new CommandLine.ParameterException(spec.commandLine(), e.getMessage(), e);
        } finally {
            snapshot.close();
        }
        PrintWriter out = spec.commandLine().getOut();
        out.print(format == Format.json ? CheckReportJson.render(report) : CheckReportText.render(report));
        out.flush();
        return report.allowed() ? EXIT_ALLOWED : EXIT_DENIED;
    }
}
