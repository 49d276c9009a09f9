package org.mtlsproxy.proxy.tls;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import ch.qos.logback.classic.Logger;
import ch.qos.logback.classic.spi.ILoggingEvent;
import ch.qos.logback.core.read.ListAppender;
import io.netty.pkitesting.CertificateBuilder;
import io.netty.pkitesting.X509Bundle;
import java.io.ByteArrayInputStream;
import java.math.BigInteger;
import java.net.URI;
import java.security.PrivateKey;
import java.security.cert.CertificateFactory;
import java.security.cert.X509CRL;
import java.security.cert.X509Certificate;
import java.time.Clock;
import java.time.Duration;
import java.time.Instant;
import java.time.ZoneId;
import java.time.ZoneOffset;
import java.time.temporal.ChronoUnit;
import java.util.ArrayList;
import java.util.Date;
import java.util.List;
import java.util.Optional;
import org.bouncycastle.asn1.x500.X500Name;
import org.bouncycastle.asn1.x509.CRLReason;
import org.bouncycastle.cert.X509v2CRLBuilder;
import org.bouncycastle.operator.jcajce.JcaContentSignerBuilder;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Nested;
import org.junit.jupiter.api.Test;
import org.mtlsproxy.config.CrlExpiredPolicy;
import org.mtlsproxy.proxy.RejectReason;
import org.slf4j.LoggerFactory;

class ClientCertificateVerifierTest {

    private static X509Bundle root;
    private static X509Bundle intermediate;
    private static X509Bundle leaf;
    private static X509Bundle otherRoot;
    private static X509Bundle otherLeaf;

    @BeforeAll
    static void pki() throws Exception {
        root = new CertificateBuilder().subject("CN=root").setIsCertificateAuthority(true).ecp256().buildSelfSigned();
        intermediate = new CertificateBuilder().subject("CN=intermediate").setIsCertificateAuthority(true).ecp256()
                .buildIssuedBy(root);
        leaf = client("CN=leaf").buildIssuedBy(intermediate);
        otherRoot = new CertificateBuilder().subject("CN=other root").setIsCertificateAuthority(true).ecp256()
                .buildSelfSigned();
        otherLeaf = client("CN=other leaf").buildIssuedBy(otherRoot);
    }

    private static CertificateBuilder client(String subject) throws Exception {
        return new CertificateBuilder().subject(subject).ecp256().addExtendedKeyUsageClientAuth()
                .addSanUriName("spiffe://test.local/x");
    }

    private static X509Certificate[] chain(X509Bundle b, X509Bundle... intermediates) {
        X509Certificate[] c = new X509Certificate[1 + intermediates.length];
        c[0] = b.getCertificate();
        for (int i = 0; i < intermediates.length; i++) {
            c[i + 1] = intermediates[i].getCertificate();
        }
        return c;
    }

    private static ClientCertificateVerifier verifier(int depth, TrustBundle... bundles) {
        return new ClientCertificateVerifier(List.of(bundles), depth);
    }

    private static TrustBundle bundle(String name, X509Bundle ca, X509CRL... crls) {
        return new TrustBundle(name, List.of(ca.getCertificate()), List.of(crls), Optional.empty(), true,
                CrlExpiredPolicy.HARD_FAIL, Duration.ofHours(24));
    }

    private static TrustBundle domainBundle(String name, String trustDomain, X509Bundle ca) {
        return new TrustBundle(name, List.of(ca.getCertificate()), List.of(), Optional.of(trustDomain), true,
                CrlExpiredPolicy.HARD_FAIL, Duration.ofHours(24));
    }

    private static TrustBundle disabled(TrustBundle b) {
        return new TrustBundle(b.name(), b.cas(), b.crls(), b.trustDomain(), false, b.crlExpiredPolicy(),
                b.crlGracePeriod());
    }

    private static TrustBundle softFail(Duration grace, TrustBundle b) {
        return new TrustBundle(b.name(), b.cas(), b.crls(), b.trustDomain(), b.enabled(), CrlExpiredPolicy.SOFT_FAIL,
                grace);
    }

