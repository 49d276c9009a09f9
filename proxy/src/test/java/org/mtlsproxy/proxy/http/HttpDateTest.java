package org.mtlsproxy.proxy.http;

import static org.assertj.core.api.Assertions.assertThat;

import java.time.Instant;
import java.util.concurrent.atomic.AtomicLong;
import org.junit.jupiter.api.Test;

class HttpDateTest {

    @Test
    void formatsImfFixdateOncePerSecond() {
        AtomicLong clock = new AtomicLong(Instant.parse("2026-11-01T09:05:07.250Z").toEpochMilli());
        HttpDate date = new HttpDate(clock::get);

        io.netty.util.AsciiString first = date.value();
        assertThat(first.toString()).isEqualTo("Sun, 01 Nov 2026 09:05:07 GMT");
        clock.addAndGet(700); // .950, same second: the same formatted value
        assertThat((Object) date.value()).isSameAs(first);
        clock.addAndGet(100); // next second
        assertThat(date.value().toString()).isEqualTo("Sun, 01 Nov 2026 09:05:08 GMT");
    }

    @Test
    void systemClockValueIsCurrent() {
        long now = System.currentTimeMillis() / 1000;
        String value = HttpDate.now().toString();
        long parsed = java.time.ZonedDateTime.parse(value, java.time.format.DateTimeFormatter.RFC_1123_DATE_TIME)
                .toEpochSecond();
        assertThat(parsed).isBetween(now, now + 2);
    }
}
