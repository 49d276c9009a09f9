package org.mtlsproxy.config;

import static java.util.Objects.requireNonNull;

import com.typesafe.config.ConfigFactory;
import com.typesafe.config.ConfigList;
import com.typesafe.config.ConfigObject;
import com.typesafe.config.ConfigOrigin;
import com.typesafe.config.ConfigRenderOptions;
import com.typesafe.config.ConfigValue;
import com.typesafe.config.ConfigValueType;
import java.nio.file.Files;
import java.nio.file.InvalidPathException;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.Set;
import java.util.function.Supplier;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import java.util.stream.Collectors;

/**
 * One HOCON object of the configuration being read, with typed getters that never throw: a missing or malformed
 * value is recorded in {@link Problems} with its origin and user-facing path, and the getter returns a neutral value
 * ({@code null}, empty, 0). Builders compare {@link Problems#count()} before and after reading to know whether a
 * record can be built.
 *
 * <p>An element of a list or map is merged over its defaults; unknown keys are checked against the pristine
 * {@code reference.conf} template of that element (the schema), so that a typo in {@code defaults} is not blamed on
 * every element.
 */
final class ConfigNode {

    private static final String DURATION_EXPECTED = "a duration with a unit, e.g. 500ms, 10s, 1m";

    private final ConfigObject value;
    private final ConfigObject schema;
    private final String path;
    private final ConfigOrigin origin;
    private final Problems problems;
    /** What the user wrote for this element (before defaults), or null when not known. */
    private final ConfigObject written;

    private ConfigNode(ConfigObject value, ConfigObject schema, String path, ConfigOrigin origin, Problems problems,
            ConfigObject written) {
        this.value = value;
        this.schema = schema;
        this.path = path;
        this.origin = origin;
        this.problems = problems;
        this.written = written;
    }

    /**
     * A user-written object merged over {@code defaults}; its keys, and those of nested objects, are checked against
     * {@code schema}.
     */
    static ConfigNode element(ConfigObject user, ConfigObject defaults, ConfigObject schema, String path,
            ConfigOrigin parentOrigin, Problems problems) {
        problems.checkKeys(user, schema, path);
        ConfigOrigin origin = Problems.isUserWritten(user.origin()) ? user.origin() : parentOrigin;
        return new ConfigNode(user.withFallback(defaults), schema, path, origin, problems, user);
    }

    String path() {
        return path;
    }

    /** The effective values: what the user wrote merged over the defaults. */
    ConfigObject object() {
        return value;
    }

    String path(String key) {
        return path.isEmpty() ? key : path + "." + key;
    }

    ConfigOrigin origin() {
        return origin;
    }

    Problems problems() {
        return problems;
    }

    /** Where {@code key} was written, or where this object was written if its value comes from reference.conf. */
    ConfigOrigin originOf(String key) {
        ConfigValue v = value.get(key);
        return v != null && Problems.isUserWritten(v.origin()) ? v.origin() : origin;
    }

    /** Where element {@code index} of the list {@code key} was written, else where the list was. */
    ConfigOrigin originOf(String key, int index) {
        if (value.get(key) instanceof ConfigList list && index < list.size()
                && Problems.isUserWritten(list.get(index).origin())) {
            return list.get(index).origin();
        }
        return originOf(key);
    }

    void problem(String key, String message) {
        problems.add(originOf(key), path(key), message);
    }

    void problem(String message) {
        problems.add(origin, path, message);
    }

    /** Whether the user wrote {@code key} in this very element (not merely inherited from defaults). */
    boolean written(String key) {
        return written != null && written.containsKey(key);
    }

    /** Where the user wrote {@code key} in this element, else where this element was written. */
    ConfigOrigin writtenOriginOf(String key) {
        ConfigValue v = written == null ? null : written.get(key);
        return v != null && Problems.isUserWritten(v.origin()) ? v.origin() : origin;
    }

    boolean isSet(String key) {
        ConfigValue v = value.get(key);
        return v != null && v.valueType() != ConfigValueType.NULL;
    }