    private static X509CRL crl(X509Bundle issuer, PrivateKey signingKey, BigInteger... revoked) throws Exception {
        Instant now = Instant.now();
        return crl(issuer, signingKey, now.minus(1, ChronoUnit.HOURS), now.plus(7, ChronoUnit.DAYS), revoked);
    }

    /** A CRL of {@code issuer}; {@code nextUpdate} null for none, in the past for a stale one. */
    private static X509CRL crl(X509Bundle issuer, PrivateKey signingKey, Instant thisUpdate, Instant nextUpdate,
            BigInteger... revoked) throws Exception {
        X509v2CRLBuilder b = new X509v2CRLBuilder(
                X500Name.getInstance(issuer.getCertificate().getSubjectX500Principal().getEncoded()),
                Date.from(thisUpdate));
        if (nextUpdate != null) {
            b.setNextUpdate(Date.from(nextUpdate));
        }
        for (BigInteger serial : revoked) {
            b.addCRLEntry(serial, Date.from(thisUpdate), CRLReason.keyCompromise);
        }
        byte[] der = b.build(new JcaContentSignerBuilder("SHA256withECDSA").build(signingKey)).getEncoded();
        return (X509CRL) CertificateFactory.getInstance("X.509").generateCRL(new ByteArrayInputStream(der));
    }

    /** A CRL of the intermediate, listing nothing, whose nextUpdate was {@code ago} ago. */
    private static X509CRL staleIntermediateCrl(Duration ago) throws Exception {
        Instant now = Instant.now();
        return crl(intermediate, intermediate.getKeyPair().getPrivate(), now.minus(ago).minus(Duration.ofDays(1)),
                now.minus(ago));
    }

    /** A client leaf under {@code issuer} whose URI SANs are exactly {@code uris}. */
    private static X509Bundle leafWithUris(X509Bundle issuer, String... uris) throws Exception {
        CertificateBuilder b = new CertificateBuilder().subject("CN=svc").ecp256().addExtendedKeyUsageClientAuth();
        for (String uri : uris) {
            b.addSanUriName(URI.create(uri));
        }
        return b.buildIssuedBy(issuer);
    }

    private static RejectReason reasonOf(ClientCertificateVerifier v, X509Certificate[] chain) {
        try {
            v.verify(chain);
        } catch (ClientCertificateException e) {
            return e.reason();
        }
        throw new AssertionError("chain was accepted");
    }

    @Test
    void chainWithIntermediateVerifiesAndNamesTheBundle() throws Exception {
        assertThat(verifier(3, bundle("prod", root)).verify(chain(leaf, intermediate))).isEqualTo("prod");
    }

    @Test
    void missingIntermediateIsUntrusted() {
        assertThat(reasonOf(verifier(3, bundle("prod", root)), chain(leaf))).isEqualTo(RejectReason.UNTRUSTED_CA);
    }

    @Test
    void certificateOfAnotherCaIsUntrusted() {
        assertThat(reasonOf(verifier(3, bundle("prod", root)), chain(otherLeaf)))
                .isEqualTo(RejectReason.UNTRUSTED_CA);
    }

    @Test
    void secondBundleVerifiesItsOwnClientsAndIsRecorded() throws Exception {
        ClientCertificateVerifier v = verifier(3, bundle("prod", root), bundle("partner", otherRoot));
        assertThat(v.verify(chain(otherLeaf))).isEqualTo("partner");
        assertThat(v.verify(chain(leaf, intermediate))).isEqualTo("prod");
    }

    @Test
    void chainDeeperThanVerifyDepthIsRejected() {
        // leaf -> intermediate -> root needs 2 CA certificates; depth 1 allows only a directly issued leaf.
        assertThat(reasonOf(verifier(1, bundle("prod", root)), chain(leaf, intermediate)))
                .isEqualTo(RejectReason.CHAIN_TOO_LONG);
    }

