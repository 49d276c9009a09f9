package org.mtlsproxy.it;

import static org.assertj.core.api.Assertions.assertThat;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.mtlsproxy.config.ConfigLoader;
import org.mtlsproxy.config.ProxyConfig;
import org.mtlsproxy.testing.TestPki;

/** The minimal config the README shows is a valid config, as written, once its files exist. */
class ReadmeExampleIT {

    private static final Path README = Path.of(System.getProperty("user.dir")).resolve("../README.md");

    @TempDir
    Path dir;

    @Test
    void readmeMinimalConfigLoads() throws Exception {
        Matcher m = Pattern.compile("(?s)A minimal `proxy.conf`.*?```hocon\n(.*?)```").matcher(Files.readString(README));
        assertThat(m.find()).as("the README's minimal config block").isTrue();
        TestPki pki = TestPki.get();
        Files.copy(pki.proxyServer().chainPem(), dir.resolve("server-chain.pem"));
        Files.copy(pki.proxyServer().keyPem(), dir.resolve("server.key"));
        Files.copy(pki.clientRootPem(), dir.resolve("clients-root.pem"));
        Files.copy(pki.clientCrlPem(), dir.resolve("clients.crl"));
        Files.copy(pki.backendRootPem(), dir.resolve("backend-root.pem"));
        Files.copy(pki.proxyClientForBackend().chainPem(), dir.resolve("proxy-client.pem"));
        Files.copy(pki.proxyClientForBackend().keyPem(), dir.resolve("proxy-client.key"));
        Path conf = Files.writeString(dir.resolve("proxy.conf"), m.group(1));

        ProxyConfig config = ConfigLoader.load(conf);

        assertThat(config.listeners()).hasSize(1);
        assertThat(config.routes()).singleElement().satisfies(r -> assertThat(r.allow()).hasSize(2));
        assertThat(config.backends()).containsKey("orders");
    }
}
