package org.mtlsproxy.proxy.tls;

import static java.util.Objects.requireNonNull;

import io.netty.handler.ssl.SslContext;
import java.io.IOException;
import java.nio.file.Path;
import java.security.SecureRandom;
import java.time.Clock;
import java.time.Duration;
import java.time.Instant;
import java.util.Collections;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.WeakHashMap;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.Executors;
import java.util.concurrent.ScheduledExecutorService;
import java.util.concurrent.TimeUnit;
import org.mtlsproxy.config.SessionTicketKeyFile;
import org.mtlsproxy.config.SessionTicketsConfig;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The TLS session ticket keys of every listener of one process, outliving configuration snapshots: a reload builds
 * new TLS contexts, and they get the keys in force, so a reload does not end resumption.
 *
 * <p>A listener with {@code session-tickets.key-file} gets the file's keys (first encrypts, all decrypt), read when
 * its snapshot is built; a changed file is picked up by the reload it triggers. A listener without one gets keys
 * generated here: a current key and the one before it, a new key taking over every {@code rotation-interval}. The
 * rotation runs on a scheduler thread of its own and sets the keys of every TLS context of the listener still in use
 * (those of older snapshots too, which may still serve connections); BoringSSL swaps them under the context's lock
 * (netty-tcnative {@code SSLContext.setSessionTicketKeys}), so a handshake sees either the old or the new set.
 *
 * <p>Building a snapshot only gives its new contexts their keys ({@link #install}); the listeners' state here (which
 * contexts rotate, at what interval, generated keys or a file's) changes when that snapshot goes into force
 * ({@link Pending#commit}). A reload refused after its build leaves the keys in force as they were.
 */
public final class SessionTicketKeys implements AutoCloseable {

    private static final Logger LOG = LoggerFactory.getLogger(SessionTicketKeys.class);
    /** How often the scheduler looks for a ring due to rotate; rotation intervals are at least a minute. */
    private static final Duration TICK = Duration.ofSeconds(5);

    private final Map<String, Ring> rings = new ConcurrentHashMap<>();
    private final SecureRandom random = new SecureRandom();
    private final Clock clock;
    private final ScheduledExecutorService scheduler;

    private SessionTicketKeys(Clock clock, boolean schedule) {
        this.clock = requireNonNull(clock, "clock");
        if (schedule) {
            scheduler = Executors.newSingleThreadScheduledExecutor(r -> {
                Thread t = new Thread(r, "mtls-proxy-ticket-keys");
                t.setDaemon(true);
                return t;
            });
            scheduler.scheduleWithFixedDelay(this::rotateDue, TICK.toMillis(), TICK.toMillis(), TimeUnit.MILLISECONDS);
        } else {
            scheduler = null;
        }
    }

    /** The keys of a running proxy: generated keys rotate on their own. */
    public static SessionTicketKeys rotating() {
        return new SessionTicketKeys(Clock.systemUTC(), true);
    }

    /** Keys that rotate only when {@link #rotateDue()} is called (a one-shot check like {@code validate}, tests). */
    public static SessionTicketKeys manual(Clock clock) {
        return new SessionTicketKeys(clock, false);
    }

    /**
     * What {@link #install} leaves to do for one listener once its snapshot is in force. A snapshot that never goes
     * into force (its reload was refused) drops it, and nothing shared has changed.
     */
    @FunctionalInterface
    public interface Pending {

        /** Nothing to change (a JDK context). */
        Pending NONE = () -> { };

        /** Makes the new context's keys those of its listener from now on. Call once the snapshot is in force. */
        void commit();
    }

    /**
     * Gives {@code context}, the new TLS context of {@code listener}, its ticket keys: the key file's, or the
     * generated ones in force (new ones for a listener that has none yet). Nothing shared changes until the result
     * is committed: then generated keys rotate into {@code context} (at the new rotation interval), or, with a key
     * file, stop rotating into the listener's contexts and the file's keys are logged as loaded. A context of the JDK
     * provider is left alone (it keeps its own keys); with a key file that is only possible when BoringSSL failed to
     * load, which was already warned about.
     *
     * @throws TlsMaterialException when the key file cannot be read or is malformed (file, line, reason)
     */
    public Pending install(String listener, SessionTicketsConfig config, SslContext context)
            throws TlsMaterialException {
        requireNonNull(listener, "listener");
        requireNonNull(config, "config");
        requireNonNull(context, "context");
        if (!SslContextFactory.supportsTicketKeys(context)) {
            if (config.keyFile().isPresent()) {
                LOG.atWarn().addKeyValue("listener", listener)
                        .log("session-tickets.key-file is not used: the JDK TLS provider keeps its own ticket keys");
            }
            return Pending.NONE;
        }
        if (config.keyFile().isPresent()) {
            Path file = config.keyFile().get();
            List<byte[]> keys;
            try {
                keys = SessionTicketKeyFile.read(file);
            } catch (IOException e) {
                throw new TlsMaterialException("session ticket keys: " + e.getMessage(), e);
            }
            SslContextFactory.setTicketKeys(context, keys);
            return () -> {
                // This listener's keys now come from the file: stop rotating generated keys into its contexts.
                rings.remove(listener);
                // Logged on commit, not on reading: before making a new key the encrypting one, operators wait for
                // this line from every replica, so it must mean the keys are in use.
                LOG.atInfo().addKeyValue("listener", listener).addKeyValue("file", file)
                        .addKeyValue("keys", keys.size())
                        .addKeyValue("encrypting", SessionTicketKeyFile.nameHex(keys.get(0)))
                        .log("session ticket keys loaded");
            };
        }
        Ring running = rings.get(listener);
        // A listener new to generated keys gets its ring on commit; until then no rotation knows of it.
        Ring ring = running != null ? running : new Ring(listener, newKey(), clock.instant());
        SslContextFactory.setTicketKeys(context, ring.keys());
        return () -> rings.computeIfAbsent(listener, l -> ring).attach(context, config.rotationInterval());
    }

    /**
     * On commit, forgets the generated keys of every listener not in {@code listeners} (the configuration that goes
     * into force no longer has it): they stop rotating and are not kept for the life of the process. A listener of
     * that name configured again later starts with new keys, as any new listener does.
     */
    public Pending keepOnly(Set<String> listeners) {
        Set<String> keep = Set.copyOf(listeners);
        return () -> rings.keySet().retainAll(keep);
    }

    /** Rotates every generated key set whose interval has passed. Runs on the scheduler thread. */
    public void rotateDue() {
        Instant now = clock.instant();
        for (Ring ring : rings.values()) {
            try {
                ring.rotateIfDue(now);
            } catch (RuntimeException e) {
                // Keep the scheduler alive: the old keys stay, and the next tick tries again.
                LOG.atWarn().addKeyValue("listener", ring.listener).addKeyValue("error", e.toString())
                        .log("session ticket key rotation failed; keeping the current keys");
            }
        }
    }

    /** The generated keys of {@code listener}, encrypting key first; empty when it has a key file or no ring yet. */
    List<byte[]> generatedKeys(String listener) {
        Ring ring = rings.get(listener);
        return ring == null ? List.of() : ring.keys();
    }

    private byte[] newKey() {
        byte[] key = new byte[SessionTicketKeyFile.KEY_SIZE];
        random.nextBytes(key);
        return key;
    }

    @Override
    public void close() {
        if (scheduler != null) {
            scheduler.shutdownNow();
        }
    }

    /** A listener's generated keys and the contexts that use them. */
    private final class Ring {
        private final String listener;
        /** Weakly held: a context of a snapshot no longer in use goes away with its last connection. */
        private final Set<SslContext> contexts = Collections.newSetFromMap(new WeakHashMap<>());
        private byte[] current;
        private byte[] previous;
        private Instant rotatedAt;
        private Duration interval = SessionTicketsConfig.DEFAULT.rotationInterval();

        Ring(String listener, byte[] first, Instant now) {
            this.listener = listener;
            this.current = first;
            this.rotatedAt = now;
        }

        /** Rotates into {@code context} from now on, giving it the keys in force (a rotation may have passed it). */
        synchronized void attach(SslContext context, Duration rotationInterval) {
            interval = rotationInterval;
            contexts.add(context);
            SslContextFactory.setTicketKeys(context, keys());
        }

        synchronized void rotateIfDue(Instant now) {
            if (now.isBefore(rotatedAt.plus(interval))) {
                return;
            }
            previous = current;
            current = newKey();
            rotatedAt = now;
            List<byte[]> keys = keys();
            for (SslContext context : contexts) {
                SslContextFactory.setTicketKeys(context, keys);
            }
            LOG.atInfo().addKeyValue("listener", listener)
                    .addKeyValue("encrypting", SessionTicketKeyFile.nameHex(current))
                    .addKeyValue("next_rotation", now.plus(interval))
                    .log("session ticket key rotated");
        }

        synchronized List<byte[]> keys() {
            return previous == null ? List.of(current) : List.of(current, previous);
        }
    }
}
