package org.mtlsproxy.bench;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;

/**
 * Turns bench/run.sh's result lines ({@code round target scenario metric value}, tab separated) into a Markdown
 * table: per scenario and metric, the median of the rounds per target with the spread (min–max), and the ratios
 * of the proxy's medians to nginx's. Then, per scenario and ratio, the same ratios round by round, counting only the
 * rounds in which both targets kept CPU 0 at least {@value #SATURATED_CPU_PCT} % busy: a round in which the machine
 * slowed one target down (this benchmark's VMs have slow phases) compares nothing, and the ratio of two medians can
 * pair values from different rounds.
 *
 * <pre>java -cp benchmarks.jar org.mtlsproxy.bench.Report results.tsv direct,proxy,proxy-log,nginx proxy:nginx,proxy-log:nginx</pre>
 */
public final class Report {

    /** A target at or above this {@code cpu_pct} set the rate of its round (the load side had room). */
    static final double SATURATED_CPU_PCT = 85;

    public static void main(String[] args) throws Exception {
        List<String> targets = List.of(args[1].split(","));
        List<String[]> ratios = new ArrayList<>();
        if (args.length > 2 && !args[2].isBlank()) {
            for (String r : args[2].split(",")) {
                ratios.add(r.split(":"));
            }
        }
        List<Result> results = parse(Files.readAllLines(Path.of(args[0])));
        // scenario|metric -> target -> values
        Map<String, Map<String, List<Double>>> data = new LinkedHashMap<>();
        for (Result r : results) {
            data.computeIfAbsent(r.scenario() + "\t" + r.metric(), k -> new LinkedHashMap<>())
                    .computeIfAbsent(r.target(), k -> new ArrayList<>()).add(r.value());
        }
        printMedians(targets, ratios, data);
        List<String> perRound = saturatedRoundRatios(results, ratios);
        if (!perRound.isEmpty()) {
            System.out.println();
            System.out.println("Round by round, only rounds in which both targets kept CPU 0 at least "
                    + (int) SATURATED_CPU_PCT + " % busy (ratio per round; median of those rounds):");
            System.out.println();
            perRound.forEach(System.out::println);
        }
    }

    private static void printMedians(List<String> targets, List<String[]> ratios,
            Map<String, Map<String, List<Double>>> data) {
        StringBuilder head = new StringBuilder("| scenario | metric |");
        StringBuilder rule = new StringBuilder("|---|---|");
        for (String t : targets) {
            head.append(' ').append(t).append(" |");
            rule.append("---:|");
        }
        for (String[] r : ratios) {
            head.append(' ').append(r[0]).append(" / ").append(r[1]).append(" |");
            rule.append("---:|");
        }
        System.out.println(head);
        System.out.println(rule);
        for (Map.Entry<String, Map<String, List<Double>>> e : data.entrySet()) {
            String[] sm = e.getKey().split("\t");
            StringBuilder row = new StringBuilder("| ").append(sm[0]).append(" | ").append(sm[1]).append(" |");
            for (String t : targets) {
                List<Double> v = e.getValue().get(t);
                row.append(' ').append(v == null ? "–" : cell(v)).append(" |");
            }
            for (String[] r : ratios) {
                List<Double> a = e.getValue().get(r[0]);
                List<Double> b = e.getValue().get(r[1]);
                row.append(' ');
                if (a == null || b == null || median(b) == 0) {
                    row.append('–');
                } else {
                    row.append(String.format(Locale.ROOT, "%.2f×", median(a) / median(b)));
                }
                row.append(" |");
            }
            System.out.println(row);
        }
    }

    /** One line of results.tsv: {@code round target scenario metric value}. */
    record Result(String round, String target, String scenario, String metric, double value) {
    }

    static List<Result> parse(List<String> lines) {
        List<Result> results = new ArrayList<>();
        for (String line : lines) {
            String[] f = line.split("\t");
            if (f.length >= 5) {
                results.add(new Result(f[0], f[1], f[2], f[3], Double.parseDouble(f[4])));
            }
        }
        return results;
    }

