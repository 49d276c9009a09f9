package org.mtlsproxy.it;

import java.security.InvalidKeyException;
import java.security.PrivateKey;
import java.security.Provider;
import java.security.PublicKey;
import java.security.SecureRandom;
import java.security.Security;
import java.security.SignatureException;
import java.security.SignatureSpi;

/**
 * A JCA provider, installed first while open, whose {@code SHA256withECDSAinP1363Format} (what the proxy's ES256
 * identity signer uses) accepts any private key and fails every signature: the signer loads, and then cannot sign.
 * Only engines created while it is installed use it (a new proxy's event-loop threads create theirs on first use).
 */
final class FailingSignatureProvider extends Provider implements AutoCloseable {

    static final String NAME = "mtls-proxy-test-failing-signature";

    FailingSignatureProvider() {
        super(NAME, "1.0", "SHA256withECDSAinP1363Format that fails to sign");
        putService(new Service(this, "Signature", "SHA256withECDSAinP1363Format", Engine.class.getName(), null,
                null));
        Security.insertProviderAt(this, 1);
    }

    @Override
    public void close() {
        Security.removeProvider(NAME);
    }

    /** The signature engine: initialises, takes input, never signs. */
    public static final class Engine extends SignatureSpi {
        public Engine() {
        }

        @Override
        protected void engineInitVerify(PublicKey publicKey) throws InvalidKeyException {
            throw new InvalidKeyException("this engine only fails to sign");
        }

        @Override
        protected void engineInitSign(PrivateKey privateKey) {
        }

        @Override
        protected void engineInitSign(PrivateKey privateKey, SecureRandom random) {
        }

        @Override
        protected void engineUpdate(byte b) {
        }

        @Override
        protected void engineUpdate(byte[] b, int off, int len) {
        }

        @Override
        protected byte[] engineSign() throws SignatureException {
            throw new SignatureException("simulated signing failure");
        }

        @Override
        protected boolean engineVerify(byte[] sigBytes) {
            return false;
        }

        @Override
        @Deprecated
        protected void engineSetParameter(String param, Object value) {
        }

        @Override
        @Deprecated
        protected Object engineGetParameter(String param) {
            return null;
        }
    }
}
