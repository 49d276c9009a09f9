package org.mtlsproxy.it;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.fail;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.security.SecureRandom;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Base64;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.TreeSet;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import java.util.stream.Collectors;
import java.util.stream.Stream;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.mtlsproxy.config.ConfigLoader;
import org.mtlsproxy.config.ListenerConfig;
import org.mtlsproxy.config.ProxyConfig;
import org.mtlsproxy.testing.TestPki;
import org.yaml.snakeyaml.LoaderOptions;
import org.yaml.snakeyaml.Yaml;
import org.yaml.snakeyaml.constructor.SafeConstructor;

/**
 * The invariants that tie {@code deploy/kubernetes/} to the image and to the proxy: ports, probes, user, read-only
 * root with a writable {@code /tmp}, Secrets mounted as directories (so rotations reach the proxy), the ConfigMap's
 * HOCON valid for the proxy's own loader with every file it names inside a mounted Secret, command and JVM flags as
 * in the Dockerfile, and a grace period that covers the preStop sleep plus the drain. No cluster is needed: the
 * manifests are read as YAML ({@code kubectl kustomize deploy/kubernetes} renders them, where kubectl exists).
 */
class KubernetesManifestsTest {

    private static final Path REPO = Path.of(System.getProperty("user.dir")).resolve("..").normalize();
    private static final Path DIR = REPO.resolve("deploy/kubernetes");
    private static final Path DOCKERFILE = REPO.resolve("Dockerfile");
    /** The keys cert-manager writes into a Certificate's Secret. */
    private static final Set<String> CERT_MANAGER_KEYS = Set.of("tls.crt", "tls.key", "ca.crt");

    private static List<Map<String, Object>> docs;
    private static Map<String, Object> deployment;
    private static Map<String, Object> pod;
    private static Map<String, Object> container;
    private static String hocon;

    @TempDir
    Path root;

    @BeforeAll
    static void read() throws IOException {
        docs = new ArrayList<>();
        try (Stream<Path> files = Files.list(DIR)) {
            for (Path f : files.filter(p -> p.toString().endsWith(".yaml")).sorted().toList()) {
                Yaml yaml = new Yaml(new SafeConstructor(new LoaderOptions()));
                for (Object doc : yaml.loadAll(Files.readString(f))) {
                    if (doc != null) {
                        Map<String, Object> m = map(doc);
                        m.put("__file", f.getFileName().toString());
                        docs.add(m);
                    }
                }
            }
        }
        deployment = only("Deployment");
        pod = map(map(map(deployment.get("spec")).get("template")).get("spec"));
        List<Object> containers = list(pod.get("containers"));
        assertThat(containers).hasSize(1);
        container = map(containers.get(0));
        hocon = (String) map(configMap().get("data")).get("proxy.conf");
        assertThat(hocon).as("configmap proxy.conf").isNotBlank();
    }

    @Test
    void everyResourceOfKustomizationExistsAndEveryManifestIsListed() throws IOException {
        Map<String, Object> k = only("Kustomization");
        List<String> resources = list(k.get("resources")).stream().map(String::valueOf).toList();

        assertThat(resources).allSatisfy(r -> assertThat(DIR.resolve(r)).as(r).isRegularFile());
        try (Stream<Path> files = Files.list(DIR)) {
            Set<String> manifests = files.map(p -> p.getFileName().toString())
                    .filter(n -> n.endsWith(".yaml") && !n.equals("kustomization.yaml"))
                    .collect(Collectors.toCollection(TreeSet::new));
            assertThat(resources).containsExactlyInAnyOrderElementsOf(manifests);
        }
    }