    /**
     * Markdown rows: per scenario (with {@code rps} and {@code cpu_pct} results) and ratio a:b, the rounds in which
     * both a and b were saturated, and for rps, p99 and CPU per operation the ratio a/b in each of those rounds and
     * its median. Scenarios in which no target was ever saturated are left out, and so is the direct backend as b:
     * it is the load side's ceiling (CPU 1), never a target that sets CPU 0's rate.
     */
    static List<String> saturatedRoundRatios(List<Result> results, List<String[]> ratios) {
        // scenario -> target -> round -> metric -> value
        Map<String, Map<String, Map<String, Map<String, Double>>>> byRound = new LinkedHashMap<>();
        for (Result r : results) {
            byRound.computeIfAbsent(r.scenario(), k -> new LinkedHashMap<>())
                    .computeIfAbsent(r.target(), k -> new LinkedHashMap<>())
                    .computeIfAbsent(r.round(), k -> new LinkedHashMap<>()).put(r.metric(), r.value());
        }
        List<String> rows = new ArrayList<>();
        for (Map.Entry<String, Map<String, Map<String, Map<String, Double>>>> e : byRound.entrySet()) {
            if (e.getValue().values().stream().flatMap(t -> t.values().stream()).noneMatch(Report::saturated)) {
                // One connection, sequential: no target is ever the limit; nothing to compare round by round.
                continue;
            }
            for (String[] r : ratios) {
                Map<String, Map<String, Double>> a = e.getValue().get(r[0]);
                Map<String, Map<String, Double>> b = e.getValue().get(r[1]);
                if (a == null || b == null || r[1].equals("direct")) {
                    continue;
                }
                // rounds in which both measured rps and cpu_pct; of those, the ones both saturated
                List<String> measured = a.keySet().stream().filter(round -> b.containsKey(round)
                        && a.get(round).containsKey("rps") && a.get(round).containsKey("cpu_pct")
                        && b.get(round).containsKey("cpu_pct")).toList();
                if (measured.isEmpty()) {
                    continue;
                }
                List<String> rounds = measured.stream()
                        .filter(round -> saturated(a.get(round)) && saturated(b.get(round))).toList();
                if (rows.isEmpty()) {
                    rows.add("| scenario | ratio | saturated rounds | rps | p99_ms | cpu_us_per_op |");
                    rows.add("|---|---|---:|---|---|---|");
                }
                StringBuilder row = new StringBuilder("| ").append(e.getKey()).append(" | ").append(r[0])
                        .append(" / ").append(r[1]).append(" | ").append(rounds.size()).append(" of ")
                        .append(measured.size()).append(" |");
                for (String metric : List.of("rps", "p99_ms", "cpu_us_per_op")) {
                    row.append(' ').append(ratioCell(a, b, rounds, metric)).append(" |");
                }
                rows.add(row.toString());
            }
        }
        return rows;
    }

    private static boolean saturated(Map<String, Double> metrics) {
        return metrics.getOrDefault("cpu_pct", 0.0) >= SATURATED_CPU_PCT;
    }

    /** {@code median× (each, ...)} of a/b for the metric over the rounds, or – when none has both values. */
    private static String ratioCell(Map<String, Map<String, Double>> a, Map<String, Map<String, Double>> b,
            List<String> rounds, String metric) {
        List<Double> perRound = new ArrayList<>();
        for (String round : rounds) {
            Double x = a.get(round).get(metric);
            Double y = b.get(round).get(metric);
            if (x != null && y != null && y != 0) {
                perRound.add(x / y);
            }
        }
        if (perRound.isEmpty()) {
            return "–";
        }
        StringBuilder each = new StringBuilder();
        for (double v : perRound) {
            each.append(each.length() == 0 ? "" : ", ").append(String.format(Locale.ROOT, "%.2f", v));
        }
        return String.format(Locale.ROOT, "%.2f× (%s)", median(perRound), each);
    }

    private static String cell(List<Double> v) {
        List<Double> s = new ArrayList<>(v);
        s.sort(null);
        if (s.size() == 1) {
            return num(s.get(0));
        }
        return num(median(s)) + " (" + num(s.get(0)) + "–" + num(s.get(s.size() - 1)) + ")";
    }

    static double median(List<Double> v) {
        List<Double> s = new ArrayList<>(v);
        s.sort(null);
        int n = s.size();
        return n % 2 == 1 ? s.get(n / 2) : (s.get(n / 2 - 1) + s.get(n / 2)) / 2;
    }

    private static String num(double d) {
        if (Math.abs(d) >= 100) {
            return String.format(Locale.ROOT, "%.0f", d);
        }
        if (Math.abs(d) >= 10) {
            return String.format(Locale.ROOT, "%.1f", d);
        }
        return String.format(Locale.ROOT, "%.3f", d);
    }
}
