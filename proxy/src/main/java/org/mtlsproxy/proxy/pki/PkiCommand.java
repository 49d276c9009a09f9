package org.mtlsproxy.proxy.pki;

import java.io.IOException;
import java.io.PrintWriter;
import java.math.BigInteger;
import java.nio.file.Path;
import java.security.GeneralSecurityException;
import java.time.Duration;
import java.time.Instant;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.concurrent.Callable;
import java.util.stream.Collectors;
import picocli.CommandLine;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;
import picocli.CommandLine.Parameters;
import picocli.CommandLine.Spec;

/**
 * {@code mtls-proxy pki}: init, issue, revoke, crl, list. A thin shell around {@link CertificateAuthority}: parses
 * options, prints what was written. Exit codes: 0 done, 1 I/O or crypto failure, 2 usage (bad option, missing or
 * uninitialized directory, a file it will not overwrite, an invalid SAN, an unknown serial).
 */
@Command(name = "pki", mixinStandardHelpOptions = true,
        description = "A working PKI in one command: a root and an intermediate CA, server and client "
                + "certificates, revocation and the CRL the proxy reads (client-trust[].crls).",
        subcommands = {PkiCommand.Init.class, PkiCommand.Issue.class, PkiCommand.Revoke.class, PkiCommand.Crl.class,
                PkiCommand.ListCommand.class})
public final class PkiCommand implements Callable<Integer> {

    static final int EXIT_FAILURE = 1;
    static final int EXIT_USAGE = CommandLine.ExitCode.USAGE;

    @Spec
    CommandLine.Model.CommandSpec spec;

    @Override
    public Integer call() {
        PrintWriter err = spec.commandLine().getErr();
        err.println("missing command (expected: init, issue, revoke, crl or list)");
        spec.commandLine().usage(err);
        return EXIT_USAGE;
    }

    /** One body of a subcommand; its exceptions become a message and an exit code. */
    private interface Body {
        int run(PrintWriter out) throws PkiException, IOException, GeneralSecurityException;
    }

    private static int run(CommandLine.Model.CommandSpec spec, Body body) {
        PrintWriter out = spec.commandLine().getOut();
        PrintWriter err = spec.commandLine().getErr();
        try {
            return body.run(out);
        } catch (PkiException e) {
            err.println("pki " + spec.name() + ": " + e.getMessage());
            return EXIT_USAGE;
        } catch (IOException | GeneralSecurityException e) {
            err.println("pki " + spec.name() + ": failed: " + e);
            return EXIT_FAILURE;
        } finally {
            out.flush();
            err.flush();
        }
    }

    private static Duration days(int days, String option) throws PkiException {
        if (days < 1) {
            throw new PkiException(option + " " + days + " (expected: at least 1)");
        }
        return Duration.ofDays(days);
    }

    @Command(name = "init", mixinStandardHelpOptions = true,
            description = "Create a root CA, an intermediate CA (pathLen 0), an empty CRL and the state file in DIR. "
                    + "Refuses a DIR that already holds a CA.")
    static final class Init implements Callable<Integer> {
        @Parameters(index = "0", paramLabel = "DIR", description = "Directory for the CA (created if missing).")
        Path dir;

        @Option(names = "--key-type", paramLabel = "TYPE", defaultValue = "ec",
                description = "ec (ECDSA P-256) or rsa (RSA-2048); also the default of issued certificates "
                        + "(default: ${DEFAULT-VALUE}).")
        String keyType;

        @Option(names = "--days", paramLabel = "N", defaultValue = "3650",
                description = "Validity of the root CA in days (default: ${DEFAULT-VALUE}).")
        int days;

        @Option(names = "--intermediate-days", paramLabel = "N",
                description = "Validity of the intermediate CA in days, at most --days (default: 1825, or --days "
                        + "if less).")
        Integer intermediateDays;

        @Option(names = "--crl-days", paramLabel = "N", defaultValue = "30",
                description = "nextUpdate of the first, empty CRL, in days from now (default: ${DEFAULT-VALUE}).")
        int crlDays;

        @Option(names = "--name", paramLabel = "NAME", defaultValue = "mtls-proxy",
                description = "CA name: subjects \"CN=NAME Root CA, O=NAME\" and \"CN=NAME Intermediate CA, O=NAME\" "
                        + "(default: ${DEFAULT-VALUE}).")
        String name;

        @Spec
        CommandLine.Model.CommandSpec spec;

