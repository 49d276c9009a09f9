package org.mtlsproxy.proxy.tls;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import io.netty.handler.ssl.SslContext;
import io.netty.handler.ssl.SslProvider;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Clock;
import java.time.Duration;
import java.time.Instant;
import java.time.ZoneId;
import java.time.ZoneOffset;
import java.util.Base64;
import java.util.List;
import java.util.Optional;
import java.util.Set;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.mtlsproxy.config.CrlExpiredPolicy;
import org.mtlsproxy.config.ServerTlsConfig;
import org.mtlsproxy.config.SessionTicketsConfig;
import org.mtlsproxy.config.TrustBundleConfig;
import org.mtlsproxy.testing.TestPki;

/**
 * Which ticket keys a listener's TLS contexts get: generated ones rotating on schedule and kept across new contexts
 * (reloads), or a key file's. The TLS effect of the keys (resumption across processes, across a rotation of the
 * file) is exercised end to end by {@code SessionTicketSharingIT} and {@code SessionResumptionIT}.
 */
class SessionTicketKeysTest {

    private static final Duration HOUR = Duration.ofHours(1);
    private static final SessionTicketsConfig GENERATED = new SessionTicketsConfig(Optional.empty(), HOUR);

    @TempDir
    Path dir;

    private final MutableClock clock = new MutableClock(Instant.parse("2026-01-01T00:00:00Z"));

    @Test
    void generatedKeysRotateAfterTheIntervalKeepingThePreviousOneForOneMore() throws Exception {
        // Given
        SessionTicketKeys keys = SessionTicketKeys.manual(clock);
        keys.install("main", GENERATED, serverContext()).commit();
        byte[] k1 = only(keys.generatedKeys("main"));

        // When / Then: nothing before the interval has passed
        clock.advance(HOUR.minusSeconds(1));
        keys.rotateDue();
        assertThat(keys.generatedKeys("main")).containsExactly(k1);

        // When / Then: a new encrypting key, the old one still decrypting
        clock.advance(Duration.ofSeconds(1));
        keys.rotateDue();
        List<byte[]> afterOne = keys.generatedKeys("main");
        assertThat(afterOne).hasSize(2);
        assertThat(afterOne.get(1)).isEqualTo(k1);
        assertThat(afterOne.get(0)).isNotEqualTo(k1).hasSize(48);

        // When / Then: one more interval and k1 is gone
        clock.advance(HOUR);
        keys.rotateDue();
        assertThat(keys.generatedKeys("main")).hasSize(2).doesNotContain(k1).contains(afterOne.get(0));
    }

    @Test
    void aNewContextOfTheSameListenerGetsTheKeysInForceNotNewOnes() throws Exception {
        // Given: keys in force, as before a reload
        SessionTicketKeys keys = SessionTicketKeys.manual(clock);
        keys.install("main", GENERATED, serverContext()).commit();
        List<byte[]> before = keys.generatedKeys("main");

        // When: the reload's new context is installed
        keys.install("main", GENERATED, serverContext()).commit();

        // Then
        assertThat(keys.generatedKeys("main")).containsExactlyElementsOf(before);
    }

    @Test
    void listenersHaveKeysOfTheirOwn() throws Exception {
        SessionTicketKeys keys = SessionTicketKeys.manual(clock);
        keys.install("a", GENERATED, serverContext()).commit();
        keys.install("b", GENERATED, serverContext()).commit();

        assertThat(only(keys.generatedKeys("a"))).isNotEqualTo(only(keys.generatedKeys("b")));
    }

    @Test
    void theKeysOfListenersNoLongerConfiguredAreForgottenOnceTheNewConfigurationIsInForce() throws Exception {
        SessionTicketKeys keys = SessionTicketKeys.manual(clock);
        keys.install("a", GENERATED, serverContext()).commit();
        keys.install("b", GENERATED, serverContext()).commit();
        List<byte[]> a = keys.generatedKeys("a");

        SessionTicketKeys.Pending onlyA = keys.keepOnly(Set.of("a"));
        // not yet in force (a refused reload never commits): both kept
        assertThat(keys.generatedKeys("b")).isNotEmpty();

        onlyA.commit();
        assertThat(keys.generatedKeys("b")).isEmpty();
        assertThat(keys.generatedKeys("a")).containsExactlyElementsOf(a);
        // b configured again later: new keys, as for any new listener
        keys.install("b", GENERATED, serverContext()).commit();
        assertThat(only(keys.generatedKeys("b"))).isNotEqualTo(only(a));
    }

