package org.mtlsproxy.proxy;

import ch.qos.logback.classic.LoggerContext;
import ch.qos.logback.classic.joran.JoranConfigurator;
import ch.qos.logback.core.joran.spi.JoranException;
import java.net.URL;
import org.slf4j.ILoggerFactory;
import org.slf4j.LoggerFactory;

/**
 * Chooses the log format at start-up: JSON lines (logback.xml, the default) or human-readable text
 * (logback-text.xml). Both write to stdout; an explicit {@code -Dlogback.configurationFile} always wins.
 */
final class Logging {

    /** The formats of the {@code --log-format} option. */
    enum Format {
        json, text
    }

    private Logging() {
    }

    /** Stops logback so every buffered event is written; used right before the JVM halts. */
    static void flush() {
        if (LoggerFactory.getILoggerFactory() instanceof LoggerContext context) {
            context.stop();
        }
    }

    /**
     * Sends log lines to stderr instead of stdout, for commands whose stdout is their answer ({@code check}): a
     * warning written while compiling the config must not break the JSON a script reads.
     */
    static void toStandardError() {
        if (!(LoggerFactory.getILoggerFactory() instanceof LoggerContext context)) {
            return;
        }
        for (ch.qos.logback.classic.Logger logger : context.getLoggerList()) {
            for (java.util.Iterator<ch.qos.logback.core.Appender<ch.qos.logback.classic.spi.ILoggingEvent>> it =
                    logger.iteratorForAppenders(); it.hasNext(); ) {
                if (it.next() instanceof ch.qos.logback.core.ConsoleAppender<?> console) {
                    console.stop();
                    console.setTarget("System.err");
                    console.start();
                }
            }
        }
    }

    static void use(Format format) {
        if (format == Format.json || System.getProperty("logback.configurationFile") != null) {
            return;
        }
        ILoggerFactory factory = LoggerFactory.getILoggerFactory();
        URL text = Logging.class.getClassLoader().getResource("logback-text.xml");
        if (!(factory instanceof LoggerContext context) || text == null) {
            return;
        }
        context.reset();
        JoranConfigurator configurator = new JoranConfigurator();
        configurator.setContext(context);
        try {
            configurator.doConfigure(text);
        } catch (JoranException e) {
            System.err.println("cannot switch to text logs: " + e.getMessage());
        }
    }
}
