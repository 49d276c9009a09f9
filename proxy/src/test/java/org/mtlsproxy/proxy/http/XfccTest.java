package org.mtlsproxy.proxy.http;

import static org.assertj.core.api.Assertions.assertThat;

import java.time.Instant;
import java.util.List;
import java.util.Optional;
import org.junit.jupiter.api.Test;
import org.mtlsproxy.proxy.identity.ClientIdentity;

class XfccTest {

    private static final String HASH = "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";

    private static ClientIdentity identity(String subjectDn, List<String> uris, List<String> dns) {
        return new ClientIdentity(Optional.empty(), uris, dns, List.of(), List.of(), subjectDn, Optional.empty(),
                List.of(), List.of(), "CN=ca", "1", HASH, Instant.EPOCH, "internal");
    }

    @Test
    void hashAndQuotedSubjectAreAlwaysPresent() {
        // Given an identity without SANs
        ClientIdentity id = identity("CN=svc,O=acme", List.of(), List.of());

        // When
        String xfcc = Xfcc.format(id);

        // Then
        assertThat(xfcc).isEqualTo("Hash=" + HASH + ";Subject=\"CN=svc,O=acme\"");
    }

    @Test
    void everyUriAndDnsSanGetsItsOwnKeyInOrder() {
        // Given
        ClientIdentity id = identity("CN=svc", List.of("spiffe://td/a", "urn:b"), List.of("a.example", "b.example"));

        // When
        String xfcc = Xfcc.format(id);

        // Then
        assertThat(xfcc).isEqualTo("Hash=" + HASH + ";Subject=\"CN=svc\""
                + ";URI=spiffe://td/a;URI=urn:b;DNS=a.example;DNS=b.example");
    }

    @Test
    void valuesWithSeparatorsAreQuotedAndInnerQuotesEscaped() {
        // Given SAN values containing ; = , and "
        ClientIdentity id = identity("CN=a\\\"b", List.of("https://x/?a=1;b", "urn:\"q\""), List.of("x,y"));

        // When
        String xfcc = Xfcc.format(id);

        // Then
        assertThat(xfcc).isEqualTo("Hash=" + HASH
                + ";Subject=\"CN=a\\\\\\\"b\""
                + ";URI=\"https://x/?a=1;b\";URI=\"urn:\\\"q\\\"\";DNS=\"x,y\"");
    }

    @Test
    void trailingBackslashCannotSwallowTheClosingQuote() {
        // Given a subject ending in a backslash
        ClientIdentity id = identity("CN=evil\\", List.of(), List.of());

        // When
        String xfcc = Xfcc.format(id);

        // Then the backslash is escaped, so the quote still closes the value
        assertThat(xfcc).endsWith(";Subject=\"CN=evil\\\\\"");
    }

    @Test
    void controlAndNonAsciiCharactersNeverReachTheHeader() {
        // Given fields carrying CR, LF, NUL, DEL and U+010A (whose low byte is LF)
        ClientIdentity id = identity("CN=a\r\nX-Injected: 1", List.of("urn:\u0000x"),
                List.of("a\nb.example", "\u010A.example", "c\u007f"));

        // When
        String xfcc = Xfcc.format(id);

        // Then
        assertThat(xfcc).doesNotContain("\r", "\n", "\u0000", "\u007f", "\u010A");
        assertThat(xfcc.chars()).allMatch(c -> c >= 0x20 && c < 0x7F);
        assertThat(xfcc).contains("Subject=\"CN=a??X-Injected: 1\"", "URI=urn:?x", "DNS=a?b.example",
                "DNS=?.example", "DNS=c?");
    }
}
