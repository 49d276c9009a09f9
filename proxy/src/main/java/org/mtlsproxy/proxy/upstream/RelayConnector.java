package org.mtlsproxy.proxy.upstream;

import static java.util.Objects.requireNonNull;

import io.netty.bootstrap.Bootstrap;
import io.netty.channel.Channel;
import io.netty.channel.ChannelFuture;
import io.netty.channel.ChannelHandler;
import io.netty.channel.ChannelInitializer;
import io.netty.channel.ChannelOption;
import io.netty.channel.EventLoop;
import io.netty.handler.ssl.SslContext;
import io.netty.handler.ssl.SslHandler;
import java.util.List;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.function.Supplier;
import org.mtlsproxy.config.BackendConfig;
import org.mtlsproxy.config.HostPort;
import org.mtlsproxy.config.LoadBalancing;
import org.mtlsproxy.proxy.RejectReason;
import org.mtlsproxy.proxy.transport.Transport;

/**
 * Opens raw TLS connections to a backend for the byte relays of {@code protocol = tcp} listeners: a fresh
 * connection per client connection, never pooled, no HTTP codec. The backend is verified exactly as for HTTP (its
 * CA bundle, its server name as SNI and hostname check, the proxy's client certificate if configured). The TLS
 * engine is the one of the context given (the JDK's for relays, which keeps its outbound side open after the
 * backend's close_notify, so a backend's half-close does not cut the client's remaining bytes).
 *
 * <p>Endpoints are chosen and retried as by {@link Backend}: round robin, or with {@code least-outstanding} the
 * fewest relay connections open (being opened or relaying) from this connector, skipping ejected endpoints. When a
 * connection cannot be established (name not resolved, TCP refused or timed out, TLS failure) nothing was sent
 * (the client's bytes wait until the handshake completes), so another endpoint is tried, up to {@code retries}
 * times, all attempts within one {@code connect-timeout} from the first. Passive health is that of the
 * {@link Backend} of the same name in the same snapshot ({@link Backend#choose(boolean[], int, AtomicInteger[])},
 * {@link Backend#endpointFailed}, {@link Backend#endpointSucceeded}): a completed TLS handshake is a success, a
 * failed attempt a failure; ejections are logged and counted by the backend, its healthy-endpoints gauge counts
 * them, and a reload carries them over as it carries over the backend's.
 */
public final class RelayConnector {

    /** The outcome of {@link #connect}; called on the loop given to it. */
    public interface Callback {

        /** TCP connected and the TLS handshake verified the backend; {@code channel} is ready to write. */
        void connected(Channel channel, HostPort endpoint);

        /** Every attempt failed (or the client went away between two): the last attempt's reason. */
        void failed(RejectReason reason, HostPort endpoint, Throwable cause);

        /** False once the client went away: a failed attempt is then not retried. */
        default boolean stillWaiting() {
            return true;
        }
    }

    private final Backend backend;
    private final BackendConfig config;
    private final SslContext sslContext;
    private final Transport transport;
    private final List<HostPort> endpoints;
    /** Relay connections per endpoint, from the connect attempt until the channel closes or the attempt fails. */
    private final AtomicInteger[] open;
    /** Where the next endpoint choice starts looking; shared by the loops (a lost update only skews one choice). */
    private final AtomicInteger cursor = new AtomicInteger();

    /**
     * @param backend the backend of the same name in the same snapshot: its config, meters, passive health, resolver
     *                and endpoint addresses are used; {@code sslContext} is the relay's own (another TLS engine)
     */
    public RelayConnector(Backend backend, SslContext sslContext, Transport transport) {
        this.backend = requireNonNull(backend, "backend");
        this.config = backend.config();
        this.sslContext = requireNonNull(sslContext, "sslContext");
        this.transport = requireNonNull(transport, "transport");
        this.endpoints = config.endpoints();
        this.open = new AtomicInteger[endpoints.size()];
        for (int i = 0; i < open.length; i++) {
            open[i] = new AtomicInteger();
        }
    }

