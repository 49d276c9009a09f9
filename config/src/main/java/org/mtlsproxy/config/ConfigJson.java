package org.mtlsproxy.config;

import java.lang.reflect.RecordComponent;
import java.nio.file.Path;
import java.time.Duration;
import java.util.Collection;
import java.util.Map;
import java.util.Optional;

/**
 * Renders a configuration as JSON for the admin endpoint {@code GET /config}: the effective values after defaults,
 * with keys in the config file's kebab-case. Files appear as paths only; the proxy never holds key material in its
 * configuration, so nothing secret can be printed.
 */
public final class ConfigJson {

    private ConfigJson() {
    }

    public static String render(ProxyConfig config) {
        StringBuilder out = new StringBuilder(4096);
        write(out, config, 0);
        return out.append('\n').toString();
    }

    private static void write(StringBuilder out, Object value, int indent) {
        if (value == null) {
            out.append("null");
        } else if (value instanceof Optional<?> o) {
            write(out, o.orElse(null), indent);
        } else if (value instanceof String || value instanceof Path || value instanceof HostPort) {
            string(out, value.toString());
        } else if (value instanceof Duration d) {
            string(out, d.toMillis() % 1000 == 0 ? d.toSeconds() + "s" : d.toMillis() + "ms");
        } else if (value instanceof Number || value instanceof Boolean) {
            out.append(value);
        } else if (value instanceof Collection<?> c) {
            out.append('[');
            boolean first = true;
            for (Object item : c) {
                out.append(first ? "" : ",");
                newline(out, indent + 1);
                write(out, item, indent + 1);
                first = false;
            }
            if (!first) {
                newline(out, indent);
            }
            out.append(']');
        } else if (value instanceof Map<?, ?> m) {
            out.append('{');
            boolean first = true;
            for (Map.Entry<?, ?> e : new java.util.TreeMap<>(m).entrySet()) {
                out.append(first ? "" : ",");
                newline(out, indent + 1);
                string(out, String.valueOf(e.getKey()));
                out.append(": ");
                write(out, e.getValue(), indent + 1);
                first = false;
            }
            if (!first) {
                newline(out, indent);
            }
            out.append('}');
        } else if (value.getClass().isRecord()) {
            out.append('{');
            boolean first = true;
            for (RecordComponent rc : value.getClass().getRecordComponents()) {
                Object v;
                try {
                    v = rc.getAccessor().invoke(value);
                } catch (ReflectiveOperationException e) {
                    throw new IllegalStateException("cannot read " + rc.getName(), e);
                }
                out.append(first ? "" : ",");
                newline(out, indent + 1);
                string(out, kebab(rc.getName()));
                out.append(": ");
                write(out, v, indent + 1);
                first = false;
            }
            newline(out, indent);
            out.append('}');
        } else {
            string(out, value.toString());
        }
    }

    private static void newline(StringBuilder out, int indent) {
        out.append('\n');
        out.append("  ".repeat(indent));
    }

    private static String kebab(String camel) {
        StringBuilder sb = new StringBuilder(camel.length() + 4);
        for (int i = 0; i < camel.length(); i++) {
            char c = camel.charAt(i);
            if (Character.isUpperCase(c)) {
                sb.append('-').append(Character.toLowerCase(c));
            } else {
                sb.append(c);
            }
        }
        return sb.toString();
    }

    private static void string(StringBuilder out, String s) {
        out.append('"');
        for (int i = 0; i < s.length(); i++) {
            char c = s.charAt(i);
            switch (c) {
                case '"' -> out.append("\\\"");
                case '\\' -> out.append("\\\\");
                case '\n' -> out.append("\\n");
                case '\r' -> out.append("\\r");
                case '\t' -> out.append("\\t");
                default -> {
                    if (c < 0x20) {
                        out.append(String.format("\\u%04x", (int) c));
                    } else {
                        out.append(c);
                    }
                }
            }
        }
        out.append('"');
    }
}
