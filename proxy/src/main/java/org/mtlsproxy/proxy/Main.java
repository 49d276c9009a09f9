package org.mtlsproxy.proxy;

import java.io.PrintWriter;
import java.nio.file.Path;
import java.util.Properties;
import java.util.concurrent.Callable;
import java.util.concurrent.CountDownLatch;
import org.mtlsproxy.config.ConfigException;
import org.mtlsproxy.config.ConfigLoader;
import org.mtlsproxy.config.HostPort;
import org.mtlsproxy.config.ProxyConfig;
import org.mtlsproxy.proxy.demo.Demo;
import org.mtlsproxy.proxy.metrics.ProxyMetrics;
import org.mtlsproxy.proxy.pki.PkiCommand;
import org.mtlsproxy.proxy.pki.PkiException;
import org.mtlsproxy.proxy.runtime.RuntimeSnapshot;
import org.mtlsproxy.proxy.server.ProxyServer;
import org.mtlsproxy.proxy.tls.SslContextFactory;
import org.mtlsproxy.proxy.tls.TlsMaterialException;
import org.mtlsproxy.proxy.transport.Transport;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;
import picocli.CommandLine;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;
import picocli.CommandLine.Spec;

/**
 * The command line: {@code run} (the default), {@code validate}, {@code demo}, {@code check} and {@code pki}.
 *
 * <p>Exit codes: 0 success, 1 runtime failure (a port taken, a drain that had to cut connections), 2 invalid
 * configuration (the file, or a certificate, key or CRL it names that cannot be used: {@code run} and
 * {@code validate} say the same) or usage, 3 the demo's self-check failed, or {@code check} found the client
 * denied.
 */
@Command(name = "mtls-proxy", mixinStandardHelpOptions = true, versionProvider = Main.Version.class,
        description = "An mTLS-terminating reverse proxy: verifies client certificates, authorizes the identity "
                + "per route and forwards over verified TLS.%nWithout a command, runs the proxy (like `run`).",
        subcommands = {Main.Run.class, Main.Validate.class, Main.DemoCommand.class, CheckCommand.class,
                PkiCommand.class})
public final class Main implements Callable<Integer> {

    static final String LEAK_DETECTION_LEVEL = "io.netty.leakDetection.level";
    static final String ALLOCATOR_TYPE = "io.netty.allocator.type";
    static final String CACHE_TRIM_INTERVAL = "io.netty.allocator.cacheTrimInterval";
    static final String CACHE_TRIM_INTERVAL_MILLIS = "io.netty.allocator.cacheTrimIntervalMillis";
    static final String TRACK_PINNED_MEMORY = "io.netty.trackPinnedMemory";
    static final int EXIT_RUNTIME = 1;
    static final int EXIT_CONFIG = 2;
    static final int EXIT_CHECK_FAILED = 3;

    @Option(names = {"-c", "--config"}, paramLabel = "FILE",
            description = "The HOCON config file (default: -Dconfig.file).")
    Path config;

    @Option(names = "--log-format", paramLabel = "FORMAT", defaultValue = "${env:MTLS_PROXY_LOG_FORMAT:-json}",
            description = "Log format on stdout: json (one object per line) or text (default: ${DEFAULT-VALUE}).")
    Logging.Format logFormat;

    @Spec
    CommandLine.Model.CommandSpec spec;

    public static void main(String[] args) {
        applyNettyDefaults(System.getProperties());
        System.exit(commandLine().execute(args));
    }

    /**
     * Netty settings the proxy runs with unless the operator sets the property ({@code -D...} always wins). Each was
     * measured on the pinned-core benchmark (README, Performance). Must run before Netty's classes read them
     * ({@code ResourceLeakDetector}, {@code ByteBufUtil}, {@code PooledByteBufAllocator}, {@code PoolChunk}).
     * <ul>
     * <li>{@code io.netty.leakDetection.level=disabled}: the default tracks one buffer in 128 and records a stack
     *     trace for it, thousands of throwables a second under load, a few per cent of the CPU (the tests run with
     *     {@code paranoid}).
     * <li>{@code io.netty.allocator.type=pooled}: with Netty 4.2's default (adaptive) every TLS record wrapped or
     *     unwrapped asks its buffer for an NIO view, a new {@code DirectByteBuffer} each time (a fifth of a
     *     request's garbage); the pooled allocator recycles both. 1–14 % less CPU per request in 6 A/B pairs.
     * <li>{@code io.netty.allocator.cacheTrimInterval} off, {@code cacheTrimIntervalMillis=10000} instead: the
     *     event loop's buffer cache was trimmed every 8,192 allocations (under a millisecond of work at 64
     *     keep-alive connections), handing back cached buffers of each size the last interval used less than the
     *     cache holds, so the next allocations of that size went to the shared arena again. Trimmed every 10 s
     *     instead: an idle proxy still returns its cached buffers (the count-based trim never ran without traffic).
     * <li>{@code io.netty.trackPinnedMemory=false}: every pooled buffer's allocation and release added to a
     *     {@code LongAdder} per chunk (an atomic add each, ~2 % of the proxy's CPU by JFR sampling) only to report
     *     the pinned-memory gauge ({@code netty_allocator_memory_pinned}, which then reads 0; used memory is
     *     still reported).
     * </ul>
     * The last two together: 0.96× the CPU per request (median of 8 interleaved A/B pairs, twice), the proxy
     * saturated with 64 keep-alive connections.
     */
    static void applyNettyDefaults(Properties properties) {
        if (properties.getProperty("io.netty.leakDetectionLevel") == null) {
            properties.putIfAbsent(LEAK_DETECTION_LEVEL, "disabled");
        }
        properties.putIfAbsent(ALLOCATOR_TYPE, "pooled");
        if (properties.getProperty(CACHE_TRIM_INTERVAL) == null
                && properties.getProperty(CACHE_TRIM_INTERVAL_MILLIS) == null
                && properties.getProperty("io.netty.allocation.cacheTrimIntervalMillis") == null) {
            properties.setProperty(CACHE_TRIM_INTERVAL, String.valueOf(Integer.MAX_VALUE));
            properties.setProperty(CACHE_TRIM_INTERVAL_MILLIS, "10000");
        }
        properties.putIfAbsent(TRACK_PINNED_MEMORY, "false");
    }

