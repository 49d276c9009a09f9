package org.mtlsproxy.proxy.tls;

/** Certificates, keys or CRLs could not be read or turned into a TLS context. The message names the file. */
public final class TlsMaterialException extends Exception {

    public TlsMaterialException(String message, Throwable cause) {
        super(message, cause);
    }
}
