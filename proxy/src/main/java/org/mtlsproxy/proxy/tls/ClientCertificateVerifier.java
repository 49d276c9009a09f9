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
import java.time.Clock;
import java.time.Duration;
import java.time.Instant;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Comparator;
import java.util.Date;
import java.util.HashMap;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.atomic.AtomicLong;
import javax.net.ssl.SSLEngine;
import javax.net.ssl.SSLSession;
import javax.net.ssl.X509ExtendedTrustManager;
import javax.security.auth.x500.X500Principal;
import org.mtlsproxy.config.CrlExpiredPolicy;
import org.mtlsproxy.proxy.RejectReason;
import org.mtlsproxy.proxy.identity.IdentityExtractor;
import org.mtlsproxy.proxy.identity.SpiffeIds;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Verifies client certificate chains against one or more named trust bundles and records which bundle verified
 * the chain in the handshake session (under {@link #BUNDLE_SESSION_KEY}).
 *
 * <p>Order of checks, each failing with a reason from {@link RejectReason}: the leaf's validity window and key
 * usage; then, per enabled bundle in order, a PKIX path from the leaf through the intermediates the client sent to
 * a trust anchor (JDK {@code CertPathBuilder}: signatures, basic constraints, validity of every CA, name
 * constraints), within {@code verifyDepth}; the bundle's trust domain rules; then revocation and freshness by the
 * bundle's CRLs for every certificate of the path. A CRL is only trusted after its signature verified with the key
 * of the issuer found in the path.
 *
 * <p>Trust domains (SPIFFE): a bundle declaring trust domain X verifies only leaves with exactly one SPIFFE ID, in
 * X; a leaf whose SPIFFE ID names a domain declared by some bundle of the listener (enabled or not) is refused by
 * every other bundle. Together: a CA trusted for one domain cannot vouch for another's identities.
 *
 * <p>Thread-safe and immutable apart from a memo of CRL signatures already verified and the time of the last stale
 * CRL warning per CRL.
 */
public final class ClientCertificateVerifier extends X509ExtendedTrustManager {

    /** Handshake-session value naming the trust bundle that verified the client. */
    public static final String BUNDLE_SESSION_KEY = "mtls-proxy.trust-bundle";

    private static final Logger LOG = LoggerFactory.getLogger(ClientCertificateVerifier.class);
    /** A stale CRL accepted under soft-fail is logged at most this often, per CRL. */
    static final Duration STALE_CRL_WARNING_INTERVAL = Duration.ofMinutes(1);

    private static final String EKU_CLIENT_AUTH = "1.3.6.1.5.5.7.3.2";
    private static final String EKU_ANY = "2.5.29.37.0";
    private static final int KU_DIGITAL_SIGNATURE = 0;
    /** Orders CRLs by nextUpdate (none = never stale = greatest), then thisUpdate. */
    private static final Comparator<X509CRL> BY_FRESHNESS = Comparator
            .comparing((X509CRL crl) -> crl.getNextUpdate() == null ? Long.MAX_VALUE : crl.getNextUpdate().getTime())
            .thenComparing(crl -> crl.getThisUpdate().getTime());

    private static final java.time.Duration VERIFIED_TTL = java.time.Duration.ofSeconds(60);
    private static final int VERIFIED_MAX = 10_000;

    private final List<CompiledBundle> bundles;
    /** Names of the bundles with {@code enabled = false}, in configured order: reported by {@link #explain}. */
    private final List<String> disabledBundles;
    /** Every declared trust domain, of enabled and disabled bundles, to the name of the bundle declaring it. */
    private final Map<String, String> trustDomainOwners;
    private final int verifyDepth;
    private final X509Certificate[] acceptedIssuers;
    private final VerifierEvents events;
    private final Clock clock;
    /**
     * Chains verified recently. A reconnecting client skips PKIX path building (the dominant cost of a full
     * handshake after the TLS crypto); a reload builds a new verifier, so new trust bundles and CRLs apply at once.
     */
    private final Map<ChainKey, Verified> verified = new java.util.concurrent.ConcurrentHashMap<>();

    /**
     * @param bundles     the listener's client trust bundles, tried in order; at least one enabled
     * @param verifyDepth maximum number of CA certificates above the leaf, trust anchor included
     */
    public ClientCertificateVerifier(List<TrustBundle> bundles, int verifyDepth) {
        this(bundles, verifyDepth, VerifierEvents.NONE);
    }

    /**
     * @param bundles     the listener's client trust bundles, tried in order; at least one enabled
     * @param verifyDepth maximum number of CA certificates above the leaf, trust anchor included
     * @param events      told about loaded CRLs and stale CRLs accepted
     */
    public ClientCertificateVerifier(List<TrustBundle> bundles, int verifyDepth, VerifierEvents events) {
        this(bundles, verifyDepth, events, Clock.systemUTC());
    }

    ClientCertificateVerifier(List<TrustBundle> bundles, int verifyDepth, VerifierEvents events, Clock clock) {
        requireNonNull(bundles, "bundles");
        this.events = requireNonNull(events, "events");
        this.clock = requireNonNull(clock, "clock");
        if (bundles.stream().noneMatch(TrustBundle::enabled)) {
            throw new IllegalArgumentException("at least one enabled trust bundle is required");
        }
        if (verifyDepth < 1) {
            throw new IllegalArgumentException("verifyDepth must be >= 1, was " + verifyDepth);
        }
        this.verifyDepth = verifyDepth;
        Map<String, String> owners = new HashMap<>();
        List<CompiledBundle> compiled = new ArrayList<>();
        List<String> disabled = new ArrayList<>();
        List<X509Certificate> issuers = new ArrayList<>();
        for (TrustBundle b : bundles) {
            b.trustDomain().ifPresent(td -> {
                String previous = owners.putIfAbsent(td, b.name());
                if (previous != null) {
                    throw new IllegalArgumentException("trust domain " + td + " is declared by bundles " + previous
                            + " and " + b.name() + " (expected: one bundle per trust domain)");
                }
            });
            if (!b.enabled()) {
                disabled.add(b.name());
                continue;
            }
            CompiledBundle c = new CompiledBundle(b);
            c.reportCrls(events, clock.instant());
            compiled.add(c);
            issuers.addAll(b.cas());
        }
        this.trustDomainOwners = Map.copyOf(owners);
        this.bundles = List.copyOf(compiled);
        this.disabledBundles = List.copyOf(disabled);
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
        ChainKey key = new ChainKey(List.of(chain));
        long nowMillis = clock.millis();
        Verified hit = verified.get(key);
        if (hit != null) {
            if (nowMillis < hit.untilMillis()) {
                return hit.bundle();
            }
            verified.remove(key);
        }
        X509Certificate leaf = chain[0];
        String subject = leaf.getSubjectX500Principal().getName();
        checkLeaf(leaf, subject);
        List<String> spiffeUris = spiffeUris(leaf, subject);
        Instant now = clock.instant();
        ClientCertificateException best = null;
        for (CompiledBundle bundle : bundles) {
            try {
                List<X509CRL> stale = bundle.verify(chain, verifyDepth, subject, spiffeUris, trustDomainOwners, now);
                if (!stale.isEmpty()) {
                    // Accepted under the soft-fail grace: not remembered, so every connection is counted and the
                    // grace's end applies at once.
                    bundle.staleCrlsAccepted(stale, subject, now, events);
                } else {
                    remember(key, bundle.name, nowMillis, chain);
                }
                return bundle.name;
            } catch (ClientCertificateException e) {
                best = moreSpecific(best, e);
            }
        }
        throw best;
    }

    /**
     * Prefers the most specific failure: a chain that anchored but was revoked, expired or of the wrong trust domain
     * says more than "no bundle knows this CA".
     */
    private static ClientCertificateException moreSpecific(ClientCertificateException best,
            ClientCertificateException next) {
        return best == null || best.reason() == RejectReason.UNTRUSTED_CA ? next : best;
    }

    /**
     * How {@link #verify} decides {@code chain}, bundle by bundle, for the {@code check} tool: the same checks in the
     * same order with the same verdict (the first bundle that accepts, else the most specific failure), except that
     * every enabled bundle is tried and nothing is remembered, counted or logged.
     */
    public Explanation explain(X509Certificate[] chain) {
        List<BundleOutcome> disabled = new ArrayList<>();
        disabledBundles.forEach(name -> disabled.add(new BundleOutcome(name, BundleOutcome.Result.DISABLED, null,
                "bundle is disabled (enabled = false)")));
        if (chain == null || chain.length == 0) {
            return new Explanation(null, RejectReason.NO_CLIENT_CERT, "no client certificate", List.of());
        }
        X509Certificate leaf = chain[0];
        String subject = leaf.getSubjectX500Principal().getName();
        List<String> spiffeUris;
        try {
            checkLeaf(leaf, subject);
            spiffeUris = spiffeUris(leaf, subject);
        } catch (ClientCertificateException e) {
            // Refused before any bundle is tried, as verify() does.
            return new Explanation(null, e.reason(), e.detail(), List.of());
        }
        Instant now = clock.instant();
        String accepted = null;
        ClientCertificateException best = null;
        List<BundleOutcome> outcomes = new ArrayList<>();
        for (CompiledBundle bundle : bundles) {
            try {
                List<X509CRL> stale = bundle.verify(chain, verifyDepth, subject, spiffeUris, trustDomainOwners, now);
                outcomes.add(new BundleOutcome(bundle.name, stale.isEmpty() ? BundleOutcome.Result.ACCEPTED
                        : BundleOutcome.Result.ACCEPTED_STALE_CRL, null, stale.isEmpty() ? "chain verified"
                        : "chain verified, relying on a CRL past its nextUpdate (crl-expired-policy soft-fail)"));
                if (accepted == null) {
                    accepted = bundle.name;
                }
            } catch (ClientCertificateException e) {
                outcomes.add(new BundleOutcome(bundle.name, BundleOutcome.Result.REFUSED, e.reason(), e.detail()));
                best = moreSpecific(best, e);
            }
        }
        outcomes.addAll(disabled);
        return accepted != null ? new Explanation(accepted, null, "verified by trust bundle " + accepted, outcomes)
                : new Explanation(null, best.reason(), best.detail(), outcomes);
    }

    /**
     * The verdict on a client chain and how each trust bundle of the listener saw it.
     *
     * @param trustBundle the bundle that verified the chain (the one recorded in the identity); null when refused
     * @param reason      why the chain is refused; null when verified
     * @param detail      what a person reads: which bundle verified, or what exactly failed
     * @param bundles     per bundle, in configured order (disabled ones last); empty when the leaf itself was
     *                    refused before any bundle was tried
     */
    public record Explanation(String trustBundle, RejectReason reason, String detail, List<BundleOutcome> bundles) {
        public Explanation {
            requireNonNull(detail, "detail");
            bundles = List.copyOf(bundles);
            if ((trustBundle == null) == (reason == null)) {
                throw new IllegalArgumentException("exactly one of trustBundle and reason (got: " + trustBundle
                        + ", " + reason + ")");
            }
        }

        public boolean verified() {
            return trustBundle != null;
        }
    }

    /**
     * How one trust bundle saw a client chain.
     *
     * @param bundle the bundle's name
     * @param result what it did with the chain
     * @param reason why it refused; null unless {@code result} is {@link Result#REFUSED}
     * @param detail what a person reads
     */
    public record BundleOutcome(String bundle, Result result, RejectReason reason, String detail) {
        public BundleOutcome {
            requireNonNull(bundle, "bundle");
            requireNonNull(result, "result");
            requireNonNull(detail, "detail");
            if ((result == Result.REFUSED) != (reason != null)) {
                throw new IllegalArgumentException("a reason exactly when refused (got: " + result + ", " + reason
                        + ")");
            }
        }

        /** What a bundle did with a chain; {@link #label()} is the value the check report shows. */
        public enum Result {
            ACCEPTED("accepted"),
            /** Accepted under crl-expired-policy soft-fail while a CRL it relied on is stale. */
            ACCEPTED_STALE_CRL("accepted_stale_crl"),
            REFUSED("refused"),
            DISABLED("disabled");

            private final String label;

            Result(String label) {
                this.label = label;
            }

            public String label() {
                return label;
            }
        }
    }

    private static List<String> spiffeUris(X509Certificate leaf, String subject) throws ClientCertificateException {
        try {
            return IdentityExtractor.spiffeUris(leaf);
        } catch (IllegalArgumentException e) {
            throw new ClientCertificateException(RejectReason.HANDSHAKE_ERROR, subject, e.getMessage());
        }
    }

    /** Remembers a successful verification for {@link #VERIFIED_TTL}, never past a certificate's notAfter. */
    private void remember(ChainKey key, String bundle, long nowMillis, X509Certificate[] chain) {
        long until = nowMillis + VERIFIED_TTL.toMillis();
        for (X509Certificate c : chain) {
            until = Math.min(until, c.getNotAfter().getTime());
        }
        if (verified.size() >= VERIFIED_MAX) {
            verified.clear();
        }
        verified.put(key, new Verified(bundle, until));
    }

    /** A client chain as sent, compared by DER encoding. */
    private record ChainKey(List<X509Certificate> certificates) {
    }

    private record Verified(String bundle, long untilMillis) {
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
        final String trustDomain;
        final CrlExpiredPolicy crlExpiredPolicy;
        final Duration crlGracePeriod;
        final Set<TrustAnchor> anchors;
        final Map<X500Principal, List<X509CRL>> crlsByIssuer;
        final Set<X500Principal> anchorSubjects;
        /** CRLs whose signature was verified, with the key that verified them. */
        final Map<X509CRL, PublicKey> verifiedCrls = new ConcurrentHashMap<>();
        /** Per stale CRL, the epoch millisecond before which it is not logged again. */
        final Map<X509CRL, AtomicLong> nextStaleWarning = new ConcurrentHashMap<>();

        CompiledBundle(TrustBundle bundle) {
            this.name = bundle.name();
            this.trustDomain = bundle.trustDomain().orElse(null);
            this.crlExpiredPolicy = bundle.crlExpiredPolicy();
            this.crlGracePeriod = bundle.crlGracePeriod();
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

        /** Reports the deciding CRL of every issuer, and warns at once about one that is already stale. */
        void reportCrls(VerifierEvents events, Instant now) {
            crlsByIssuer.forEach((issuer, crls) -> {
                X509CRL crl = crls.stream().max(BY_FRESHNESS).orElseThrow();
                Optional<Instant> nextUpdate = Optional.ofNullable(crl.getNextUpdate()).map(Date::toInstant);
                String issuerName = issuer.getName(X500Principal.RFC2253);
                events.crlLoaded(name, issuerName, crl.getThisUpdate().toInstant(), nextUpdate);
                if (nextUpdate.isPresent() && !now.isBefore(nextUpdate.get())) {
                    LOG.atWarn().addKeyValue("bundle", name).addKeyValue("issuer", issuerName)
                            .addKeyValue("next_update", nextUpdate.get())
                            .addKeyValue("crl_expired_policy", crlExpiredPolicy.label())
                            .addKeyValue("grace_ends", nextUpdate.get().plus(crlGracePeriod))
                            .log("CRL is already stale: publish a fresh one");
                }
            });
        }

        /**
         * Verifies the chain against this bundle.
         *
         * @return the stale CRLs the acceptance relied on (soft-fail within grace); usually empty
         */
        List<X509CRL> verify(X509Certificate[] chain, int verifyDepth, String subject, List<String> spiffeUris,
                Map<String, String> trustDomainOwners, Instant now) throws ClientCertificateException {
            X509Certificate leaf = chain[0];
            PKIXCertPathBuilderResult result = buildPath(chain, verifyDepth, subject);
            List<? extends java.security.cert.Certificate> path = result.getCertPath().getCertificates();
            // path = leaf, intermediates...; the anchor is separate. Count CA certificates above the leaf.
            int caCount = path.size() - 1 + (isSelf(leaf, result.getTrustAnchor()) ? 0 : 1);
            if (caCount > verifyDepth) {
                throw new ClientCertificateException(RejectReason.CHAIN_TOO_LONG, subject,
                        "chain needs " + caCount + " CA certificates, verify-depth is " + verifyDepth);
            }
            checkTrustDomain(spiffeUris, trustDomainOwners, subject);
            return checkRevocation(path, result.getTrustAnchor().getTrustedCert(), subject, now);
        }

        /**
         * Rule (a): a bundle with a trust domain takes only leaves with exactly one SPIFFE ID, in that domain.
         * Rule (b): a bundle takes no leaf whose SPIFFE ID names a domain another bundle declares. Rule (b) reads the
         * ID leniently (case, port, user info) so that look-alikes of a declared domain are refused too.
         */
        private void checkTrustDomain(List<String> spiffeUris, Map<String, String> trustDomainOwners, String subject)
                throws ClientCertificateException {
            if (trustDomain != null) {
                if (spiffeUris.size() != 1) {
                    throw new ClientCertificateException(RejectReason.WRONG_TRUST_DOMAIN, subject, "bundle " + name
                            + " accepts only certificates with one SPIFFE ID in trust domain " + trustDomain
                            + ", the client has " + spiffeUris.size());
                }
                if (!SpiffeIds.isInTrustDomain(spiffeUris.get(0), trustDomain)) {
                    throw new ClientCertificateException(RejectReason.WRONG_TRUST_DOMAIN, subject, "SPIFFE ID "
                            + spiffeUris.get(0) + " is not in trust domain " + trustDomain + " of bundle " + name);
                }
                return;
            }
            for (String uri : spiffeUris) {
                String owner = trustDomainOwners.get(SpiffeIds.lenientTrustDomain(uri));
                if (owner != null) {
                    throw new ClientCertificateException(RejectReason.WRONG_TRUST_DOMAIN, subject, "SPIFFE ID " + uri
                            + " names a trust domain only bundle " + owner + " may verify, but it chains to bundle "
                            + name);
                }
            }
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

        /**
         * Checks every certificate of the path against the verified CRLs of its issuer: listed means revoked. The
         * verified CRL with the latest nextUpdate decides freshness; a CA none of whose CRLs verified is not checked.
         *
         * @return the stale CRLs accepted under soft-fail
         */
        private List<X509CRL> checkRevocation(List<? extends java.security.cert.Certificate> path,
                X509Certificate anchor, String subject, Instant now) throws ClientCertificateException {
            if (crlsByIssuer.isEmpty()) {
                return List.of();
            }
            List<X509CRL> staleAccepted = List.of();
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
                String which = i == 0 ? "client certificate" : "intermediate "
                        + cert.getSubjectX500Principal().getName();
                X509CRL deciding = null;
                for (X509CRL crl : crls) {
                    if (!signatureVerified(crl, issuer.getPublicKey())) {
                        continue;
                    }
                    X509CRLEntry entry = crl.getRevokedCertificate(cert);
                    if (entry != null) {
                        throw new ClientCertificateException(RejectReason.REVOKED, subject,
                                which + " serial " + cert.getSerialNumber().toString(16) + " revoked at "
                                        + entry.getRevocationDate().toInstant());
                    }
                    if (deciding == null || BY_FRESHNESS.compare(crl, deciding) > 0) {
                        deciding = crl;
                    }
                }
                if (deciding != null && isStale(deciding, now, which, subject)) {
                    if (staleAccepted.isEmpty()) {
                        staleAccepted = new ArrayList<>(2);
                    }
                    staleAccepted.add(deciding);
                }
            }
            return staleAccepted;
        }

        /**
         * False for a fresh CRL; true for a stale one accepted under soft-fail; throws {@code crl_expired}
         * otherwise.
         */
        private boolean isStale(X509CRL crl, Instant now, String which, String subject)
                throws ClientCertificateException {
            Date next = crl.getNextUpdate();
            if (next == null || now.isBefore(next.toInstant())) {
                return false;
            }
            String crlIssuer = crl.getIssuerX500Principal().getName();
            if (crlExpiredPolicy == CrlExpiredPolicy.HARD_FAIL) {
                throw new ClientCertificateException(RejectReason.CRL_EXPIRED, subject, "the CRL of " + crlIssuer
                        + " covering the " + which + " is past its nextUpdate " + next.toInstant() + " (bundle "
                        + name + ", crl-expired-policy hard-fail)");
            }
            Instant graceEnds = next.toInstant().plus(crlGracePeriod);
            if (!now.isBefore(graceEnds)) {
                throw new ClientCertificateException(RejectReason.CRL_EXPIRED, subject, "the CRL of " + crlIssuer
                        + " covering the " + which + " is past its nextUpdate " + next.toInstant()
                        + " and its grace period, which ended " + graceEnds + " (bundle " + name + ")");
            }
            return true;
        }

        /** Counts one acceptance and logs each stale CRL at most once per {@link #STALE_CRL_WARNING_INTERVAL}. */
        void staleCrlsAccepted(List<X509CRL> stale, String subject, Instant now, VerifierEvents events) {
            events.staleCrlAccepted(name);
            long nowMillis = now.toEpochMilli();
            for (X509CRL crl : stale) {
                AtomicLong next = nextStaleWarning.computeIfAbsent(crl, k -> new AtomicLong(Long.MIN_VALUE));
                long due = next.get();
                if (nowMillis < due
                        || !next.compareAndSet(due, nowMillis + STALE_CRL_WARNING_INTERVAL.toMillis())) {
                    continue;
                }
                LOG.atWarn().addKeyValue("bundle", name)
                        .addKeyValue("issuer", crl.getIssuerX500Principal().getName())
                        .addKeyValue("next_update", crl.getNextUpdate().toInstant())
                        .addKeyValue("grace_ends", crl.getNextUpdate().toInstant().plus(crlGracePeriod))
                        .addKeyValue("subject", subject)
                        .log("accepted a client on a stale CRL (crl-expired-policy soft-fail); publish a fresh CRL");
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
