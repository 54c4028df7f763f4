# syntax=docker/dockerfile:1
# Pylon's container image: a static binary on a distroless base, run as an
# unprivileged user. Build: docker build --build-arg VERSION=v0.1.0 -t pylon .

FROM golang:1.26-bookworm AS build
ENV CGO_ENABLED=0 GOTOOLCHAIN=local
WORKDIR /src
COPY go.mod go.sum ./
RUN go mod download
COPY cmd ./cmd
COPY internal ./internal
ARG VERSION=dev
RUN go build -trimpath -ldflags "-s -w -X pylon.io/pylon/internal/cli.Version=${VERSION}" -o /out/pylon ./cmd/pylon

FROM gcr.io/distroless/static-debian12:nonroot
COPY --from=build /out/pylon /usr/local/bin/pylon
USER 65532:65532
EXPOSE 8080 8443 9100
ENTRYPOINT ["/usr/local/bin/pylon"]
