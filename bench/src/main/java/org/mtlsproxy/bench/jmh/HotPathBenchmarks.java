package org.mtlsproxy.bench.jmh;

import java.math.BigInteger;
import java.security.KeyPair;
import java.security.KeyPairGenerator;
import java.security.cert.X509Certificate;
import java.security.spec.ECGenParameterSpec;
import java.util.ArrayList;
import java.util.Date;
import java.util.List;
import java.util.Optional;
import java.util.concurrent.TimeUnit;
import org.bouncycastle.asn1.x500.X500Name;
import org.bouncycastle.asn1.x509.Extension;
import org.bouncycastle.asn1.x509.GeneralName;
import org.bouncycastle.asn1.x509.GeneralNames;
import org.bouncycastle.cert.jcajce.JcaX509CertificateConverter;
import org.bouncycastle.cert.jcajce.JcaX509v3CertificateBuilder;
import org.bouncycastle.operator.jcajce.JcaContentSignerBuilder;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.Base64;
import org.mtlsproxy.config.AllowRule;
import org.mtlsproxy.config.SignedHeaderConfig;
import org.mtlsproxy.proxy.http.IdentitySigner;
import org.mtlsproxy.proxy.metrics.ProxyMetrics;
import org.mtlsproxy.proxy.runtime.ShadowRules;
import org.mtlsproxy.proxy.authz.Authorizer;
import org.mtlsproxy.proxy.authz.Decision;
import org.mtlsproxy.proxy.http.PathNormalizer;
import org.mtlsproxy.proxy.http.Xfcc;
import org.mtlsproxy.proxy.identity.ClientIdentity;
import org.mtlsproxy.proxy.identity.IdentityExtractor;
import org.mtlsproxy.proxy.route.RouteTable;
import org.openjdk.jmh.annotations.Benchmark;
import org.openjdk.jmh.annotations.BenchmarkMode;
import org.openjdk.jmh.annotations.Fork;
import org.openjdk.jmh.annotations.Measurement;
import org.openjdk.jmh.annotations.Mode;
import org.openjdk.jmh.annotations.OutputTimeUnit;
import org.openjdk.jmh.annotations.Scope;
import org.openjdk.jmh.annotations.Setup;
import org.openjdk.jmh.annotations.State;
import org.openjdk.jmh.annotations.Warmup;

/**
 * The proxy's pure per-request (and per-connection) functions, with inputs shaped like the benchmark's traffic:
 * an ECDSA client certificate with a SPIFFE ID, a 20-route table, a 5-rule allow list matched by its last rule.
 *
 * <pre>java -jar bench/target/benchmarks.jar HotPath -f 1 -wi 3 -i 5</pre>
 */
@State(Scope.Benchmark)
@BenchmarkMode(Mode.AverageTime)
@OutputTimeUnit(TimeUnit.NANOSECONDS)
@Fork(value = 1, jvmArgsAppend = {"-Xmx512m"})
@Warmup(iterations = 3, time = 1)
@Measurement(iterations = 5, time = 1)
public class HotPathBenchmarks {

    private X509Certificate leaf;
    private ClientIdentity identity;
    private ClientIdentity stranger;
    private RouteTable<String> routes;
    private Authorizer authorizer;
    private IdentitySigner es256;
    private IdentitySigner hs256;
    private String claims;
    private ShadowRules shadow;
    private Decision allowed;

    @Setup
    public void setup() throws Exception {
        leaf = certificate("spiffe://bench.local/ns/bench/sa/loadgen");
        identity = IdentityExtractor.extract(leaf, "bench");
        stranger = IdentityExtractor.extract(certificate("spiffe://other.local/ns/x/sa/y"), "bench");

        List<RouteTable.Entry<String>> entries = new ArrayList<>();
        for (int i = 0; i < 8; i++) {
            entries.add(new RouteTable.Entry<>(Optional.of("svc" + i + ".internal"), "/api/v" + i + "/", "h" + i));
        }
        for (int i = 0; i < 4; i++) {
            entries.add(new RouteTable.Entry<>(Optional.of("*.zone" + i + ".internal"), "/", "w" + i));
        }
        for (int i = 0; i < 7; i++) {
            entries.add(new RouteTable.Entry<>(Optional.empty(), "/service-" + i + "/", "p" + i));
        }
        entries.add(new RouteTable.Entry<>(Optional.empty(), "/", "default"));
        routes = RouteTable.build(entries);

        List<AllowRule> rules = new ArrayList<>();
        rules.add(rule("by-cn", null, "admin-tool", null));
        rules.add(rule("by-ou", null, null, "ops"));
        rules.add(rule("by-exact", "spiffe://bench.local/ns/prod/sa/orders", null, null));
        rules.add(rule("by-glob", "spiffe://bench.local/ns/*/sa/reporting", null, null));
        rules.add(rule("by-rest", "spiffe://bench.local/ns/bench/**", null, null));
        authorizer = Authorizer.compile(rules);
        if (!authorizer.decide(identity).allowed() || authorizer.decide(stranger).allowed()) {
            throw new IllegalStateException("benchmark inputs do not exercise allow and deny");
        }

        Path dir = Files.createTempDirectory("bench-signing");
        KeyPairGenerator g = KeyPairGenerator.getInstance("EC");
        g.initialize(new ECGenParameterSpec("secp256r1"));
        Path ecKey = Files.writeString(dir.resolve("es256.key"), "-----BEGIN PRIVATE KEY-----\n"
                + Base64.getMimeEncoder().encodeToString(g.generateKeyPair().getPrivate().getEncoded())
                + "\n-----END PRIVATE KEY-----\n");
        Path hmacKey = Files.writeString(dir.resolve("hs256.key"), Base64.getEncoder().encodeToString(new byte[32]));
        es256 = IdentitySigner.load(new SignedHeaderConfig("x-mtls-proxy-identity", SignedHeaderConfig.Algorithm.ES256,
                ecKey, "bench-1", Duration.ofSeconds(60)));
        hs256 = IdentitySigner.load(new SignedHeaderConfig("x-mtls-proxy-identity", SignedHeaderConfig.Algorithm.HS256,
                hmacKey, "bench-1", Duration.ofSeconds(60)));
        claims = IdentitySigner.identityClaims(identity);
        // Shadow rules that disagree with nothing (the common case): the cost is one more decide plus a counter.
        shadow = ShadowRules.compileOrNull(rules, "route", "bench", new ProxyMetrics().shadowRoute("bench"));
        allowed = authorizer.decide(identity);
    }