    @Test
    void expiredAndNotYetValidLeavesAreNamedSo() throws Exception {
        X509Bundle expired = client("CN=expired").notBefore(Instant.now().minus(2, ChronoUnit.DAYS))
                .notAfter(Instant.now().minus(1, ChronoUnit.DAYS)).buildIssuedBy(intermediate);
        X509Bundle early = client("CN=early").notBefore(Instant.now().plus(1, ChronoUnit.DAYS))
                .notAfter(Instant.now().plus(2, ChronoUnit.DAYS)).buildIssuedBy(intermediate);
        ClientCertificateVerifier v = verifier(3, bundle("prod", root));
        assertThat(reasonOf(v, chain(expired, intermediate))).isEqualTo(RejectReason.EXPIRED);
        assertThat(reasonOf(v, chain(early, intermediate))).isEqualTo(RejectReason.NOT_YET_VALID);
    }

    @Test
    void leafWithoutClientAuthUsageIsRejected() throws Exception {
        X509Bundle serverOnly = new CertificateBuilder().subject("CN=server").ecp256().addExtendedKeyUsageServerAuth()
                .buildIssuedBy(intermediate);
        assertThat(reasonOf(verifier(3, bundle("prod", root)), chain(serverOnly, intermediate)))
                .isEqualTo(RejectReason.BAD_KEY_USAGE);
    }

    @Test
    void leafListedInTheIntermediatesCrlIsRevoked() throws Exception {
        X509CRL crl = crl(intermediate, intermediate.getKeyPair().getPrivate(),
                leaf.getCertificate().getSerialNumber());
        assertThat(reasonOf(verifier(3, bundle("prod", root, crl)), chain(leaf, intermediate)))
                .isEqualTo(RejectReason.REVOKED);
    }

    @Test
    void revokedIntermediateRevokesEveryLeafUnderIt() throws Exception {
        X509CRL crl = crl(root, root.getKeyPair().getPrivate(), intermediate.getCertificate().getSerialNumber());
        assertThat(reasonOf(verifier(3, bundle("prod", root, crl)), chain(leaf, intermediate)))
                .isEqualTo(RejectReason.REVOKED);
    }

    @Test
    void crlWithTheRightIssuerNameButAForgedSignatureIsIgnored() throws Exception {
        X509CRL forged = crl(intermediate, otherRoot.getKeyPair().getPrivate(),
                leaf.getCertificate().getSerialNumber());
        assertThat(verifier(3, bundle("prod", root, forged)).verify(chain(leaf, intermediate))).isEqualTo("prod");
    }

    @Test
    void crlOfOneCaDoesNotAffectClientsOfAnother() throws Exception {
        X509CRL crl = crl(intermediate, intermediate.getKeyPair().getPrivate(),
                leaf.getCertificate().getSerialNumber());
        ClientCertificateVerifier v = verifier(3, bundle("prod", root, crl), bundle("partner", otherRoot));
        assertThat(v.verify(chain(otherLeaf))).isEqualTo("partner");
    }

    @Test
    void aRememberedVerificationNeverOutlivesTheCertificate() throws Exception {
        X509Bundle shortLived = client("CN=short").notBefore(Instant.now().minus(1, ChronoUnit.MINUTES))
                .notAfter(Instant.now().plusMillis(1500)).buildIssuedBy(intermediate);
        ClientCertificateVerifier v = verifier(3, bundle("prod", root));

        assertThat(v.verify(chain(shortLived, intermediate))).isEqualTo("prod");
        assertThat(v.verify(chain(shortLived, intermediate))).isEqualTo("prod");
        Thread.sleep(2000);

        assertThat(reasonOf(v, chain(shortLived, intermediate))).isEqualTo(RejectReason.EXPIRED);
    }

    @Test
    void aFailedVerificationIsNeverRemembered() throws Exception {
        ClientCertificateVerifier v = verifier(3, bundle("prod", root));
        assertThat(reasonOf(v, chain(leaf))).isEqualTo(RejectReason.UNTRUSTED_CA);
        assertThat(reasonOf(v, chain(leaf))).isEqualTo(RejectReason.UNTRUSTED_CA);
        assertThat(v.verify(chain(leaf, intermediate))).isEqualTo("prod");
    }

