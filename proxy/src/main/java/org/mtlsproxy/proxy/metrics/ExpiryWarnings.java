package org.mtlsproxy.proxy.metrics;

import java.time.Duration;
import java.time.Instant;
import java.util.Comparator;
import java.util.HashSet;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import org.mtlsproxy.proxy.identity.ClientIdentity;
import org.mtlsproxy.proxy.runtime.ConfiguredCertificate;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Log lines that warn before certificates expire: configured ones once per certificate and threshold, clients'
 * once per certificate per day. Memory is bounded: the configured set is pruned to the certificates in force,
 * the client set is an LRU of {@value #MAX_CLIENTS} fingerprints.
 */
public final class ExpiryWarnings {

    private static final Logger LOG = LoggerFactory.getLogger(ExpiryWarnings.class);
    private static final int MAX_CLIENTS = 10_000;

    private final Set<String> warned = new HashSet<>();
    private final Map<String, Long> clientsLogged = new LinkedHashMap<>(256, 0.75f, true) {
        @Override
        protected boolean removeEldestEntry(Map.Entry<String, Long> eldest) {
            return size() > MAX_CLIENTS;
        }
    };

    /** Logs each configured certificate that crossed a threshold (or expired) since the last call. */
    public synchronized void checkConfigured(List<ConfiguredCertificate> certificates, List<Duration> thresholds,
            Instant now) {
        Set<String> inForce = new HashSet<>();
        List<Duration> ascending = thresholds.stream().sorted(Comparator.naturalOrder()).toList();
        for (ConfiguredCertificate c : certificates) {
            Instant notAfter = c.certificate().getNotAfter().toInstant();
            String id = c.kind() + '|' + c.name() + '|' + c.certificate().getSerialNumber().toString(16);
            Duration left = Duration.between(now, notAfter);
            String key = null;
            if (left.isNegative()) {
                key = id + "|expired";
            } else {
                for (Duration t : ascending) {
                    if (left.compareTo(t) <= 0) {
                        key = id + '|' + t;
                        break;
                    }
                }
            }
            if (key == null) {
                continue;
            }
            inForce.add(key);
            if (warned.add(key)) {
                var event = left.isNegative() ? LOG.atError() : LOG.atWarn();
                event.addKeyValue("kind", c.kind())
                        .addKeyValue("name", c.name())
                        .addKeyValue("subject", c.certificate().getSubjectX500Principal().getName())
                        .addKeyValue("not_after", notAfter.toString())
                        .addKeyValue("days_left", left.toHours() / 24.0)
                        .log(left.isNegative() ? "configured certificate has expired"
                                : "configured certificate expires soon");
            }
        }
        warned.retainAll(inForce);
    }

    /** Logs a client certificate close to its notAfter, once per certificate per day. */
    public void clientSeen(String listener, ClientIdentity identity, Duration warnBefore, Instant now) {
        Duration left = Duration.between(now, identity.notAfter());
        if (left.compareTo(warnBefore) > 0) {
            return;
        }
        long day = now.getEpochSecond() / 86_400;
        synchronized (this) {
            Long last = clientsLogged.get(identity.sha256Fingerprint());
            if (last != null && last == day) {
                return;
            }
            clientsLogged.put(identity.sha256Fingerprint(), day);
        }
        LOG.atWarn()
                .addKeyValue("listener", listener)
                .addKeyValue("identity", identity.displayName())
                .addKeyValue("not_after", identity.notAfter().toString())
                .addKeyValue("days_left", left.toHours() / 24.0)
                .log("client certificate expires soon");
    }
}
