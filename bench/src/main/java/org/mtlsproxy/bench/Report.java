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
 * of the proxy's medians to nginx's.
 *
 * <pre>java -cp benchmarks.jar org.mtlsproxy.bench.Report results.tsv direct,proxy,proxy-log,nginx proxy:nginx,proxy-log:nginx</pre>
 */
public final class Report {

    public static void main(String[] args) throws Exception {
        List<String> targets = List.of(args[1].split(","));
        List<String[]> ratios = new ArrayList<>();
        if (args.length > 2 && !args[2].isBlank()) {
            for (String r : args[2].split(",")) {
                ratios.add(r.split(":"));
            }
        }
        // scenario|metric -> target -> values
        Map<String, Map<String, List<Double>>> data = new LinkedHashMap<>();
        for (String line : Files.readAllLines(Path.of(args[0]))) {
            String[] f = line.split("\t");
            if (f.length < 5) {
                continue;
            }
            data.computeIfAbsent(f[2] + "\t" + f[3], k -> new LinkedHashMap<>())
                    .computeIfAbsent(f[1], k -> new ArrayList<>()).add(Double.parseDouble(f[4]));
        }
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
