package org.mtlsproxy.proxy.upstream;

import static org.assertj.core.api.Assertions.assertThat;

import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.mtlsproxy.config.HostPort;

/** Which backend endpoints need a lookup per connection and which are addresses already. */
class BackendAddressesTest {

    @Test
    void ipLiteralEndpointsAreParsedOnceAndHostNamesAreLeftToTheResolver() throws Exception {
        // Given: IPv4 and IPv6 literals (as HostPort holds them: no brackets) and a host name
        List<HostPort> endpoints = List.of(new HostPort("10.1.2.3", 8443), new HostPort("::1", 9443),
                new HostPort("orders.internal", 8443));

        // When
        InetSocketAddress[] addresses = Backend.literalAddresses(endpoints);

        // Then: the literals are resolved addresses Bootstrap connects to without its resolver, keeping the literal
        // as their host string (as BackendResolver's answer did)
        assertThat(addresses[0].isUnresolved()).isFalse();
        assertThat(addresses[0].getAddress()).isEqualTo(InetAddress.getByAddress(new byte[] {10, 1, 2, 3}));
        assertThat(addresses[0].getPort()).isEqualTo(8443);
        assertThat(addresses[0].getHostString()).isEqualTo("10.1.2.3");
        assertThat(addresses[1].getAddress()).isEqualTo(InetAddress.getByName("::1"));
        assertThat(addresses[1].getPort()).isEqualTo(9443);
        // a host name is looked up for every new connection (DNS may change)
        assertThat(addresses[2]).isNull();
    }
}
