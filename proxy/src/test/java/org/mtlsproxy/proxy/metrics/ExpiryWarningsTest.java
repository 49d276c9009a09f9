package org.mtlsproxy.proxy.metrics;

import static org.assertj.core.api.Assertions.assertThat;

import ch.qos.logback.classic.Logger;
import ch.qos.logback.classic.spi.ILoggingEvent;
import ch.qos.logback.core.read.ListAppender;
import io.netty.pkitesting.CertificateBuilder;
import io.netty.pkitesting.X509Bundle;
import java.time.Duration;
import java.time.Instant;
import java.time.temporal.ChronoUnit;
import java.util.List;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.mtlsproxy.proxy.identity.IdentityExtractor;
import org.mtlsproxy.proxy.runtime.ConfiguredCertificate;
import org.slf4j.LoggerFactory;

class ExpiryWarningsTest {

    private final ListAppender<ILoggingEvent> logged = new ListAppender<>();
    private final Logger logger = (Logger) LoggerFactory.getLogger(ExpiryWarnings.class);

    @BeforeEach
    void capture() {
        logged.start();
        logger.addAppender(logged);
    }

    @AfterEach
    void release() {
        logger.detachAppender(logged);
    }

    private static final X509Bundle CA;

    static {
        try {
            CA = new CertificateBuilder().subject("CN=ca").setIsCertificateAuthority(true).ecp256().buildSelfSigned();
        } catch (Exception e) {
            throw new ExceptionInInitializerError(e);
        }
    }

    private static X509Bundle expiringIn(Duration left) throws Exception {
        Instant now = Instant.now();
        return new CertificateBuilder().subject("CN=soon").ecp256().notBefore(now.minus(1, ChronoUnit.DAYS))
                .notAfter(now.plus(left)).addExtendedKeyUsageClientAuth().buildIssuedBy(CA);
    }

    private List<String> messages() {
        return logged.list.stream().map(ILoggingEvent::getFormattedMessage).toList();
    }

    @Test
    void configuredCertificateIsWarnedOncePerThresholdCrossed() throws Exception {
        ExpiryWarnings warnings = new ExpiryWarnings();
        ConfiguredCertificate cert = new ConfiguredCertificate("listener", "main",
                expiringIn(Duration.ofDays(5)).getCertificate());
        List<Duration> thresholds = List.of(Duration.ofDays(7), Duration.ofDays(1));

        warnings.checkConfigured(List.of(cert), thresholds, Instant.now());
        warnings.checkConfigured(List.of(cert), thresholds, Instant.now());
        assertThat(messages()).containsExactly("configured certificate expires soon");

        // Four and a half days later the 1-day threshold is crossed: one more warning.
        warnings.checkConfigured(List.of(cert), thresholds, Instant.now().plus(Duration.ofHours(108)));
        assertThat(messages()).hasSize(2);

        warnings.checkConfigured(List.of(cert), thresholds, Instant.now().plus(Duration.ofDays(6)));
        assertThat(messages()).last().isEqualTo("configured certificate has expired");
    }

    @Test
    void certificateFarFromExpiryIsNotWarned() throws Exception {
        ExpiryWarnings warnings = new ExpiryWarnings();
        warnings.checkConfigured(List.of(new ConfiguredCertificate("client_ca", "prod",
                expiringIn(Duration.ofDays(90)).getCertificate())), List.of(Duration.ofDays(7)), Instant.now());
        assertThat(messages()).isEmpty();
    }

    @Test
    void clientCloseToExpiryIsLoggedOncePerDay() throws Exception {
        ExpiryWarnings warnings = new ExpiryWarnings();
        var soon = IdentityExtractor.extract(expiringIn(Duration.ofDays(2)).getCertificate(), "prod");
        var later = IdentityExtractor.extract(expiringIn(Duration.ofDays(30)).getCertificate(), "prod");

        for (int i = 0; i < 5; i++) {
            warnings.clientSeen("main", soon, Duration.ofDays(7), Instant.now());
            warnings.clientSeen("main", later, Duration.ofDays(7), Instant.now());
        }

        assertThat(messages()).containsExactly("client certificate expires soon");
        assertThat(logged.list.get(0).getKeyValuePairs()).anySatisfy(kv -> {
            assertThat(kv.key).isEqualTo("identity");
            assertThat(kv.value).isEqualTo(soon.displayName());
        });
    }
}
