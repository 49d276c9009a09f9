package org.mtlsproxy.proxy.tls;

import io.netty.handler.ssl.ApplicationProtocolConfig;
import io.netty.handler.ssl.ClientAuth;
import io.netty.handler.ssl.IdentityCipherSuiteFilter;
import io.netty.handler.ssl.OpenSsl;
import io.netty.handler.ssl.OpenSslContextOption;
import io.netty.handler.ssl.OpenSslSessionContext;
import io.netty.handler.ssl.OpenSslSessionTicketKey;
import io.netty.handler.ssl.SslContext;
import io.netty.handler.ssl.SslContextBuilder;
import io.netty.handler.ssl.SslProvider;
import java.nio.file.Path;
import java.security.PrivateKey;
import java.security.cert.X509CRL;
import java.security.cert.X509Certificate;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Set;
import javax.net.ssl.SSLException;
import org.mtlsproxy.config.BackendTlsConfig;
import org.mtlsproxy.config.PemFiles;
import org.mtlsproxy.config.ServerTlsConfig;
import org.mtlsproxy.config.SessionTicketKeyFile;
import org.mtlsproxy.config.TrustBundleConfig;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The only place that turns TLS configuration into Netty {@link SslContext}s. Secure settings are the defaults:
 * client certificates required on listeners, backend certificates verified with hostname checks, BoringSSL when
 * it loads.
 */
public final class SslContextFactory {

    private static final Logger LOG = LoggerFactory.getLogger(SslContextFactory.class);
    private static volatile boolean warnedJdk;

    private SslContextFactory() {
    }

    /** BoringSSL through netty-tcnative when available, else the JDK provider (with one loud warning). */
    public static SslProvider provider() {
        if (OpenSsl.isAvailable()) {
            return SslProvider.OPENSSL;
        }
        if (!warnedJdk) {
            warnedJdk = true;
            LOG.warn("BoringSSL (netty-tcnative) is unavailable, falling back to the JDK TLS provider: slower, "
                    + "same security checks. cause={}", String.valueOf(OpenSsl.unavailabilityCause()));
        }
        return SslProvider.JDK;
    }

    /** A human description of the TLS provider in use, for the start-up log. */
    public static String providerDescription() {
        if (OpenSsl.isAvailable()) {
            return "OPENSSL (" + OpenSsl.versionString() + ")";
        }
        return "JDK (" + System.getProperty("java.version") + ")";
    }

    /** The server context of a listener: its chain, client auth REQUIRED, verified by {@code verifier}. */
    public static SslContext forListener(ServerTlsConfig tls, ClientCertificateVerifier verifier)
            throws TlsMaterialException {
        return forListener(tls, verifier, provider(), List.of());
    }

    /** Like {@link #forListener(ServerTlsConfig, ClientCertificateVerifier)} with the given TLS provider, no ALPN. */
    public static SslContext forListener(ServerTlsConfig tls, ClientCertificateVerifier verifier,
            SslProvider provider) throws TlsMaterialException {
        return forListener(tls, verifier, provider, List.of());
    }

    /** Like {@link #forListener(ServerTlsConfig, ClientCertificateVerifier)}, offering {@code alpn}. */
    public static SslContext forListener(ServerTlsConfig tls, ClientCertificateVerifier verifier, List<String> alpn)
            throws TlsMaterialException {
        return forListener(tls, verifier, provider(), alpn);
    }

    /**
     * The server context of a listener: its chain, client auth REQUIRED, verified by {@code verifier}, selecting one
     * of {@code alpn} (most preferred first; empty: no ALPN). A client offering none of them, or no ALPN at all, gets
     * no protocol selected (the caller treats that as HTTP/1.1).
     */
    public static SslContext forListener(ServerTlsConfig tls, ClientCertificateVerifier verifier,
            SslProvider provider, List<String> alpn) throws TlsMaterialException {
        PrivateKey key = readKey(tls.privateKey());
        List<X509Certificate> chain = readCertificates(tls.certificateChain());
        try {
            SslContextBuilder builder = SslContextBuilder.forServer(key, chain)
                    .sslProvider(provider)
                    .clientAuth(ClientAuth.REQUIRE)
                    .trustManager(verifier)
                    .protocols(tls.protocols())
                    .sessionCacheSize(20_480)
                    .sessionTimeout(300);
            ciphers(builder, provider, tls.ciphers());
            groups(builder, provider, tls.groups());
            if (!alpn.isEmpty()) {
                builder.applicationProtocolConfig(new ApplicationProtocolConfig(
                        ApplicationProtocolConfig.Protocol.ALPN,
                        // Both are what BoringSSL supports: no overlap means no ALPN extension in the answer.
                        ApplicationProtocolConfig.SelectorFailureBehavior.NO_ADVERTISE,
                        ApplicationProtocolConfig.SelectedListenerFailureBehavior.ACCEPT,
                        alpn));
            }
            return builder.build();
        } catch (SSLException | RuntimeException e) {
            throw new TlsMaterialException("cannot build the listener TLS context from "
                    + tls.certificateChain() + withGroups(tls.groups()) + ": " + e.getMessage(), e);
        }
    }