    @Test
    void atLeastTwoReplicasSpreadOverNodesWithADisruptionBudget() {
        Map<String, Object> spec = map(deployment.get("spec"));
        Object selector = map(spec.get("selector")).get("matchLabels");

        assertThat((Integer) spec.get("replicas")).isGreaterThanOrEqualTo(2);
        assertThat(map(map(map(spec.get("template")).get("metadata")).get("labels")))
                .containsAllEntriesOf(map(selector).entrySet().stream()
                        .collect(Collectors.toMap(Map.Entry::getKey, e -> e.getValue())));
        Map<String, Object> pdb = map(only("PodDisruptionBudget").get("spec"));
        assertThat(map(pdb.get("selector")).get("matchLabels")).isEqualTo(selector);
        assertThat(pdb.containsKey("maxUnavailable") || pdb.containsKey("minAvailable")).isTrue();
        if (pdb.containsKey("minAvailable")) {
            assertThat((Integer) pdb.get("minAvailable")).isLessThan((Integer) spec.get("replicas"));
        }
        assertThat(pod.containsKey("topologySpreadConstraints") || pod.containsKey("affinity"))
                .as("topology spread or anti-affinity").isTrue();
        assertThat(map(only("Service").get("spec")).get("selector")).isEqualTo(selector);
    }

    @Test
    void containerPortsAreExactlyTheListenerAndAdminPortsOfTheConfig() throws IOException {
        ProxyConfig config = loadConfig();
        Set<Integer> configured = new LinkedHashSet<>();
        config.listeners().forEach(l -> configured.add(l.bind().port()));
        configured.add(config.admin().bind().port());

        assertThat(containerPorts().values()).containsExactlyInAnyOrderElementsOf(configured);
        assertThat(config.admin().enabled()).isTrue();
        assertThat(config.admin().bind().host()).as("admin reachable by the kubelet on the pod IP")
                .isEqualTo("0.0.0.0");
        assertThat(config.listeners()).extracting(l -> l.bind().host()).containsOnly("0.0.0.0");

        // The Service forwards TCP to listener ports only, never to the admin port.
        Set<Integer> listenerPorts = config.listeners().stream().map(l -> l.bind().port()).collect(Collectors.toSet());
        for (Object p : list(map(only("Service").get("spec")).get("ports"))) {
            Map<String, Object> port = map(p);
            assertThat(port.get("protocol")).isEqualTo("TCP");
            assertThat(resolvePort(port.get("targetPort"))).isIn(listenerPorts);
        }
    }

    @Test
    void probesAskTheAdminListenerForReadinessAndHealth() throws IOException {
        int admin = loadConfig().admin().bind().port();

        assertThat(httpGet("readinessProbe").get("path")).isEqualTo("/readyz");
        assertThat(resolvePort(httpGet("readinessProbe").get("port"))).isEqualTo(admin);
        assertThat(httpGet("livenessProbe").get("path")).isEqualTo("/healthz");
        assertThat(resolvePort(httpGet("livenessProbe").get("port"))).isEqualTo(admin);
    }

    @Test
    void runsAsTheImageUserWithAReadOnlyRootAndAWritableTmp() throws IOException {
        Matcher user = Pattern.compile("(?m)^USER (\\d+):(\\d+)$").matcher(Files.readString(DOCKERFILE));
        assertThat(user.find()).as("numeric USER in the Dockerfile").isTrue();
        int uid = Integer.parseInt(user.group(1));
        Map<String, Object> podSecurity = map(pod.get("securityContext"));
        Map<String, Object> security = map(container.get("securityContext"));

        assertThat(podSecurity.get("runAsNonRoot")).isEqualTo(true);
        assertThat(podSecurity.get("runAsUser")).isEqualTo(uid);
        assertThat(podSecurity.get("runAsGroup")).isEqualTo(Integer.parseInt(user.group(2)));
        assertThat(security.getOrDefault("runAsUser", uid)).isEqualTo(uid);
        assertThat(security.get("readOnlyRootFilesystem")).isEqualTo(true);
        assertThat(security.get("allowPrivilegeEscalation")).isEqualTo(false);
        assertThat(list(map(security.get("capabilities")).get("drop"))).containsExactly("ALL");

        Map<String, Object> tmpMount = mounts().get("/tmp");
        assertThat(tmpMount).as("a volume at /tmp").isNotNull();
        assertThat(tmpMount.getOrDefault("readOnly", false)).isEqualTo(false);
        assertThat(volume((String) tmpMount.get("name"))).containsKey("emptyDir");
        assertThat(javaToolOptions()).contains("-Dio.netty.native.workdir=/tmp");
    }

