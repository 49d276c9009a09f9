package org.mtlsproxy.bench;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.concurrent.TimeUnit;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * The memory a process holds, for the idle-connection scenario: its resident set, and for a JVM what of it is the
 * Java heap's pages and how much of the heap is live.
 *
 * <p>A JVM's resident set says little about the memory a connection keeps: a heap page, once touched, stays
 * resident whether it holds live objects or garbage, so the resident-set growth over N connections depends on how
 * much of the heap their handshakes' garbage touched for the first time (and on the JIT compiler's own memory,
 * which {@code run.sh} keeps out of the window with a warm-up). For a JVM the accounted figure is therefore the
 * resident set outside the heap (BoringSSL's memory, Netty's direct buffers, metaspace, code, stacks) plus the
 * heap's live bytes after a full collection ({@code jcmd PID GC.run}): the memory the connections keep, garbage
 * excluded. For any other process it is the resident set.
 */
record ProcessMemory(long rssKib, long heapRssKib, long heapLiveKib) {

    /** A line of {@code GC.heap_info} naming a heap or a generation: its size, use and address range. */
    private static final Pattern HEAP_LINE = Pattern.compile(
            "total (\\d+)K, used (\\d+)K \\[0x([0-9a-f]+), 0x([0-9a-f]+)(?:, 0x([0-9a-f]+))?\\)");
    private static final Pattern VMA = Pattern.compile("^([0-9a-f]+)-([0-9a-f]+) ");

    /** The accounted memory: resident outside the heap plus live heap (the resident set for a native process). */
    long accountedKib() {
        return rssKib - heapRssKib + heapLiveKib;
    }

    /** Reads a process's memory; a JVM is first made to collect its garbage. */
    static ProcessMemory of(long pid) throws IOException, InterruptedException {
        Path proc = Path.of("/proc/" + pid);
        String comm = Files.readString(proc.resolve("comm"), StandardCharsets.US_ASCII).strip();
        if (!comm.equals("java")) {
            return new ProcessMemory(vmRssKib(Files.readAllLines(proc.resolve("status"))), 0, 0);
        }
        jcmd(pid, "GC.run");
        Heap heap = parseHeapInfo(jcmd(pid, "GC.heap_info"));
        List<String> smaps = Files.readAllLines(proc.resolve("smaps"));
        long rss = vmRssKib(Files.readAllLines(proc.resolve("status")));
        return new ProcessMemory(rss, residentKib(smaps, heap.start, heap.end), heap.usedKib);
    }

    record Heap(long start, long end, long usedKib) {
    }

    /**
     * The heap's reserved address range (lowest start to highest end over its generations or regions) and the
     * bytes used in it, from {@code jcmd PID GC.heap_info} (Serial, Parallel and G1 print the same form).
     */
    static Heap parseHeapInfo(String text) {
        long start = Long.MAX_VALUE;
        long end = 0;
        long used = 0;
        Matcher m = HEAP_LINE.matcher(text);
        while (m.find()) {
            used += Long.parseLong(m.group(2));
            start = Math.min(start, Long.parseUnsignedLong(m.group(3), 16));
            end = Math.max(end, Long.parseUnsignedLong(m.group(m.group(5) != null ? 5 : 4), 16));
        }
        if (end == 0) {
            throw new IllegalStateException("no heap range in GC.heap_info output:\n" + text);
        }
        return new Heap(start, end, used);
    }

    /** The resident KiB of the mappings of {@code /proc/PID/smaps} that lie within [start, end). */
    static long residentKib(List<String> smaps, long start, long end) {
        long sum = 0;
        boolean inside = false;
        for (String line : smaps) {
            Matcher vma = VMA.matcher(line);
            if (vma.find()) {
                long from = Long.parseUnsignedLong(vma.group(1), 16);
                long to = Long.parseUnsignedLong(vma.group(2), 16);
                inside = from >= start && to <= end;
            } else if (inside && line.startsWith("Rss:")) {
                sum += Long.parseLong(line.replaceAll("[^0-9]", ""));
            }
        }
        return sum;
    }

    static long vmRssKib(List<String> status) {
        for (String line : status) {
            if (line.startsWith("VmRSS:")) {
                return Long.parseLong(line.replaceAll("[^0-9]", ""));
            }
        }
        throw new IllegalStateException("no VmRSS line");
    }

    private static String jcmd(long pid, String command) throws IOException, InterruptedException {
        Path jcmd = Path.of(System.getProperty("java.home"), "bin", "jcmd");
        Process p = new ProcessBuilder(Files.isExecutable(jcmd) ? jcmd.toString() : "jcmd", Long.toString(pid), command)
                .redirectErrorStream(true)
                .start();
        String out = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
        if (!p.waitFor(30, TimeUnit.SECONDS) || p.exitValue() != 0) {
            p.destroyForcibly();
            throw new IOException("jcmd " + pid + " " + command + " failed: " + out);
        }
        return out;
    }
}