        @Override
        public Integer call() {
            return run(spec, out -> {
                Duration root = days(days, "--days");
                Duration intermediate = intermediateDays != null ? days(intermediateDays, "--intermediate-days")
                        : root.compareTo(Duration.ofDays(1825)) < 0 ? root : Duration.ofDays(1825);
                KeyType type = KeyType.parse(keyType);
                CertificateAuthority ca = CertificateAuthority.init(dir, new CertificateAuthority.InitOptions(name,
                        type, root, intermediate, days(crlDays, "--crl-days")));
                out.printf("initialized a PKI in %s (%s keys)%n", dir, type == KeyType.EC ? "ECDSA P-256" : "RSA-2048");
                out.printf("  %-45s root CA, until %s: trust it (client-trust ca-bundle, curl --cacert)%n",
                        dir.resolve(CertificateAuthority.ROOT_PEM), ca.rootCertificate().getNotAfter().toInstant());
                out.printf("  %-45s root CA key (0600); only init uses it: keep it offline%n",
                        dir.resolve(CertificateAuthority.ROOT_KEY));
                out.printf("  %-45s intermediate CA, until %s: signs certificates and the CRL%n",
                        dir.resolve(CertificateAuthority.INTERMEDIATE_PEM),
                        ca.intermediateCertificate().getNotAfter().toInstant());
                out.printf("  %-45s intermediate CA key (0600)%n", dir.resolve(CertificateAuthority.INTERMEDIATE_KEY));
                out.printf("  %-45s CRL (empty) for client-trust crls%n", ca.crlPem());
                out.printf("  %-45s serials issued and revoked%n", dir.resolve(CertificateAuthority.STATE));
                out.printf("next: mtls-proxy pki issue server NAME --dir %s --dns HOST%n", dir);
                return 0;
            });
        }
    }

    @Command(name = "issue", mixinStandardHelpOptions = true,
            description = "Issue a server (serverAuth) or client (clientAuth) certificate from the intermediate: "
                    + "writes NAME.key (PKCS#8, 0600), NAME.pem and NAME-chain.pem (leaf + intermediate) into the "
                    + "PKI directory. Refuses an existing NAME.")
    static final class Issue implements Callable<Integer> {
        @Parameters(index = "0", paramLabel = "KIND", description = "server or client.")
        String kind;

        @Parameters(index = "1", paramLabel = "NAME", description = "File name stem, and the default CN.")
        String name;

        @Option(names = "--dir", paramLabel = "DIR", defaultValue = ".",
                description = "The PKI directory (default: the current directory).")
        Path dir;

        @Option(names = "--dns", paramLabel = "NAME", split = ",", description = "DNS SAN; repeatable.")
        List<String> dns = new ArrayList<>();

        @Option(names = "--ip", paramLabel = "ADDRESS", split = ",", description = "IP address SAN; repeatable.")
        List<String> ips = new ArrayList<>();

        @Option(names = "--uri", paramLabel = "URI", split = ",",
                description = "URI SAN, e.g. a SPIFFE ID spiffe://example.org/ns/prod/sa/orders; repeatable.")
        List<String> uris = new ArrayList<>();

        @Option(names = "--cn", paramLabel = "CN", description = "Subject CN (default: NAME).")
        String cn;

        @Option(names = "--ou", paramLabel = "OU", description = "Subject OU.")
        String ou;

        @Option(names = "--org", paramLabel = "O", description = "Subject O.")
        String org;

        @Option(names = "--days", paramLabel = "N", defaultValue = "90",
                description = "Validity in days (default: ${DEFAULT-VALUE}).")
        int days;

        @Option(names = "--key-type", paramLabel = "TYPE",
                description = "ec or rsa (default: the CA's key type).")
        String keyType;

        @Spec
        CommandLine.Model.CommandSpec spec;

        @Override
        public Integer call() {
            return run(spec, out -> {
                LeafRequest request = LeafRequest.builder(LeafRequest.Kind.parse(kind.toLowerCase(Locale.ROOT)), name)
                        .dns(dns).ip(ips).uri(uris).cn(cn).ou(ou).org(org).validity(days(days, "--days"))
                        .keyType(keyType == null ? null : KeyType.parse(keyType))
                        .build();
                CertificateAuthority ca = CertificateAuthority.open(dir);
                CertificateAuthority.Issued issued = ca.issue(request);
                out.printf("issued %s certificate %s: serial %s, subject %s, until %s%n", issued.kind().label(),
                        issued.name(), issued.serialHex(), issued.certificate().getSubjectX500Principal().getName(),
                        issued.certificate().getNotAfter().toInstant());
                out.printf("  SANs: %s%n", sans(request));
                out.printf("  %-45s private key (PKCS#8, 0600)%n", issued.keyFile());
                out.printf("  %-45s certificate%n", issued.certFile());
                out.printf("  %-45s certificate + intermediate: what the %s presents%n", issued.chainFile(),
                        issued.kind() == LeafRequest.Kind.SERVER ? "server" : "client");
                return 0;
            });
        }

        private static String sans(LeafRequest r) {
            List<String> all = new ArrayList<>();
            r.dnsNames().forEach(d -> all.add("DNS:" + d));
            r.ips().forEach(i -> all.add("IP:" + i));
            r.uris().forEach(u -> all.add("URI:" + u));
            return all.isEmpty() ? "none (identity by subject CN " + r.cn() + ")" : String.join(", ", all);
        }
    }

