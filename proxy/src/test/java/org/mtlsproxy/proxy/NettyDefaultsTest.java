package org.mtlsproxy.proxy;

import static org.assertj.core.api.Assertions.assertThat;

import java.util.Properties;
import org.junit.jupiter.api.Test;

/** The Netty settings {@link Main#applyNettyDefaults} chooses, and that an operator's {@code -D} always wins. */
class NettyDefaultsTest {

    @Test
    void withNothingSetTheMeasuredDefaultsApply() {
        Properties p = new Properties();

        Main.applyNettyDefaults(p);

        assertThat(p.getProperty("io.netty.leakDetection.level")).isEqualTo("disabled");
        assertThat(p.getProperty("io.netty.allocator.type")).isEqualTo("pooled");
        assertThat(p.getProperty("io.netty.allocator.cacheTrimInterval")).isEqualTo(String.valueOf(Integer.MAX_VALUE));
        assertThat(p.getProperty("io.netty.allocator.cacheTrimIntervalMillis")).isEqualTo("10000");
        assertThat(p.getProperty("io.netty.trackPinnedMemory")).isEqualTo("false");
    }

    @Test
    void anOperatorsSettingIsKept() {
        Properties p = new Properties();
        p.setProperty("io.netty.leakDetection.level", "paranoid");
        p.setProperty("io.netty.allocator.type", "adaptive");
        p.setProperty("io.netty.trackPinnedMemory", "true");

        Main.applyNettyDefaults(p);

        assertThat(p.getProperty("io.netty.leakDetection.level")).isEqualTo("paranoid");
        assertThat(p.getProperty("io.netty.allocator.type")).isEqualTo("adaptive");
        assertThat(p.getProperty("io.netty.trackPinnedMemory")).isEqualTo("true");
    }

    @Test
    void theLegacyLeakDetectionPropertyIsHonoured() {
        Properties p = new Properties();
        p.setProperty("io.netty.leakDetectionLevel", "advanced");

        Main.applyNettyDefaults(p);

        assertThat(p.getProperty("io.netty.leakDetection.level")).isNull();
    }

    @Test
    void eitherTrimSettingLeavesBothToTheOperator() {
        Properties byCount = new Properties();
        byCount.setProperty("io.netty.allocator.cacheTrimInterval", "8192");
        Properties byTime = new Properties();
        byTime.setProperty("io.netty.allocator.cacheTrimIntervalMillis", "0");
        Properties byDeprecatedName = new Properties();
        byDeprecatedName.setProperty("io.netty.allocation.cacheTrimIntervalMillis", "5000");

        Main.applyNettyDefaults(byCount);
        Main.applyNettyDefaults(byTime);
        Main.applyNettyDefaults(byDeprecatedName);

        assertThat(byCount.getProperty("io.netty.allocator.cacheTrimInterval")).isEqualTo("8192");
        assertThat(byCount.getProperty("io.netty.allocator.cacheTrimIntervalMillis")).isNull();
        assertThat(byTime.getProperty("io.netty.allocator.cacheTrimInterval")).isNull();
        assertThat(byTime.getProperty("io.netty.allocator.cacheTrimIntervalMillis")).isEqualTo("0");
        assertThat(byDeprecatedName.getProperty("io.netty.allocator.cacheTrimInterval")).isNull();
        assertThat(byDeprecatedName.getProperty("io.netty.allocator.cacheTrimIntervalMillis")).isNull();
    }
}
