package org.mtlsproxy.proxy.pki;

import java.security.GeneralSecurityException;
import java.security.KeyPair;
import java.security.KeyPairGenerator;
import java.security.PrivateKey;
import java.security.SecureRandom;
import java.security.spec.ECGenParameterSpec;
import java.util.Locale;

/** The key algorithms the PKI generates: ECDSA P-256 (the default: small and fast handshakes) or RSA-2048. */
public enum KeyType {
    EC("ec"),
    RSA("rsa");

    private final String label;

    KeyType(String label) {
        this.label = label;
    }

    /** The name used on the command line and in the state file. */
    public String label() {
        return label;
    }

    /**
     * Parses {@code ec} or {@code rsa}, case-insensitively.
     *
     * @throws PkiException for anything else
     */
    public static KeyType parse(String label) throws PkiException {
        for (KeyType t : values()) {
            if (t.label.equals(label.toLowerCase(Locale.ROOT))) {
                return t;
            }
        }
        throw new PkiException("key type \"" + label + "\" (expected: ec or rsa)");
    }

    KeyPair generate(SecureRandom random) throws GeneralSecurityException {
        if (this == EC) {
            KeyPairGenerator g = KeyPairGenerator.getInstance("EC");
            g.initialize(new ECGenParameterSpec("secp256r1"), random);
            return g.generateKeyPair();
        }
        KeyPairGenerator g = KeyPairGenerator.getInstance("RSA");
        g.initialize(2048, random);
        return g.generateKeyPair();
    }

    /** The signature algorithm a CA key of this type signs with. */
    static String signatureAlgorithm(PrivateKey key) throws PkiException {
        return switch (key.getAlgorithm()) {
            case "EC", "ECDSA" -> "SHA256withECDSA";
            case "RSA" -> "SHA256withRSA";
            default -> throw new PkiException("CA key algorithm " + key.getAlgorithm() + " (expected: EC or RSA)");
        };
    }
}
