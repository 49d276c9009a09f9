package org.mtlsproxy.proxy.transport;

import static org.assertj.core.api.Assertions.assertThat;

import io.netty.buffer.ByteBuf;
import io.netty.buffer.Unpooled;
import io.netty.channel.ChannelHandlerContext;
import io.netty.channel.ChannelInboundHandlerAdapter;
import io.netty.channel.embedded.EmbeddedChannel;
import io.netty.handler.timeout.IdleStateEvent;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.function.Consumer;
import org.junit.jupiter.api.Test;

/**
 * The idle timer counts read batches and flushes as activity, and lets messages and writes pass untouched. Real
 * time with wide margins: activity every 150 ms against a 1 s timeout, then twice the timeout of silence.
 */
class IdleTimeoutHandlerTest {

    private static final Duration TIMEOUT = Duration.ofSeconds(1);

    @Test
    void readBatchesKeepTheChannelFromGoingIdle() throws Exception {
        Recorder events = new Recorder();
        EmbeddedChannel ch = new EmbeddedChannel(new IdleTimeoutHandler(TIMEOUT), events);
        activeFor(ch, Duration.ofMillis(2500), c -> {
            c.pipeline().fireChannelRead(Unpooled.wrappedBuffer(new byte[] {1}));
            c.pipeline().fireChannelReadComplete();
        });
        assertThat(events.idle).isZero();
        assertThat(events.reads).isGreaterThan(10);

        silentFor(ch, TIMEOUT.multipliedBy(2));
        assertThat(events.idle).isGreaterThanOrEqualTo(1);
        ch.finishAndReleaseAll();
    }

    @Test
    void flushesKeepTheChannelFromGoingIdleAndWritesPassThrough() throws Exception {
        Recorder events = new Recorder();
        EmbeddedChannel ch = new EmbeddedChannel(new IdleTimeoutHandler(TIMEOUT), events);
        activeFor(ch, Duration.ofMillis(2500), c -> c.writeAndFlush(Unpooled.wrappedBuffer(new byte[] {2})));
        assertThat(events.idle).isZero();
        ByteBuf written = ch.readOutbound();
        assertThat(written.readByte()).isEqualTo((byte) 2);
        written.release();

        silentFor(ch, TIMEOUT.multipliedBy(2));
        assertThat(events.idle).isGreaterThanOrEqualTo(1);
        ch.finishAndReleaseAll();
    }

    @Test
    void firesAgainAfterEachFurtherTimeoutOfSilence() throws Exception {
        Recorder events = new Recorder();
        EmbeddedChannel ch = new EmbeddedChannel(new IdleTimeoutHandler(Duration.ofMillis(300)), events);
        silentFor(ch, Duration.ofMillis(1300));
        assertThat(events.idle).isBetween(2, 4);
        ch.finishAndReleaseAll();
    }

    private static void activeFor(EmbeddedChannel ch, Duration d, Consumer<EmbeddedChannel> activity)
            throws InterruptedException {
        long end = System.nanoTime() + d.toNanos();
        while (System.nanoTime() < end) {
            activity.accept(ch);
            Thread.sleep(150);
            ch.runScheduledPendingTasks();
        }
    }

    private static void silentFor(EmbeddedChannel ch, Duration d) throws InterruptedException {
        long end = System.nanoTime() + d.toNanos();
        while (System.nanoTime() < end) {
            Thread.sleep(50);
            ch.runScheduledPendingTasks();
        }
    }

    private static final class Recorder extends ChannelInboundHandlerAdapter {
        int idle;
        int reads;
        final List<Object> seen = new ArrayList<>();

        @Override
        public void channelRead(ChannelHandlerContext ctx, Object msg) {
            reads++;
            ((ByteBuf) msg).release();
        }

        @Override
        public void userEventTriggered(ChannelHandlerContext ctx, Object evt) {
            if (evt == IdleStateEvent.ALL_IDLE_STATE_EVENT) {
                idle++;
            }
            seen.add(evt);
        }
    }
}