    @Test
    void emptyChainIsNoClientCert() {
        assertThatThrownBy(() -> verifier(3, bundle("prod", root)).verify(new X509Certificate[0]))
                .isInstanceOfSatisfying(ClientCertificateException.class,
                        e -> assertThat(e.reason()).isEqualTo(RejectReason.NO_CLIENT_CERT));
    }

    @Nested
    class TrustDomains {

        private static final String PROD = "prod.test";
        private static final String PARTNER = "partner.test";

        /** prod: root (via intermediate), trust domain prod.test; partner-a: otherRoot, trust domain partner.test. */
        private ClientCertificateVerifier prodAndPartner() {
            return verifier(3, domainBundle("prod", PROD, root), domainBundle("partner-a", PARTNER, otherRoot));
        }

        @Test
        void eachBundleVerifiesLeavesOfItsOwnTrustDomain() throws Exception {
            ClientCertificateVerifier v = prodAndPartner();

            assertThat(v.verify(chain(leafWithUris(intermediate, "spiffe://prod.test/ns/a/sa/b"), intermediate)))
                    .isEqualTo("prod");
            assertThat(v.verify(chain(leafWithUris(otherRoot, "spiffe://partner.test/sa/x")))).isEqualTo("partner-a");
        }

        @Test
        void partnerCaCannotIssueAProdIdentity() throws Exception {
            X509Bundle impostor = leafWithUris(otherRoot, "spiffe://prod.test/ns/a/sa/b");

            assertThat(reasonOf(prodAndPartner(), chain(impostor))).isEqualTo(RejectReason.WRONG_TRUST_DOMAIN);
        }

        @Test
        void prodCaCannotIssueAPartnerIdentity() throws Exception {
            X509Bundle impostor = leafWithUris(intermediate, "spiffe://partner.test/sa/x");

            assertThat(reasonOf(prodAndPartner(), chain(impostor, intermediate)))
                    .isEqualTo(RejectReason.WRONG_TRUST_DOMAIN);
        }

        @Test
        void bundleWithoutTrustDomainCannotVerifyADeclaredDomainNorItsLookAlikes() throws Exception {
            ClientCertificateVerifier v = verifier(3, domainBundle("prod", PROD, root), bundle("partner-a", otherRoot));

            for (String id : List.of("spiffe://prod.test/ns/a", "spiffe://PROD.test/ns/a", "SPIFFE://prod.test/x",
                    "spiffe://prod.test:443/ns/a", "spiffe://user@prod.test/ns/a", "spiffe://prod.test")) {
                assertThat(reasonOf(v, chain(leafWithUris(otherRoot, id)))).as(id)
                        .isEqualTo(RejectReason.WRONG_TRUST_DOMAIN);
            }
            // Undeclared domains and leaves without a SPIFFE ID are this bundle's business.
            assertThat(v.verify(chain(leafWithUris(otherRoot, "spiffe://elsewhere.test/x")))).isEqualTo("partner-a");
            assertThat(v.verify(chain(leafWithUris(otherRoot)))).isEqualTo("partner-a");
        }

        @Test
        void bundleWithTrustDomainRefusesLeavesWithoutOrWithTwoSpiffeIds() throws Exception {
            ClientCertificateVerifier v = verifier(3, domainBundle("prod", PROD, root));

            assertThat(reasonOf(v, chain(leafWithUris(intermediate), intermediate)))
                    .isEqualTo(RejectReason.WRONG_TRUST_DOMAIN);
            assertThat(reasonOf(v, chain(leafWithUris(intermediate, "https://prod.test/x"), intermediate)))
                    .isEqualTo(RejectReason.WRONG_TRUST_DOMAIN);
            assertThat(reasonOf(v, chain(leafWithUris(intermediate, "spiffe://prod.test/a",
                    "spiffe://prod.test/b"), intermediate))).isEqualTo(RejectReason.WRONG_TRUST_DOMAIN);
            assertThat(reasonOf(v, chain(leafWithUris(intermediate, "spiffe://prod.test.evil/a"), intermediate)))
                    .isEqualTo(RejectReason.WRONG_TRUST_DOMAIN);
        }

