package org.mtlsproxy.proxy.transport;

import io.netty.channel.EventLoopGroup;
import io.netty.channel.IoHandlerFactory;
import io.netty.channel.MultiThreadIoEventLoopGroup;
import io.netty.channel.ServerChannel;
import io.netty.channel.epoll.Epoll;
import io.netty.channel.epoll.EpollIoHandler;
import io.netty.channel.epoll.EpollServerSocketChannel;
import io.netty.channel.epoll.EpollSocketChannel;
import io.netty.channel.nio.NioIoHandler;
import io.netty.channel.socket.SocketChannel;
import io.netty.channel.socket.nio.NioServerSocketChannel;
import io.netty.channel.socket.nio.NioSocketChannel;
import io.netty.util.concurrent.DefaultThreadFactory;

/**
 * The event-loop transport: native epoll when it loads (Linux), NIO otherwise. Server and backend channels of one
 * process always use the same transport so a backend connection can live on its client's event loop.
 */
public enum Transport {
    EPOLL(EpollServerSocketChannel.class, EpollSocketChannel.class),
    NIO(NioServerSocketChannel.class, NioSocketChannel.class);

    private final Class<? extends ServerChannel> serverChannel;
    private final Class<? extends SocketChannel> socketChannel;

    Transport(Class<? extends ServerChannel> serverChannel, Class<? extends SocketChannel> socketChannel) {
        this.serverChannel = serverChannel;
        this.socketChannel = socketChannel;
    }

    /** Epoll when available, unless {@code -Dmtls-proxy.transport=nio}. */
    public static Transport best() {
        if ("nio".equalsIgnoreCase(System.getProperty("mtls-proxy.transport"))) {
            return NIO;
        }
        return Epoll.isAvailable() ? EPOLL : NIO;
    }

    public EventLoopGroup newGroup(int threads, String name) {
        // Created here, not in the constant: the epoll factory fails where the native library does not load.
        IoHandlerFactory factory = this == EPOLL ? EpollIoHandler.newFactory() : NioIoHandler.newFactory();
        return new MultiThreadIoEventLoopGroup(threads, new DefaultThreadFactory(name, true), factory);
    }

    public Class<? extends ServerChannel> serverChannel() {
        return serverChannel;
    }

    public Class<? extends SocketChannel> socketChannel() {
        return socketChannel;
    }
}
