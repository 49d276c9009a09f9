package org.mtlsproxy.proxy.upstream;

import static org.assertj.core.api.Assertions.assertThat;

import io.netty.channel.DefaultEventLoop;
import io.netty.channel.EventLoop;
import io.netty.resolver.AddressResolver;
import io.netty.util.concurrent.Future;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.net.UnknownHostException;
import java.util.List;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.Executors;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.RejectedExecutionException;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicReference;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;

class BackendResolverTest {

    private final EventLoop loop = new DefaultEventLoop();
    private final ExecutorService pool = Executors.newSingleThreadExecutor();

    @AfterEach
    void stop() {
        loop.shutdownGracefully(0, 1, TimeUnit.SECONDS);
        pool.shutdownNow();
    }

    private static InetSocketAddress unresolved(String host) {
        return InetSocketAddress.createUnresolved(host, 8443);
    }

    @Test
    void slowLookupRunsOffTheEventLoopWhichKeepsServingTasks() throws Exception {
        CountDownLatch release = new CountDownLatch(1);
        AtomicReference<Thread> lookupThread = new AtomicReference<>();
        BackendResolver group = new BackendResolver(host -> {
            lookupThread.set(Thread.currentThread());
            try {
                release.await(10, TimeUnit.SECONDS);
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
            }
            return new InetAddress[] {InetAddress.getByAddress(host, new byte[] {10, 1, 2, 3})};
        }, pool, java.time.Duration.ofSeconds(30));
        AddressResolver<InetSocketAddress> resolver = group.getResolver(loop);

        Future<InetSocketAddress> result = loop.submit(() -> resolver.resolve(unresolved("orders.internal")))
                .get(5, TimeUnit.SECONDS);
        // The lookup is blocked; the loop still runs other work at once.
        assertThat(loop.submit(() -> "served").get(1, TimeUnit.SECONDS)).isEqualTo("served");
        assertThat(result.isDone()).isFalse();

        release.countDown();
        InetSocketAddress resolved = result.get(5, TimeUnit.SECONDS);
        assertThat(resolved.getAddress().getHostAddress()).isEqualTo("10.1.2.3");
        assertThat(resolved.getPort()).isEqualTo(8443);
        assertThat(lookupThread.get()).isNotNull();
        assertThat(loop.inEventLoop(lookupThread.get())).isFalse();
    }

    @Test
    void ipLiteralsNeedNoLookup() throws Exception {
        BackendResolver group = new BackendResolver(host -> {
            throw new AssertionError("looked up " + host);
        }, pool, java.time.Duration.ofSeconds(30));
        AddressResolver<InetSocketAddress> resolver = group.getResolver(loop);

        assertThat(resolver.resolve(unresolved("127.0.0.1")).get(5, TimeUnit.SECONDS).getAddress().getHostAddress())
                .isEqualTo("127.0.0.1");
        assertThat(resolver.resolve(unresolved("::1")).get(5, TimeUnit.SECONDS).getAddress())
                .isEqualTo(InetAddress.getByName("::1"));
    }

    @Test
    void unknownHostFailsThePromise() throws Exception {
        BackendResolver group = new BackendResolver(host -> {
            throw new UnknownHostException(host + ": Name or service not known");
        }, pool, java.time.Duration.ofSeconds(30));

        Future<InetSocketAddress> result = group.getResolver(loop).resolve(unresolved("nowhere.internal"))
                .await();
        assertThat(result.cause()).isInstanceOf(UnknownHostException.class)
                .hasMessageContaining("nowhere.internal");
    }

    @Test
    void aFullLookupQueueFailsAtOnceWithAReason() throws Exception {
        BackendResolver group = new BackendResolver(host -> {
            throw new AssertionError("looked up " + host);
        }, task -> {
            throw new RejectedExecutionException("full");
        }, java.time.Duration.ofSeconds(30));

        Future<InetSocketAddress> result = group.getResolver(loop).resolve(unresolved("orders.internal")).await();
        assertThat(result.cause()).isInstanceOf(UnknownHostException.class)
                .hasMessageContaining("orders.internal")
                .hasMessageContaining("DNS lookups already waiting");
    }

    @Test
    void aLookupWithoutAnswerFailsAfterTheLimit() throws Exception {
        CountDownLatch never = new CountDownLatch(1);
        BackendResolver group = new BackendResolver(host -> {
            try {
                never.await(10, TimeUnit.SECONDS);
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
            }
            throw new UnknownHostException(host + ": too late");
        }, pool, java.time.Duration.ofMillis(200));
        long start = System.nanoTime();
        Future<InetSocketAddress> result = group.getResolver(loop).resolve(unresolved("hangs.internal")).await();
        assertThat(result.cause()).isInstanceOf(UnknownHostException.class)
                .hasMessage("hangs.internal: no DNS answer within 200 ms");
        assertThat(TimeUnit.NANOSECONDS.toMillis(System.nanoTime() - start)).isBetween(150L, 5_000L);
        never.countDown();
    }

    @Test
    void sharedResolverUsesTheJdkResolverOnItsOwnThreads() throws Exception {
        AddressResolver<InetSocketAddress> resolver = BackendResolver.shared().getResolver(loop);
        List<InetSocketAddress> all = resolver.resolveAll(unresolved("localhost")).get(10, TimeUnit.SECONDS);
        assertThat(all).isNotEmpty().allSatisfy(a -> assertThat(a.getAddress().isLoopbackAddress()).isTrue());
    }
}