    static CommandLine commandLine() {
        return new CommandLine(new Main());
    }

    @Override
    public Integer call() {
        Logging.use(logFormat);
        return runProxy(config, spec.commandLine().getErr());
    }

    static Path configPath(Path option, PrintWriter err) {
        if (option != null) {
            return option;
        }
        String prop = System.getProperty("config.file");
        if (prop != null && !prop.isBlank()) {
            return Path.of(prop);
        }
        err.println("no config file: pass --config FILE (or -Dconfig.file=FILE); try `mtls-proxy demo` first");
        return null;
    }

    static ProxyConfig load(Path file, PrintWriter err) {
        try {
            return ConfigLoader.load(file);
        } catch (ConfigException e) {
            err.println("invalid configuration:");
            err.println(e.getMessage());
            err.flush();
            return null;
        }
    }

    /**
     * Loads {@code file} and compiles it into the snapshot {@code run} would serve (every TLS context built, no port
     * bound, no backend contacted); the caller closes it. Null after printing why to {@code err}.
     */
    static RuntimeSnapshot compile(Path file, PrintWriter err) {
        ProxyConfig cfg = load(file, err);
        if (cfg == null) {
            return null;
        }
        try {
            return RuntimeSnapshot.build(cfg, new ProxyMetrics(), Transport.NIO);
        } catch (TlsMaterialException | RuntimeException e) {
            invalidConfiguration(file, e, err);
            return null;
        }
    }

    /** What {@code validate} and {@code run} print when the config's files cannot be compiled into a runtime. */
    private static void invalidConfiguration(Path file, Exception e, PrintWriter err) {
        err.println("invalid configuration:");
        err.println(file + ": " + e.getMessage());
        err.flush();
    }