        @Test
        void sameCaInASecondBundleWithoutTrustDomainAdmitsItsNonSpiffeLeavesOnly() throws Exception {
            ClientCertificateVerifier v = verifier(3, domainBundle("prod", PROD, root), bundle("prod-legacy", root));

            assertThat(v.verify(chain(leafWithUris(intermediate), intermediate))).isEqualTo("prod-legacy");
            assertThat(v.verify(chain(leafWithUris(intermediate, "spiffe://prod.test/a"), intermediate)))
                    .isEqualTo("prod");
        }

        @Test
        void chainOfAnUnknownCaIsUntrustedNotWrongDomain() throws Exception {
            X509Bundle stranger = new CertificateBuilder().subject("CN=stranger").setIsCertificateAuthority(true)
                    .ecp256().buildSelfSigned();

            assertThat(reasonOf(prodAndPartner(), chain(leafWithUris(stranger, "spiffe://prod.test/x"))))
                    .isEqualTo(RejectReason.UNTRUSTED_CA);
        }

        @Test
        void disabledBundleVerifiesNobodyButKeepsItsTrustDomainReserved() throws Exception {
            ClientCertificateVerifier v = verifier(3, disabled(domainBundle("prod", PROD, root)),
                    bundle("partner-a", otherRoot));

            assertThat(reasonOf(v, chain(leafWithUris(intermediate, "spiffe://prod.test/a"), intermediate)))
                    .isEqualTo(RejectReason.UNTRUSTED_CA);
            assertThat(reasonOf(v, chain(leafWithUris(otherRoot, "spiffe://prod.test/a"))))
                    .isEqualTo(RejectReason.WRONG_TRUST_DOMAIN);
            assertThat(v.verify(chain(otherLeaf))).isEqualTo("partner-a");
            assertThat(v.getAcceptedIssuers()).containsExactly(otherRoot.getCertificate());
        }

        @Test
        void verifierNeedsAnEnabledBundleAndDistinctTrustDomains() {
            assertThatThrownBy(() -> verifier(3, disabled(bundle("prod", root))))
                    .isInstanceOf(IllegalArgumentException.class).hasMessageContaining("enabled");
            assertThatThrownBy(() -> verifier(3, domainBundle("a", PROD, root), domainBundle("b", PROD, otherRoot)))
                    .isInstanceOf(IllegalArgumentException.class)
                    .hasMessageContaining("trust domain prod.test is declared by bundles a and b");
        }
    }

    @Nested
    class CrlFreshness {

        private final RecordingEvents events = new RecordingEvents();

        private ClientCertificateVerifier verifierWith(TrustBundle... bundles) {
            return new ClientCertificateVerifier(List.of(bundles), 3, events);
        }

        @Test
        void staleCrlWithHardFailRejectsAsCrlExpired() throws Exception {
            ClientCertificateVerifier v = verifierWith(bundle("prod", root, staleIntermediateCrl(Duration.ofHours(1))));

            assertThat(reasonOf(v, chain(leaf, intermediate))).isEqualTo(RejectReason.CRL_EXPIRED);
            assertThat(events.staleAccepted).isEmpty();
        }

        @Test
        void staleCrlWithSoftFailIsAcceptedWithinGraceAndCounted() throws Exception {
            ClientCertificateVerifier v = verifierWith(softFail(Duration.ofHours(24),
                    bundle("prod", root, staleIntermediateCrl(Duration.ofHours(1)))));

            assertThat(v.verify(chain(leaf, intermediate))).isEqualTo("prod");
            assertThat(v.verify(chain(leaf, intermediate))).isEqualTo("prod");
            assertThat(events.staleAccepted).containsExactly("prod", "prod");
        }