    /**
     * Restricts the TLS 1.2 cipher suites. Every name must be one {@code provider} supports: Netty's filter would
     * otherwise drop unknown names without a word, leaving a listener with fewer suites than written, or none.
     */
    private static void ciphers(SslContextBuilder builder, SslProvider provider, List<String> ciphers)
            throws TlsMaterialException {
        if (ciphers.isEmpty()) {
            return;
        }
        Set<String> supported = supportedCiphers(provider);
        List<String> unknown = ciphers.stream().filter(c -> !supported.contains(c)).toList();
        if (!unknown.isEmpty()) {
            // The setting is at fault, not the certificate the context is otherwise built from: say which.
            throw new TlsMaterialException("tls.ciphers: cipher suite" + (unknown.size() == 1 ? " " : "s ")
                    + String.join(", ", unknown) + (unknown.size() == 1 ? " is" : " are") + " not supported by "
                    + (provider == SslProvider.JDK ? "the JDK TLS engine (IANA names only)" : "BoringSSL")
                    + " (expected: e.g. TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256"
                    + (provider == SslProvider.JDK ? ")" : " or ECDHE-ECDSA-AES128-GCM-SHA256)"), null);
        }
        // All supported, so passed as written: Netty's SupportedCipherSuiteFilter keeps only IANA names and dropped
        // OpenSSL-style ones silently; netty-tcnative converts either kind itself.
        builder.ciphers(ciphers, IdentityCipherSuiteFilter.INSTANCE);
    }

    private static Set<String> supportedCiphers(SslProvider provider) {
        if (provider == SslProvider.JDK) {
            try {
                return Set.of(javax.net.ssl.SSLContext.getDefault().getSupportedSSLParameters().getCipherSuites());
            } catch (java.security.NoSuchAlgorithmException e) {
                throw new IllegalStateException("no default JDK TLS context", e);
            }
        }
        Set<String> names = new java.util.HashSet<>(OpenSsl.availableJavaCipherSuites());
        names.addAll(OpenSsl.availableOpenSslCipherSuites());
        return names;
    }

    /** Whether {@code context} is BoringSSL's, whose session ticket keys {@link #setTicketKeys} can set. */
    static boolean supportsTicketKeys(SslContext context) {
        return context.sessionContext() instanceof OpenSslSessionContext;
    }

    /**
     * Sets the session ticket keys of a BoringSSL server context: the first encrypts new tickets, every one decrypts
     * (a ticket under another than the first is accepted and replaced by a fresh one). This also enables tickets for
     * TLS 1.2, which Netty turns off by default; TLS 1.3 resumption always uses tickets. netty-tcnative swaps the
     * key array under the context's write lock, so it is safe while handshakes run on the event loops.
     *
     * @param keys {@value SessionTicketKeyFile#KEY_SIZE}-byte keys: 16 name, 16 HMAC secret, 16 AES key
     */
    static void setTicketKeys(SslContext context, List<byte[]> keys) {
        if (!(context.sessionContext() instanceof OpenSslSessionContext sessions)) {
            throw new IllegalArgumentException("not a BoringSSL context: " + context.getClass().getName());
        }
        OpenSslSessionTicketKey[] ticketKeys = new OpenSslSessionTicketKey[keys.size()];
        for (int i = 0; i < ticketKeys.length; i++) {
            byte[] k = keys.get(i);
            if (k.length != SessionTicketKeyFile.KEY_SIZE) {
                throw new IllegalArgumentException("a session ticket key has " + k.length + " bytes (expected: "
                        + SessionTicketKeyFile.KEY_SIZE + ")");
            }
            ticketKeys[i] = new OpenSslSessionTicketKey(Arrays.copyOfRange(k, 0, 16), Arrays.copyOfRange(k, 16, 32),
                    Arrays.copyOfRange(k, 32, 48));
        }
        // Not the byte[] overload: in Netty 4.2.18 it splits the array at wrong offsets.
        sessions.setTicketKeys(ticketKeys);
    }

    /** The verifier of a listener's client certificates, from its trust bundles and CRL files. */
    public static ClientCertificateVerifier clientVerifier(ServerTlsConfig tls) throws TlsMaterialException {
        return clientVerifier(tls, VerifierEvents.NONE);
    }

