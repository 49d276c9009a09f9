package org.mtlsproxy.proxy.transport;

import io.netty.channel.ChannelDuplexHandler;
import io.netty.channel.ChannelHandlerContext;
import io.netty.handler.timeout.IdleStateEvent;
import io.netty.util.concurrent.ScheduledFuture;
import java.time.Duration;
import java.util.concurrent.TimeUnit;

/**
 * Fires {@link IdleStateEvent#ALL_IDLE_STATE_EVENT} when a channel has neither read nor been asked to flush for
 * the timeout, and again after each further timeout of silence; the handlers after it decide what idle means.
 *
 * <p>Netty's {@code IdleStateHandler} does the same but adds a listener to every write's promise to learn when
 * the write completed: an allocation and a notification per write, on both legs of every proxied request. This
 * one counts output as activity when a flush is issued. That is the same for a peer that reads, and for one that
 * does not: the proxy stops issuing writes to a channel that is no longer writable (backpressure), so a stalled
 * peer still goes idle. One check task per channel, re-armed for the time left when it fires early.
 *
 * <p>Activity is stamped once per read batch ({@code channelReadComplete}) and once per flush, not per message:
 * messages and writes pass by this handler untouched (Netty skips handlers that do not override an event), which
 * saves a clock read and a pipeline hop per message on both legs of every request. A read batch always ends with
 * {@code channelReadComplete}, and bytes written only leave with a flush, so the silence measured is the same.
 */
public final class IdleTimeoutHandler extends ChannelDuplexHandler {

    private final long timeoutNanos;
    private final Runnable check = this::check;
    private ChannelHandlerContext ctx;
    private long lastActivity;
    private ScheduledFuture<?> task;

    /** @param timeout the silence after which the event fires; positive */
    public IdleTimeoutHandler(Duration timeout) {
        if (timeout.isNegative() || timeout.isZero()) {
            throw new IllegalArgumentException("timeout must be positive (got: " + timeout + ")");
        }
        this.timeoutNanos = timeout.toNanos();
    }

    @Override
    public void handlerAdded(ChannelHandlerContext ctx) {
        this.ctx = ctx;
        if (ctx.channel().isActive() && ctx.channel().isRegistered()) {
            start();
        }
    }

    @Override
    public void channelActive(ChannelHandlerContext ctx) {
        start();
        ctx.fireChannelActive();
    }

    @Override
    public void handlerRemoved(ChannelHandlerContext ctx) {
        stop();
    }

    @Override
    public void channelInactive(ChannelHandlerContext ctx) {
        stop();
        ctx.fireChannelInactive();
    }

    @Override
    public void channelReadComplete(ChannelHandlerContext ctx) {
        lastActivity = System.nanoTime();
        ctx.fireChannelReadComplete();
    }

    @Override
    public void flush(ChannelHandlerContext ctx) {
        lastActivity = System.nanoTime();
        ctx.flush();
    }

    private void start() {
        if (task != null) {
            return;
        }
        lastActivity = System.nanoTime();
        task = ctx.executor().schedule(check, timeoutNanos, TimeUnit.NANOSECONDS);
    }

    private void stop() {
        if (task != null) {
            task.cancel(false);
            task = null;
        }
    }

    private void check() {
        if (!ctx.channel().isOpen()) {
            task = null;
            return;
        }
        long now = System.nanoTime();
        long left = timeoutNanos - (now - lastActivity);
        if (left > 0) {
            task = ctx.executor().schedule(check, left, TimeUnit.NANOSECONDS);
            return;
        }
        // Counted from now for the next event, as IdleStateHandler does.
        lastActivity = now;
        task = ctx.executor().schedule(check, timeoutNanos, TimeUnit.NANOSECONDS);
        ctx.fireUserEventTriggered(IdleStateEvent.ALL_IDLE_STATE_EVENT);
    }
}
