package org.mtlsproxy.proxy.identity;

import static java.util.Objects.requireNonNull;

import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.security.cert.CertificateEncodingException;
import java.security.cert.CertificateParsingException;
import java.security.cert.X509Certificate;
import java.util.ArrayList;
import java.util.Collection;
import java.util.HexFormat;
import java.util.List;
import java.util.Optional;
import javax.naming.InvalidNameException;
import javax.naming.NamingEnumeration;
import javax.naming.NamingException;
import javax.naming.directory.Attribute;
import javax.naming.ldap.LdapName;
import javax.naming.ldap.Rdn;
import javax.security.auth.x500.X500Principal;

/**
 * Reads a {@link ClientIdentity} out of a verified client certificate.
 *
 * <p>Pure: no I/O, no state, no trust decisions. The caller passes only a certificate the TLS stack has already
 * verified, and the name of the trust bundle that verified it.
 */
public final class IdentityExtractor {

    // GeneralName tags, RFC 5280 section 4.2.1.6, as returned by X509Certificate.getSubjectAlternativeNames().
    private static final int SAN_RFC822 = 1;
    private static final int SAN_DNS = 2;
    private static final int SAN_URI = 6;
    private static final int SAN_IP = 7;

    private IdentityExtractor() {
    }

    /**
     * Extracts the identity of {@code leaf}.
     *
     * @param leaf        the client's end-entity certificate, already verified
     * @param trustBundle the name of the trust bundle that verified it
     * @throws IllegalArgumentException if the certificate's extensions or names cannot be parsed
     */
    public static ClientIdentity extract(X509Certificate leaf, String trustBundle) {
        requireNonNull(leaf, "leaf");
        requireNonNull(trustBundle, "trustBundle");

        List<String> uris = new ArrayList<>();
        List<String> dns = new ArrayList<>();
        List<String> emails = new ArrayList<>();
        List<String> ips = new ArrayList<>();
        readSans(leaf, uris, dns, emails, ips);

        String subjectDn = leaf.getSubjectX500Principal().getName(X500Principal.RFC2253);
        List<String> cns = new ArrayList<>();
        List<String> ous = new ArrayList<>();
        List<String> os = new ArrayList<>();
        readSubject(subjectDn, cns, ous, os);

        return new ClientIdentity(
                spiffeId(uris),
                uris,
                dns,
                emails,
                ips,
                subjectDn,
                cns.isEmpty() ? Optional.empty() : Optional.of(cns.get(0)),
                ous,
                os,
                leaf.getIssuerX500Principal().getName(X500Principal.RFC2253),
                leaf.getSerialNumber().toString(16),
                sha256Hex(leaf),
                leaf.getNotAfter().toInstant(),
                trustBundle);
    }

    /**
     * Every URI SAN of {@code leaf} with the {@code spiffe} scheme, in certificate order: exactly one for an
     * X.509-SVID. The trust decisions of the TLS layer use this list, not {@link ClientIdentity#spiffeId()}, so that a
     * certificate with two SPIFFE IDs cannot slip past a trust-domain check.
     *
     * @throws IllegalArgumentException if the subjectAltName extension cannot be parsed
     */
    public static List<String> spiffeUris(X509Certificate leaf) {
        requireNonNull(leaf, "leaf");
        List<String> uris = new ArrayList<>();
        readSans(leaf, uris, new ArrayList<>(), new ArrayList<>(), new ArrayList<>());
        uris.removeIf(uri -> !SpiffeIds.isSpiffeUri(uri));
        return List.copyOf(uris);
    }