        @Test
        void staleCrlWithSoftFailIsRejectedPastTheGracePeriod() throws Exception {
            ClientCertificateVerifier v = verifierWith(softFail(Duration.ofHours(24),
                    bundle("prod", root, staleIntermediateCrl(Duration.ofHours(25)))));

            assertThat(reasonOf(v, chain(leaf, intermediate))).isEqualTo(RejectReason.CRL_EXPIRED);
            assertThat(events.staleAccepted).isEmpty();
        }

        @Test
        void staleCrlUnderSoftFailStillRevokes() throws Exception {
            Instant now = Instant.now();
            X509CRL stale = crl(intermediate, intermediate.getKeyPair().getPrivate(), now.minus(2, ChronoUnit.DAYS),
                    now.minus(1, ChronoUnit.HOURS), leaf.getCertificate().getSerialNumber());
            ClientCertificateVerifier v = verifierWith(softFail(Duration.ofHours(24), bundle("prod", root, stale)));

            assertThat(reasonOf(v, chain(leaf, intermediate))).isEqualTo(RejectReason.REVOKED);
        }

        @Test
        void staleCrlOfOneCaNeverBlocksClientsOfAnother() throws Exception {
            X509CRL staleOfIntermediate = staleIntermediateCrl(Duration.ofDays(3));
            TrustBundle both = new TrustBundle("mixed", List.of(root.getCertificate(), otherRoot.getCertificate()),
                    List.of(staleOfIntermediate), Optional.empty(), true, CrlExpiredPolicy.HARD_FAIL,
                    Duration.ofHours(24));

            // Same bundle, other CA.
            ClientCertificateVerifier sameBundle = verifierWith(both);
            assertThat(sameBundle.verify(chain(otherLeaf))).isEqualTo("mixed");
            assertThat(reasonOf(sameBundle, chain(leaf, intermediate))).isEqualTo(RejectReason.CRL_EXPIRED);
            // Other bundle.
            ClientCertificateVerifier twoBundles = verifierWith(bundle("prod", root, staleOfIntermediate),
                    bundle("partner", otherRoot));
            assertThat(twoBundles.verify(chain(otherLeaf))).isEqualTo("partner");
        }

        @Test
        void staleCrlOfTheRootBlocksLeavesUnderItsIntermediates() throws Exception {
            Instant now = Instant.now();
            X509CRL staleOfRoot = crl(root, root.getKeyPair().getPrivate(), now.minus(2, ChronoUnit.DAYS),
                    now.minus(1, ChronoUnit.HOURS));

            assertThat(reasonOf(verifierWith(bundle("prod", root, staleOfRoot)), chain(leaf, intermediate)))
                    .isEqualTo(RejectReason.CRL_EXPIRED);
        }

        @Test
        void crlWithoutNextUpdateNeverGoesStale() throws Exception {
            X509CRL noNextUpdate = crl(intermediate, intermediate.getKeyPair().getPrivate(),
                    Instant.now().minus(400, ChronoUnit.DAYS), null);
            ClientCertificateVerifier v = verifierWith(bundle("prod", root, noNextUpdate));

            assertThat(v.verify(chain(leaf, intermediate))).isEqualTo("prod");
            assertThat(events.loaded).singleElement().satisfies(l -> assertThat(l.nextUpdate()).isEmpty());
        }

        @Test
        void aFreshCrlNextToAStaleOneDecides() throws Exception {
            X509CRL fresh = crl(intermediate, intermediate.getKeyPair().getPrivate());
            ClientCertificateVerifier v = verifierWith(bundle("prod", root,
                    staleIntermediateCrl(Duration.ofDays(2)), fresh));

            assertThat(v.verify(chain(leaf, intermediate))).isEqualTo("prod");
            assertThat(events.loaded).singleElement().satisfies(l -> {
                assertThat(l.issuer()).isEqualTo("CN=intermediate");
                assertThat(l.thisUpdate()).isEqualTo(fresh.getThisUpdate().toInstant());
                assertThat(l.nextUpdate()).contains(fresh.getNextUpdate().toInstant());
            });
        }

