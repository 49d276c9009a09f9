package org.mtlsproxy.it;

import static org.assertj.core.api.Assertions.assertThat;

import java.util.ArrayList;
import java.util.List;
import java.util.Random;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;
import org.mtlsproxy.testing.RecordingBackend;
import org.mtlsproxy.testing.TestHttpClient;
import org.mtlsproxy.testing.TestPki;

/**
 * A bounded, seeded corpus of mutated requests (byte flips, injected CR/LF/NUL/space, duplicated, dropped and
 * truncated lines, altered lengths), each on its own connection. Whatever the input, the proxy answers with a
 * well-formed status line or closes (or waits for the rest of a request that is still incomplete); no request with
 * a control character in a header ever reaches the backend; the proxy keeps serving; nothing leaks (paranoid leak
 * detection fails the class otherwise).
 */
class MalformedRequestFuzzIT {

    private static final TestPki PKI = TestPki.get();
    private static final int CASES = 160;
    private static final String BASE = "POST /fuzz/a?b=c HTTP/1.1\r\nHost: localhost\r\nContent-Length: 5\r\n"
            + "X-Trace: abc\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n";
    private static final String BASE_CL = "POST /fuzz/b HTTP/1.1\r\nHost: localhost\r\nContent-Length: 5\r\n"
            + "X-Trace: abc\r\n\r\nhello";

    static String mutate(Random r, String base) {
        StringBuilder s = new StringBuilder(base);
        int mutations = 1 + r.nextInt(3);
        for (int m = 0; m < mutations; m++) {
            int at = r.nextInt(s.length());
            switch (r.nextInt(8)) {
                case 0 -> s.setCharAt(at, (char) r.nextInt(128));
                case 1 -> s.insert(at, "\r");
                case 2 -> s.insert(at, "\n");
                case 3 -> s.insert(at, '\u0000');
                case 4 -> s.insert(at, " ");
                case 5 -> {
                    int lineStart = s.lastIndexOf("\r\n", at);
                    int lineEnd = s.indexOf("\r\n", at);
                    if (lineStart >= 0 && lineEnd > lineStart) {
                        s.insert(lineEnd, s.substring(lineStart, lineEnd));
                    }
                }
                case 6 -> s.setLength(Math.max(1, at));
                default -> {
                    int cl = s.indexOf("Content-Length: ");
                    if (cl >= 0) {
                        s.replace(cl + 16, cl + 17, Integer.toString(r.nextInt(20) - 5));
                    }
                }
            }
        }
        return s.toString();
    }

    @Test
    void malformedCorpusNeverConfusesTheProxyOrReachesTheBackendUnsanitised() throws Exception {
        try (RecordingBackend backend = RecordingBackend.start(PKI.backendServer());
                ProxyFixture proxy = ProxyFixture.builder().backend("b", backend.port())
                        .route("all", null, "/", "b", "{ spiffe-id = \"spiffe://test.local/**\" }").start()) {
            Random random = new Random(20261122L);
            List<String> corpus = new ArrayList<>();
            for (int i = 0; i < CASES; i++) {
                corpus.add(mutate(random, i % 2 == 0 ? BASE : BASE_CL));
            }
            ExecutorService pool = Executors.newFixedThreadPool(8);
            try {
                List<Future<String>> answers = new ArrayList<>();
                for (String request : corpus) {
                    answers.add(pool.submit(() -> {
                        try (RawTls.Client c = new RawTls.Client(proxy.port(), PKI.goodClient())) {
                            c.send(request);
                            String answer = c.readUntil("\r\n", 500);
                            if (!answer.isEmpty() && !answer.endsWith("\r\n") && !answer.endsWith(">")) {
                                // A status line had begun when the short wait ran out (a loaded machine): finish it.
                                answer += c.readUntil("\r\n", 5000);
                            }
                            return answer;
                        }
                    }));
                }
                for (int i = 0; i < answers.size(); i++) {
                    String answer = answers.get(i).get(60, TimeUnit.SECONDS);
                    assertThat(answer).as("case %d: %s", i, corpus.get(i).replace("\r", "\\r").replace("\n", "\\n"))
                            .matches("(?s)(HTTP/1\\.1 \\d{3} .*|<EOF>|<SSLException>|<SocketException>|)");
                }
            } finally {
                pool.shutdownNow();
            }
            for (RecordingBackend.Received r : backend.received()) {
                r.headers().forEach(h -> assertThat(h.getValue())
                        .as("header %s reached the backend", h.getKey())
                        .doesNotContain("\r").doesNotContain("\n").doesNotContain("\u0000"));
            }
            try (TestHttpClient c = proxy.client(PKI.goodClient())) {
                assertThat(c.get("/still-serving").status()).isEqualTo(200);
            }
        }
    }

    @Test
    void corpusIsDeterministicAndActuallyMalformed() {
        Random a = new Random(1);
        Random b = new Random(1);
        int changed = 0;
        for (int i = 0; i < 50; i++) {
            String x = mutate(a, BASE);
            assertThat(x).isEqualTo(mutate(b, BASE));
            changed += x.equals(BASE) ? 0 : 1;
        }
        assertThat(changed).isGreaterThan(45);
    }
}