    static int runProxy(Path option, PrintWriter err) {
        Path file = configPath(option, err);
        if (file == null) {
            return EXIT_CONFIG;
        }
        ProxyConfig config = load(file, err);
        if (config == null) {
            return EXIT_CONFIG;
        }
        Logger log = LoggerFactory.getLogger(Main.class);
        log.atInfo().addKeyValue("version", Version.version()).addKeyValue("config", file.toString())
                .addKeyValue("tls", SslContextFactory.providerDescription()).log("starting");
        ProxyServer server;
        try {
            server = ProxyServer.start(config, new ProxyMetrics().withProcessMeters(), file);
        } catch (TlsMaterialException e) {
            // A certificate, key or CRL the TLS library refuses: the configuration, as validate reports it.
            invalidConfiguration(file, e, err);
            return EXIT_CONFIG;
        } catch (ProxyServer.StartupException e) {
            err.println("cannot start: " + e.getMessage());
            err.flush();
            return EXIT_RUNTIME;
        } catch (RuntimeException e) {
            // Compiling the runtime refused the configuration (as validate, which catches the same, reports it).
            invalidConfiguration(file, e, err);
            return EXIT_CONFIG;
        }
        // SIGTERM/SIGINT run shutdown hooks: drain there, then end the JVM with the drain's verdict (halt is the
        // one way a hook can set the exit status: 0 drained, 1 timed out).
        Runtime.getRuntime().addShutdownHook(new Thread(() -> {
            log.info("shutdown requested");
            boolean drained = server.drain(config.shutdown().drainTimeout());
            server.close();
            log.atInfo().addKeyValue("exit_status", drained ? 0 : EXIT_RUNTIME).log("exiting");
            Logging.flush();
            Runtime.getRuntime().halt(drained ? 0 : EXIT_RUNTIME);
        }, "mtls-proxy-shutdown"));
        Signals.onHangup(() -> server.reload("SIGHUP"));
        log.atInfo().addKeyValue("admin_port", server.adminPort()).log("ready");
        try {
            new CountDownLatch(1).await();
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
        return 0;
    }

    @Command(name = "run", mixinStandardHelpOptions = true, description = "Run the proxy (the default command).")
    static final class Run implements Callable<Integer> {
        @Option(names = {"-c", "--config"}, paramLabel = "FILE",
                description = "The HOCON config file (default: -Dconfig.file).")
        Path config;

        @Option(names = "--log-format", paramLabel = "FORMAT",
                defaultValue = "${env:MTLS_PROXY_LOG_FORMAT:-json}",
                description = "Log format on stdout: json (one object per line) or text (default: ${DEFAULT-VALUE}).")
        Logging.Format logFormat;

        @Spec
        CommandLine.Model.CommandSpec spec;

        @Override
        public Integer call() {
            Logging.use(logFormat);
            return runProxy(config, spec.commandLine().getErr());
        }
    }

    @Command(name = "validate", mixinStandardHelpOptions = true,
            description = "Check a config file and every certificate, key and CRL it names; exit 0 when valid.")
    static final class Validate implements Callable<Integer> {
        @Option(names = {"-c", "--config"}, paramLabel = "FILE", description = "The HOCON config file.")
        Path config;

        @Spec
        CommandLine.Model.CommandSpec spec;

        @Override
        public Integer call() {
            PrintWriter err = spec.commandLine().getErr();
            Path file = configPath(config, err);
            RuntimeSnapshot snapshot = file == null ? null : compile(file, err);
            if (snapshot == null) {
                return EXIT_CONFIG;
            }
            ProxyConfig cfg = snapshot.config();
            snapshot.close();
            PrintWriter out = spec.commandLine().getOut();
            out.printf("%s: valid (%d listeners, %d routes, %d backends)%n", file, cfg.listeners().size(),
                    cfg.routes().size(), cfg.backends().size());
            out.flush();
            return 0;
        }
    }

    @Command(name = "demo", mixinStandardHelpOptions = true,
            description = "Start a throwaway PKI, an echo backend and the proxy in front of it, and show mTLS "
                    + "working: a 200, a 403 and a rejected handshake.")
    static final class DemoCommand implements Callable<Integer> {
        @Option(names = "--bind", paramLabel = "HOST:PORT", defaultValue = "127.0.0.1:8443",
                description = "Where the proxy listens (default: ${DEFAULT-VALUE}).")
        String bind;

        @Option(names = "--admin-bind", paramLabel = "HOST:PORT", defaultValue = "127.0.0.1:9901",
                description = "Where /metrics and /healthz are served (default: ${DEFAULT-VALUE}).")
        String adminBind;

        @Option(names = "--dir", paramLabel = "DIR",
                description = "Directory for the certificates and proxy.conf (default: a new temp directory).")
        Path dir;

        @Option(names = "--log-format", paramLabel = "FORMAT", defaultValue = "text",
                description = "Log format on stdout: json or text (default: ${DEFAULT-VALUE}).")
        Logging.Format logFormat;

        @Option(names = "--check-and-exit",
                description = "Run the three demo requests, print the outcome and exit (0 when as expected).")
        boolean checkAndExit;

        @Spec
        CommandLine.Model.CommandSpec spec;

        @Override
        public Integer call() throws Exception {
            Logging.use(logFormat);
            PrintWriter err = spec.commandLine().getErr();
            HostPort proxyBind;
            HostPort admin;
            try {
                proxyBind = HostPort.parse(bind);
                admin = HostPort.parse(adminBind);
            } catch (IllegalArgumentException e) {
                err.println("invalid address: " + e.getMessage());
                return EXIT_CONFIG;
            }
            Demo demo;
            try {
                demo = Demo.start(dir, proxyBind, admin);
            } catch (ProxyServer.StartupException e) {
                err.println("cannot start the demo: " + e.getMessage()
                        + " (choose other ports with --bind and --admin-bind)");
                return EXIT_RUNTIME;
            } catch (PkiException e) {
                err.println("cannot start the demo: " + e.getMessage());
                return EXIT_CONFIG;
            }
            demo.printInstructions(System.out);
            boolean ok = demo.selfCheck(System.out);
            if (checkAndExit) {
                demo.close();
                return ok ? 0 : EXIT_CHECK_FAILED;
            }
            CountDownLatch stopped = new CountDownLatch(1);
            Runtime.getRuntime().addShutdownHook(new Thread(() -> {
                demo.close();
                stopped.countDown();
            }, "mtls-proxy-demo-shutdown"));
            System.out.println("Press Ctrl-C to stop.");
            stopped.await();
            return 0;
        }
    }

    /** The version from the jar manifest. */
    static final class Version implements CommandLine.IVersionProvider {
        static String version() {
            String v = Main.class.getPackage().getImplementationVersion();
            return v == null ? "dev" : v;
        }

        @Override
        public String[] getVersion() {
            return new String[] {"mtls-proxy " + version()};
        }
    }
}
