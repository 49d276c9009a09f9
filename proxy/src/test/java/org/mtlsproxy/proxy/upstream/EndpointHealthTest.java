package org.mtlsproxy.proxy.upstream;

import static org.assertj.core.api.Assertions.assertThat;

import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.atomic.AtomicLong;
import org.junit.jupiter.api.Test;
import org.mtlsproxy.config.EjectionConfig;

class EndpointHealthTest {

    private static final long SECOND = 1_000_000_000L;

    private final AtomicLong clock = new AtomicLong(1_000 * SECOND);
    private final List<String> events = new ArrayList<>();
    private final EndpointHealth.Events recorder = new EndpointHealth.Events() {
        @Override
        public void ejected(int endpoint, long nanos, int failures, int ejections) {
            events.add("ejected " + endpoint + " for " + nanos / SECOND + "s");
        }

        @Override
        public void returned(int endpoint) {
            events.add("returned " + endpoint);
        }

        @Override
        public void ejectionRefused(int endpoint, int ejectedNow) {
            events.add("refused " + endpoint);
        }
    };

    private EndpointHealth health(int endpoints, int failures, int maxPercent) {
        return new EndpointHealth(endpoints, new EjectionConfig(failures, Duration.ofSeconds(10),
                Duration.ofSeconds(35), maxPercent), clock::get, recorder);
    }

    private void fail(EndpointHealth h, int endpoint, int times) {
        for (int i = 0; i < times; i++) {
            h.recordFailure(endpoint);
        }
    }

    @Test
    void aReloadedBackendInheritsEjectionsAndFailureStreaks() {
        EndpointHealth before = health(3, 2, 50);
        fail(before, 0, 2); // ejected
        fail(before, 1, 1); // one failure on the way
        assertThat(before.available(0)).isFalse();

        EndpointHealth after = health(3, 2, 50);
        after.inheritFrom(before);
        assertThat(after.available(0)).isFalse();
        assertThat(after.healthyCount()).isEqualTo(2);
        events.clear();
        fail(after, 1, 1); // the streak went on: second failure in a row; but one is out already (50 % of 3 = 1)
        assertThat(events).containsExactly("refused 1");
        assertThat(after.available(1)).isTrue();
        clock.addAndGet(Duration.ofSeconds(11).toNanos());
        assertThat(after.healthyCount()).isEqualTo(3); // the inherited ejection ends when it would have

        org.assertj.core.api.Assertions.assertThatThrownBy(() -> health(2, 2, 50).inheritFrom(before))
                .isInstanceOf(IllegalArgumentException.class);
        org.assertj.core.api.Assertions.assertThatThrownBy(() -> health(3, 3, 50).inheritFrom(before))
                .isInstanceOf(IllegalArgumentException.class);
    }

    @Test
    void consecutiveFailuresEjectAndASuccessInBetweenResetsTheCount() {
        EndpointHealth h = health(2, 3, 50);
        fail(h, 0, 2);
        h.recordSuccess(0);
        fail(h, 0, 2);
        assertThat(h.available(0)).isTrue();
        assertThat(h.recordFailure(0)).isEqualTo(10 * SECOND);
        assertThat(h.available(0)).isFalse();
        assertThat(h.healthyCount()).isEqualTo(1);
        assertThat(events).containsExactly("ejected 0 for 10s");
    }

    @Test
    void ejectionTimeDoublesUntilASuccessAndIsCapped() {
        EndpointHealth h = health(2, 2, 50);
        fail(h, 1, 2);
        clock.addAndGet(10 * SECOND);
        h.refresh();
        assertThat(h.available(1)).isTrue();
        // Returned on probation: one failure ejects it again, for twice as long.
        assertThat(h.recordFailure(1)).isEqualTo(20 * SECOND);
        clock.addAndGet(20 * SECOND);
        assertThat(h.healthyCount()).isEqualTo(2);
        assertThat(h.recordFailure(1)).isEqualTo(35 * SECOND);
        clock.addAndGet(35 * SECOND);
        h.refresh();
        h.recordSuccess(1);
        fail(h, 1, 1);
        assertThat(h.available(1)).isTrue();
        assertThat(h.recordFailure(1)).isEqualTo(10 * SECOND);
        assertThat(events).containsExactly("ejected 1 for 10s", "returned 1", "ejected 1 for 20s", "returned 1",
                "ejected 1 for 35s", "returned 1", "ejected 1 for 10s");
    }

    @Test
    void maxEjectedPercentKeepsEndpointsInRotationButOneMayAlwaysBeEjected() {
        EndpointHealth h = health(4, 1, 10);
        h.recordFailure(0);
        h.recordFailure(1);
        assertThat(h.healthyCount()).isEqualTo(3);
        assertThat(events).containsExactly("ejected 0 for 10s", "refused 1");

        EndpointHealth half = health(4, 1, 50);
        for (int i = 0; i < 4; i++) {
            half.recordFailure(i);
        }
        assertThat(half.healthyCount()).isEqualTo(2);
    }

    @Test
    void theLastEndpointInRotationIsNeverEjected() {
        EndpointHealth all = health(2, 1, 100);
        all.recordFailure(0);
        all.recordFailure(1);
        assertThat(all.healthyCount()).isEqualTo(1);

        EndpointHealth single = health(1, 1, 100);
        fail(single, 0, 10);
        assertThat(single.available(0)).isTrue();
    }

    @Test
    void zeroConsecutiveFailuresDisablesEjection() {
        EndpointHealth h = health(3, 0, 100);
        fail(h, 0, 100);
        assertThat(h.healthyCount()).isEqualTo(3);
        assertThat(events).isEmpty();
    }
}