    /**
     * The verifier of a listener's client certificates, from its trust bundles and CRL files, reporting its CRLs to
     * {@code events} (the listener's meters).
     */
    public static ClientCertificateVerifier clientVerifier(ServerTlsConfig tls, VerifierEvents events)
            throws TlsMaterialException {
        List<TrustBundle> bundles = new ArrayList<>();
        for (TrustBundleConfig b : tls.clientTrust()) {
            List<X509CRL> crls = new ArrayList<>();
            for (Path crl : b.crls()) {
                try {
                    crls.addAll(PemFiles.readCrls(crl));
                } catch (Exception e) {
                    throw new TlsMaterialException("cannot read CRL " + crl + ": " + e.getMessage(), e);
                }
            }
            bundles.add(new TrustBundle(b.name(), readCertificates(b.caBundle()), crls, b.trustDomain(), b.enabled(),
                    b.crlExpiredPolicy(), b.crlGracePeriod()));
        }
        return new ClientCertificateVerifier(bundles, tls.verifyDepth(), events);
    }

    /**
     * The client context towards a backend: verifies the backend chain against its CA bundle and, through Netty's
     * endpoint identification, its DNS/IP SAN against the server name given to {@code newHandler}.
     */
    public static SslContext forBackend(BackendTlsConfig tls) throws TlsMaterialException {
        return forBackend(tls, provider());
    }

    /** Like {@link #forBackend(BackendTlsConfig)} with the given TLS provider. */
    public static SslContext forBackend(BackendTlsConfig tls, SslProvider provider) throws TlsMaterialException {
        List<X509Certificate> cas = readCertificates(tls.caBundle());
        try {
            SslContextBuilder builder = SslContextBuilder.forClient()
                    .sslProvider(provider)
                    .trustManager(cas)
                    .endpointIdentificationAlgorithm("HTTPS")
                    .protocols(tls.protocols());
            groups(builder, provider, tls.groups());
            if (tls.certificateChain().isPresent() && tls.privateKey().isPresent()) {
                builder.keyManager(readKey(tls.privateKey().get()), readCertificates(tls.certificateChain().get()));
            }
            return builder.build();
        } catch (SSLException | RuntimeException e) {
            throw new TlsMaterialException("cannot build the backend TLS context" + withGroups(tls.groups()) + ": "
                    + e.getMessage(), e);
        }
    }

    /**
     * Makes {@code groups} (canonical BoringSSL names, most preferred first) the key-exchange groups of a BoringSSL
     * context: Netty hands them to {@code SSL_CTX_set1_curves_list}, and a name BoringSSL does not know fails the
     * build. Empty keeps Netty's defaults, X25519MLKEM768, X25519, P-256, P-384, P-521. The JDK provider would drop
     * the option without a word (Netty passes context options to BoringSSL contexts only), and Java 17 has no
     * per-context setting for it ({@code SSLParameters.setNamedGroups} is Java 20), so it is refused there.
     */
    private static void groups(SslContextBuilder builder, SslProvider provider, List<String> groups)
            throws SSLException {
        if (groups.isEmpty()) {
            return;
        }
        if (provider == SslProvider.JDK) {
            String why = OpenSsl.isAvailable() ? "this context runs the JDK TLS engine, which"
                    : "BoringSSL (netty-tcnative) is unavailable (" + OpenSsl.unavailabilityCause() + ") and the "
                    + "JDK TLS engine";
            throw new SSLException("key-exchange groups cannot be set: " + why + " on Java 17 takes them only for "
                    + "the whole process (expected: groups = [])");
        }
        builder.option(OpenSslContextOption.GROUPS, groups.toArray(String[]::new));
    }

    private static String withGroups(List<String> groups) {
        return groups.isEmpty() ? "" : " with groups " + String.join(", ", groups);
    }

    /** The certificates of a PEM file; at least one, else the exception names the file. */
    public static List<X509Certificate> readCertificates(Path file) throws TlsMaterialException {
        try {
            List<X509Certificate> certs = PemFiles.readCertificates(file);
            if (certs.isEmpty()) {
                throw new TlsMaterialException("no certificate in " + file, null);
            }
            return certs;
        } catch (TlsMaterialException e) {
            throw e;
        } catch (Exception e) {
            throw new TlsMaterialException("cannot read certificates from " + file + ": " + e.getMessage(), e);
        }
    }

    static PrivateKey readKey(Path file) throws TlsMaterialException {
        try {
            return PemFiles.readPrivateKey(file);
        } catch (Exception e) {
            throw new TlsMaterialException("cannot read private key " + file + ": " + e.getMessage(), e);
        }
    }
}
