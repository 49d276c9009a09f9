package org.mtlsproxy.proxy.identity;

import static java.util.Objects.requireNonNull;

import java.time.Instant;
import java.util.List;
import java.util.Optional;

/**
 * The verified client certificate, reduced to the fields the proxy authorizes on and reports.
 *
 * <p>Built once per connection by {@link IdentityExtractor}; immutable, so it can be shared between threads and
 * requests without copying.
 *
 * @param spiffeId            the SPIFFE ID: the certificate's only {@code spiffe://} URI SAN; empty when there is
 *                            none or more than one (an X.509-SVID carries exactly one)
 * @param uriSans             every URI SAN, in certificate order (including the SPIFFE ID)
 * @param dnsSans             every DNS SAN, in certificate order
 * @param emailSans           every rfc822Name (email) SAN, in certificate order
 * @param ipSans              every IP address SAN, in the textual form the JDK gives
 * @param subjectDn           the subject distinguished name in RFC 2253 form
 * @param commonName          the first (leftmost in {@code subjectDn}) common name of the subject
 * @param organizationalUnits every OU of the subject, in {@code subjectDn} order
 * @param organizations       every O of the subject, in {@code subjectDn} order
 * @param issuerDn            the issuer distinguished name in RFC 2253 form
 * @param serialHex           the serial number in lower-case hexadecimal
 * @param sha256Fingerprint   SHA-256 of the certificate's DER encoding, 64 lower-case hex digits without colons
 * @param notAfter            the end of the certificate's validity
 * @param trustBundle         the name of the trust bundle that verified the certificate
 */
public record ClientIdentity(
        Optional<String> spiffeId,
        List<String> uriSans,
        List<String> dnsSans,
        List<String> emailSans,
        List<String> ipSans,
        String subjectDn,
        Optional<String> commonName,
        List<String> organizationalUnits,
        List<String> organizations,
        String issuerDn,
        String serialHex,
        String sha256Fingerprint,
        Instant notAfter,
        String trustBundle) {

    public ClientIdentity {
        requireNonNull(spiffeId, "spiffeId");
        uriSans = List.copyOf(requireNonNull(uriSans, "uriSans"));
        dnsSans = List.copyOf(requireNonNull(dnsSans, "dnsSans"));
        emailSans = List.copyOf(requireNonNull(emailSans, "emailSans"));
        ipSans = List.copyOf(requireNonNull(ipSans, "ipSans"));
        requireNonNull(subjectDn, "subjectDn");
        requireNonNull(commonName, "commonName");
        organizationalUnits = List.copyOf(requireNonNull(organizationalUnits, "organizationalUnits"));
        organizations = List.copyOf(requireNonNull(organizations, "organizations"));
        requireNonNull(issuerDn, "issuerDn");
        requireNonNull(serialHex, "serialHex");
        requireNonNull(sha256Fingerprint, "sha256Fingerprint");
        requireNonNull(notAfter, "notAfter");
        requireNonNull(trustBundle, "trustBundle");
    }

    /**
     * The name to show a person in logs: the SPIFFE ID when there is one, otherwise the subject DN.
     */
    public String displayName() {
        return spiffeId.orElse(subjectDn);
    }
}
