package org.mtlsproxy.proxy.http;

import static org.assertj.core.api.Assertions.assertThat;

import io.netty.channel.embedded.EmbeddedChannel;
import java.time.Instant;
import java.util.List;
import java.util.Optional;
import org.junit.jupiter.api.Test;
import org.mtlsproxy.proxy.identity.ClientIdentity;

class FormattedIdentityTest {

    private static ClientIdentity identity(String uri) {
        return new ClientIdentity(Optional.of(uri), List.of(uri), List.of(), List.of(), List.of(), "CN=orders",
                Optional.of("orders"), List.of(), List.of(), "CN=ca", "1", "ab".repeat(32), Instant.EPOCH, "internal");
    }

    @Test
    void formattedOncePerConnectionAndIdentityAndAgainAfterTheIdentityChanges() {
        EmbeddedChannel connection = new EmbeddedChannel();
        ClientIdentity orders = identity("spiffe://test.local/ns/prod/sa/orders");

        FormattedIdentity first = FormattedIdentity.of(connection, orders);
        assertThat(first.xfcc.toString()).isEqualTo(Xfcc.format(orders));
        assertThat(first.signedClaims()).isEqualTo(IdentitySigner.identityClaims(orders));
        // another stream of the same connection: the same values, not formatted again
        assertThat(FormattedIdentity.of(connection, orders)).isSameAs(first);
        assertThat(first.signedClaims()).isSameAs(first.signedClaims());

        // a reload re-verified the client into another identity object: fresh values
        ClientIdentity billing = identity("spiffe://test.local/ns/prod/sa/billing");
        FormattedIdentity after = FormattedIdentity.of(connection, billing);
        assertThat(after).isNotSameAs(first);
        assertThat(after.xfcc.toString()).contains("sa/billing").doesNotContain("sa/orders");

        // other connections have their own
        assertThat(FormattedIdentity.of(new EmbeddedChannel(), orders)).isNotSameAs(first);
    }
}
