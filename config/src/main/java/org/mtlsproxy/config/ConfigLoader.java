package org.mtlsproxy.config;

import static java.util.Objects.requireNonNull;

import com.typesafe.config.Config;
import com.typesafe.config.ConfigFactory;
import com.typesafe.config.ConfigObject;
import com.typesafe.config.ConfigOrigin;
import com.typesafe.config.ConfigParseOptions;
import com.typesafe.config.ConfigValue;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Instant;
import java.util.Map;
import java.util.Set;

/**
 * Loads a HOCON file into a validated {@link ProxyConfig}, or throws a {@link ConfigException} listing every problem
 * found, each with file, line, path and what was expected.
 *
 * <p>The file is merged over {@code reference.conf} (which holds every default), {@code ${?ENV}} substitutions are
 * resolved from the environment, each list element is merged over its {@code defaults} entry, and then every value,
 * every referenced file and every cross-reference is checked. Relative file paths are resolved against the directory
 * of the file that names them.
 */
public final class ConfigLoader {

    /** The root key of everything this proxy reads. */
    public static final String ROOT = "mtls-proxy";

    /** The system property {@link #loadDefault()} reads, as in Typesafe Config's own {@code ConfigFactory.load}. */
    public static final String CONFIG_FILE_PROPERTY = "config.file";

    private ConfigLoader() {
    }

    /**
     * Loads and validates a configuration file.
     *
     * @throws ConfigException if the file is missing or unreadable, does not parse, or holds any invalid value
     */
    public static ProxyConfig load(Path file) {
        requireNonNull(file, "file");
        String source = file.toString();
        if (!Files.exists(file)) {
            throw new ConfigException(new ConfigProblem(source, "", "no such file (expected: a HOCON config file)"));
        }
        if (!Files.isRegularFile(file)) {
            throw new ConfigException(new ConfigProblem(source, "", "not a regular file (expected: a HOCON config "
                    + "file, not a directory)"));
        }
        if (!Files.isReadable(file)) {
            throw new ConfigException(new ConfigProblem(source, "", "not readable by this process (expected: a "
                    + "readable file)"));
        }
        Path baseDir = file.toAbsolutePath().getParent();
        ConfigNode.Problems problems = new ConfigNode.Problems(source, baseDir);
        Config user;
        try {
            user = ConfigFactory.parseFile(file.toFile(), ConfigParseOptions.defaults().setAllowMissing(false));
        } catch (com.typesafe.config.ConfigException e) {
            throw asConfigException(problems, e);
        }
        return resolveAndMap(user, problems, source);
    }

    /**
     * Loads the file named by the {@code config.file} system property.
     *
     * @throws ConfigException if the property is not set, or as {@link #load(Path)}
     */
    public static ProxyConfig loadDefault() {
        String file = System.getProperty(CONFIG_FILE_PROPERTY);
        if (file == null || file.isBlank()) {
            throw new ConfigException(new ConfigProblem("-D" + CONFIG_FILE_PROPERTY, "",
                    "not set (expected: -D" + CONFIG_FILE_PROPERTY + "=/path/to/proxy.conf)"));
        }
        return load(Path.of(file));
    }

    /**
     * Parses and validates configuration text, for tests and generated configurations.
     *
     * @param hocon      the configuration text
     * @param baseDir    the directory relative file paths are resolved against
     * @param sourceName how problems name this text, e.g. {@code demo.conf}
     * @throws ConfigException if the text does not parse or holds any invalid value
     */
    public static ProxyConfig parse(String hocon, Path baseDir, String sourceName) {
        requireNonNull(hocon, "hocon");
        requireNonNull(baseDir, "baseDir");
        requireNonNull(sourceName, "sourceName");
        ConfigNode.Problems problems = new ConfigNode.Problems(sourceName, baseDir.toAbsolutePath());
        Config user;
        try {
            user = ConfigFactory.parseString(hocon, ConfigParseOptions.defaults().setOriginDescription(sourceName));
        } catch (com.typesafe.config.ConfigException e) {
            throw asConfigException(problems, e);
        }
        return resolveAndMap(user, problems, sourceName);
    }

    private static ProxyConfig resolveAndMap(Config user, ConfigNode.Problems problems, String source) {
        Config reference = ConfigFactory.parseResources(ConfigLoader.class.getClassLoader(), "reference.conf")
                .resolve();
        // Everything this proxy reads lives under one root key; anything else is most likely a typo of it.
        for (Map.Entry<String, ConfigValue> entry : user.root().entrySet()) {
            if (!entry.getKey().equals(ROOT)) {
                problems.add(entry.getValue().origin(), entry.getKey(), ConfigNode.Problems.unknownKeyMessage(
                        entry.getKey(), Set.of(ROOT)));
            }
        }
        Config resolved;
        try {
            resolved = user.withFallback(reference).resolve();
        } catch (com.typesafe.config.ConfigException e) {
            throw asConfigException(problems, e);
        }
        ConfigValue root = resolved.root().get(ROOT);
        if (!(root instanceof ConfigObject rootObject)) {
            problems.add(root.origin(), ROOT, ConfigNode.render(root) + " is not an object (expected: " + ROOT
                    + " { … })");
            throw new ConfigException(problems.all());
        }
        ConfigObject schema = (ConfigObject) reference.root().get(ROOT);
        ProxyConfig config = new ConfigMapper(problems, schema, Instant.now()).map(rootObject, source);
        if (problems.count() > 0 || config == null) {
            throw new ConfigException(problems.all());
        }
        return config;
    }

    /** A parse or resolve error of Typesafe Config, with its origin moved out of the message into the problem. */
    private static ConfigException asConfigException(ConfigNode.Problems problems,
            com.typesafe.config.ConfigException e) {
        ConfigOrigin origin = e.origin();
        String message = e.getMessage();
        if (origin != null && message.startsWith(origin.description() + ": ")) {
            message = message.substring(origin.description().length() + 2);
        }
        problems.add(origin, "", message);
        return new ConfigException(problems.all());
    }
}
