package org.mtlsproxy.proxy.tls;

import static java.util.Objects.requireNonNull;

import java.net.Socket;
import java.security.GeneralSecurityException;
import java.security.InvalidAlgorithmParameterException;
import java.security.PublicKey;
import java.security.cert.CertPathBuilder;
import java.security.cert.CertPathBuilderException;
import java.security.cert.CertStore;
import java.security.cert.CertificateException;
import java.security.cert.CertificateExpiredException;
import java.security.cert.CertificateNotYetValidException;
import java.security.cert.CertificateParsingException;
import java.security.cert.CollectionCertStoreParameters;
import java.security.cert.PKIXBuilderParameters;
import java.security.cert.PKIXCertPathBuilderResult;
import java.security.cert.TrustAnchor;
import java.security.cert.X509CRL;
import java.security.cert.X509CRLEntry;
import java.security.cert.X509CertSelector;
import java.security.cert.X509Certificate;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Date;
import java.util.HashMap;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;
import javax.net.ssl.SSLEngine;
import javax.net.ssl.SSLSession;
import javax.net.ssl.X509ExtendedTrustManager;
import javax.security.auth.x500.X500Principal;
import org.mtlsproxy.proxy.RejectReason;

/**
 * Verifies client certificate chains against one or more named trust bundles and records which bundle verified
 * the chain in the handshake session (under {@link #BUNDLE_SESSION_KEY}).
 *
 * <p>Order of checks, each failing with a reason from {@link RejectReason}: the leaf's validity window and key
 * usage; a PKIX path from the leaf through the intermediates the client sent to a trust anchor (JDK
 * {@code CertPathBuilder}: signatures, basic constraints, validity of every CA, name constraints), within
 * {@code verifyDepth}; then revocation by the bundle's CRLs for every certificate of the path. A CRL is only
 * trusted after its signature verified with the key of the issuer found in the path.
 *
 * <p>Thread-safe and immutable apart from a memo of CRL signatures already verified.
 */
public final class ClientCertificateVerifier extends X509ExtendedTrustManager {

    /** Handshake-session value naming the trust bundle that verified the client. */
    public static final String BUNDLE_SESSION_KEY = "mtls-proxy.trust-bundle";

    private static final String EKU_CLIENT_AUTH = "1.3.6.1.5.5.7.3.2";
    private static final String EKU_ANY = "2.5.29.37.0";
    private static final int KU_DIGITAL_SIGNATURE = 0;

    private final List<CompiledBundle> bundles;
    private final int verifyDepth;
    private final X509Certificate[] acceptedIssuers;

    /**
     * @param bundles     the listener's client trust bundles, tried in order
     * @param verifyDepth maximum number of CA certificates above the leaf, trust anchor included
     */
    public ClientCertificateVerifier(List<TrustBundle> bundles, int verifyDepth) {
        requireNonNull(bundles, "bundles");
        if (bundles.isEmpty()) {
            throw new IllegalArgumentException("at least one trust bundle is required");
        }
        if (verifyDepth < 1) {
            throw new IllegalArgumentException("verifyDepth must be >= 1, was " + verifyDepth);
        }
        this.verifyDepth = verifyDepth;
        List<CompiledBundle> compiled = new ArrayList<>();
        List<X509Certificate> issuers = new ArrayList<>();
        for (TrustBundle b : bundles) {
            compiled.add(new CompiledBundle(b));
            issuers.addAll(b.cas());
        }
        this.bundles = List.copyOf(compiled);
        this.acceptedIssuers = issuers.toArray(new X509Certificate[0]);
    }

    /**
     * Verifies a client chain.
     *
     * @return the name of the bundle that verified it
     * @throws ClientCertificateException with the reason when no bundle accepts the chain
     */
    public String verify(X509Certificate[] chain) throws ClientCertificateException {
        if (chain == null || chain.length == 0) {
            throw new ClientCertificateException(RejectReason.NO_CLIENT_CERT, null, "no client certificate");
        }
        X509Certificate leaf = chain[0];
        String subject = leaf.getSubjectX500Principal().getName();
        checkLeaf(leaf, subject);
        ClientCertificateException best = null;
        for (CompiledBundle bundle : bundles) {
            try {
                bundle.verify(chain, verifyDepth, subject);
                return bundle.name;
            } catch (ClientCertificateException e) {
                // Prefer the most specific failure: a chain that anchored but was revoked or expired says more
                // than "no bundle knows this CA".
                if (best == null || best.reason() == RejectReason.UNTRUSTED_CA) {
                    best = e;
                }
            }
        }
        throw best;
    }

