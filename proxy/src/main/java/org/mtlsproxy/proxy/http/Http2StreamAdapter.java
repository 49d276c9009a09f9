package org.mtlsproxy.proxy.http;

import io.netty.buffer.ByteBuf;
import io.netty.buffer.Unpooled;
import io.netty.channel.ChannelDuplexHandler;
import io.netty.channel.ChannelHandlerContext;
import io.netty.channel.ChannelPromise;
import io.netty.handler.codec.http.DefaultFullHttpResponse;
import io.netty.handler.codec.http.DefaultHttpRequest;
import io.netty.handler.codec.http.DefaultLastHttpContent;
import io.netty.handler.codec.http.FullHttpRequest;
import io.netty.handler.codec.http.FullHttpResponse;
import io.netty.handler.codec.http.HttpContent;
import io.netty.handler.codec.http.HttpHeaders;
import io.netty.handler.codec.http.HttpRequest;
import io.netty.handler.codec.http.HttpResponse;
import io.netty.handler.codec.http.HttpStatusClass;
import io.netty.handler.codec.http.LastHttpContent;
import io.netty.handler.codec.http2.HttpConversionUtil.ExtensionHeaderNames;
import io.netty.util.ReferenceCountUtil;

/**
 * Sits between {@code Http2StreamFrameToHttpObjectCodec} and {@link ProxyHandler} on an HTTP/2 stream, so the
 * HTTP/1.1 exchange logic runs unchanged per stream:
 * <ul>
 *   <li>a request that arrives whole (HEADERS with END_STREAM) is split into its head and a last chunk, the shape the
 *       HTTP/1.1 codec produces;</li>
 *   <li>the codec's {@code x-http2-*} extension headers are removed: they describe this hop, not the request;</li>
 *   <li>an interim response (100 Continue, 103) goes out as one HEADERS frame: its head is made a full message and
 *       the empty last chunk that ends it on the backend's HTTP/1.1 side is dropped (it would end the stream);</li>
 *   <li>the empty buffer {@link ProxyHandler} flushes before closing its channel is dropped: on a stream, closing
 *       resets the stream (if still open), never the TCP connection.</li>
 * </ul>
 * Connection-specific response fields ({@code Connection}, {@code Keep-Alive}, {@code Transfer-Encoding}, ...) are
 * removed by the codec's HTTP/1.1 → HTTP/2 header conversion.
 */
public final class Http2StreamAdapter extends ChannelDuplexHandler {

    private static final ExtensionHeaderNames[] EXTENSIONS = ExtensionHeaderNames.values();

    private boolean inInterimResponse;

    @Override
    public void channelRead(ChannelHandlerContext ctx, Object msg) {
        if (msg instanceof HttpRequest req) {
            HttpHeaders headers = req.headers();
            for (ExtensionHeaderNames name : EXTENSIONS) {
                headers.remove(name.text());
            }
            if (msg instanceof FullHttpRequest full) {
                HttpRequest head = new DefaultHttpRequest(full.protocolVersion(), full.method(), full.uri(), headers);
                LastHttpContent last = new DefaultLastHttpContent(full.content(), full.trailingHeaders());
                ctx.fireChannelRead(head);
                ctx.fireChannelRead(last);
                return;
            }
        }
        ctx.fireChannelRead(msg);
    }

    @Override
    public void write(ChannelHandlerContext ctx, Object msg, ChannelPromise promise) {
        if (msg instanceof ByteBuf) {
            ReferenceCountUtil.release(msg);
            promise.trySuccess();
            return;
        }
        if (msg instanceof HttpResponse resp && !(msg instanceof FullHttpResponse)
                && resp.status().codeClass() == HttpStatusClass.INFORMATIONAL && resp.status().code() != 101) {
            inInterimResponse = true;
            FullHttpResponse full = new DefaultFullHttpResponse(resp.protocolVersion(), resp.status(),
                    Unpooled.EMPTY_BUFFER, resp.headers(), io.netty.handler.codec.http.EmptyHttpHeaders.INSTANCE);
            ctx.write(full, promise);
            return;
        }
        if (inInterimResponse && msg instanceof HttpContent content) {
            if (content instanceof LastHttpContent) {
                inInterimResponse = false;
            }
            ReferenceCountUtil.release(content);
            promise.trySuccess();
            return;
        }
        ctx.write(msg, promise);
    }
}
