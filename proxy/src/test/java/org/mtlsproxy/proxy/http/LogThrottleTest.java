package org.mtlsproxy.proxy.http;

import static org.assertj.core.api.Assertions.assertThat;

import java.time.Duration;
import org.junit.jupiter.api.Test;

class LogThrottleTest {

    @Test
    void oneLinePerIntervalAndTheRestCountedAsSuppressed() throws Exception {
        LogThrottle throttle = new LogThrottle(Duration.ofMillis(200));

        assertThat(throttle.mayLog()).isTrue();
        assertThat(throttle.mayLog()).isFalse();
        assertThat(throttle.mayLog()).isFalse();
        Thread.sleep(250);
        assertThat(throttle.mayLog()).isTrue();
        assertThat(throttle.suppressed()).isEqualTo(2);
        assertThat(throttle.suppressed()).isZero();
    }
}
