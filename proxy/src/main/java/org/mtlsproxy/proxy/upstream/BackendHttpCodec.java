package org.mtlsproxy.proxy.upstream;

import io.netty.channel.ChannelHandlerContext;
import io.netty.channel.ChannelPromise;
import io.netty.channel.CombinedChannelDuplexHandler;
import io.netty.handler.codec.http.HttpRequest;
import io.netty.handler.codec.http.HttpRequestEncoder;

/**
 * The HTTP/1.1 codec of a backend connection: Netty's request encoder, and a {@link ResponseDecoder} that keeps
 * each response head's fields as the bytes that arrived. The encoder tells the decoder each request's method, as
 * Netty's {@code HttpClientCodec} does, so a response to HEAD is read without a body.
 */
public final class BackendHttpCodec extends CombinedChannelDuplexHandler<ResponseDecoder, HttpRequestEncoder> {

    /**
     * @param maxLine the longest status line accepted
     * @param maxHead the largest response head (or trailer section) accepted
     */
    public BackendHttpCodec(int maxLine, int maxHead) {
        ResponseDecoder decoder = new ResponseDecoder(maxLine, maxHead);
        init(decoder, new HttpRequestEncoder() {
            @Override
            public void write(ChannelHandlerContext ctx, Object msg, ChannelPromise promise) throws Exception {
                if (msg instanceof HttpRequest request) {
                    decoder.requestSent(request.method());
                }
                super.write(ctx, msg, promise);
            }
        });
    }

    /** No response is being decoded and no byte of a next one is held: see {@link ResponseDecoder#betweenResponses}. */
    boolean betweenResponses() {
        return inboundHandler().betweenResponses();
    }
}