    private static void checkLeaf(X509Certificate leaf, String subject) throws ClientCertificateException {
        try {
            leaf.checkValidity();
        } catch (CertificateExpiredException e) {
            throw new ClientCertificateException(RejectReason.EXPIRED, subject,
                    "client certificate expired at " + leaf.getNotAfter().toInstant());
        } catch (CertificateNotYetValidException e) {
            throw new ClientCertificateException(RejectReason.NOT_YET_VALID, subject,
                    "client certificate not valid before " + leaf.getNotBefore().toInstant());
        }
        List<String> eku;
        try {
            eku = leaf.getExtendedKeyUsage();
        } catch (CertificateParsingException e) {
            throw new ClientCertificateException(RejectReason.BAD_KEY_USAGE, subject,
                    "unparseable extended key usage");
        }
        if (eku != null && !eku.contains(EKU_CLIENT_AUTH) && !eku.contains(EKU_ANY)) {
            throw new ClientCertificateException(RejectReason.BAD_KEY_USAGE, subject,
                    "extended key usage does not include clientAuth");
        }
        boolean[] ku = leaf.getKeyUsage();
        if (ku != null && (ku.length <= KU_DIGITAL_SIGNATURE || !ku[KU_DIGITAL_SIGNATURE])) {
            throw new ClientCertificateException(RejectReason.BAD_KEY_USAGE, subject,
                    "key usage does not include digitalSignature");
        }
    }

    @Override
    public void checkClientTrusted(X509Certificate[] chain, String authType, SSLEngine engine)
            throws CertificateException {
        String bundle = verify(chain);
        SSLSession session = engine == null ? null : engine.getHandshakeSession();
        if (session != null) {
            session.putValue(BUNDLE_SESSION_KEY, bundle);
        }
    }

    @Override
    public void checkClientTrusted(X509Certificate[] chain, String authType, Socket socket)
            throws CertificateException {
        verify(chain);
    }

    @Override
    public void checkClientTrusted(X509Certificate[] chain, String authType) throws CertificateException {
        verify(chain);
    }

    @Override
    public void checkServerTrusted(X509Certificate[] chain, String authType, Socket socket)
            throws CertificateException {
        throw new CertificateException("this trust manager verifies clients only");
    }

    @Override
    public void checkServerTrusted(X509Certificate[] chain, String authType, SSLEngine engine)
            throws CertificateException {
        throw new CertificateException("this trust manager verifies clients only");
    }

    @Override
    public void checkServerTrusted(X509Certificate[] chain, String authType) throws CertificateException {
        throw new CertificateException("this trust manager verifies clients only");
    }

    @Override
    public X509Certificate[] getAcceptedIssuers() {
        return acceptedIssuers.clone();
    }

    /** One bundle, pre-indexed for path building and revocation lookups. */
    private static final class CompiledBundle {
        final String name;
        final Set<TrustAnchor> anchors;
        final Map<X500Principal, List<X509CRL>> crlsByIssuer;
        final Set<X500Principal> anchorSubjects;
        /** CRLs whose signature was verified, with the key that verified them. */
        final Map<X509CRL, PublicKey> verifiedCrls = new ConcurrentHashMap<>();

        CompiledBundle(TrustBundle bundle) {
            this.name = bundle.name();
            Set<TrustAnchor> a = new HashSet<>();
            Set<X500Principal> subjects = new HashSet<>();
            for (X509Certificate ca : bundle.cas()) {
                a.add(new TrustAnchor(ca, null));
                subjects.add(ca.getSubjectX500Principal());
            }
            this.anchors = Set.copyOf(a);
            this.anchorSubjects = Set.copyOf(subjects);
            Map<X500Principal, List<X509CRL>> byIssuer = new HashMap<>();
            for (X509CRL crl : bundle.crls()) {
                byIssuer.computeIfAbsent(crl.getIssuerX500Principal(), k -> new ArrayList<>()).add(crl);
            }
            byIssuer.replaceAll((k, v) -> List.copyOf(v));
            this.crlsByIssuer = Map.copyOf(byIssuer);
        }

        void verify(X509Certificate[] chain, int verifyDepth, String subject) throws ClientCertificateException {
            X509Certificate leaf = chain[0];
            PKIXCertPathBuilderResult result = buildPath(chain, verifyDepth, subject);
            List<? extends java.security.cert.Certificate> path = result.getCertPath().getCertificates();
            // path = leaf, intermediates...; the anchor is separate. Count CA certificates above the leaf.
            int caCount = path.size() - 1 + (isSelf(leaf, result.getTrustAnchor()) ? 0 : 1);
            if (caCount > verifyDepth) {
                throw new ClientCertificateException(RejectReason.CHAIN_TOO_LONG, subject,
                        "chain needs " + caCount + " CA certificates, verify-depth is " + verifyDepth);
            }
            checkRevocation(path, result.getTrustAnchor().getTrustedCert(), subject);
        }