        @Test
        void staleCrlWithAForgedSignatureIsIgnored() throws Exception {
            Instant now = Instant.now();
            X509CRL forged = crl(intermediate, otherRoot.getKeyPair().getPrivate(), now.minus(2, ChronoUnit.DAYS),
                    now.minus(1, ChronoUnit.HOURS));

            assertThat(verifierWith(bundle("prod", root, forged)).verify(chain(leaf, intermediate))).isEqualTo("prod");
        }

        @Test
        void staleCrlWarningIsLoggedAtMostOncePerMinute() throws Exception {
            MutableClock clock = new MutableClock(Instant.now());
            ClientCertificateVerifier v = new ClientCertificateVerifier(List.of(softFail(Duration.ofHours(24),
                    bundle("prod", root, staleIntermediateCrl(Duration.ofHours(1))))), 3, events, clock);
            Logger logger = (Logger) LoggerFactory.getLogger(ClientCertificateVerifier.class);
            ListAppender<ILoggingEvent> appender = new ListAppender<>();
            appender.start();
            logger.addAppender(appender);
            try {
                for (int seconds : new int[] {0, 10, 59, 61, 62}) {
                    clock.now = clock.start.plusSeconds(seconds);
                    v.verify(chain(leaf, intermediate));
                }
            } finally {
                logger.detachAppender(appender);
            }

            assertThat(events.staleAccepted).hasSize(5);
            assertThat(appender.list).extracting(ILoggingEvent::getFormattedMessage)
                    .filteredOn(m -> m.contains("stale CRL")).hasSize(2);
        }
    }

    /** {@code explain}, behind the check tool: the verdict of {@code verify}, per bundle, without side effects. */
    @Nested
    class Explain {

        private final RecordingEvents events = new RecordingEvents();

        /** explain's verdict for {@code chain} equals verify's: the same bundle, or the same reason. */
        private void assertSameVerdict(ClientCertificateVerifier v, X509Certificate[] chain) {
            ClientCertificateVerifier.Explanation ex = v.explain(chain);
            try {
                String bundle = v.verify(chain);
                assertThat(ex.verified()).as(ex.detail()).isTrue();
                assertThat(ex.trustBundle()).isEqualTo(bundle);
            } catch (ClientCertificateException e) {
                assertThat(ex.verified()).isFalse();
                assertThat(ex.reason()).isEqualTo(e.reason());
                assertThat(ex.detail()).isEqualTo(e.detail());
            }
        }

        @Test
        void verdictIsVerifysForEveryKindOfChain() throws Exception {
            X509CRL revoking = crl(intermediate, intermediate.getKeyPair().getPrivate(),
                    leaf.getCertificate().getSerialNumber());
            List<ClientCertificateVerifier> verifiers = List.of(
                    verifier(3, bundle("prod", root), bundle("partner", otherRoot)),
                    verifier(3, bundle("partner", otherRoot), bundle("prod", root, revoking)),
                    verifier(1, bundle("prod", root)),
                    verifier(3, domainBundle("prod", "prod.test", root), bundle("partner", otherRoot)));
            Instant now = Instant.now();
            List<X509Certificate[]> chains = List.of(
                    chain(leaf, intermediate), chain(leaf), chain(otherLeaf), new X509Certificate[0],
                    chain(client("CN=expired").notBefore(now.minus(Duration.ofDays(2)))
                            .notAfter(now.minus(Duration.ofDays(1))).buildIssuedBy(intermediate), intermediate),
                    chain(new CertificateBuilder().subject("CN=server").ecp256().addExtendedKeyUsageServerAuth()
                            .buildIssuedBy(intermediate), intermediate),
                    chain(leafWithUris(otherRoot, "spiffe://prod.test/a")),
                    chain(leafWithUris(intermediate, "spiffe://prod.test/a"), intermediate));
            for (ClientCertificateVerifier v : verifiers) {
                for (X509Certificate[] c : chains) {
                    assertSameVerdict(v, c);
                }
            }
        }

