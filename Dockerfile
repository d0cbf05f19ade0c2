# Builds tollgate-server, tollgate-proxy and the tollgate CLI; the runtime image holds only the binaries.
FROM rust:1-bookworm AS build
WORKDIR /src
COPY . .
RUN cargo build --release --locked -p tollgate-server -p tollgate-proxy -p tollgate-cli

FROM debian:bookworm-slim
RUN apt-get update && apt-get install -y --no-install-recommends ca-certificates curl \
    && rm -rf /var/lib/apt/lists/* \
    && useradd --system --uid 10001 --user-group --home /var/lib/tollgate --create-home tollgate \
    && mkdir -p /var/lib/tollgate/proxy && chown tollgate /var/lib/tollgate/proxy
COPY --from=build /src/target/release/tollgate-server /src/target/release/tollgate-proxy /src/target/release/tollgate /usr/local/bin/
USER tollgate
WORKDIR /var/lib/tollgate
ENV TOLLGATE_DATA_DIR=/var/lib/tollgate
EXPOSE 8001 8000 9000
CMD ["tollgate-server"]