        private static boolean isSelf(X509Certificate leaf, TrustAnchor anchor) {
            return anchor.getTrustedCert() != null && anchor.getTrustedCert().equals(leaf);
        }

        private PKIXCertPathBuilderResult buildPath(X509Certificate[] chain, int verifyDepth, String subject)
                throws ClientCertificateException {
            X509Certificate leaf = chain[0];
            if (!anchorSubjects.contains(leaf.getIssuerX500Principal()) && chain.length == 1) {
                // Fast, clear answer for the common "wrong CA" and "missing intermediate" cases.
                throw new ClientCertificateException(RejectReason.UNTRUSTED_CA, subject,
                        "issuer " + leaf.getIssuerX500Principal().getName() + " is not trusted by bundle " + name
                                + " and the client sent no intermediate");
            }
            try {
                X509CertSelector target = new X509CertSelector();
                target.setCertificate(leaf);
                PKIXBuilderParameters params = new PKIXBuilderParameters(anchors, target);
                params.setRevocationEnabled(false);
                // Intermediates only; the anchor is not counted by the JDK.
                params.setMaxPathLength(Math.max(0, verifyDepth - 1));
                params.addCertStore(CertStore.getInstance("Collection",
                        new CollectionCertStoreParameters(Arrays.asList(chain))));
                params.setDate(new Date());
                return (PKIXCertPathBuilderResult) CertPathBuilder.getInstance("PKIX").build(params);
            } catch (CertPathBuilderException e) {
                throw diagnose(chain, verifyDepth, subject, e);
            } catch (InvalidAlgorithmParameterException e) {
                throw new ClientCertificateException(RejectReason.UNTRUSTED_CA, subject,
                        "invalid trust parameters: " + e.getMessage());
            } catch (GeneralSecurityException e) {
                throw new ClientCertificateException(RejectReason.UNTRUSTED_CA, subject, e.getMessage());
            }
        }

        /** The JDK builder says only "no path"; find the likeliest specific cause among what the client sent. */
        private ClientCertificateException diagnose(X509Certificate[] chain, int verifyDepth, String subject,
                CertPathBuilderException e) {
            Date now = new Date();
            for (int i = 1; i < chain.length; i++) {
                X509Certificate ca = chain[i];
                if (now.after(ca.getNotAfter())) {
                    return new ClientCertificateException(RejectReason.EXPIRED, subject,
                            "intermediate " + ca.getSubjectX500Principal().getName() + " expired");
                }
                if (now.before(ca.getNotBefore())) {
                    return new ClientCertificateException(RejectReason.NOT_YET_VALID, subject,
                            "intermediate " + ca.getSubjectX500Principal().getName() + " not yet valid");
                }
            }
            if (chain.length > verifyDepth && anchorSubjects.contains(
                    chain[chain.length - 1].getIssuerX500Principal())) {
                return new ClientCertificateException(RejectReason.CHAIN_TOO_LONG, subject,
                        "chain of " + chain.length + " certificates exceeds verify-depth " + verifyDepth);
            }
            return new ClientCertificateException(RejectReason.UNTRUSTED_CA, subject,
                    "no path to a CA of bundle " + name + " (" + e.getMessage() + ")");
        }

        private void checkRevocation(List<? extends java.security.cert.Certificate> path, X509Certificate anchor,
                String subject) throws ClientCertificateException {
            if (crlsByIssuer.isEmpty()) {
                return;
            }
            for (int i = 0; i < path.size(); i++) {
                X509Certificate cert = (X509Certificate) path.get(i);
                List<X509CRL> crls = crlsByIssuer.get(cert.getIssuerX500Principal());
                if (crls == null) {
                    continue;
                }
                X509Certificate issuer = i + 1 < path.size() ? (X509Certificate) path.get(i + 1) : anchor;
                if (issuer == null) {
                    continue;
                }
                for (X509CRL crl : crls) {
                    if (!signatureVerified(crl, issuer.getPublicKey())) {
                        continue;
                    }
                    X509CRLEntry entry = crl.getRevokedCertificate(cert);
                    if (entry != null) {
                        String which = i == 0 ? "client certificate" : "intermediate "
                                + cert.getSubjectX500Principal().getName();
                        throw new ClientCertificateException(RejectReason.REVOKED, subject,
                                which + " serial " + cert.getSerialNumber().toString(16) + " revoked at "
                                        + entry.getRevocationDate().toInstant());
                    }
                }
            }
        }

        private boolean signatureVerified(X509CRL crl, PublicKey issuerKey) {
            PublicKey known = verifiedCrls.get(crl);
            if (known != null) {
                return known.equals(issuerKey);
            }
            try {
                crl.verify(issuerKey);
                verifiedCrls.put(crl, issuerKey);
                return true;
            } catch (GeneralSecurityException e) {
                return false;
            }
        }
    }
}
