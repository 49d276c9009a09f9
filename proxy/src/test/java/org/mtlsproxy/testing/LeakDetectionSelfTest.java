package org.mtlsproxy.testing;

import static org.assertj.core.api.Assertions.assertThat;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import io.netty.buffer.ByteBuf;
import io.netty.buffer.ByteBufAllocator;
import io.netty.util.ResourceLeakDetector;
import java.util.List;
import java.util.UUID;
import org.junit.jupiter.api.Test;

/**
 * Proves that a leaked buffer reaches {@link LeakRecorder}, which {@link NoLeaksExtension} turns into a failure.
 * The test leaks one buffer on purpose, so Netty logs one {@code LEAK:} error naming this class; it then takes
 * that leak out of the recorder, so the class itself passes.
 */
class LeakDetectionSelfTest {

    private static final int ATTEMPTS = 20;

    @Test
    void unreleasedBufferIsRecordedWithItsHint() {
        // Given
        assumeTrue(ResourceLeakDetector.getLevel() == ResourceLeakDetector.Level.PARANOID,
                "needs -Dio.netty.leakDetection.level=paranoid, or none (the recorder then sets it)");
        assertThat(LeakRecorder.isInstalled()).as("installed by LeakDetectionListener").isTrue();
        String marker = "deliberate leak by LeakDetectionSelfTest " + UUID.randomUUID();

        // When
        leakOneBuffer(marker);

        // Then
        List<LeakRecorder.Leak> leaks = List.of();
        for (int attempt = 0; attempt < ATTEMPTS && leaks.isEmpty(); attempt++) {
            LeakRecorder.collect();
            leaks = LeakRecorder.takeMatching(leak -> leak.records().contains(marker));
        }
        assertThat(leaks).singleElement().satisfies(leak -> assertThat(leak.resourceType()).isEqualTo("ByteBuf"));
    }

    /** Allocates in its own frame, so no local variable keeps the buffer reachable once it returns. */
    private static void leakOneBuffer(String marker) {
        ByteBuf leaked = ByteBufAllocator.DEFAULT.directBuffer(16);
        leaked.touch(marker);
    }
}
