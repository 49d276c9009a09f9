package org.mtlsproxy.proxy.http;

import io.netty.buffer.ByteBuf;
import io.netty.channel.ChannelFutureListener;
import io.netty.channel.ChannelHandlerContext;
import io.netty.channel.ChannelPromise;
import io.netty.channel.CombinedChannelDuplexHandler;
import io.netty.handler.codec.http.FullHttpResponse;
import io.netty.handler.codec.http.HttpDecoderConfig;
import io.netty.handler.codec.http.HttpHeaderNames;
import io.netty.handler.codec.http.HttpHeaders;
import io.netty.handler.codec.http.HttpMessage;
import io.netty.handler.codec.http.HttpMethod;
import io.netty.handler.codec.http.HttpRequest;
import io.netty.handler.codec.http.HttpRequestDecoder;
import io.netty.handler.codec.http.HttpResponse;
import io.netty.handler.codec.http.HttpResponseEncoder;
import io.netty.handler.codec.http.HttpStatusClass;
import io.netty.handler.codec.http.HttpUtil;
import io.netty.handler.codec.http.LastHttpContent;
import io.netty.util.ReferenceCountUtil;
import java.util.List;
import org.mtlsproxy.proxy.upstream.ReceivedHeaders;

/**
 * The HTTP/1.1 codec of a client connection. It behaves as Netty's {@code HttpServerCodec} — the same request
 * decoder; responses to HEAD, 1xx, 204, 205 and 304 sent without a body, and a 2xx to CONNECT without
 * {@code Transfer-Encoding}, by remembering each request's method; at most {@value #MAX_PIPELINE_DEPTH} requests
 * awaiting their responses — and differs in how a response leaves:
 * <ul>
 *   <li>a response with its whole body in one message ({@link FullHttpResponse}: a backend's small body that came
 *       with its head, or one of the proxy's own answers) is written as one buffer sized for head and body, so it
 *       leaves as one write and one TLS record. Netty's encoder puts a body of over 128 bytes in a buffer of its
 *       own, which {@code SslHandler} then copies into a grown head buffer to wrap them together;</li>
 *   <li>a backend's header fields as they arrived ({@link ReceivedHeaders}) are written as runs of those bytes
 *       instead of field by field through an entry and two views each.</li>
 * </ul>
 */
public final class ClientHttpCodec extends CombinedChannelDuplexHandler<HttpRequestDecoder, HttpResponseEncoder> {

    /** Requests decoded and not yet answered, as Netty's {@code HttpServerCodec} allows. */
    static final int MAX_PIPELINE_DEPTH = 128;
    /** The largest body written in one buffer with its head; a larger one goes as its own buffer. */
    static final int WHOLE_BODY_LIMIT = 16384;

    private static final byte HEAD = 1;
    private static final byte CONNECT = 2;
    private static final byte OTHER = 3;
    private static final int CRLF = ('\r' << 8) | '\n';

    /**
     * The methods of the requests awaiting a final response, oldest first: a ring, grown (up to
     * {@value #MAX_PIPELINE_DEPTH}) only for a client that pipelines; one waiting request is the usual case.
     */
    private byte[] methods = new byte[2];
    private int first;
    private int waiting;
    private boolean mustCloseAfterResponse;

    public ClientHttpCodec(HttpDecoderConfig config) {
        init(new RequestDecoder(config), new ResponseEncoder());
    }

    private boolean enqueue(HttpMethod method) {
        if (waiting == MAX_PIPELINE_DEPTH) {
            return false;
        }
        // The decoder hands on HttpMethod.GET itself for a GET (HttpMethod.valueOf): one comparison for most requests.
        byte flag = method == HttpMethod.GET ? OTHER
                : HttpMethod.HEAD.equals(method) ? HEAD : HttpMethod.CONNECT.equals(method) ? CONNECT : OTHER;
        if (waiting == methods.length) {
            byte[] grown = new byte[methods.length * 2];
            for (int i = 0; i < waiting; i++) {
                grown[i] = methods[(first + i) % methods.length];
            }
            methods = grown;
            first = 0;
        }
        methods[(first + waiting) % methods.length] = flag;
        waiting++;
        return true;
    }

    private byte peek() {
        return waiting == 0 ? OTHER : methods[first];
    }

    private byte poll() {
        if (waiting == 0) {
            return OTHER;
        }
        byte flag = methods[first];
        first = (first + 1) % methods.length;
        waiting--;
        return flag;
    }

    private final class RequestDecoder extends HttpRequestDecoder {
        private boolean discard;

        RequestDecoder(HttpDecoderConfig config) {
            super(config);
        }

