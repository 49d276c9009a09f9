package org.mtlsproxy.config;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

class HostPortTest {

    @ParameterizedTest
    @CsvSource(delimiter = '|', value = {
        "0.0.0.0:8443         | 0.0.0.0       | 8443",
        "orders.internal:443  | orders.internal | 443",
        "[::1]:9901           | ::1           | 9901",
        "[fe80::1%eth0]:0     | fe80::1%eth0  | 0",
        "' localhost:65535 '  | localhost     | 65535",
    })
    void parsesNamesIpv4AndBracketedIpv6(String text, String host, int port) {
        assertThat(HostPort.parse(text)).isEqualTo(new HostPort(host, port));
    }

    @ParameterizedTest
    @CsvSource(delimiter = '|', value = {
        "localhost        | \"localhost\" (expected: host:port, [v6-address]:port)",
        "::1:80           | \"::1:80\" (expected: host:port, [v6-address]:port)",
        "[::1]80          | \"[::1]80\" (expected: [v6-address]:port)",
        ":80              | \":80\" (expected: host:port, [v6-address]:port)",
        "host:http        | \"host:http\" has no numeric port (expected: host:port)",
        "host:65536       | \"host:65536\" port out of range (expected: 0..65535)",
    })
    void rejectsWhatIsNotHostColonPortSayingWhatWasExpected(String text, String message) {
        assertThatThrownBy(() -> HostPort.parse(text))
                .isInstanceOf(IllegalArgumentException.class)
                .hasMessage(message);
    }

    @Test
    void ipv6IsPrintedInBracketsSoThatItParsesBack() {
        HostPort v6 = new HostPort("::1", 443);

        assertThat(v6).hasToString("[::1]:443");
        assertThat(HostPort.parse(v6.toString())).isEqualTo(v6);
        assertThat(new HostPort("example.org", 80)).hasToString("example.org:80");
    }
}
