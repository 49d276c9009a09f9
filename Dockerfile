# syntax=docker/dockerfile:1
# Build: docker build -t mtls-proxy .
# Run:   docker run --rm -p 8443:8443 -p 127.0.0.1:9901:9901 \
#          -v "$PWD/conf:/etc/mtls-proxy:ro" mtls-proxy    (conf/ holds proxy.conf and the files it names)
# The config is read from /etc/mtls-proxy/proxy.conf; relative paths in it resolve against /etc/mtls-proxy.

FROM maven:3.9-eclipse-temurin-17 AS build
WORKDIR /src
COPY pom.xml .
COPY config config
COPY proxy proxy
COPY integration-tests/pom.xml integration-tests/pom.xml
# The tests run in CI (`mvn -B verify`); the image build only packages the runnable jar.
RUN --mount=type=cache,target=/root/.m2 mvn -B -q -pl config,proxy -am package -DskipTests

FROM eclipse-temurin:17-jre
# A fixed numeric non-root user; netty-tcnative and epoll unpack their native libraries to /tmp.
RUN groupadd --system --gid 10001 mtls-proxy \
 && useradd --system --uid 10001 --gid 10001 --home-dir /nonexistent --shell /usr/sbin/nologin mtls-proxy \
 && mkdir -p /opt/mtls-proxy /etc/mtls-proxy
COPY --from=build /src/proxy/target/mtls-proxy.jar /opt/mtls-proxy/mtls-proxy.jar
USER 10001:10001
EXPOSE 8443 9901
ENV JAVA_TOOL_OPTIONS="-XX:MaxRAMPercentage=60 -XX:+ExitOnOutOfMemoryError -Dio.netty.native.workdir=/tmp"
# Probes the admin listener from inside the container (loopback is enough here) with bash alone: no curl in
# the image, and no second JVM every interval.
HEALTHCHECK --interval=10s --timeout=3s --start-period=20s --retries=3 \
  CMD ["bash", "-c", "exec 3<>/dev/tcp/127.0.0.1/9901 && printf 'GET /healthz HTTP/1.0\\r\\n\\r\\n' >&3 && head -n1 <&3 | grep -q ' 200 '"]
ENTRYPOINT ["java", "-jar", "/opt/mtls-proxy/mtls-proxy.jar"]
CMD ["run", "--config", "/etc/mtls-proxy/proxy.conf"]
