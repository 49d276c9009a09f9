package org.mtlsproxy.proxy;

/**
 * The one vocabulary for why a connection or request was refused, shared by logs, metrics and (later) the
 * {@code check} tool. The {@link #label()} is a published metric tag value: add reasons, never rename one.
 */
public enum RejectReason {
    /** The client sent no certificate. */
    NO_CLIENT_CERT("no_client_cert", true),
    /** The client certificate does not chain to any configured client-trust bundle. */
    UNTRUSTED_CA("untrusted_ca", true),
    /** A certificate in the client chain is past its notAfter. */
    EXPIRED("expired", true),
    /** A certificate in the client chain is before its notBefore. */
    NOT_YET_VALID("not_yet_valid", true),
    /** A certificate in the client chain is listed in a configured CRL. */
    REVOKED("revoked", true),
    /** The client leaf lacks the clientAuth extended key usage or the digitalSignature key usage. */
    BAD_KEY_USAGE("bad_key_usage", true),
    /** The client chain needs more CA certificates than verify-depth allows. */
    CHAIN_TOO_LONG("chain_too_long", true),
    /**
     * The client chain anchored in a trust bundle, but the bundle's trust domain rules refused the leaf's SPIFFE ID:
     * it is not in the bundle's trust domain, or it names a domain another bundle is the authority for.
     */
    WRONG_TRUST_DOMAIN("wrong_trust_domain", true),
    /** The CRL covering a certificate of the client chain is past its nextUpdate (and past any grace period). */
    CRL_EXPIRED("crl_expired", true),
    /** The TLS handshake failed for another reason: protocol version, cipher, malformed message. */
    HANDSHAKE_ERROR("handshake_error", true),
    /** The client did not finish the TLS handshake within handshake-timeout. */
    HANDSHAKE_TIMEOUT("handshake_timeout", true),
    /** The client closed the connection before the handshake finished. */
    HANDSHAKE_ABORTED("handshake_aborted", true),
    /**
     * The handshake agreed on no application protocol the HTTP listener enables: a client without ALPN, or offering
     * only {@code http/1.1}, on an {@code h2}-only listener (RFC 7301 §3.2). Closed right after the handshake.
     */
    NO_APPLICATION_PROTOCOL("no_application_protocol", true),
    /** The request was malformed or ambiguous (400, 414, 431). */
    BAD_REQUEST("bad_request", false),
    /** No route matches the request's host and path (404). */
    NO_ROUTE("no_route", false),
    /** A route matched but no allow rule matched the identity (403). */
    DENIED("denied", false),
    /** The backend refused or did not accept the TCP connection (502). */
    BACKEND_CONNECT_FAILED("backend_connect_failed", false),
    /** The backend's certificate failed verification or the TLS handshake to it failed (502). */
    BACKEND_TLS_FAILED("backend_tls_failed", false),
    /**
     * Connecting to the backend or waiting for its response took too long (504), or the backend stalled for
     * http.idle-timeout mid-exchange: not reading the request body (504) or not sending the rest of its response
     * (connection closed).
     */
    BACKEND_TIMEOUT("backend_timeout", false),
    /**
     * Every endpoint of the backend is at its max-connections-per-endpoint and the request could not wait for a
     * connection: the backend's queue (max-pending-requests) was full, or no connection came free within its
     * connect-timeout (503).
     */
    BACKEND_SATURATED("backend_saturated", false),
    /** The backend closed the connection or sent a malformed response before completing it (502). */
    BACKEND_PROTOCOL_ERROR("backend_protocol_error", false),
    /**
     * The backend closed or reset the connection, or sent a malformed chunk, after the response had started: the
     * client got the status and part of the body, and its connection is closed (HTTP/2: the stream is reset).
     */
    BACKEND_RESPONSE_INCOMPLETE("backend_response_incomplete", false),
    /** A configured limit was exceeded (connections per listener, header count). */
    LIMIT_EXCEEDED("limit_exceeded", false),
    /** The request body is larger than the route's max-request-body-size (413). */
    BODY_TOO_LARGE("body_too_large", false),
    /** The identity exceeded the route's request rate (429). */
    RATE_LIMITED("rate_limited", false),
    /** The request head did not arrive within header-read-timeout (408). */
    REQUEST_TIMEOUT("request_timeout", false),
    /**
     * The client stalled for http.idle-timeout mid-exchange: it stopped sending its request body (408) or reading
     * the response (connection closed).
     */
    IDLE_TIMEOUT("idle_timeout", false),
    /** The request's authority names another host than the TLS SNI of its connection (421). */
    MISDIRECTED("misdirected", false),
    /**
     * identity-header.signed is on and the signature could not be made: the request is refused (500), never
     * forwarded without the header its backend relies on.
     */
    SIGNING_FAILED("signing_failed", false);

    private final String label;
    private final boolean handshake;

    RejectReason(String label, boolean handshake) {
        this.label = label;
        this.handshake = handshake;
    }

    /** True for reasons that refuse a client at the TLS handshake, false for reasons that refuse a request. */
    public boolean handshake() {
        return handshake;
    }

    /** The stable lower-case name used in logs and as the {@code reason} metric tag. */
    public String label() {
        return label;
    }
}