    @Test
    void commandArgumentsAndJvmFlagsAreTheImages() throws IOException {
        String dockerfile = Files.readString(DOCKERFILE);

        assertThat(list(container.get("command"))).containsExactlyElementsOf(jsonArray(dockerfile, "ENTRYPOINT"));
        assertThat(list(container.get("args"))).containsExactlyElementsOf(jsonArray(dockerfile, "CMD"));
        Matcher env = Pattern.compile("(?m)^ENV JAVA_TOOL_OPTIONS=\"([^\"]*)\"$").matcher(dockerfile);
        assertThat(env.find()).as("ENV JAVA_TOOL_OPTIONS in the Dockerfile").isTrue();
        assertThat(javaToolOptions()).isEqualTo(env.group(1));
        Map<String, Object> resources = map(container.get("resources"));
        assertThat(map(resources.get("requests"))).containsKeys("cpu", "memory");
        assertThat(map(resources.get("limits"))).containsKeys("cpu", "memory");
    }

    @Test
    void theConfigFileOfTheCommandLineIsTheMountedConfigMap() {
        List<Object> args = list(container.get("args"));
        Path configFile = Path.of((String) args.get(args.indexOf("--config") + 1));
        Map<String, Object> mount = mounts().get(configFile.getParent().toString());

        assertThat(mount).as("a volume mounted at " + configFile.getParent()).isNotNull();
        assertThat(mount).doesNotContainKey("subPath");
        Map<String, Object> source = map(volume((String) mount.get("name")).get("configMap"));
        assertThat(source.get("name")).isEqualTo(map(configMap().get("metadata")).get("name"));
        assertThat(map(configMap().get("data"))).containsKey(configFile.getFileName().toString());
    }

    @Test
    void secretsAndConfigMapsAreMountedAsDirectoriesReadOnly() {
        for (Map<String, Object> mount : mounts().values()) {
            Map<String, Object> v = volume((String) mount.get("name"));
            if (v.containsKey("secret") || v.containsKey("configMap")) {
                assertThat(mount).as(mount.get("mountPath") + ": subPath mounts never see an update")
                        .doesNotContainKey("subPath");
                assertThat(mount.get("readOnly")).as(mount.get("mountPath") + " readOnly").isEqualTo(true);
            }
        }
    }

    @Test
    void everyFileOfTheConfigIsAKeyOfAMountedSecretAndTheCertificatesRotate() {
        Map<String, Map<String, Object>> certificates = certificatesBySecret();

        for (String file : absolutePaths(hocon)) {
            Mounted m = mountedSecret(file);
            Map<String, Object> secret = map(m.volume().get("secret"));
            String secretName = (String) secret.get("secretName");
            if (secret.containsKey("items")) {
                assertThat(list(secret.get("items"))).extracting(i -> map(i).get("path"))
                        .as(file + ": a path of the volume's items").contains(m.key());
            } else {
                assertThat(certificates).as(file + ": a Secret without items must be a cert-manager Certificate's")
                        .containsKey(secretName);
                assertThat(m.key()).isIn(CERT_MANAGER_KEYS);
            }
        }
        assertThat(certificates).isNotEmpty();
        for (Map<String, Object> cert : certificates.values()) {
            Map<String, Object> spec = map(cert.get("spec"));
            Map<String, Object> key = map(spec.get("privateKey"));
            assertThat(key.get("encoding")).as(spec.get("secretName") + " key encoding").isEqualTo("PKCS8");
            assertThat(key.get("rotationPolicy")).isEqualTo("Always");
            assertThat(goDuration(spec.get("renewBefore"))).isPositive()
                    .isLessThan(goDuration(spec.get("duration")));
        }
    }

    @Test
    void theConfigMapPassesTheProxysOwnValidationWithTheMountedFilesInPlace() throws IOException {
        ProxyConfig config = loadConfig();

        assertThat(config.listeners()).isNotEmpty();
        assertThat(config.routes()).isNotEmpty();
        ListenerConfig listener = config.listeners().get(0);
        assertThat(listener.tls().sessionTickets().keyFile()).as("replicas share ticket keys").isPresent();
    }

