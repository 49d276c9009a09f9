package org.mtlsproxy.proxy.server;

import static java.util.Objects.requireNonNull;

import java.io.IOException;
import java.nio.file.ClosedWatchServiceException;
import java.nio.file.FileSystems;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardWatchEventKinds;
import java.nio.file.WatchKey;
import java.nio.file.WatchService;
import java.util.HashSet;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.Executors;
import java.util.concurrent.ScheduledExecutorService;
import java.util.concurrent.ScheduledFuture;
import java.util.concurrent.TimeUnit;
import org.mtlsproxy.config.ConfigException;
import org.mtlsproxy.config.ConfigLoader;
import org.mtlsproxy.config.ProxyConfig;
import org.mtlsproxy.config.ReloadConfig;
import org.mtlsproxy.proxy.metrics.ProxyMetrics;
import org.mtlsproxy.proxy.runtime.FileDigest;
import org.mtlsproxy.proxy.runtime.RuntimeSnapshot;
import org.mtlsproxy.proxy.tls.TlsMaterialException;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Reloads the configuration file and everything it names, off the event loops, on one thread.
 *
 * <p>One mechanism, several triggers: a file watcher on the directories of the config file and of every
 * certificate, key, CA bundle and CRL (so Kubernetes' {@code ..data} symlink swaps and editors' rename-on-save are
 * seen), debounced; a periodic content check as a safety net; and explicit requests (SIGHUP, {@code POST /reload}).
 * Watcher and periodic triggers reload only when some file's content changed since the last attempt, so a broken
 * file is reported once, not every interval. A reload builds a complete {@link RuntimeSnapshot} and hands it to
 * {@link ProxyServer#apply}; any failure leaves the running configuration untouched, is logged with its reason
 * (file, line and key for config errors) and counted.
 */
public final class Reloader implements AutoCloseable {

    private static final Logger LOG = LoggerFactory.getLogger(Reloader.class);

    /** The outcome of one reload. */
    public record Result(boolean success, String message) {
    }

    private final Path configFile;
    private final ProxyServer server;
    private final ProxyMetrics metrics;
    private final ScheduledExecutorService executor;
    private final Set<Path> watchedDirs = new HashSet<>();
    private WatchService watcher;
    private Thread watchThread;
    private ScheduledFuture<?> pendingCheck;
    private ScheduledFuture<?> periodic;
    private Map<Path, String> lastAttempt;
    /** The config file and every file it names, absolute; read by the watch thread. */
    private volatile Set<Path> relevantFiles = Set.of();

    Reloader(Path configFile, ProxyServer server, ProxyMetrics metrics) {
        this.configFile = requireNonNull(configFile, "configFile").toAbsolutePath().normalize();
        this.server = requireNonNull(server, "server");
        this.metrics = requireNonNull(metrics, "metrics");
        this.executor = Executors.newSingleThreadScheduledExecutor(r -> {
            Thread t = new Thread(r, "mtls-proxy-reload");
            t.setDaemon(true);
            return t;
        });
    }

    /**
     * Starts the triggers configured in {@code reload}. The files' fingerprint is taken and their directories are
     * watched before this returns (the reload thread takes over both afterwards): a change made once the proxy
     * has started is always seen. Taken on the reload thread, a config file written right after start-up could
     * be fingerprinted as already seen, or changed before its directory was watched, and then never reloaded.
     */
    void start(ProxyConfig initial) {
        lastAttempt = fingerprint(initial);
        ReloadConfig reload = initial.reload();
        if (reload.watch()) {
            try {
                watcher = FileSystems.getDefault().newWatchService();
                watchDirectories(initial);
                watchThread = new Thread(() -> watchLoop(reload), "mtls-proxy-file-watch");
                watchThread.setDaemon(true);
                watchThread.start();
            } catch (IOException e) {
                LOG.atWarn().addKeyValue("cause", e.toString())
                        .log("cannot watch files; relying on the periodic check");
            }
        }
        long every = reload.checkInterval().toMillis();
        periodic = executor.scheduleWithFixedDelay(() -> reloadIfChanged("periodic check"), every, every,
                TimeUnit.MILLISECONDS);
    }

    /** Reloads now, whatever changed (SIGHUP, admin). Completes on the reload thread. */
    public CompletableFuture<Result> reloadNow(String trigger) {
        return CompletableFuture.supplyAsync(() -> reload(trigger), executor);
    }

    private void reloadIfChanged(String trigger) {
        Map<Path, String> current = fingerprint(null);
        if (current.equals(lastAttempt)) {
            return;
        }
        reload(trigger);
    }

    /** Runs on the reload thread only. */
    private Result reload(String trigger) {
        long start = System.nanoTime();
        ProxyConfig config = null;
        try {
            config = ConfigLoader.load(configFile);
            // Rate-limit buckets and passive health carry over where their settings did not change.
            RuntimeSnapshot snapshot = RuntimeSnapshot.build(config, metrics, server.transport(),
                    server.sessionTickets(), server.snapshot());
            server.apply(snapshot);
        } catch (TlsMaterialException | RuntimeException e) { // ConfigException, StartupException and the rest
            // Any failure keeps the running config and is counted; an uncaught one would also end the periodic
            // content check, whose scheduled task stops repeating when it throws.
            lastAttempt = fingerprint(config);
            metrics.reload(false);
            String message = e instanceof ConfigException ? e.getMessage() : configFile + ": " + e.getMessage();
            LOG.atWarn().addKeyValue("trigger", trigger).addKeyValue("error", message)
                    .log("reload failed; keeping the running configuration");
            return new Result(false, message);
        }
        lastAttempt = fingerprint(config);
        metrics.reload(true);
        watchDirectories(config);
        LOG.atInfo().addKeyValue("trigger", trigger)
                .addKeyValue("listeners", config.listeners().size())
                .addKeyValue("routes", config.routes().size())
                .addKeyValue("backends", config.backends().size())
                .addKeyValue("duration_ms", (System.nanoTime() - start) / 1_000_000)
                .log("reloaded");
        return new Result(true, "reloaded: " + config.listeners().size() + " listeners, " + config.routes().size()
                + " routes, " + config.backends().size() + " backends");
    }

    private void watchDirectories(ProxyConfig config) {
        if (watcher == null) {
            return;
        }
        Set<Path> files = new HashSet<>();
        files.add(configFile);
        if (config != null) {
            config.referencedFiles().forEach(f -> files.add(f.toAbsolutePath().normalize()));
        }
        relevantFiles = Set.copyOf(files);
        Set<Path> dirs = new HashSet<>();
        dirs.add(configFile.getParent());
        if (config != null) {
            for (Path f : config.referencedFiles()) {
                Path parent = f.toAbsolutePath().normalize().getParent();
                if (parent != null) {
                    dirs.add(parent);
                }
            }
        }
        for (Path dir : dirs) {
            if (watchedDirs.contains(dir) || !Files.isDirectory(dir)) {
                continue;
            }
            try {
                dir.register(watcher, StandardWatchEventKinds.ENTRY_CREATE, StandardWatchEventKinds.ENTRY_MODIFY,
                        StandardWatchEventKinds.ENTRY_DELETE);
                watchedDirs.add(dir);
            } catch (IOException e) {
                LOG.atWarn().addKeyValue("directory", dir.toString()).addKeyValue("cause", e.toString())
                        .log("cannot watch directory; relying on the periodic check");
            }
        }
    }

    private void watchLoop(ReloadConfig reload) {
        long debounce = reload.debounce().toMillis();
        while (true) {
            WatchKey key;
            try {
                key = watcher.take();
            } catch (InterruptedException | ClosedWatchServiceException e) {
                return;
            }
            boolean relevant = false;
            Path dir = (Path) key.watchable();
            for (java.nio.file.WatchEvent<?> event : key.pollEvents()) {
                relevant |= event.kind() == StandardWatchEventKinds.OVERFLOW
                        || isRelevant(dir.resolve((Path) event.context()));
            }
            key.reset();
            if (!relevant) {
                continue;
            }
            // Any relevant event may be one step of a rename or symlink swap: wait for quiet, then compare
            // contents.
            executor.execute(() -> {
                if (pendingCheck != null) {
                    pendingCheck.cancel(false);
                }
                pendingCheck = executor.schedule(() -> reloadIfChanged("file change"), debounce,
                        TimeUnit.MILLISECONDS);
            });
        }
    }

    /**
     * Whether a changed path can matter: the config file, a file it names, or Kubernetes' atomic-writer entries
     * ({@code ..data} and its timestamped directories) through which those files are symlinked. Other files in
     * the same directories (logs, unrelated secrets) cause no work.
     */
    private boolean isRelevant(Path changed) {
        Path p = changed.toAbsolutePath().normalize();
        Path name = p.getFileName();
        return relevantFiles.contains(p) || (name != null && name.toString().startsWith(".."));
    }

    /**
     * SHA-256 of the config file and of every file it names (following symlinks), as read now. The files are those
     * of the running configuration plus those of the config file as it reads now, so a change is seen even while
     * the file on disk does not load. A file that cannot be read fingerprints as its error, so its repair counts
     * as a change.
     */
    private Map<Path, String> fingerprint(ProxyConfig config) {
        Map<Path, String> result = new LinkedHashMap<>();
        String configDigest = digest(configFile);
        result.put(configFile, configDigest);
        Set<Path> files = new java.util.LinkedHashSet<>(server.snapshot().config().referencedFiles());
        ProxyConfig c = config;
        boolean configChanged = lastAttempt == null || !configDigest.equals(lastAttempt.get(configFile));
        if (c == null && configChanged) {
            // Only a changed config file can name other files: parse it only then.
            try {
                c = ConfigLoader.load(configFile);
            } catch (ConfigException e) {
                c = null;
            }
        }
        if (c != null) {
            files.addAll(c.referencedFiles());
        } else if (lastAttempt != null) {
            files.addAll(lastAttempt.keySet());
            files.remove(configFile);
        }
        for (Path f : files) {
            result.put(f, digest(f));
        }
        return result;
    }

    private static String digest(Path file) {
        try {
            return FileDigest.sha256(file);
        } catch (IOException e) {
            return "unreadable: " + e;
        }
    }

    @Override
    public void close() {
        if (periodic != null) {
            periodic.cancel(false);
        }
        if (watcher != null) {
            try {
                watcher.close();
            } catch (IOException ignored) {
                // Closing anyway.
            }
        }
        executor.shutdownNow();
    }
}