    /**
     * A nested object such as {@code tls}; its keys, and its type, were already checked with this node's (or with
     * {@code defaults}), so only an explicit {@code null} is left to report.
     */
    ConfigNode child(String key) {
        ConfigValue v = value.get(key);
        if (!(v instanceof ConfigObject object)) {
            if (v == null || v.valueType() == ConfigValueType.NULL) {
                problem(key, "missing (expected: an object, e.g. " + key + " { … })");
            }
            return null;
        }
        ConfigObject childSchema = schema.get(key) instanceof ConfigObject s ? s : ConfigFactory.empty().root();
        ConfigObject childWritten = written != null && written.get(key) instanceof ConfigObject w ? w : null;
        return new ConfigNode(object, childSchema, path(key), originOf(key), problems, childWritten);
    }

    /** A list of objects, each merged over {@code defaults} and checked against {@code elementSchema}. */
    List<ConfigNode> elements(String key, ConfigObject defaults, ConfigObject elementSchema) {
        ConfigValue v = value.get(key);
        if (v == null || v.valueType() == ConfigValueType.NULL) {
            return List.of();
        }
        if (!(v instanceof Iterable<?> list) || v.valueType() != ConfigValueType.LIST) {
            wrongType(key, v, "a list", "a list of objects, e.g. " + key + " = [{ … }]");
            return List.of();
        }
        List<ConfigNode> nodes = new ArrayList<>();
        int i = 0;
        for (Object element : list) {
            String elementPath = path(key) + "[" + i++ + "]";
            if (element instanceof ConfigObject object) {
                nodes.add(element(object, defaults, elementSchema, elementPath, originOf(key), problems));
            } else {
                ConfigValue ev = (ConfigValue) element;
                problems.add(ev.origin(), elementPath, render(ev) + " is not an object (expected: { … })");
            }
        }
        return nodes;
    }

    /** An object whose keys are names (like {@code backends}), each value merged over {@code defaults}. */
    Map<String, ConfigNode> entries(String key, ConfigObject defaults, ConfigObject elementSchema) {
        ConfigValue v = value.get(key);
        if (v == null || v.valueType() == ConfigValueType.NULL) {
            return Map.of();
        }
        if (!(v instanceof ConfigObject object)) {
            wrongType(key, v, "an object", "an object of named entries, e.g. " + key + " { name { … } }");
            return Map.of();
        }
        Map<String, ConfigNode> nodes = new LinkedHashMap<>();
        object.keySet().stream().sorted().forEach(name -> {
            ConfigValue ev = object.get(name);
            String entryPath = path(key) + "." + name;
            if (ev instanceof ConfigObject entry) {
                nodes.put(name, element(entry, defaults, elementSchema, entryPath, originOf(key), problems));
            } else {
                problems.add(ev.origin(), entryPath, render(ev) + " is not an object (expected: " + name + " { … })");
            }
        });
        return nodes;
    }

    /** A required string; {@code expected} describes it for the person who forgot it. */
    String string(String key, String expected) {
        if (!isSet(key)) {
            problem(key, "missing (expected: " + expected + ")");
            return null;
        }
        return optionalString(key, expected).orElse(null);
    }

    Optional<String> optionalString(String key, String expected) {
        ConfigValue v = value.get(key);
        if (v == null || v.valueType() == ConfigValueType.NULL) {
            return Optional.empty();
        }
        if (!isScalar(v)) {
            wrongType(key, v, "a string", expected);
            return Optional.empty();
        }
        return Optional.of(v.atKey("v").getString("v"));
    }

    List<String> strings(String key, String expected) {
        ConfigValue v = value.get(key);
        if (v == null || v.valueType() == ConfigValueType.NULL) {
            return List.of();
        }
        if (v.valueType() != ConfigValueType.LIST) {
            wrongType(key, v, "a list", "a list of " + expected + ", e.g. [\"a\", \"b\"]");
            return List.of();
        }
        List<String> strings = new ArrayList<>();
        int i = 0;
        for (Object element : (Iterable<?>) v) {
            ConfigValue ev = (ConfigValue) element;
            if (isScalar(ev)) {
                strings.add(ev.atKey("v").getString("v"));
            } else {
                problems.add(ev.origin(), path(key) + "[" + i + "]",
                        render(ev) + " is not a string (expected: " + expected + ")");
            }
            i++;
        }
        return strings;
    }

