package org.mtlsproxy.bench;

import static org.assertj.core.api.Assertions.assertThat;

import java.util.ArrayList;
import java.util.List;
import org.junit.jupiter.api.Test;

/** The round-by-round table: ratios within a round, only rounds in which both targets set the rate. */
class ReportTest {

    private static final String KA = "keep-alive 1 KiB, 64 conns";
    private static final List<String[]> PROXY_NGINX = List.<String[]>of(new String[] {"proxy", "nginx"});

    private static void round(List<String> lines, int round, String target, String scenario, double rps,
            double p99, double cpuPerOp, double cpuPct) {
        lines.add(round + "\t" + target + "\t" + scenario + "\trps\t" + rps);
        lines.add(round + "\t" + target + "\t" + scenario + "\tp99_ms\t" + p99);
        lines.add(round + "\t" + target + "\t" + scenario + "\tcpu_us_per_op\t" + cpuPerOp);
        lines.add(round + "\t" + target + "\t" + scenario + "\tcpu_pct\t" + cpuPct);
    }

    @Test
    void aRoundInWhichEitherTargetWasNotSaturatedIsLeftOut() {
        List<String> lines = new ArrayList<>();
        round(lines, 1, "proxy", KA, 48000, 3.2, 20, 96);
        round(lines, 1, "nginx", KA, 40000, 4.0, 24, 95);
        // round 2: the machine slowed nginx down; its rate says nothing about nginx
        round(lines, 2, "proxy", KA, 46000, 3.2, 21, 95);
        round(lines, 2, "nginx", KA, 20000, 9.0, 30, 60);
        round(lines, 3, "proxy", KA, 44000, 3.3, 22, 90);
        round(lines, 3, "nginx", KA, 40000, 3.0, 22, 97);

        List<String> rows = Report.saturatedRoundRatios(Report.parse(lines), PROXY_NGINX);

        assertThat(rows).hasSize(3);
        assertThat(rows.get(2)).isEqualTo("| " + KA + " | proxy / nginx | 2 of 3 |"
                + " 1.15× (1.20, 1.10) | 0.95× (0.80, 1.10) | 0.92× (0.83, 1.00) |");
    }

    @Test
    void scenariosNoTargetEverSaturatesAreLeftOut() {
        List<String> lines = new ArrayList<>();
        round(lines, 1, "proxy", "1 connection, sequential", 9000, 0.2, 40, 30);
        round(lines, 1, "nginx", "1 connection, sequential", 9500, 0.2, 38, 31);

        assertThat(Report.saturatedRoundRatios(Report.parse(lines), PROXY_NGINX)).isEmpty();
    }

    @Test
    void noSaturatedRoundStillShowsTheScenarioWithoutRatios() {
        List<String> lines = new ArrayList<>();
        round(lines, 1, "proxy", KA, 30000, 6.0, 25, 70);
        round(lines, 1, "nginx", KA, 38000, 5.0, 25, 93);

        List<String> rows = Report.saturatedRoundRatios(Report.parse(lines), PROXY_NGINX);

        assertThat(rows.get(2)).isEqualTo("| " + KA + " | proxy / nginx | 0 of 1 | – | – | – |");
    }

    @Test
    void theDirectBackendIsNoBaseRoundByRound() {
        List<String> lines = new ArrayList<>();
        round(lines, 1, "proxy", KA, 48000, 3.0, 20, 96);
        round(lines, 1, "direct", KA, 85000, 1.0, 6, 48);

        assertThat(Report.saturatedRoundRatios(Report.parse(lines), List.<String[]>of(new String[] {"proxy", "direct"}))).isEmpty();
    }
}