        @Override
        protected void decode(ChannelHandlerContext ctx, ByteBuf buffer, List<Object> out) throws Exception {
            if (discard) {
                buffer.skipBytes(buffer.readableBytes());
                return;
            }
            int before = out.size();
            super.decode(ctx, buffer, out);
            for (int i = before; i < out.size(); i++) {
                if (out.get(i) instanceof HttpRequest request && !enqueue(request.method())) {
                    // As HttpServerCodec: drop the rest, answer what is already in flight, then close.
                    mustCloseAfterResponse = true;
                    discard = true;
                    for (int j = i; j < out.size(); j++) {
                        ReferenceCountUtil.release(out.get(j));
                    }
                    out.subList(i, out.size()).clear();
                    throw new IllegalStateException("maxPipelineDepth exceeded: " + MAX_PIPELINE_DEPTH);
                }
            }
        }

        @Override
        protected void handleTransferEncodingChunkedWithContentLength(HttpMessage message) {
            super.handleTransferEncodingChunkedWithContentLength(message);
            mustCloseAfterResponse = true;
        }
    }

    private final class ResponseEncoder extends HttpResponseEncoder {
        private byte methodFlag;
        /** A head went out whose last content has not: a whole response cannot be written now. */
        private boolean midMessage;

        @Override
        public void write(ChannelHandlerContext ctx, Object msg, ChannelPromise promise) throws Exception {
            if (mustCloseAfterResponse && msg instanceof LastHttpContent) {
                mustCloseAfterResponse = false;
                promise = promise.unvoid().addListener(ChannelFutureListener.CLOSE);
            }
            super.write(ctx, msg, promise);
        }

        @Override
        protected void encode(ChannelHandlerContext ctx, Object msg, List<Object> out) throws Exception {
            if (msg instanceof FullHttpResponse whole && !midMessage && oneBuffer(whole)) {
                encodeWhole(ctx, whole, out);
                return;
            }
            if (msg instanceof HttpMessage) {
                midMessage = !(msg instanceof LastHttpContent);
            } else if (msg instanceof LastHttpContent) {
                midMessage = false;
            }
            super.encode(ctx, msg, out);
        }

        /** A final response with a body, framed by its length, that fits the limit: nothing to strip. */
        private boolean oneBuffer(FullHttpResponse whole) {
            return whole.status().codeClass() != HttpStatusClass.INFORMATIONAL
                    && peek() == OTHER
                    && !super.isContentAlwaysEmpty(whole)
                    && whole.content().readableBytes() <= WHOLE_BODY_LIMIT
                    && !HttpUtil.isTransferEncodingChunked(whole);
        }

        private void encodeWhole(ChannelHandlerContext ctx, FullHttpResponse whole, List<Object> out)
                throws Exception {
            try {
                methodFlag = poll();
                ByteBuf content = whole.content();
                HttpHeaders headers = whole.headers();
                int fields = headers instanceof ReceivedHeaders received ? received.encodedLength() : -1;
                int size = 16 + whole.status().reasonPhrase().length() + (fields >= 0 ? fields : 256) + 2
                        + content.readableBytes();
                ByteBuf buf = ctx.alloc().buffer(size);
                try {
                    encodeInitialLine(buf, whole);
                    encodeHeaders(headers, buf);
                    buf.writeShort(CRLF);
                    buf.writeBytes(content, content.readerIndex(), content.readableBytes());
                } catch (Throwable t) {
                    buf.release();
                    throw t;
                }
                out.add(buf);
            } finally {
                whole.release();
            }
        }

        @Override
        protected void encodeHeaders(HttpHeaders headers, ByteBuf buf) {
            if (!(headers instanceof ReceivedHeaders received) || !received.encodeTo(buf)) {
                super.encodeHeaders(headers, buf);
            }
        }

        @Override
        protected void sanitizeHeadersBeforeEncode(HttpResponse msg, boolean isAlwaysEmpty) {
            if (!isAlwaysEmpty && methodFlag == CONNECT && msg.status().codeClass() == HttpStatusClass.SUCCESS) {
                // RFC 9112 §6.1: a 2xx to CONNECT has no Transfer-Encoding.
                msg.headers().remove(HttpHeaderNames.TRANSFER_ENCODING);
                return;
            }
            super.sanitizeHeadersBeforeEncode(msg, isAlwaysEmpty);
        }

        @Override
        protected boolean isContentAlwaysEmpty(HttpResponse msg) {
            if (msg.status().codeClass() == HttpStatusClass.INFORMATIONAL) {
                // Not the final response: its request still waits for one.
                return super.isContentAlwaysEmpty(msg);
            }
            methodFlag = poll();
            return methodFlag == HEAD || super.isContentAlwaysEmpty(msg);
        }
    }
}