        @Test
        void everyBundleSaysHowItSawTheChainAndTheFirstAcceptingOneIsRecorded() throws Exception {
            ClientCertificateVerifier v = verifier(3, bundle("partner", otherRoot), bundle("prod", root),
                    bundle("prod-again", root), disabled(bundle("old", otherRoot)));

            ClientCertificateVerifier.Explanation ex = v.explain(chain(leaf, intermediate));

            assertThat(ex.trustBundle()).isEqualTo("prod");
            assertThat(ex.bundles()).extracting(ClientCertificateVerifier.BundleOutcome::bundle)
                    .containsExactly("partner", "prod", "prod-again", "old");
            assertThat(ex.bundles()).extracting(ClientCertificateVerifier.BundleOutcome::result).containsExactly(
                    ClientCertificateVerifier.BundleOutcome.Result.REFUSED,
                    ClientCertificateVerifier.BundleOutcome.Result.ACCEPTED,
                    ClientCertificateVerifier.BundleOutcome.Result.ACCEPTED,
                    ClientCertificateVerifier.BundleOutcome.Result.DISABLED);
            assertThat(ex.bundles().get(0).reason()).isEqualTo(RejectReason.UNTRUSTED_CA);
        }

        @Test
        void aLeafRefusedBeforeAnyBundleListsNoBundle() throws Exception {
            X509Bundle server = new CertificateBuilder().subject("CN=server").ecp256().addExtendedKeyUsageServerAuth()
                    .buildIssuedBy(intermediate);

            ClientCertificateVerifier.Explanation ex = verifier(3, bundle("prod", root))
                    .explain(chain(server, intermediate));

            assertThat(ex.reason()).isEqualTo(RejectReason.BAD_KEY_USAGE);
            assertThat(ex.bundles()).isEmpty();
        }

        @Test
        void staleCrlAcceptanceIsShownButNeitherCountedNorRemembered() throws Exception {
            ClientCertificateVerifier v = new ClientCertificateVerifier(List.of(softFail(Duration.ofHours(24),
                    bundle("prod", root, staleIntermediateCrl(Duration.ofHours(1))))), 3, events);

            ClientCertificateVerifier.Explanation ex = v.explain(chain(leaf, intermediate));

            assertThat(ex.trustBundle()).isEqualTo("prod");
            assertThat(ex.bundles().get(0).result())
                    .isEqualTo(ClientCertificateVerifier.BundleOutcome.Result.ACCEPTED_STALE_CRL);
            assertThat(events.staleAccepted).isEmpty();
            // verify still counts: explain left nothing behind that would short-cut it.
            v.verify(chain(leaf, intermediate));
            assertThat(events.staleAccepted).containsExactly("prod");
        }
    }

    private record Loaded(String bundle, String issuer, Instant thisUpdate, Optional<Instant> nextUpdate) {
    }

    private static final class RecordingEvents implements VerifierEvents {
        final List<Loaded> loaded = new ArrayList<>();
        final List<String> staleAccepted = new ArrayList<>();

        @Override
        public void crlLoaded(String bundle, String issuer, Instant thisUpdate, Optional<Instant> nextUpdate) {
            loaded.add(new Loaded(bundle, issuer, thisUpdate, nextUpdate));
        }

        @Override
        public void staleCrlAccepted(String bundle) {
            staleAccepted.add(bundle);
        }
    }

    private static final class MutableClock extends Clock {
        final Instant start;
        volatile Instant now;

        MutableClock(Instant start) {
            this.start = start;
            this.now = start;
        }

        @Override
        public ZoneId getZone() {
            return ZoneOffset.UTC;
        }

        @Override
        public Clock withZone(ZoneId zone) {
            return this;
        }

        @Override
        public Instant instant() {
            return now;
        }
    }
}