    int integer(String key, int min, int max) {
        ConfigValue v = value.get(key);
        String expected = "an integer in " + min + ".." + max;
        if (v == null || v.valueType() == ConfigValueType.NULL) {
            problem(key, "missing (expected: " + expected + ")");
            return 0;
        }
        int n;
        try {
            n = v.atKey("v").getInt("v");
        } catch (com.typesafe.config.ConfigException e) {
            wrongType(key, v, "an integer", expected);
            return 0;
        }
        if (n < min || n > max) {
            problem(key, n + " is out of range (expected: " + expected + ")");
        }
        return n;
    }

    /** A size in bytes: a number or HOCON size units (10m, 1g). */
    long bytes(String key, long min) {
        ConfigValue v = value.get(key);
        String expected = "a size in bytes, e.g. 1048576, 512k, 10m or 1g";
        if (v == null || v.valueType() == ConfigValueType.NULL) {
            problem(key, "missing (expected: " + expected + ")");
            return 0;
        }
        long n;
        try {
            n = v.atKey("v").getBytes("v");
        } catch (com.typesafe.config.ConfigException e) {
            wrongType(key, v, "a size", expected);
            return 0;
        }
        if (n < min) {
            problem(key, render(v) + " is below " + min + " (expected: " + expected + ")");
        }
        return n;
    }

    double positiveNumber(String key) {
        ConfigValue v = value.get(key);
        String expected = "a positive number";
        if (v == null || v.valueType() != ConfigValueType.NUMBER) {
            wrongType(key, v, "a number", expected);
            return 0;
        }
        double d = ((Number) v.unwrapped()).doubleValue();
        if (!(d > 0)) {
            problem(key, render(v) + " is not positive (expected: " + expected + ")");
        }
        return d;
    }

    boolean bool(String key) {
        ConfigValue v = value.get(key);
        try {
            return v != null && v.atKey("v").getBoolean("v");
        } catch (com.typesafe.config.ConfigException e) {
            wrongType(key, v, "a boolean", "true or false");
            return false;
        }
    }

    /** A positive duration. A bare number is refused: HOCON would read it as milliseconds, rarely what was meant. */
    Duration duration(String key) {
        ConfigValue v = value.get(key);
        if (v == null || v.valueType() == ConfigValueType.NULL) {
            problem(key, "missing (expected: " + DURATION_EXPECTED + ")");
            return null;
        }
        if (v.valueType() == ConfigValueType.NUMBER) {
            problem(key, render(v) + " has no unit (expected: " + DURATION_EXPECTED + ")");
            return null;
        }
        Duration d;
        try {
            d = v.atKey("v").getDuration("v");
        } catch (com.typesafe.config.ConfigException e) {
            wrongType(key, v, "a duration", DURATION_EXPECTED);
            return null;
        }
        if (d.isNegative() || d.isZero()) {
            problem(key, render(v) + " is not positive (expected: " + DURATION_EXPECTED + ")");
            return null;
        }
        return d;
    }

