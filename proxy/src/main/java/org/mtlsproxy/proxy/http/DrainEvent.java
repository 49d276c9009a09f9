package org.mtlsproxy.proxy.http;

/**
 * Fired down every client pipeline when the proxy starts draining: an idle connection closes now, a busy one
 * after its current exchange (its response says {@code Connection: close}).
 */
public final class DrainEvent {

    public static final DrainEvent INSTANCE = new DrainEvent();

    private DrainEvent() {
    }
}
