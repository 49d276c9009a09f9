/**
 * Shared test fixtures, published in the proxy's test-jar for the integration tests: they exercise the proxy from
 * outside and depend on none of its classes.
 *
 * <p>Start with {@link org.mtlsproxy.testing.TestPki} (every certificate, key, trust bundle and CRL as PEM files),
 * then {@link org.mtlsproxy.testing.RecordingBackend} (an HTTPS backend that records what reaches it) and
 * {@link org.mtlsproxy.testing.TestHttpClient} (a blocking HTTPS client presenting any test identity).
 * {@link org.mtlsproxy.testing.LeakDetectionListener} and {@link org.mtlsproxy.testing.NoLeaksExtension}, both
 * registered through {@code META-INF/services}, turn every Netty leak report into a test failure.
 */
package org.mtlsproxy.testing;
