package org.mtlsproxy.config;

import static java.util.Objects.requireNonNull;

import java.util.List;
import java.util.stream.Collectors;

/**
 * A configuration that cannot be used, with every problem found in it, not just the first.
 * {@link #getMessage()} lists the problems one per line, each as {@code origin: path: message}.
 */
public final class ConfigException extends RuntimeException {

    private static final long serialVersionUID = 1L;

    private final transient List<ConfigProblem> problems;

    public ConfigException(List<ConfigProblem> problems) {
        super(format(problems));
        this.problems = List.copyOf(problems);
        if (this.problems.isEmpty()) {
            throw new IllegalArgumentException("a ConfigException needs at least one problem");
        }
    }

    public ConfigException(ConfigProblem problem) {
        this(List.of(requireNonNull(problem, "problem")));
    }

    /** Every problem found, in the order the configuration was checked. */
    public List<ConfigProblem> problems() {
        return problems;
    }

    private static String format(List<ConfigProblem> problems) {
        requireNonNull(problems, "problems");
        return problems.stream().map(ConfigProblem::toString).collect(Collectors.joining("\n"));
    }
}
