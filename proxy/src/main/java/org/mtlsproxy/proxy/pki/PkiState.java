package org.mtlsproxy.proxy.pki;

import static java.util.Objects.requireNonNull;

import com.typesafe.config.Config;
import com.typesafe.config.ConfigException;
import com.typesafe.config.ConfigFactory;
import com.typesafe.config.ConfigParseOptions;
import com.typesafe.config.ConfigRenderOptions;
import com.typesafe.config.ConfigSyntax;
import com.typesafe.config.ConfigValueFactory;
import java.io.IOException;
import java.math.BigInteger;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Instant;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;

/**
 * The PKI's bookkeeping, {@code pki.json}: the CA's key type, the last CRL number and one entry per issued leaf
 * (serial, kind, name, subject, validity, revocation). JSON so a person or a script can read it; parsed and
 * rendered with Typesafe Config, which the proxy already uses, rather than another JSON library.
 *
 * @param keyType      the default key type of leaves
 * @param crlNumber    the number of the last CRL written (RFC 5280 section 5.2.3: monotonically increasing)
 * @param certificates every leaf issued, in issue order
 */
record PkiState(KeyType keyType, BigInteger crlNumber, List<CertificateEntry> certificates) {

    static final int FORMAT = 1;

    PkiState {
        requireNonNull(keyType, "keyType");
        requireNonNull(crlNumber, "crlNumber");
        certificates = List.copyOf(certificates);
    }

    Optional<CertificateEntry> find(BigInteger serial) {
        return certificates.stream().filter(e -> e.serial().equals(serial)).findFirst();
    }

    PkiState with(CertificateEntry added) {
        List<CertificateEntry> all = new ArrayList<>(certificates);
        all.add(added);
        return new PkiState(keyType, crlNumber, all);
    }

    PkiState replace(CertificateEntry changed) {
        List<CertificateEntry> all = new ArrayList<>(certificates);
        all.replaceAll(e -> e.serial().equals(changed.serial()) ? changed : e);
        return new PkiState(keyType, crlNumber, all);
    }

    PkiState withCrlNumber(BigInteger number) {
        return new PkiState(keyType, number, certificates);
    }

    /**
     * Reads the state file.
     *
     * @throws PkiException when it is not a state file this version understands, naming the file and the problem
     */
    static PkiState read(Path file) throws PkiException, IOException {
        if (!Files.isRegularFile(file)) {
            throw new IOException(file + ": missing");
        }
        try {
            Config c = ConfigFactory.parseFile(file.toFile(),
                    ConfigParseOptions.defaults().setSyntax(ConfigSyntax.JSON).setAllowMissing(false));
            int format = c.getInt("format");
            if (format != FORMAT) {
                throw new PkiException(file + ": format " + format + " (expected: " + FORMAT + ")");
            }
            List<CertificateEntry> entries = new ArrayList<>();
            for (Config e : c.getConfigList("certificates")) {
                entries.add(new CertificateEntry(
                        new BigInteger(e.getString("serial"), 16),
                        LeafRequest.Kind.parse(e.getString("kind")),
                        e.getString("name"),
                        e.getString("subject"),
                        Instant.parse(e.getString("not-before")),
                        Instant.parse(e.getString("not-after")),
                        e.hasPath("revoked-at") ? Optional.of(Instant.parse(e.getString("revoked-at")))
                                : Optional.empty(),
                        e.hasPath("revocation-reason")
                                ? Optional.of(RevocationReason.parse(e.getString("revocation-reason")))
                                : Optional.empty()));
            }
            return new PkiState(KeyType.parse(c.getString("key-type")), new BigInteger(c.getString("crl-number")),
                    entries);
        } catch (ConfigException | IllegalArgumentException | java.time.DateTimeException e) {
            throw new PkiException(file + ": not a readable PKI state file: " + e.getMessage());
        }
    }

    /** Writes the state file atomically (a temp file renamed over it), so a reader never sees half of it. */
    void write(Path file) throws IOException {
        Map<String, Object> root = new LinkedHashMap<>();
        root.put("format", FORMAT);
        root.put("key-type", keyType.label());
        root.put("crl-number", crlNumber.toString());
        List<Map<String, Object>> list = new ArrayList<>();
        for (CertificateEntry e : certificates) {
            Map<String, Object> m = new LinkedHashMap<>();
            m.put("serial", e.serialHex());
            m.put("kind", e.kind().label());
            m.put("name", e.name());
            m.put("subject", e.subject());
            m.put("not-before", e.notBefore().toString());
            m.put("not-after", e.notAfter().toString());
            e.revokedAt().ifPresent(t -> m.put("revoked-at", t.toString()));
            e.reason().ifPresent(r -> m.put("revocation-reason", r.label()));
            list.add(m);
        }
        root.put("certificates", list);
        String json = ConfigValueFactory.fromMap(root)
                .render(ConfigRenderOptions.concise().setJson(true).setFormatted(true));
        PkiFiles.writeAtomically(file, json + "\n");
    }
}
