package org.mtlsproxy.proxy.http;

import io.netty.handler.codec.DateFormatter;
import io.netty.util.AsciiString;
import java.util.Date;
import java.util.function.LongSupplier;

/**
 * The {@code Date} header value (IMF-fixdate, RFC 9110 §5.6.7) of the current second, formatted once per second and
 * shared by every thread. RFC 9110 §6.6.1: a recipient with a clock that forwards a response without {@code Date}
 * must add one; the proxy's own responses carry one too.
 */
final class HttpDate {

    private static final HttpDate SYSTEM = new HttpDate(System::currentTimeMillis);

    private record Second(long epochSecond, AsciiString value) {
    }

    private final LongSupplier clockMillis;
    private volatile Second current = new Second(Long.MIN_VALUE, AsciiString.EMPTY_STRING);

    HttpDate(LongSupplier clockMillis) {
        this.clockMillis = clockMillis;
    }

    /** The header value for now, by the system clock. */
    static AsciiString now() {
        return SYSTEM.value();
    }

    AsciiString value() {
        long second = Math.floorDiv(clockMillis.getAsLong(), 1000L);
        Second s = current;
        if (s.epochSecond() != second) {
            s = new Second(second, AsciiString.cached(DateFormatter.format(new Date(second * 1000L))));
            current = s;
        }
        return s.value();
    }
}