    @Command(name = "revoke", mixinStandardHelpOptions = true,
            description = "Record a certificate as revoked; `pki crl` then publishes it.")
    static final class Revoke implements Callable<Integer> {
        @Parameters(index = "0", paramLabel = "SERIAL",
                description = "The serial in hex, as `pki issue` and `pki list` print it (colons and 0x allowed).")
        String serial;

        @Option(names = "--dir", paramLabel = "DIR", defaultValue = ".",
                description = "The PKI directory (default: the current directory).")
        Path dir;

        @Option(names = "--reason", paramLabel = "REASON", defaultValue = "unspecified",
                description = "unspecified, key-compromise, affiliation-changed, superseded, "
                        + "cessation-of-operation or privilege-withdrawn (default: ${DEFAULT-VALUE}).")
        String reason;

        @Spec
        CommandLine.Model.CommandSpec spec;

        @Override
        public Integer call() {
            return run(spec, out -> {
                BigInteger s = parseSerial(serial);
                RevocationReason why = RevocationReason.parse(reason);
                CertificateAuthority ca = CertificateAuthority.open(dir);
                CertificateEntry e = ca.revoke(s, why);
                out.printf("revoked %s certificate %s (serial %s) at %s, reason %s%n", e.kind().label(), e.name(),
                        e.serialHex(), e.revokedAt().orElseThrow(), why.label());
                out.printf("publish it: mtls-proxy pki crl --dir %s%n", dir);
                return 0;
            });
        }
    }

    @Command(name = "crl", mixinStandardHelpOptions = true,
            description = "Write the intermediate's CRL (crl.pem) listing every revoked serial, with the next CRL "
                    + "number. Run it again before nextUpdate: a proxy refuses the CA's clients once it is stale.")
    static final class Crl implements Callable<Integer> {
        @Option(names = "--dir", paramLabel = "DIR", defaultValue = ".",
                description = "The PKI directory (default: the current directory).")
        Path dir;

        @Option(names = "--days", paramLabel = "N", defaultValue = "30",
                description = "nextUpdate in days from now (default: ${DEFAULT-VALUE}).")
        int days;

        @Spec
        CommandLine.Model.CommandSpec spec;

        @Override
        public Integer call() {
            return run(spec, out -> {
                Duration validity = days(days, "--days");
                CertificateAuthority ca = CertificateAuthority.open(dir);
                CertificateAuthority.CrlWritten crl = ca.writeCrl(validity);
                out.printf("wrote %s: CRL number %s, %d revoked serial%s%s, next update %s%n", crl.file(),
                        crl.number(), crl.revoked().size(), crl.revoked().size() == 1 ? "" : "s",
                        crl.revoked().isEmpty() ? "" : " (" + crl.revoked().stream().map(b -> b.toString(16))
                                .collect(Collectors.joining(", ")) + ")", crl.nextUpdate());
                out.println("a proxy that names this file in client-trust crls reloads it on change "
                        + "(or: POST /reload on the admin port, SIGHUP)");
                return 0;
            });
        }
    }

    @Command(name = "list", mixinStandardHelpOptions = true,
            description = "List every certificate issued: serial, kind, name, expiry, status.")
    static final class ListCommand implements Callable<Integer> {
        @Option(names = "--dir", paramLabel = "DIR", defaultValue = ".",
                description = "The PKI directory (default: the current directory).")
        Path dir;

        @Spec
        CommandLine.Model.CommandSpec spec;

        @Override
        public Integer call() {
            return run(spec, out -> {
                CertificateAuthority ca = CertificateAuthority.open(dir);
                List<CertificateEntry> all = ca.certificates();
                out.printf("%-32s  %-6s  %-24s  %-20s  %s%n", "SERIAL", "KIND", "NAME", "NOT AFTER", "STATUS");
                Instant now = Instant.now();
                for (CertificateEntry e : all) {
                    String status = e.revoked()
                            ? "revoked " + e.revokedAt().orElseThrow() + " (" + e.reason().orElseThrow().label() + ")"
                            : e.notAfter().isBefore(now) ? "expired" : "valid";
                    out.printf("%-32s  %-6s  %-24s  %-20s  %s%n", e.serialHex(), e.kind().label(), e.name(),
                            e.notAfter(), status);
                }
                out.printf("%d certificate%s in %s%n", all.size(), all.size() == 1 ? "" : "s", dir);
                return 0;
            });
        }
    }

    /**
     * Parses a serial in hex: {@code 5f3a…}, {@code 0x5F3A…} or OpenSSL's {@code 5F:3A:…}.
     *
     * @throws PkiException when it is not hex
     */
    static BigInteger parseSerial(String text) throws PkiException {
        String s = text.strip().replace(":", "");
        if (s.startsWith("0x") || s.startsWith("0X")) {
            s = s.substring(2);
        }
        if (s.isEmpty() || s.length() > 40 || !s.chars().allMatch(c -> Character.digit(c, 16) >= 0)) {
            throw new PkiException("serial \"" + text + "\" is not a hex serial (expected: hex digits as "
                    + "`mtls-proxy pki list` prints them, e.g. 3f9a0c...)");
        }
        return new BigInteger(s, 16);
    }
}
