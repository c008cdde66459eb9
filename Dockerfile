# orgscim: a static binary on distroless, running as a non-root user.
#
#   docker build -t orgscim .
#   docker run --rm -p 8080:8080 -v orgscim-data:/data orgscim
#
# Base images are pinned by tag; pin them by digest too (image@sha256:...) where builds
# must be reproducible bit for bit.

# --- build -----------------------------------------------------------------------------
FROM golang:1.26.8-bookworm AS build
# The toolchain of the image is the one go.mod names; never download another.
ENV GOTOOLCHAIN=local CGO_ENABLED=0
WORKDIR /src
COPY go.mod go.sum ./
RUN go mod download && go mod verify
COPY . .
# Pure Go throughout (the SQLite driver included), so CGO_ENABLED=0 gives a static binary.
RUN go build -trimpath -ldflags="-s -w" -o /out/orgscim ./cmd/orgscim \
 && mkdir -p /out/data

# --- run -------------------------------------------------------------------------------
FROM gcr.io/distroless/static-debian12:nonroot
COPY --from=build /out/orgscim /orgscim
# /data belongs to the non-root user (65532), so that a new named volume mounted there
# inherits that owner and the embedded SQLite database can be written.
COPY --from=build --chown=65532:65532 /out/data /data
USER 65532:65532
# The embedded SQLite default; set a postgres://... URL for production and replicas.
ENV ORGSCIM_DATABASE_URL=sqlite:/data/orgscim.db
VOLUME /data
EXPOSE 8080
ENTRYPOINT ["/orgscim"]
CMD ["serve", "--addr", "0.0.0.0:8080"]
