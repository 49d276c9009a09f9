package org.mtlsproxy.proxy.pki;

import static java.util.Objects.requireNonNull;

import io.netty.util.NetUtil;
import java.net.URI;
import java.net.URISyntaxException;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.Optional;
import java.util.Set;
import java.util.regex.Pattern;
import org.mtlsproxy.proxy.authz.SpiffeIdPattern;

/**
 * What to put into a leaf certificate. Validated when built: a request that exists is one the CA can sign.
 *
 * @param kind     server ({@code serverAuth}) or client ({@code clientAuth})
 * @param name     the file name stem: {@code NAME.key}, {@code NAME.pem}, {@code NAME-chain.pem}
 * @param cn       the subject CN (default: the name)
 * @param ou       the subject OU, if any
 * @param org      the subject O, if any
 * @param dnsNames DNS SANs ({@code *.example.org} allowed)
 * @param ips      IP address SANs, literal IPv4 or IPv6
 * @param uris     URI SANs; a {@code spiffe://} one must be a valid SPIFFE ID
 * @param validity how long from now the certificate is valid
 * @param keyType  the leaf's key type; empty: the CA's
 */
public record LeafRequest(
        Kind kind,
        String name,
        String cn,
        Optional<String> ou,
        Optional<String> org,
        List<String> dnsNames,
        List<String> ips,
        List<String> uris,
        Duration validity,
        Optional<KeyType> keyType) {

    /** Server or client certificate: decides the extended key usage. */
    public enum Kind {
        SERVER,
        CLIENT;

        public String label() {
            return name().toLowerCase(Locale.ROOT);
        }

        static Kind parse(String label) throws PkiException {
            for (Kind k : values()) {
                if (k.label().equals(label)) {
                    return k;
                }
            }
            throw new PkiException("certificate kind \"" + label + "\" (expected: server or client)");
        }
    }

    /** Names a leaf may not take: the CA's own files. */
    static final Set<String> RESERVED_NAMES = Set.of("root-ca", "intermediate-ca", "crl", "pki");

    private static final Pattern NAME = Pattern.compile("[A-Za-z0-9][A-Za-z0-9._-]{0,63}");
    private static final Pattern DNS_LABEL = Pattern.compile("[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?");

    /** Requires everything; use {@link #builder(Kind, String)} and let {@link Builder#build()} validate. */
    public LeafRequest {
        requireNonNull(kind, "kind");
        requireNonNull(name, "name");
        requireNonNull(cn, "cn");
        requireNonNull(ou, "ou");
        requireNonNull(org, "org");
        dnsNames = List.copyOf(dnsNames);
        ips = List.copyOf(ips);
        uris = List.copyOf(uris);
        requireNonNull(validity, "validity");
        requireNonNull(keyType, "keyType");
    }

    public static Builder builder(Kind kind, String name) {
        return new Builder(kind, name);
    }

    /** The number of SANs. */
    int sanCount() {
        return dnsNames.size() + ips.size() + uris.size();
    }

    /** Collects a request; {@link #build()} validates every field. */
    public static final class Builder {
        private final Kind kind;
        private final String name;
        private String cn;
        private String ou;
        private String org;
        private final List<String> dnsNames = new ArrayList<>();
        private final List<String> ips = new ArrayList<>();
        private final List<String> uris = new ArrayList<>();
        private Duration validity = Duration.ofDays(90);
        private KeyType keyType;

        private Builder(Kind kind, String name) {
            this.kind = requireNonNull(kind, "kind");
            this.name = requireNonNull(name, "name");
        }

        public Builder cn(String cn) {
            this.cn = cn;
            return this;
        }

        public Builder ou(String ou) {
            this.ou = ou;
            return this;
        }

        public Builder org(String org) {
            this.org = org;
            return this;
        }

        public Builder dns(List<String> names) {
            dnsNames.addAll(names);
            return this;
        }

        public Builder ip(List<String> addresses) {
            ips.addAll(addresses);
            return this;
        }

        public Builder uri(List<String> values) {
            uris.addAll(values);
            return this;
        }

        public Builder validity(Duration validity) {
            this.validity = requireNonNull(validity, "validity");
            return this;
        }

        public Builder keyType(KeyType keyType) {
            this.keyType = keyType;
            return this;
        }

        /**
         * Validates and builds.
         *
         * @throws PkiException naming the first invalid value and what was expected
         */
        public LeafRequest build() throws PkiException {
            if (!NAME.matcher(name).matches()) {
                throw new PkiException("name \"" + name + "\" (expected: 1-64 letters, digits, '.', '_' or '-', "
                        + "starting with a letter or digit; it becomes the file name)");
            }
            if (RESERVED_NAMES.contains(name.toLowerCase(Locale.ROOT))) {
                throw new PkiException("name \"" + name + "\" is reserved for the CA's own files (expected: another "
                        + "name than " + String.join(", ", RESERVED_NAMES.stream().sorted().toList()) + ")");
            }
            List<String> dns = new ArrayList<>();
            for (String d : dnsNames) {
                dns.add(checkDns(d));
            }
            for (String ip : ips) {
                checkIp(ip);
            }
            for (String u : uris) {
                checkUri(u);
            }
            if (cn != null && cn.isBlank()) {
                throw new PkiException("--cn is empty (expected: a subject common name)");
            }
            if (ou != null && ou.isBlank()) {
                throw new PkiException("--ou is empty (expected: an organizational unit)");
            }
            if (org != null && org.isBlank()) {
                throw new PkiException("--org is empty (expected: an organization)");
            }
            if (validity.isNegative() || validity.isZero()) {
                throw new PkiException("validity " + validity.toDays() + " days (expected: at least 1 day)");
            }
            LeafRequest r = new LeafRequest(kind, name, cn != null ? cn : name, Optional.ofNullable(ou),
                    Optional.ofNullable(org), dns, ips, uris, validity, Optional.ofNullable(keyType));
            if (kind == Kind.SERVER && r.sanCount() == 0) {
                throw new PkiException("server certificate " + name + " has no SAN (expected: at least one --dns, "
                        + "--ip or --uri; TLS clients check the host name against the SANs, not the CN)");
            }
            return r;
        }

        private static String checkDns(String d) throws PkiException {
            String lower = d.toLowerCase(Locale.ROOT);
            String rest = lower.startsWith("*.") ? lower.substring(2) : lower;
            boolean ok = !rest.isEmpty() && lower.length() <= 253;
            if (ok) {
                for (String label : rest.split("\\.", -1)) {
                    if (!DNS_LABEL.matcher(label).matches()) {
                        ok = false;
                        break;
                    }
                }
            }
            if (!ok) {
                throw new PkiException("--dns \"" + d + "\" is not a DNS name (expected: labels of letters, digits "
                        + "and '-' separated by '.', optionally starting with \"*.\")");
            }
            return lower;
        }

        private static void checkIp(String ip) throws PkiException {
            if (!NetUtil.isValidIpV4Address(ip) && !NetUtil.isValidIpV6Address(ip)) {
                throw new PkiException("--ip \"" + ip + "\" is not an IP address (expected: a literal IPv4 or IPv6 "
                        + "address such as 127.0.0.1 or ::1)");
            }
        }

        private static void checkUri(String u) throws PkiException {
            URI uri;
            try {
                uri = new URI(u);
            } catch (URISyntaxException e) {
                throw new PkiException("--uri \"" + u + "\" is not a URI: " + e.getReason()
                        + " (expected: e.g. spiffe://example.org/ns/prod/sa/orders)");
            }
            if (!uri.isAbsolute()) {
                throw new PkiException("--uri \"" + u + "\" has no scheme (expected: e.g. "
                        + "spiffe://example.org/ns/prod/sa/orders)");
            }
            if ("spiffe".equalsIgnoreCase(uri.getScheme())) {
                try {
                    SpiffeIdPattern.requireConcrete(u);
                } catch (IllegalArgumentException e) {
                    throw new PkiException("--uri " + e.getMessage());
                }
            }
        }
    }
}