    public String name() {
        return config.name();
    }

    /** Relay connections to endpoint {@code index} now: being opened or relaying. */
    public int openConnections(int index) {
        return open[index].get();
    }

    /**
     * Connects on {@code loop} (the client channel's loop), retrying other endpoints as described above. Each
     * attempt's pipeline gets a new handler from {@code handler}, after the TLS handler (as "relay"), before the
     * connection starts, so it sees everything the backend sends; the channel allows half-closure. {@code callback}
     * hears only the outcome: {@link Callback#connected} once, or {@link Callback#failed} after the last attempt.
     */
    public void connect(EventLoop loop, Supplier<? extends ChannelHandler> handler, Callback callback) {
        new Attempts(loop, handler, callback).next();
    }

    /** One client's attempts. Confined to its loop. */
    private final class Attempts {
        private final EventLoop loop;
        private final Supplier<? extends ChannelHandler> handler;
        private final Callback callback;
        private final ConnectAttempts attempts;

        Attempts(EventLoop loop, Supplier<? extends ChannelHandler> handler, Callback callback) {
            this.loop = loop;
            this.handler = handler;
            this.callback = callback;
            this.attempts = new ConnectAttempts(backend, loop);
        }

        /** Connects to an endpoint not tried yet (there is always one: see {@link #failed}). */
        void next() {
            int n = endpoints.size();
            int index = backend.choose(attempts.tried, Math.floorMod(cursor.get(), n),
                    config.loadBalancing() == LoadBalancing.LEAST_OUTSTANDING ? open : null);
            cursor.set((index + 1) % n);
            connect(index);
        }

        private void connect(int index) {
            HostPort endpoint = endpoints.get(index);
            open[index].incrementAndGet();
            long start = System.nanoTime();
            int timeoutMillis = Math.max(1, attempts.remainingMillis());
            String serverName = config.tls().serverName();
            Bootstrap bootstrap = Backend.connectBootstrap(loop, transport, backend.resolver(), timeoutMillis)
                    .option(ChannelOption.ALLOW_HALF_CLOSURE, true)
                    .handler(new ChannelInitializer<Channel>() {
                        @Override
                        protected void initChannel(Channel ch) {
                            // peerHost = server-name: SNI (for DNS names) and hostname verification of the backend.
                            SslHandler tls = sslContext.newHandler(ch.alloc(), serverName, endpoint.port());
                            tls.setHandshakeTimeoutMillis(timeoutMillis);
                            ch.pipeline().addLast("tls", tls);
                            ch.pipeline().addLast("relay", handler.get());
                        }
                    });
            ChannelFuture connect = bootstrap.connect(backend.address(index));
            connect.addListener((ChannelFuture f) -> {
                if (!f.isSuccess()) {
                    open[index].decrementAndGet();
                    failed(index, ConnectAttempts.connectFailure(f.cause()), f.cause());
                    return;
                }
                Channel ch = f.channel();
                // From here the count goes down when the channel closes, whatever closes it: exactly once.
                ch.closeFuture().addListener(cf -> open[index].decrementAndGet());
                ch.pipeline().get(SslHandler.class).handshakeFuture().addListener(hf -> {
                    if (hf.isSuccess()) {
                        backend.meters().connected(System.nanoTime() - start);
                        backend.endpointSucceeded(index);
                        callback.connected(ch, endpoint);
                        return;
                    }
                    ch.close();
                    failed(index, ConnectAttempts.handshakeFailure(hf.cause()), hf.cause());
                });
            });
        }

        private void failed(int index, RejectReason reason, Throwable cause) {
            if (attempts.failedMayRetry(index, reason, cause, callback.stillWaiting(),
                    "relay: retrying on another endpoint")) {
                next();
                return;
            }
            callback.failed(reason, endpoints.get(index), cause);
        }
    }
}