    private static void readSans(X509Certificate leaf, List<String> uris, List<String> dns, List<String> emails,
                                 List<String> ips) {
        Collection<List<?>> sans;
        try {
            sans = leaf.getSubjectAlternativeNames();
        } catch (CertificateParsingException e) {
            throw new IllegalArgumentException("cannot parse the subjectAltName extension of "
                    + leaf.getSubjectX500Principal().getName(X500Principal.RFC2253) + ": " + e.getMessage(), e);
        }
        if (sans == null) {
            return;
        }
        for (List<?> san : sans) {
            // Each entry is [Integer tag, value]; the value is a String for the four types read here.
            if (san.size() < 2 || !(san.get(0) instanceof Integer tag) || !(san.get(1) instanceof String value)) {
                continue;
            }
            switch (tag) {
                case SAN_RFC822 -> emails.add(value);
                case SAN_DNS -> dns.add(value);
                case SAN_URI -> uris.add(value);
                case SAN_IP -> ips.add(value);
                default -> {
                    // otherName, directoryName, registeredID, ...: not used for authorization.
                }
            }
        }
    }

    /**
     * The SPIFFE ID, or empty unless exactly one URI SAN has the {@code spiffe} scheme.
     *
     * <p>An X.509-SVID "MUST contain exactly one URI SAN" (SPIFFE X509-SVID spec, section 2). With two candidates
     * neither can be trusted to be the identity, so authorization by SPIFFE ID fails closed. Public for the
     * {@code check} tool, which builds an identity from declared URIs by the same rule.
     */
    public static Optional<String> spiffeId(List<String> uris) {
        String found = null;
        for (String uri : uris) {
            if (SpiffeIds.isSpiffeUri(uri)) {
                if (found != null) {
                    return Optional.empty();
                }
                found = uri;
            }
        }
        return Optional.ofNullable(found);
    }

    /**
     * Collects CN, OU and O values in the order they appear in the RFC 2253 string (most specific first).
     *
     * <p>LdapName lists RDNs the other way round (index 0 is the rightmost), hence the reverse loop. Values that
     * are not strings (hex-encoded {@code #...} values) are skipped: an attribute we cannot read cannot match.
     */
    private static void readSubject(String subjectDn, List<String> cns, List<String> ous, List<String> os) {
        List<Rdn> rdns;
        try {
            rdns = new LdapName(subjectDn).getRdns();
        } catch (InvalidNameException e) {
            throw new IllegalArgumentException("cannot parse the subject DN \"" + subjectDn + "\": "
                    + e.getMessage(), e);
        }
        for (int i = rdns.size() - 1; i >= 0; i--) {
            // An RDN can be multi-valued (CN=a+OU=b); every attribute of it counts.
            NamingEnumeration<? extends Attribute> attributes = rdns.get(i).toAttributes().getAll();
            try {
                while (attributes.hasMore()) {
                    Attribute attribute = attributes.next();
                    List<String> target = targetFor(attribute.getID(), cns, ous, os);
                    if (target == null) {
                        continue;
                    }
                    NamingEnumeration<?> values = attribute.getAll();
                    while (values.hasMore()) {
                        if (values.next() instanceof String value) {
                            target.add(value);
                        }
                    }
                }
            } catch (NamingException e) {
                throw new IllegalArgumentException("cannot read the attributes of the subject DN \"" + subjectDn
                        + "\": " + e.getMessage(), e);
            }
        }
    }

    private static List<String> targetFor(String attributeId, List<String> cns, List<String> ous, List<String> os) {
        if ("CN".equalsIgnoreCase(attributeId)) {
            return cns;
        }
        if ("OU".equalsIgnoreCase(attributeId)) {
            return ous;
        }
        if ("O".equalsIgnoreCase(attributeId)) {
            return os;
        }
        return null;
    }

    private static String sha256Hex(X509Certificate leaf) {
        try {
            return HexFormat.of().formatHex(MessageDigest.getInstance("SHA-256").digest(leaf.getEncoded()));
        } catch (CertificateEncodingException e) {
            throw new IllegalArgumentException("cannot encode the certificate of "
                    + leaf.getSubjectX500Principal().getName(X500Principal.RFC2253) + ": " + e.getMessage(), e);
        } catch (NoSuchAlgorithmException e) {
            // Every Java SE platform must provide SHA-256 (MessageDigest Javadoc), so this is a broken JDK.
            throw new IllegalStateException("SHA-256 is not available", e);
        }
    }
}
