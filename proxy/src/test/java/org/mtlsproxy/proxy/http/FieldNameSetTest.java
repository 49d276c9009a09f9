package org.mtlsproxy.proxy.http;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import io.netty.handler.codec.http.DefaultHttpHeaders;
import io.netty.handler.codec.http.HttpHeaders;
import io.netty.util.AsciiString;
import java.util.List;
import org.junit.jupiter.api.Test;

class FieldNameSetTest {

    private final FieldNameSet set = new FieldNameSet(List.of("Connection", "te", "x-ssl-client-cert"));

    @Test
    void matchesWithoutCaseAndOnlyWholeNames() {
        assertThat(set.contains("connection")).isTrue();
        assertThat(set.contains("CONNECTION")).isTrue();
        assertThat(set.contains(AsciiString.of("Te"))).isTrue();
        assertThat(set.contains("X-SSL-Client-Cert")).isTrue();

        assertThat(set.contains("connectio")).isFalse();
        assertThat(set.contains("connections")).isFalse();
        assertThat(set.contains("t")).isFalse();
        assertThat(set.contains("")).isFalse();
        assertThat(set.contains("x-ssl-client-certificate-chain")).isFalse();
        // '[' is 'Z' + 1: only A-Z fold to lower case
        assertThat(set.contains("t[")).isFalse();
        assertThat(new FieldNameSet(List.of("a{")).contains("A[")).isFalse();
    }

    @Test
    void findsAnyMemberAmongAMessagesFields() {
        HttpHeaders headers = new DefaultHttpHeaders()
                .add("Host", "a.example")
                .add("Accept", "*/*");
        assertThat(set.anyIn(headers)).isFalse();
        headers.add("X-Ssl-Client-Cert", "forged");
        assertThat(set.anyIn(headers)).isTrue();
        assertThat(set.anyIn(new DefaultHttpHeaders())).isFalse();
    }

    @Test
    void hopByHopScanCoversEveryNameStripRemovesByDefinition() {
        FieldNameSet withStrip = HopByHop.with(List.of("x-client-cert"));
        for (AsciiString name : HopByHop.NAMES) {
            HttpHeaders headers = new DefaultHttpHeaders().add("Host", "h").add(name, "v");
            assertThat(HopByHop.present(headers)).as(name.toString()).isTrue();
            assertThat(withStrip.anyIn(headers)).as(name.toString()).isTrue();
            HopByHop.strip(headers);
            assertThat(headers.names()).containsExactly("Host");
        }
        assertThat(withStrip.contains("X-Client-Cert")).isTrue();
        assertThat(HopByHop.present(new DefaultHttpHeaders().add("Host", "h").add("Content-Length", "0"))).isFalse();
    }

    @Test
    void refusesWhatCannotBeAFieldName() {
        assertThatThrownBy(() -> new FieldNameSet(List.of("bad name"))).isInstanceOf(IllegalArgumentException.class);
        assertThatThrownBy(() -> new FieldNameSet(List.of("caf\u00e9"))).isInstanceOf(IllegalArgumentException.class);
    }
}