    /** A list of positive durations, e.g. [7d, 1d]; an element without unit or not positive is a problem. */
    List<Duration> durations(String key) {
        ConfigValue v = value.get(key);
        if (v == null || v.valueType() == ConfigValueType.NULL) {
            return List.of();
        }
        if (v.valueType() != ConfigValueType.LIST) {
            wrongType(key, v, "a list", "a list of durations, e.g. [7d, 1d]");
            return List.of();
        }
        List<Duration> result = new ArrayList<>();
        int i = 0;
        for (Object element : (Iterable<?>) v) {
            ConfigValue ev = (ConfigValue) element;
            String at = path(key) + "[" + i++ + "]";
            if (ev.valueType() == ConfigValueType.NUMBER) {
                problems.add(ev.origin(), at, render(ev) + " has no unit (expected: " + DURATION_EXPECTED + ")");
                continue;
            }
            try {
                Duration d = ev.atKey("v").getDuration("v");
                if (d.isNegative() || d.isZero()) {
                    problems.add(ev.origin(), at, render(ev) + " is not positive (expected: " + DURATION_EXPECTED
                            + ")");
                } else {
                    result.add(d);
                }
            } catch (com.typesafe.config.ConfigException e) {
                problems.add(ev.origin(), at, render(ev) + " is not a duration (expected: " + DURATION_EXPECTED
                        + ")");
            }
        }
        return result;
    }

    HostPort hostPort(String key, int minPort) {
        String text = string(key, "host:port or [v6-address]:port");
        if (text == null) {
            return null;
        }
        return hostPort(text, originOf(key), path(key), minPort);
    }

    HostPort hostPort(String text, ConfigOrigin at, String atPath, int minPort) {
        HostPort hostPort;
        try {
            hostPort = HostPort.parse(text);
        } catch (IllegalArgumentException e) {
            problems.add(at, atPath, e.getMessage());
            return null;
        }
        if (hostPort.port() < minPort) {
            problems.add(at, atPath, "\"" + text + "\" port " + hostPort.port() + " is out of range (expected: "
                    + minPort + "..65535)");
            return null;
        }
        return hostPort;
    }

    /** A required existing, readable regular file; relative paths are resolved against the naming file's directory. */
    Path file(String key, String expected) {
        String text = string(key, expected);
        return text == null ? null : existingFile(text, originOf(key), path(key));
    }

    Optional<Path> optionalFile(String key, String expected) {
        return optionalString(key, expected).map(text -> existingFile(text, originOf(key), path(key)));
    }

    List<Path> files(String key, String expected) {
        if (strings(key, expected).isEmpty()) {
            return List.of();
        }
        List<Path> files = new ArrayList<>();
        int i = 0;
        for (Object element : (Iterable<?>) value.get(key)) {
            ConfigValue ev = (ConfigValue) element;
            if (isScalar(ev)) {
                ConfigOrigin at = Problems.isUserWritten(ev.origin()) ? ev.origin() : originOf(key);
                files.add(existingFile(ev.atKey("v").getString("v"), at, path(key) + "[" + i + "]"));
            }
            i++;
        }
        return files;
    }

    private Path existingFile(String text, ConfigOrigin at, String atPath) {
        Path file;
        try {
            file = problems.baseDirFor(at).resolve(text).normalize();
        } catch (InvalidPathException e) {
            problems.add(at, atPath, "\"" + text + "\" is not a valid file path (expected: a file path)");
            return null;
        }
        String shown = Path.of(text).isAbsolute() ? "\"" + text + "\"" : "\"" + text + "\" (" + file + ")";
        if (!Files.exists(file)) {
            problems.add(at, atPath, shown + " does not exist (expected: an existing file)");
            return null;
        }
        if (!Files.isRegularFile(file)) {
            problems.add(at, atPath, shown + " is not a regular file (expected: a file, not a directory)");
            return null;
        }
        if (!Files.isReadable(file)) {
            problems.add(at, atPath, shown + " is not readable by this process (expected: a readable file)");
            return null;
        }
        return file;
    }

    /**
     * Builds a record if nothing was reported since {@code problemsBefore}; an {@link IllegalArgumentException} from
     * its constructor becomes a problem of this node. Returns {@code null} when nothing could be built.
     */
    <T> T build(int problemsBefore, Supplier<T> constructor) {
        if (problems.count() > problemsBefore) {
            return null;
        }
        try {
            return constructor.get();
        } catch (IllegalArgumentException e) {
            problem(e.getMessage());
            return null;
        }
    }

    private void wrongType(String key, ConfigValue v, String what, String expected) {
        String shown = v == null ? "nothing" : render(v);
        problem(key, shown + " is not " + what + " (expected: " + expected + ")");
    }