    @Test
    void aKeyFileReplacesGeneratedKeysAndAMalformedOneFailsNamingTheLine() throws Exception {
        // Given
        SessionTicketKeys keys = SessionTicketKeys.manual(clock);
        keys.install("main", GENERATED, serverContext()).commit();
        Path file = dir.resolve("tickets.keys");
        Files.writeString(file, Base64.getEncoder().encodeToString(new byte[48]) + "\n");

        // When
        keys.install("main", new SessionTicketsConfig(Optional.of(file), HOUR), serverContext()).commit();

        // Then: generated keys no longer rotate into this listener's contexts
        assertThat(keys.generatedKeys("main")).isEmpty();

        Files.writeString(file, "bm90IGEga2V5\n");
        assertThatThrownBy(() -> keys.install("main", new SessionTicketsConfig(Optional.of(file), HOUR),
                serverContext()))
                .isInstanceOf(TlsMaterialException.class)
                .hasMessageContaining(file + ":1: decodes to 9 bytes");
    }

    @Test
    void installsThatAreNeverCommittedChangeNothing() throws Exception {
        // Given: generated keys in force for main, rotating hourly
        SessionTicketKeys keys = SessionTicketKeys.manual(clock);
        keys.install("main", GENERATED, serverContext()).commit();
        List<byte[]> inForce = keys.generatedKeys("main");
        Path file = dir.resolve("tickets.keys");
        Files.writeString(file, Base64.getEncoder().encodeToString(new byte[48]) + "\n");

        // When: refused reloads installed a key file for main, a longer interval for main and a new listener
        keys.install("main", new SessionTicketsConfig(Optional.of(file), HOUR), serverContext());
        keys.install("main", new SessionTicketsConfig(Optional.empty(), HOUR.multipliedBy(2)), serverContext());
        keys.install("new", GENERATED, serverContext());

        // Then: main's generated keys still rotate, every hour; the new listener has none
        assertThat(keys.generatedKeys("main")).containsExactlyElementsOf(inForce);
        clock.advance(HOUR);
        keys.rotateDue();
        List<byte[]> afterAnHour = keys.generatedKeys("main");
        assertThat(afterAnHour).hasSize(2);
        assertThat(afterAnHour.get(1)).isEqualTo(inForce.get(0));
        assertThat(keys.generatedKeys("new")).isEmpty();
    }

    @Test
    void aJdkContextKeepsItsOwnKeys() throws Exception {
        SessionTicketKeys keys = SessionTicketKeys.manual(clock);

        keys.install("tcp", GENERATED, serverContext(SslProvider.JDK)).commit();

        assertThat(keys.generatedKeys("tcp")).isEmpty();
        assertThat(SslContextFactory.supportsTicketKeys(serverContext())).isTrue();
    }

    private static byte[] only(List<byte[]> keys) {
        assertThat(keys).hasSize(1);
        return keys.get(0);
    }

    private static SslContext serverContext() throws Exception {
        return serverContext(SslContextFactory.provider());
    }

    private static SslContext serverContext(SslProvider provider) throws Exception {
        TestPki pki = TestPki.get();
        ServerTlsConfig tls = new ServerTlsConfig(pki.proxyServer().chainPem(), pki.proxyServer().keyPem(),
                List.of(new TrustBundleConfig("clients", pki.clientRootPem(), List.of(), Optional.empty(), true,
                        CrlExpiredPolicy.HARD_FAIL, Duration.ofHours(24))),
                List.of("TLSv1.3", "TLSv1.2"), List.of(), 3, Duration.ofSeconds(10));
        return SslContextFactory.forListener(tls, SslContextFactory.clientVerifier(tls), provider);
    }

    private static final class MutableClock extends Clock {
        private Instant now;

        MutableClock(Instant now) {
            this.now = now;
        }

        void advance(Duration d) {
            now = now.plus(d);
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
