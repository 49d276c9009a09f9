package org.mtlsproxy.proxy.metrics;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.within;

import io.micrometer.core.instrument.Gauge;
import io.netty.pkitesting.CertificateBuilder;
import io.netty.pkitesting.X509Bundle;
import java.time.Instant;
import java.time.temporal.ChronoUnit;
import java.util.Collection;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.mtlsproxy.proxy.runtime.ConfiguredCertificate;

class CertificateExpiryGaugesTest {

    private static X509Bundle ca(String subject, int daysLeft) throws Exception {
        Instant now = Instant.now();
        return new CertificateBuilder().subject(subject).setIsCertificateAuthority(true).ecp256()
                .notBefore(now.minus(1, ChronoUnit.DAYS)).notAfter(now.plus(daysLeft, ChronoUnit.DAYS))
                .buildSelfSigned();
    }

    @Test
    void oneSeriesPerKindNameAndSubjectShowingTheSoonestExpiry() throws Exception {
        X509Bundle old = ca("CN=clients", 10);
        X509Bundle rolled = ca("CN=clients", 400);
        X509Bundle other = ca("CN=partners", 30);
        ProxyMetrics metrics = new ProxyMetrics();

        // The same bundle listed for two listeners, a rollover pair of one subject, another bundle
        metrics.publishCertificates(List.of(
                new ConfiguredCertificate("client_ca", "clients", rolled.getCertificate()),
                new ConfiguredCertificate("client_ca", "clients", old.getCertificate()),
                new ConfiguredCertificate("client_ca", "clients", rolled.getCertificate()),
                new ConfiguredCertificate("client_ca", "partners", other.getCertificate())));

        Collection<Gauge> gauges = metrics.registry().find("mtls_proxy.certificate.expiry").gauges();
        assertThat(gauges).hasSize(2);
        Gauge clients = metrics.registry().find("mtls_proxy.certificate.expiry").tag("name", "clients").gauge();
        assertThat(clients.value()).isCloseTo(10 * 86400.0, within(120.0));

        // A later publish replaces the series
        metrics.publishCertificates(List.of(
                new ConfiguredCertificate("client_ca", "partners", other.getCertificate())));
        assertThat(metrics.registry().find("mtls_proxy.certificate.expiry").gauges()).hasSize(1);
    }
}
