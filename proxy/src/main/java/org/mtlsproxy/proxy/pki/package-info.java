/**
 * A small file-based PKI behind {@code mtls-proxy pki}: a root CA, an intermediate CA that issues server and client
 * certificates, revocation and the intermediate's CRL, all built with BouncyCastle (never a shelled-out openssl).
 * The {@code demo} command uses the same code.
 *
 * <p>Start reading at {@link org.mtlsproxy.proxy.pki.CertificateAuthority} (what lives in the directory and what each
 * operation writes); {@link org.mtlsproxy.proxy.pki.PkiCommand} is only the command line around it.
 */
package org.mtlsproxy.proxy.pki;