    @Test
    void theGracePeriodCoversThePreStopSleepAndTheDrain() throws IOException {
        Duration drain = loadConfig().shutdown().drainTimeout();
        List<Object> preStop = list(map(map(map(container.get("lifecycle")).get("preStop")).get("exec"))
                .get("command"));
        assertThat(preStop).hasSize(2).first().isEqualTo("sleep");
        long sleep = Long.parseLong(String.valueOf(preStop.get(1)));
        int grace = (Integer) pod.get("terminationGracePeriodSeconds");

        assertThat(sleep).as("a preStop pause while endpoints are removed").isPositive();
        assertThat((long) grace).isGreaterThan(sleep + drain.toSeconds());
    }

    /**
     * The ConfigMap's HOCON loaded by {@link ConfigLoader}, every mounted path it names materialised under a temp
     * root: certificates and keys from the test PKI by the Secret and key they are mounted from, a generated ticket
     * key file. A file the test cannot place (a new Secret or key) fails it, so this stays in step with the config.
     */
    private ProxyConfig loadConfig() throws IOException {
        TestPki pki = TestPki.get();
        Map<String, Path> sources = Map.of(
                "mtls-proxy-server-tls/tls.crt", pki.proxyServer().chainPem(),
                "mtls-proxy-server-tls/tls.key", pki.proxyServer().keyPem(),
                "mtls-proxy-server-tls/ca.crt", pki.serverRootPem(),
                "mtls-proxy-ca/ca.crt", pki.clientRootPem(),
                "mtls-proxy-backend-client-tls/tls.crt", pki.proxyClientForBackend().chainPem(),
                "mtls-proxy-backend-client-tls/tls.key", pki.proxyClientForBackend().keyPem(),
                "mtls-proxy-backend-client-tls/ca.crt", pki.backendRootPem());
        String text = hocon;
        for (String file : absolutePaths(hocon)) {
            Mounted m = mountedSecret(file);
            String secretKey = map(m.volume().get("secret")).get("secretName") + "/" + m.key();
            Path target = root.resolve(file.substring(1));
            Files.createDirectories(target.getParent());
            if (secretKey.equals("mtls-proxy-session-tickets/ticket.keys")) {
                byte[] key = new byte[48];
                new SecureRandom().nextBytes(key);
                Files.writeString(target, Base64.getEncoder().encodeToString(key) + "\n");
            } else if (sources.containsKey(secretKey)) {
                Files.copy(sources.get(secretKey), target, java.nio.file.StandardCopyOption.REPLACE_EXISTING);
            } else {
                fail("the test does not know what " + secretKey + " (mounted at " + file + ") holds");
            }
            text = text.replace("\"" + file + "\"", "\"" + target + "\"");
        }
        ProxyConfig config = ConfigLoader.parse(text, root, "deploy/kubernetes/configmap.yaml#proxy.conf");
        assertThat(config.referencedFiles()).as("every file the config reads was placed under its mount")
                .allMatch(f -> f.startsWith(root));
        return config;
    }

    private record Mounted(Map<String, Object> volume, String key) {
    }

    /** The Secret volume whose mount directory holds {@code file} directly (a key of the Secret is a file name). */
    private static Mounted mountedSecret(String file) {
        Path p = Path.of(file);
        Map<String, Object> mount = mounts().get(p.getParent().toString());
        assertThat(mount).as(file + " must be inside a mounted volume's directory").isNotNull();
        Map<String, Object> v = volume((String) mount.get("name"));
        assertThat(v).as(file + " must come from a Secret").containsKey("secret");
        return new Mounted(v, p.getFileName().toString());
    }

    /**
     * The file paths the HOCON names (certificates, keys, CA bundles, CRLs, ticket keys). {@link #loadConfig()}
     * checks the other way round: every file the loaded config reads is one of these.
     */
    private static List<String> absolutePaths(String text) {
        List<String> paths = new ArrayList<>();
        Matcher m = Pattern.compile("(?:certificate-chain|private-key|ca-bundle|key-file)\\s*=\\s*\"([^\"]+)\"")
                .matcher(text);
        while (m.find()) {
            paths.add(m.group(1));
        }
        Matcher crls = Pattern.compile("crls\\s*=\\s*\\[([^\\]]*)]").matcher(text);
        while (crls.find()) {
            Matcher item = Pattern.compile("\"([^\"]+)\"").matcher(crls.group(1));
            while (item.find()) {
                paths.add(item.group(1));
            }
        }
        assertThat(paths).as("file paths in the HOCON").isNotEmpty().allMatch(p -> p.startsWith("/"));
        return paths.stream().distinct().toList();
    }

