package org.mtlsproxy.proxy.server;

import static java.util.Objects.requireNonNull;

import io.netty.bootstrap.ServerBootstrap;
import io.netty.channel.Channel;
import io.netty.channel.ChannelFuture;
import io.netty.channel.ChannelOption;
import io.netty.channel.EventLoopGroup;
import io.netty.channel.group.ChannelGroup;
import io.netty.channel.group.DefaultChannelGroup;
import io.netty.util.concurrent.GlobalEventExecutor;
import java.nio.file.Path;
import java.time.Duration;
import java.util.concurrent.CompletableFuture;
import java.net.InetSocketAddress;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;
import java.util.stream.Collectors;
import org.mtlsproxy.config.ConfigJson;
import org.mtlsproxy.config.HostPort;
import org.mtlsproxy.config.ListenerConfig;
import org.mtlsproxy.config.ProxyConfig;
import org.mtlsproxy.config.RouteConfig;
import org.mtlsproxy.proxy.admin.AdminServer;
import org.mtlsproxy.proxy.http.DrainEvent;
import org.mtlsproxy.proxy.http.SnapshotChanged;
import org.mtlsproxy.proxy.metrics.ProxyMetrics;
import org.mtlsproxy.proxy.runtime.RuntimeSnapshot;
import org.mtlsproxy.proxy.tls.SessionTicketKeys;
import org.mtlsproxy.proxy.tls.SslContextFactory;
import org.mtlsproxy.proxy.tls.TlsMaterialException;
import org.mtlsproxy.proxy.transport.Transport;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * A running proxy: its listeners, its event loops, the current snapshot and the admin server. Start it with
 * {@link #start}; {@link #close} stops accepting and shuts the event loops down.
 */
public final class ProxyServer implements AutoCloseable {

    private static final Logger LOG = LoggerFactory.getLogger(ProxyServer.class);

    private final Transport transport;
    private final EventLoopGroup group;
    private final SnapshotHolder snapshots;
    private final ProxyMetrics metrics;
    /** Session ticket keys of every listener, kept across reloads. */
    private final SessionTicketKeys tickets;
    private final Map<String, Channel> listeners = new java.util.concurrent.ConcurrentHashMap<>();
    private final Map<String, HostPort> binds = new java.util.concurrent.ConcurrentHashMap<>();
    /** Every open client connection, so a drain can reach them; closed channels leave by themselves. */
    private final ChannelGroup clients = new DefaultChannelGroup("mtls-proxy-clients", GlobalEventExecutor.INSTANCE);
    private volatile boolean draining;
    private AdminServer admin;
    private Reloader reloader;

    private ProxyServer(Transport transport, EventLoopGroup group, SnapshotHolder snapshots, ProxyMetrics metrics,
            SessionTicketKeys tickets) {
        this.transport = transport;
        this.tickets = tickets;
        this.group = group;
        this.snapshots = snapshots;
        this.metrics = metrics;
    }

    /**
     * Compiles {@code config}, binds every listener and the admin port, and returns the running proxy.
     *
     * @throws TlsMaterialException when certificates or keys cannot be used
     * @throws StartupException     when a port cannot be bound (the message names the listener and address)
     */
    public static ProxyServer start(ProxyConfig config, ProxyMetrics metrics) throws TlsMaterialException {
        return start(config, metrics, null);
    }

    /**
     * Like {@link #start(ProxyConfig, ProxyMetrics)}, and reloads from {@code configFile} when it or any file it
     * names changes, on SIGHUP (wired by the CLI) and on {@code POST /reload}.
     */
    public static ProxyServer start(ProxyConfig config, ProxyMetrics metrics, Path configFile)
            throws TlsMaterialException {
        requireNonNull(config, "config");
        requireNonNull(metrics, "metrics");
        Transport transport = Transport.best();
        SessionTicketKeys tickets = SessionTicketKeys.rotating();
        RuntimeSnapshot snapshot;
        try {
            snapshot = RuntimeSnapshot.build(config, metrics, transport, tickets);
        } catch (TlsMaterialException | RuntimeException e) {
            tickets.close();
            throw e;
        }
        int threads = Integer.getInteger("mtls-proxy.io-threads", Runtime.getRuntime().availableProcessors());
        EventLoopGroup group = transport.newGroup(threads, "mtls-proxy-io");
        ProxyServer server = new ProxyServer(transport, group, new SnapshotHolder(snapshot), metrics,
                tickets);
        try {
            server.bindAll(config);
            snapshot.activate();
            metrics.publishCertificates(snapshot.certificates());
            // Expiry warnings now and every ten minutes, for whatever snapshot is in force then.
            group.scheduleAtFixedRate(server::checkExpiry, 0, 10, TimeUnit.MINUTES);
            if (configFile != null) {
                server.reloader = new Reloader(configFile, server, metrics);
                server.reloader.start(config);
            }
            if (config.admin().enabled()) {
                server.admin = AdminServer.start(config.admin().bind(), metrics, transport, server::isReady,
                        () -> ConfigJson.render(server.snapshot().config()), server::reload, server::snapshot);
            }
        } catch (RuntimeException e) {
            server.close();
            throw e;
        }
        return server;
    }

    private void bindAll(ProxyConfig config) {
        for (ListenerConfig l : config.listeners()) {
            Channel ch = bind(l);
            listeners.put(l.name(), ch);
            binds.put(l.name(), l.bind());
            logListening(config, l, ch);
        }
    }

    private Channel bind(ListenerConfig l) {
        ServerBootstrap b = new ServerBootstrap()
                .group(group)
                .channel(transport.serverChannel())
                .option(ChannelOption.SO_BACKLOG, 1024)
                .option(ChannelOption.SO_REUSEADDR, true)
                .childOption(ChannelOption.TCP_NODELAY, true)
                .childOption(ChannelOption.SO_KEEPALIVE, true)
                .childHandler(new ProxyChannelInitializer(snapshots, l.name(), clients, metrics.expiryWarnings()));
        ChannelFuture f = b.bind(l.bind().host(), l.bind().port()).awaitUninterruptibly();
        if (!f.isSuccess()) {
            throw new StartupException("listener " + l.name() + ": cannot bind " + l.bind() + ": "
                    + f.cause().getMessage(), f.cause());
        }
        return f.channel();
    }

    private void logListening(ProxyConfig config, ListenerConfig l, Channel ch) {
        List<String> routes = config.routes().stream()
                .filter(r -> !l.isTcp() && (r.listeners().isEmpty() || r.listeners().contains(l.name())))
                .map(RouteConfig::name).collect(Collectors.toList());
        LOG.atInfo()
                .addKeyValue("listener", l.name())
                .addKeyValue("bind", ch.localAddress().toString())
                .addKeyValue("tls", SslContextFactory.providerDescription())
                .addKeyValue("transport", transport.name().toLowerCase(java.util.Locale.ROOT))
                .addKeyValue("routes", String.join(",", routes))
                .addKeyValue("protocol", l.protocol().label())
                .addKeyValue("backend", l.tcp().map(t -> t.backend()).orElse(""))
                .log("listening");
    }

    /**
     * Puts a new snapshot in force (a reload). Listeners whose bind address changed, or that are new, are bound
     * first: if that fails nothing changes. Then the snapshot is swapped (new connections use it), listeners that
     * were replaced or removed stop accepting, and every open connection is told to re-check its client
     * certificate and adopt the new routes and rules for its next request. Unchanged listeners keep their sockets,
     * so no connection is refused during a reload. When binding fails, the backends {@code next} built anew (not
     * those it carried over from the running snapshot) are closed, and the running snapshot stays in force.
     *
     * @throws StartupException when a new or moved listener cannot be bound
     */
    public synchronized void apply(RuntimeSnapshot next) {
        requireNonNull(next, "next");
        ProxyConfig config = next.config();
        Map<String, Channel> bound = new LinkedHashMap<>();
        try {
            for (ListenerConfig l : config.listeners()) {
                if (listeners.containsKey(l.name()) && l.bind().equals(binds.get(l.name()))) {
                    continue;
                }
                bound.put(l.name(), bindReplacing(l));
            }
        } catch (RuntimeException e) { // StartupException, or anything else: nothing of next goes into force
            bound.values().forEach(Channel::close);
            next.discardKeeping(snapshots.get());
            throw e;
        }
        RuntimeSnapshot previous = snapshots.swap(next);
        next.activate();
        Map<String, ListenerConfig> wanted = new LinkedHashMap<>();
        config.listeners().forEach(l -> wanted.put(l.name(), l));
        for (Map.Entry<String, Channel> e : new ArrayList<>(listeners.entrySet())) {
            if (!wanted.containsKey(e.getKey()) || bound.containsKey(e.getKey())) {
                e.getValue().close();
                listeners.remove(e.getKey());
                binds.remove(e.getKey());
                LOG.atInfo().addKeyValue("listener", e.getKey()).log("listener closed by reload");
            }
        }
        bound.forEach((name, ch) -> {
            listeners.put(name, ch);
            binds.put(name, wanted.get(name).bind());
            logListening(config, wanted.get(name), ch);
        });
        metrics.publishCertificates(next.certificates());
        checkExpiry();
        SnapshotChanged changed = new SnapshotChanged(next, config.reload().revokedConnectionGrace());
        for (Channel ch : clients) {
            ch.eventLoop().execute(() -> ch.pipeline().fireUserEventTriggered(changed));
        }
        previous.closeReplacedBy(next);
    }

    /**
     * Binds a listener for a reload. When its new address needs the port the listener holds now (same port,
     * other host), the old socket is closed first and restored if the new bind fails.
     */
    private Channel bindReplacing(ListenerConfig l) {
        try {
            return bind(l);
        } catch (StartupException e) {
            Channel old = listeners.get(l.name());
            HostPort oldBind = binds.get(l.name());
            if (old == null || oldBind == null || oldBind.port() != l.bind().port()) {
                throw e;
            }
            old.close().awaitUninterruptibly();
            try {
                return bind(l);
            } catch (StartupException again) {
                ListenerConfig previous = snapshots.get().config().listener(l.name()).orElse(null);
                if (previous != null) {
                    listeners.put(l.name(), bind(previous));
                }
                throw again;
            }
        }
    }

    /**
     * Reloads the config file now (SIGHUP, {@code POST /reload}); completes with the outcome. Without a config
     * file (an embedded configuration) there is nothing to reload.
     */
    public CompletableFuture<Reloader.Result> reload(String trigger) {
        if (reloader == null) {
            return CompletableFuture.completedFuture(
                    new Reloader.Result(false, "started without a config file: nothing to reload"));
        }
        return reloader.reloadNow(trigger);
    }

    private void checkExpiry() {
        RuntimeSnapshot s = snapshots.get();
        metrics.expiryWarnings().checkConfigured(s.certificates(), s.config().expiry().warnBefore(),
                java.time.Instant.now());
    }

    Transport transport() {
        return transport;
    }

    /** True while every listener is bound and open and the proxy is not draining. */
    public boolean isReady() {
        return !draining && !listeners.isEmpty() && listeners.values().stream().allMatch(Channel::isActive);
    }

    /**
     * Graceful stop, first half: report not-ready, stop accepting, close idle client connections and let busy ones
     * finish their current exchange, waiting at most {@code timeout}.
     *
     * @return true when every client connection closed in time
     */
    public boolean drain(Duration timeout) {
        draining = true;
        long start = System.nanoTime();
        LOG.atInfo().addKeyValue("connections", clients.size()).addKeyValue("timeout_ms", timeout.toMillis())
                .log("draining: not ready, no longer accepting");
        listeners.values().forEach(ch -> ch.close().awaitUninterruptibly());
        for (Channel ch : clients) {
            ch.eventLoop().execute(() -> ch.pipeline().fireUserEventTriggered(DrainEvent.INSTANCE));
        }
        long deadline = start + timeout.toNanos();
        while (!clients.isEmpty() && System.nanoTime() < deadline) {
            try {
                Thread.sleep(20);
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
                break;
            }
        }
        boolean drained = clients.isEmpty();
        LOG.atInfo().addKeyValue("drained", drained).addKeyValue("remaining", clients.size())
                .addKeyValue("duration_ms", (System.nanoTime() - start) / 1_000_000)
                .log(drained ? "drained" : "drain timeout: closing remaining connections");
        return drained;
    }

    /** The bound address of a listener (useful with port 0). */
    public InetSocketAddress address(String listener) {
        Channel ch = listeners.get(listener);
        if (ch == null) {
            throw new IllegalArgumentException("no listener named " + listener);
        }
        return (InetSocketAddress) ch.localAddress();
    }

    public int port(String listener) {
        return address(listener).getPort();
    }

    /** The admin server's bound port, or -1 when disabled. */
    public int adminPort() {
        return admin == null ? -1 : admin.port();
    }

    public ProxyMetrics metrics() {
        return metrics;
    }

    /** The session ticket keys of this process; a reload builds its snapshot with them. */
    public SessionTicketKeys sessionTickets() {
        return tickets;
    }

    public RuntimeSnapshot snapshot() {
        return snapshots.get();
    }

    @Override
    public void close() {
        if (reloader != null) {
            reloader.close();
        }
        List<ChannelFuture> closing = new ArrayList<>();
        for (Channel ch : listeners.values()) {
            closing.add(ch.close());
        }
        closing.forEach(ChannelFuture::awaitUninterruptibly);
        clients.close().awaitUninterruptibly(5, TimeUnit.SECONDS);
        if (admin != null) {
            admin.close();
        }
        snapshots.get().close();
        tickets.close();
        group.shutdownGracefully(0, 5, TimeUnit.SECONDS).awaitUninterruptibly(10, TimeUnit.SECONDS);
        LOG.info("stopped");
    }

    /** A listener could not be started. */
    public static final class StartupException extends RuntimeException {
        public StartupException(String message, Throwable cause) {
            super(message, cause);
        }
    }
}
