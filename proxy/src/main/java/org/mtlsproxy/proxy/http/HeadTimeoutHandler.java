package org.mtlsproxy.proxy.http;

import io.netty.buffer.ByteBuf;
import io.netty.channel.ChannelFutureListener;
import io.netty.channel.ChannelHandlerContext;
import io.netty.channel.ChannelInboundHandlerAdapter;
import io.netty.util.concurrent.ScheduledFuture;
import java.util.concurrent.TimeUnit;
import org.mtlsproxy.proxy.RejectReason;
import org.mtlsproxy.proxy.metrics.ProxyMetrics.ListenerMeters;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Slowloris protection. Sits between TLS and the HTTP codec and sees decrypted bytes: when the first byte of a
 * request head arrives it starts a timer; {@link ProxyHandler} calls {@link #headReceived()} once the head is
 * complete. If the timer fires first, the client gets 408 and is disconnected. Silence between requests is the
 * idle timeout's business, not this one's.
 */
public final class HeadTimeoutHandler extends ChannelInboundHandlerAdapter {

    private static final byte[] RESPONSE = ("HTTP/1.1 408 Request Timeout\r\nContent-Type: text/plain\r\n"
            + "Content-Length: 20\r\nConnection: close\r\n\r\n408 Request Timeout\n").getBytes(
            java.nio.charset.StandardCharsets.US_ASCII);

    private static final Logger ACCESS = LoggerFactory.getLogger("mtls_proxy.access");

    private final long timeoutNanos;
    private final ListenerMeters meters;
    private final Runnable check = this::check;
    private ChannelHandlerContext ctx;
    private boolean awaitingHead = true;
    /** {@link System#nanoTime()} by which the current head must be complete; 0 while no head is being read. */
    private long deadline;
    /**
     * The connection's one check task. It stays scheduled across requests and re-arms itself for the time left
     * when it fires before the deadline, so a keep-alive request costs two field writes, not a task scheduled
     * and cancelled.
     */
    private ScheduledFuture<?> timer;

    public HeadTimeoutHandler(long timeoutMillis, ListenerMeters meters) {
        this.timeoutNanos = TimeUnit.MILLISECONDS.toNanos(timeoutMillis);
        this.meters = meters;
    }

    @Override
    public void handlerAdded(ChannelHandlerContext ctx) {
        this.ctx = ctx;
    }

    @Override
    public void channelRead(ChannelHandlerContext ctx, Object msg) {
        if (awaitingHead && deadline == 0 && msg instanceof ByteBuf buf && buf.isReadable()) {
            deadline = System.nanoTime() + timeoutNanos;
            if (timer == null) {
                timer = ctx.executor().schedule(check, timeoutNanos, TimeUnit.NANOSECONDS);
            }
        }
        ctx.fireChannelRead(msg);
    }

    /** The request head is complete: stop the clock until the next request begins. */
    void headReceived() {
        awaitingHead = false;
        deadline = 0;
    }

    /** The exchange ended and the connection stays open: the next request's head will be timed. */
    void awaitNextHead() {
        awaitingHead = true;
        deadline = 0;
    }

    private void check() {
        timer = null;
        if (deadline == 0 || !awaitingHead || !ctx.channel().isActive()) {
            return;
        }
        long left = deadline - System.nanoTime();
        if (left > 0) {
            timer = ctx.executor().schedule(check, left, TimeUnit.NANOSECONDS);
            return;
        }
        deadline = 0;
        meters.rejected(RejectReason.REQUEST_TIMEOUT);
        ACCESS.atInfo()
                .addKeyValue("listener", meters.listener())
                .addKeyValue("remote", ConnectionAttributes.remoteIp(ctx.channel()))
                .addKeyValue("decision", RejectReason.REQUEST_TIMEOUT.label())
                .addKeyValue("detail", "request head not complete within " + (timeoutNanos / 1_000_000) + " ms")
                .addKeyValue("status", 408)
                .log("request rejected");
        ctx.writeAndFlush(ctx.alloc().buffer(RESPONSE.length).writeBytes(RESPONSE))
                .addListener(ChannelFutureListener.CLOSE);
    }

    private void cancel() {
        deadline = 0;
        if (timer != null) {
            timer.cancel(false);
            timer = null;
        }
    }

    @Override
    public void handlerRemoved(ChannelHandlerContext ctx) {
        cancel();
    }

    @Override
    public void channelInactive(ChannelHandlerContext ctx) {
        cancel();
        ctx.fireChannelInactive();
    }
}
