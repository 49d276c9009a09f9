package org.mtlsproxy.bench;

import static org.assertj.core.api.Assertions.assertThat;

import java.util.ArrayList;
import java.util.List;
import org.junit.jupiter.api.Test;

/** The idle scenario's memory accounting: the heap's range and use as each collector prints them, its pages. */
class ProcessMemoryTest {

    @Test
    void serialHeapSpansBothGenerationsAndCountsTheirUse() {
        ProcessMemory.Heap heap = ProcessMemory.parseHeapInfo("""
                27025:
                 def new generation   total 78656K, used 3450K [0x00000000f0000000, 0x00000000f5550000, 0x00000000f5550000)
                  eden space 69952K,   4% used [0x00000000f0000000, 0x00000000f035e848, 0x00000000f4450000)
                  from space 8704K,   0% used [0x00000000f4450000, 0x00000000f4450000, 0x00000000f4cd0000)
                  to   space 8704K,   0% used [0x00000000f4cd0000, 0x00000000f4cd0000, 0x00000000f5550000)
                 tenured generation   total 174784K, used 10120K [0x00000000f5550000, 0x0000000100000000, 0x0000000100000000)
                   the space 174784K,   5% used [0x00000000f5550000, 0x00000000f5f322a8, 0x00000000f5f32400, 0x0000000100000000)
                 Metaspace       used 21616K, committed 21888K, reserved 1114112K
                  class space    used 2644K, committed 2752K, reserved 1048576K
                """);

        assertThat(heap).isEqualTo(new ProcessMemory.Heap(0xf0000000L, 0x100000000L, 3450 + 10120));
    }

    @Test
    void parallelOldGenerationBelowTheYoungOneIsPartOfTheRange() {
        ProcessMemory.Heap heap = ProcessMemory.parseHeapInfo("""
                 PSYoungGen      total 76288K, used 3234K [0x00000000fab00000, 0x0000000100000000, 0x0000000100000000)
                  eden space 65536K, 4% used [0x00000000fab00000,0x00000000fae28a30,0x00000000feb00000)
                 ParOldGen       total 175104K, used 10125K [0x00000000f0000000, 0x00000000fab00000, 0x00000000fab00000)
                  object space 175104K, 5% used [0x00000000f0000000,0x00000000f09e37a8,0x00000000fab00000)
                 Metaspace       used 21634K, committed 21888K, reserved 1114112K
                """);

        assertThat(heap).isEqualTo(new ProcessMemory.Heap(0xf0000000L, 0x100000000L, 3234 + 10125));
    }

    @Test
    void g1HeapIsOneRange() {
        ProcessMemory.Heap heap = ProcessMemory.parseHeapInfo("""
                 garbage-first heap   total 45056K, used 13203K [0x00000000f0000000, 0x0000000100000000)
                  region size 1024K, 7 young (7168K), 5 survivors (5120K)
                 Metaspace       used 21638K, committed 21824K, reserved 1114112K
                """);

        assertThat(heap).isEqualTo(new ProcessMemory.Heap(0xf0000000L, 0x100000000L, 13203));
    }

    @Test
    void onlyMappingsInsideTheHeapCount() {
        List<String> smaps = new ArrayList<>();
        mapping(smaps, "e0000000-f0000000", 100); // below the heap
        mapping(smaps, "f0000000-f8000000", 4000); // committed part of the heap
        mapping(smaps, "f8000000-100000000", 0); // reserved, untouched
        mapping(smaps, "7f0000000000-7f0000100000", 900); // a native arena

        assertThat(ProcessMemory.residentKib(smaps, 0xf0000000L, 0x100000000L)).isEqualTo(4000);
    }

    @Test
    void aLiveJvmHasResidentHeapPagesAndLiveObjects() throws Exception {
        ProcessMemory m = ProcessMemory.of(ProcessHandle.current().pid());

        assertThat(m.heapLiveKib()).isPositive();
        assertThat(m.heapRssKib()).isPositive().isLessThan(m.rssKib());
        assertThat(m.accountedKib()).isEqualTo(m.rssKib() - m.heapRssKib() + m.heapLiveKib());
    }

    private static void mapping(List<String> smaps, String range, long rssKib) {
        smaps.add(range + " rw-p 00000000 00:00 0");
        smaps.add("Size:              65536 kB");
        smaps.add("Rss:               " + rssKib + " kB");
        smaps.add("Pss:               " + rssKib + " kB");
    }
}
