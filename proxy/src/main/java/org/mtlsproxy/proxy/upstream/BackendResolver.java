package org.mtlsproxy.proxy.upstream;

import static java.util.Objects.requireNonNull;

import io.netty.resolver.AddressResolver;
import io.netty.resolver.AddressResolverGroup;
import io.netty.resolver.InetNameResolver;
import io.netty.util.NetUtil;
import io.netty.util.concurrent.EventExecutor;
import io.netty.util.concurrent.Promise;
import io.netty.util.concurrent.ScheduledFuture;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.net.UnknownHostException;
import java.time.Duration;
import java.util.Arrays;
import java.util.List;
import java.util.concurrent.ArrayBlockingQueue;
import java.util.concurrent.Executor;
import java.util.concurrent.RejectedExecutionException;
import java.util.concurrent.ThreadPoolExecutor;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;

/**
 * Resolves backend host names with the JDK's resolver ({@code /etc/hosts}, nsswitch, the JVM's address cache:
 * {@code networkaddress.cache.ttl}), but never on an event loop: Netty's default resolver calls
 * {@link InetAddress#getAllByName} on the loop of the connecting channel, so one slow DNS server would stall every
 * client connection of that loop. Lookups run on a few daemon threads; the result comes back as a promise of the
 * caller's executor. IP literals are answered at once.
 */
public final class BackendResolver extends AddressResolverGroup<InetSocketAddress> {

    /** Lookups waiting for a thread beyond this fail at once (the backend is then unavailable, not the proxy). */
    static final int QUEUE_LIMIT = 1024;
    private static final int THREADS = 4;
    /** The lookup limit of {@link #shared()}. */
    static final Duration DEFAULT_LIMIT = Duration.ofSeconds(10);

    /** The lookup threads of every resolver of the process. */
    private static final Executor POOL = newPool();
    private static final BackendResolver SHARED = new BackendResolver(InetAddress::getAllByName, POOL, DEFAULT_LIMIT);

    /** The host lookup: {@link InetAddress#getAllByName} in production. */
    @FunctionalInterface
    interface Lookup {
        InetAddress[] lookup(String host) throws UnknownHostException;
    }

    private final Lookup lookup;
    private final Executor pool;
    private final long limitMillis;

    BackendResolver(Lookup lookup, Executor pool, Duration limit) {
        this.lookup = requireNonNull(lookup, "lookup");
        this.pool = requireNonNull(pool, "pool");
        this.limitMillis = Math.max(1, limit.toMillis());
    }

    /** A resolver on the process's lookup threads, {@link #DEFAULT_LIMIT} per lookup. */
    public static BackendResolver shared() {
        return SHARED;
    }

    /**
     * A resolver on the process's lookup threads whose lookups fail after {@code limit} (a backend's connect-timeout:
     * Netty's connect timer only starts once the name is resolved). Close it with its backend.
     */
    public static BackendResolver withLimit(Duration limit) {
        return new BackendResolver(InetAddress::getAllByName, POOL, limit);
    }

    private static ThreadPoolExecutor newPool() {
        AtomicInteger n = new AtomicInteger();
        ThreadPoolExecutor pool = new ThreadPoolExecutor(THREADS, THREADS, 60, TimeUnit.SECONDS,
                new ArrayBlockingQueue<>(QUEUE_LIMIT), r -> {
                    Thread t = new Thread(r, "mtls-proxy-dns-" + n.incrementAndGet());
                    t.setDaemon(true);
                    return t;
                });
        pool.allowCoreThreadTimeOut(true);
        return pool;
    }

    @Override
    protected AddressResolver<InetSocketAddress> newResolver(EventExecutor executor) {
        return new NameResolver(executor).asAddressResolver();
    }

    private final class NameResolver extends InetNameResolver {

        NameResolver(EventExecutor executor) {
            super(executor);
        }

        @Override
        protected void doResolve(String host, Promise<InetAddress> promise) {
            InetAddress literal = literal(host);
            if (literal != null) {
                promise.trySuccess(literal);
                return;
            }
            offload(host, promise, all -> all[0]);
        }

        @Override
        protected void doResolveAll(String host, Promise<List<InetAddress>> promise) {
            InetAddress literal = literal(host);
            if (literal != null) {
                promise.trySuccess(List.of(literal));
                return;
            }
            offload(host, promise, Arrays::asList);
        }

        private <T> void offload(String host, Promise<T> promise,
                java.util.function.Function<InetAddress[], T> result) {
            // A lookup that hangs (an unreachable DNS server, a full queue) must not hold the connection forever.
            ScheduledFuture<?> timer = executor().schedule(() -> promise.tryFailure(new UnknownHostException(host
                    + ": no DNS answer within " + limitMillis + " ms")), limitMillis, TimeUnit.MILLISECONDS);
            promise.addListener(f -> timer.cancel(false));
            try {
                pool.execute(() -> {
                    try {
                        promise.trySuccess(result.apply(lookup.lookup(host)));
                    } catch (UnknownHostException e) {
                        promise.tryFailure(e);
                    } catch (RuntimeException e) {
                        promise.tryFailure(new UnknownHostException(host + ": " + e));
                    }
                });
            } catch (RejectedExecutionException e) {
                promise.tryFailure(new UnknownHostException(host + ": " + QUEUE_LIMIT
                        + " DNS lookups already waiting (is the DNS server answering?)"));
            }
        }

    }

    /** {@code host} as an address when it is an IPv4 or IPv6 literal (no lookup), else null. */
    static InetAddress literal(String host) {
        byte[] bytes = NetUtil.createByteArrayFromIpAddressString(host);
        if (bytes == null) {
            return null;
        }
        try {
            return InetAddress.getByAddress(host, bytes);
        } catch (UnknownHostException e) {
            return null; // cannot happen for 4 or 16 bytes
        }
    }
}