    private static Map<String, Map<String, Object>> certificatesBySecret() {
        Map<String, Map<String, Object>> bySecret = new HashMap<>();
        for (Map<String, Object> d : docs) {
            if ("Certificate".equals(d.get("kind"))) {
                bySecret.put((String) map(d.get("spec")).get("secretName"), d);
            }
        }
        return bySecret;
    }

    /** cert-manager durations: Go's "2160h", "90m", "1h30m". */
    private static Duration goDuration(Object value) {
        Matcher m = Pattern.compile("(\\d+)([hms])").matcher(String.valueOf(value));
        Duration d = Duration.ZERO;
        int end = 0;
        while (m.find()) {
            long n = Long.parseLong(m.group(1));
            d = d.plus(switch (m.group(2)) {
                case "h" -> Duration.ofHours(n);
                case "m" -> Duration.ofMinutes(n);
                default -> Duration.ofSeconds(n);
            });
            end = m.end();
        }
        assertThat(end).as("a Go duration: " + value).isEqualTo(String.valueOf(value).length());
        return d;
    }

    private static Map<String, Object> httpGet(String probe) {
        return map(map(container.get(probe)).get("httpGet"));
    }

    private static String javaToolOptions() {
        for (Object e : list(container.get("env"))) {
            if ("JAVA_TOOL_OPTIONS".equals(map(e).get("name"))) {
                return (String) map(e).get("value");
            }
        }
        return fail("no JAVA_TOOL_OPTIONS in the container's env");
    }

    /** Container port names to numbers. */
    private static Map<String, Integer> containerPorts() {
        Map<String, Integer> ports = new LinkedHashMap<>();
        for (Object p : list(container.get("ports"))) {
            Map<String, Object> port = map(p);
            assertThat(port.getOrDefault("protocol", "TCP")).isEqualTo("TCP");
            ports.put((String) port.get("name"), (Integer) port.get("containerPort"));
        }
        return ports;
    }

    private static int resolvePort(Object port) {
        if (port instanceof Integer n) {
            return n;
        }
        Integer n = containerPorts().get(String.valueOf(port));
        assertThat(n).as("container port named " + port).isNotNull();
        return n;
    }

    /** Mount path to mount. */
    private static Map<String, Map<String, Object>> mounts() {
        Map<String, Map<String, Object>> mounts = new LinkedHashMap<>();
        for (Object m : list(container.get("volumeMounts"))) {
            mounts.put((String) map(m).get("mountPath"), map(m));
        }
        return mounts;
    }

    private static Map<String, Object> volume(String name) {
        for (Object v : list(pod.get("volumes"))) {
            if (name.equals(map(v).get("name"))) {
                return map(v);
            }
        }
        return fail("no volume " + name);
    }

    private static Map<String, Object> configMap() {
        return only("ConfigMap");
    }

    private static Map<String, Object> only(String kind) {
        List<Map<String, Object>> found = docs.stream().filter(d -> kind.equals(d.get("kind"))).toList();
        assertThat(found).as("exactly one " + kind).hasSize(1);
        return found.get(0);
    }

    private static List<String> jsonArray(String dockerfile, String instruction) {
        Matcher m = Pattern.compile("(?m)^" + instruction + " \\[(.*)]$").matcher(dockerfile);
        assertThat(m.find()).as(instruction + " in exec form").isTrue();
        List<String> items = new ArrayList<>();
        Matcher item = Pattern.compile("\"([^\"]*)\"").matcher(m.group(1));
        while (item.find()) {
            items.add(item.group(1));
        }
        return items;
    }

    @SuppressWarnings("unchecked")
    private static Map<String, Object> map(Object o) {
        assertThat(o).isInstanceOf(Map.class);
        return (Map<String, Object>) o;
    }

    @SuppressWarnings("unchecked")
    private static List<Object> list(Object o) {
        assertThat(o).isInstanceOf(List.class);
        return (List<Object>) o;
    }
}
