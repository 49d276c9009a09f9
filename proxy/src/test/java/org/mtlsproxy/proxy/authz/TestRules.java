package org.mtlsproxy.proxy.authz;

import java.util.Optional;
import org.mtlsproxy.config.AllowRule;

/** Builds {@link AllowRule}s field by field. */
final class TestRules {

    private final String name;
    private Optional<String> spiffeId = Optional.empty();
    private Optional<String> uriSan = Optional.empty();
    private Optional<String> dnsSan = Optional.empty();
    private Optional<String> subjectCn = Optional.empty();
    private Optional<String> subjectOu = Optional.empty();
    private Optional<String> subjectO = Optional.empty();
    private Optional<String> fingerprint = Optional.empty();
    private Optional<String> trustBundle = Optional.empty();
    private Optional<String> trustDomain = Optional.empty();

    private TestRules(String name) {
        this.name = name;
    }

    static TestRules rule(String name) {
        return new TestRules(name);
    }

    TestRules spiffeId(String v) {
        spiffeId = Optional.of(v);
        return this;
    }

    TestRules uriSan(String v) {
        uriSan = Optional.of(v);
        return this;
    }

    TestRules dnsSan(String v) {
        dnsSan = Optional.of(v);
        return this;
    }

    TestRules subjectCn(String v) {
        subjectCn = Optional.of(v);
        return this;
    }

    TestRules subjectOu(String v) {
        subjectOu = Optional.of(v);
        return this;
    }

    TestRules subjectO(String v) {
        subjectO = Optional.of(v);
        return this;
    }

    TestRules fingerprint(String v) {
        fingerprint = Optional.of(v);
        return this;
    }

    TestRules trustBundle(String v) {
        trustBundle = Optional.of(v);
        return this;
    }

    TestRules trustDomain(String v) {
        trustDomain = Optional.of(v);
        return this;
    }

    AllowRule build() {
        return new AllowRule(name, spiffeId, uriSan, dnsSan, subjectCn, subjectOu, subjectO, fingerprint,
                trustBundle, trustDomain);
    }
}
