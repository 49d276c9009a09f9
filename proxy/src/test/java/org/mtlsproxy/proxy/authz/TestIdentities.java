package org.mtlsproxy.proxy.authz;

import java.time.Instant;
import java.util.List;
import java.util.Optional;
import org.mtlsproxy.proxy.identity.ClientIdentity;

/** Hand-built identities, so each test states exactly the fields it relies on. */
final class TestIdentities {

    static final String FINGERPRINT = "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";

    private Optional<String> spiffeId = Optional.empty();
    private List<String> uriSans = List.of();
    private List<String> dnsSans = List.of();
    private Optional<String> commonName = Optional.empty();
    private List<String> ous = List.of();
    private List<String> os = List.of();
    private String fingerprint = FINGERPRINT;
    private String trustBundle = "internal";

    static TestIdentities identity() {
        return new TestIdentities();
    }

    TestIdentities spiffeId(String value) {
        spiffeId = Optional.of(value);
        uriSans = List.of(value);
        return this;
    }

    TestIdentities uriSans(String... values) {
        uriSans = List.of(values);
        return this;
    }

    TestIdentities dnsSans(String... values) {
        dnsSans = List.of(values);
        return this;
    }

    TestIdentities cn(String value) {
        commonName = Optional.of(value);
        return this;
    }

    TestIdentities ous(String... values) {
        ous = List.of(values);
        return this;
    }

    TestIdentities os(String... values) {
        os = List.of(values);
        return this;
    }

    TestIdentities fingerprint(String value) {
        fingerprint = value;
        return this;
    }

    TestIdentities trustBundle(String value) {
        trustBundle = value;
        return this;
    }

    ClientIdentity build() {
        return new ClientIdentity(spiffeId, uriSans, dnsSans, List.of(), List.of(),
                commonName.map(cn -> "CN=" + cn).orElse("O=none"), commonName, ous, os, "CN=Test CA", "1",
                fingerprint, Instant.parse("2030-01-01T00:00:00Z"), trustBundle);
    }
}