    /** A string, or a number or boolean that HOCON reads as one. */
    private static boolean isScalar(ConfigValue v) {
        ConfigValueType type = v.valueType();
        return type == ConfigValueType.STRING || type == ConfigValueType.NUMBER || type == ConfigValueType.BOOLEAN;
    }

    static String render(ConfigValue v) {
        String text = v.render(ConfigRenderOptions.concise());
        return text.length() > 60 ? text.substring(0, 57) + "..." : text;
    }

    /** The problems found so far and the facts needed to phrase them. */
    static final class Problems {

        private static final Pattern DESCRIPTION_LINE = Pattern.compile("^(.*): (\\d+)(-\\d+)?$");

        private final List<ConfigProblem> list = new ArrayList<>();
        private final String sourceName;
        private final Path baseDir;

        Problems(String sourceName, Path baseDir) {
            this.sourceName = requireNonNull(sourceName, "sourceName");
            this.baseDir = requireNonNull(baseDir, "baseDir");
        }

        void add(ConfigOrigin origin, String path, String message) {
            list.add(new ConfigProblem(originText(origin), path, message));
        }

        int count() {
            return list.size();
        }

        List<ConfigProblem> all() {
            return List.copyOf(list);
        }

        /** Directory against which a relative path written at {@code origin} is resolved. */
        Path baseDirFor(ConfigOrigin origin) {
            if (origin != null && origin.filename() != null) {
                Path parent = Path.of(origin.filename()).toAbsolutePath().getParent();
                if (parent != null) {
                    return parent;
                }
            }
            return baseDir;
        }

        /** Reports keys of {@code user} absent from {@code schema}, recursing into nested objects of the schema. */
        void checkKeys(ConfigObject user, ConfigObject schema, String path) {
            for (Map.Entry<String, ConfigValue> entry : user.entrySet()) {
                String key = entry.getKey();
                String keyPath = path.isEmpty() ? key : path + "." + key;
                ConfigValue known = schema.get(key);
                if (known == null) {
                    add(entry.getValue().origin(), keyPath, unknownKeyMessage(key, schema.keySet()));
                    continue;
                }
                if (!(known instanceof ConfigObject nested)) {
                    continue;
                }
                ConfigValue v = entry.getValue();
                if (v instanceof ConfigObject userNested) {
                    // An empty schema object (backends {}) is a map of names, checked entry by entry elsewhere.
                    if (!nested.isEmpty()) {
                        checkKeys(userNested, nested, keyPath);
                    }
                } else if (v.valueType() != ConfigValueType.NULL) {
                    add(v.origin(), keyPath, render(v) + " is not an object (expected: an object, e.g. " + key
                            + " { … })");
                }
            }
        }

        static String unknownKeyMessage(String key, Set<String> known) {
            return Syntax.closest(key, known)
                    .map(k -> "unknown key, did you mean `" + k + "`?")
                    .orElseGet(() -> "unknown key (expected one of: "
                            + known.stream().sorted().collect(Collectors.joining(", ")) + ")");
        }

        /** {@code file:line}; the config source for merged or unknown origins; {@code <env>} for the environment. */
        String originText(ConfigOrigin origin) {
            if (origin == null) {
                return sourceName;
            }
            String line = origin.lineNumber() > 0 ? ":" + origin.lineNumber() : "";
            if (origin.filename() != null) {
                return origin.filename() + line;
            }
            if (origin.resource() != null) {
                return origin.resource() + line;
            }
            String description = origin.description();
            if (description.startsWith("env var")) {
                return "<env>";
            }
            if (description.startsWith("merge of")) {
                return sourceName;
            }
            Matcher m = DESCRIPTION_LINE.matcher(description);
            return m.matches() ? m.group(1) + ":" + m.group(2) : description;
        }

        /** Whether a value was written by the user rather than taken from reference.conf or merged from both. */
        static boolean isUserWritten(ConfigOrigin origin) {
            return origin != null && origin.resource() == null && !origin.description().startsWith("merge of");
        }
    }
}