    /** The signed identity header of one request (ES256: one ECDSA P-256 signature). */
    @Benchmark
    public String signIdentityHeaderEs256() {
        return es256.sign(claims, "GET", "svc1.internal", "/api/v1/orders/12345/items?expand=true",
                System.currentTimeMillis());
    }

    /** The same with HS256 (one HMAC-SHA-256). */
    @Benchmark
    public String signIdentityHeaderHs256() {
        return hs256.sign(claims, "GET", "svc1.internal", "/api/v1/orders/12345/items?expand=true",
                System.currentTimeMillis());
    }

    /** The identity part of the signed header's payload, once per connection (per stream on HTTP/2). */
    @Benchmark
    public String signedIdentityClaims() {
        return IdentitySigner.identityClaims(identity);
    }

    /** A route's shadow-allow rules evaluated beside the enforced decision (agreeing: nothing logged). */
    @Benchmark
    public Decision shadowEvaluateAgreeing() {
        return shadow.evaluate(allowed, identity, "127.0.0.1");
    }

    @Benchmark
    public ClientIdentity identityExtract() {
        return IdentityExtractor.extract(leaf, "bench");
    }

    @Benchmark
    public String routeMatchAnyHostPrefix() {
        return routes.match("localhost", "/service-6/orders/42");
    }

    @Benchmark
    public String routeMatchWildcardHost() {
        return routes.match("a.zone3.internal", "/x/y");
    }

    @Benchmark
    public Decision authorizeAllowedLastRule() {
        return authorizer.decide(identity);
    }

    @Benchmark
    public Decision authorizeDenied() {
        return authorizer.decide(stranger);
    }

    @Benchmark
    public String pathNormalizeClean() {
        return PathNormalizer.normalize("/api/v1/orders/12345/items?expand=true");
    }

    @Benchmark
    public String pathNormalizeEncoded() {
        return PathNormalizer.normalize("/api//v1/%6Frders/12345/%7Eitems");
    }

    @Benchmark
    public String xfccFormat() {
        return Xfcc.format(identity);
    }

    private static AllowRule rule(String name, String spiffe, String cn, String ou) {
        return new AllowRule(name, Optional.ofNullable(spiffe), Optional.empty(), Optional.empty(),
                Optional.ofNullable(cn), Optional.ofNullable(ou), Optional.empty(), Optional.empty(),
                Optional.empty(), Optional.empty());
    }

    static X509Certificate certificate(String spiffeId) throws Exception {
        KeyPairGenerator g = KeyPairGenerator.getInstance("EC");
        g.initialize(new ECGenParameterSpec("secp256r1"));
        KeyPair kp = g.generateKeyPair();
        X500Name subject = new X500Name("CN=loadgen,OU=bench,O=mtls-proxy");
        long now = System.currentTimeMillis();
        JcaX509v3CertificateBuilder b = new JcaX509v3CertificateBuilder(new X500Name("CN=bench-ca"),
                BigInteger.valueOf(now), new Date(now - 60_000), new Date(now + 86_400_000L), subject,
                kp.getPublic());
        b.addExtension(Extension.subjectAlternativeName, false, new GeneralNames(new GeneralName[] {
                new GeneralName(GeneralName.uniformResourceIdentifier, spiffeId),
                new GeneralName(GeneralName.dNSName, "loadgen.bench.local")}));
        return new JcaX509CertificateConverter().getCertificate(
                b.build(new JcaContentSignerBuilder("SHA256withECDSA").build(kp.getPrivate())));
    }
}
