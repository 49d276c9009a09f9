package org.mtlsproxy.it;

import java.io.BufferedReader;
import java.io.IOException;
import java.io.InputStreamReader;
import java.net.ServerSocket;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.TimeUnit;
import java.util.function.Predicate;
import org.mtlsproxy.testing.TestHttpClient;
import org.mtlsproxy.testing.TestPki;

/**
 * The shaded jar started as a separate process, as a user or the Docker image runs it. Its output is collected
 * line by line; it is ended only through its own handle (SIGTERM first).
 */
final class ProxyProcess implements AutoCloseable {

    static final Path JAR = Path.of(System.getProperty("mtls-proxy.jar", "../proxy/target/mtls-proxy.jar"));

    private final Process process;
    private final List<String> lines = new CopyOnWriteArrayList<>();
    private final Thread reader;

    private ProxyProcess(Process process) {
        this.process = process;
        this.reader = new Thread(() -> {
            try (BufferedReader r = new BufferedReader(
                    new InputStreamReader(process.getInputStream(), StandardCharsets.UTF_8))) {
                String line;
                while ((line = r.readLine()) != null) {
                    lines.add(line);
                }
            } catch (IOException ignored) {
                // The process ended.
            }
        }, "proxy-process-output");
        reader.setDaemon(true);
        reader.start();
    }

    static ProxyProcess start(String... args) throws IOException {
        return startIn(null, args);
    }

    /** Starts the jar with {@code args} in {@code workDir} (null: this process's directory). */
    static ProxyProcess startIn(Path workDir, String... args) throws IOException {
        List<String> cmd = new ArrayList<>(List.of(javaBin(), "-jar", JAR.toAbsolutePath().toString()));
        cmd.addAll(List.of(args));
        ProcessBuilder builder = new ProcessBuilder(cmd).redirectErrorStream(true);
        if (workDir != null) {
            builder.directory(workDir.toFile());
        }
        return new ProxyProcess(builder.start());
    }

    static String javaBin() {
        return Path.of(System.getProperty("java.home"), "bin", "java").toString();
    }

    static int freePort() throws IOException {
        try (ServerSocket s = new ServerSocket(0, 1, java.net.InetAddress.getLoopbackAddress())) {
            return s.getLocalPort();
        }
    }

    /**
     * Writes a config with one listener on {@code port}, one route allowing {@code spiffeId} to a backend at
     * {@code backendPort}, and the admin port; {@code extra} is appended HOCON.
     */
    static Path writeConfig(Path dir, int port, int adminPort, int backendPort, String spiffeId, String extra)
            throws IOException {
        TestPki pki = TestPki.get();
        Path file = dir.resolve("proxy.conf");
        Files.writeString(file, """
                mtls-proxy {
                  listeners = [{
                    name = main
                    bind = "127.0.0.1:%d"
                    tls {
                      certificate-chain = "%s"
                      private-key = "%s"
                      client-trust = [{ name = clients, ca-bundle = "%s" }]
                    }
                  }]
                  routes = [{
                    name = all
                    backend = b
                    allow = [{ spiffe-id = "%s" }]
                  }]
                  backends {
                    b {
                      endpoints = ["127.0.0.1:%d"]
                      tls { ca-bundle = "%s", server-name = "%s" }
                    }
                  }
                  admin { bind = "127.0.0.1:%d" }
                }
                %s
                """.formatted(port, pki.proxyServer().chainPem(), pki.proxyServer().keyPem(), pki.clientRootPem(),
                spiffeId, backendPort, pki.backendRootPem(), TestPki.BACKEND_DNS_NAME, adminPort, extra));
        return file;
    }

    /** Waits until a good client gets a response on {@code port}; returns it. */
    TestHttpClient.Response awaitServing(int port, String path, Duration timeout) throws Exception {
        long deadline = System.nanoTime() + timeout.toNanos();
        IOException last = null;
        while (System.nanoTime() < deadline && process.isAlive()) {
            try (TestHttpClient client = client(port)) {
                return client.get(path);
            } catch (IOException notYetListening) {
                last = notYetListening;
                Thread.sleep(200);
            }
        }
        throw new AssertionError("proxy did not serve " + path + " (alive=" + process.isAlive() + ", last error="
                + last + ")\n" + String.join("\n", lines));
    }

    static TestHttpClient client(int port) {
        return TestHttpClient.builder(port).trustRootPem(TestPki.get().serverRootPem())
                .clientCertificate(TestPki.get().goodClient()).build();
    }

    /** Waits for an output line matching {@code p}. */
    String awaitLine(Predicate<String> p, Duration timeout) throws InterruptedException {
        long deadline = System.nanoTime() + timeout.toNanos();
        while (System.nanoTime() < deadline) {
            for (String line : lines) {
                if (p.test(line)) {
                    return line;
                }
            }
            Thread.sleep(50);
        }
        throw new AssertionError("no matching output line in " + timeout + ":\n" + String.join("\n", lines));
    }

    List<String> lines() {
        return List.copyOf(lines);
    }

    /**
     * Sends SIGTERM (what {@code docker stop} and Kubernetes send). Through the process handle: {@code
     * Process.destroy()} would also close our end of its output, losing what it logs while shutting down.
     */
    void terminate() {
        process.toHandle().destroy();
    }

    /** Sends SIGHUP (reload) to this process, and only to it. */
    void hangup() throws IOException, InterruptedException {
        Process kill = new ProcessBuilder("kill", "-HUP", Long.toString(process.pid())).inheritIO().start();
        if (kill.waitFor() != 0) {
            throw new AssertionError("kill -HUP " + process.pid() + " failed");
        }
    }

    /** Waits for the exit and returns its status. */
    int awaitExit(Duration timeout) throws InterruptedException {
        if (!process.waitFor(timeout.toMillis(), TimeUnit.MILLISECONDS)) {
            throw new AssertionError("process did not exit within " + timeout + ":\n" + String.join("\n", lines));
        }
        reader.join(2000);
        return process.exitValue();
    }

    boolean isAlive() {
        return process.isAlive();
    }

    @Override
    public void close() throws InterruptedException {
        if (process.isAlive()) {
            process.destroy();
            if (!process.waitFor(20, TimeUnit.SECONDS)) {
                process.destroyForcibly();
            }
        }
    }
}
