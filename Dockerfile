# docgate's image. Two stages:
#   build    Debian bookworm, running the build command of README and CI
#            (scripts/dev build: it installs the build dependencies with apt).
#   runtime  debian:bookworm-slim with only the shared libraries docgate needs
#            (tests/deploy/test_dockerfile.py checks the list against ldd), as a
#            numeric non-root user. No secret is ever copied or passed in.
#
#   docker build --build-arg DOCGATE_REVISION=$(git rev-parse --short=12 HEAD) -t docgate .

FROM debian:bookworm AS build
WORKDIR /src
COPY . .
# .git is not copied (.dockerignore): the revision docgate_build_info reports comes from here.
ARG DOCGATE_REVISION=unknown
ENV DOCGATE_REVISION=${DOCGATE_REVISION}
RUN scripts/dev build

FROM debian:bookworm-slim AS runtime
RUN apt-get update \
 && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends \
      libabsl20220623 libc-ares2 libc6 libmicrohttpd12 libcom-err2 libffi8 libfmt9 libgcc-s1 libgmp10 \
      libgnutls30 libgrpc++1.51 libgrpc29 libgssapi-krb5-2 libhiredis0.14 libhogweed6 libidn2-0 libk5crypto3 \
      libkeyutils1 libkrb5-3 libkrb5support0 libldap-2.5-0 libnettle8 libp11-kit0 libpq5 libpqxx-6.4 \
      libprometheus-cpp-core1.0 libprotobuf32 libre2-9 libsasl2-2 \
      libspdlog1.10 libssl3 libstdc++6 libtasn1-6 libunistring2 zlib1g \
 && rm -rf /var/lib/apt/lists/* \
 && groupadd --gid 10001 docgate \
 && useradd --uid 10001 --gid 10001 --no-create-home --home-dir /nonexistent --shell /usr/sbin/nologin docgate
COPY --from=build /src/build/server/docgate /usr/local/bin/docgate
COPY --from=build /src/build/client/cpp/docgatectl /usr/local/bin/docgatectl
# Numeric, so that Kubernetes can verify runAsNonRoot without reading /etc/passwd.
USER 10001:10001
# gRPC, plaintext health for probes (served while TLS is on), Prometheus /metrics.
EXPOSE 50051 50052 9464
ENTRYPOINT ["/usr/local/bin/docgate"]
