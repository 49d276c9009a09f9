package org.mtlsproxy.proxy.pki;

/**
 * A request the PKI refuses: a missing or uninitialized directory, a file it will not overwrite, an invalid name or
 * SAN, an unknown serial. The message says what was wrong and what was expected; the command line exits 2.
 */
public final class PkiException extends Exception {

    private static final long serialVersionUID = 1L;

    public PkiException(String message) {
        super(message);
    }
}
