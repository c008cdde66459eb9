# orgscim: a static binary on distroless, running as a non-root user.
#
#   docker build -t orgscim .
#   docker run --rm -p 8080:8080 -v orgscim-data:/data orgscim
#
# Base images are pinned by digest (image:tag@sha256:...): a tag can be moved to another
# image, a digest cannot, so the build's inputs are exactly the reviewed ones. The tag
# stays for the reader. Both digests are those of the multi-platform image indexes as
# published (golang:1.26.8-bookworm in September 2026, distroless static-debian12:nonroot
# in August 2026). To move to a newer build, look the digest up and replace it, e.g.
#   docker buildx imagetools inspect golang:1.26.8-bookworm --format '{{json .Manifest.Digest}}'
# The Go version must stay the one go.mod names (GOTOOLCHAIN=local below).

# --- build -----------------------------------------------------------------------------
FROM golang:1.26.8-bookworm@sha256:a688600ca24f8a4d3ca77f95b0dd40704a9fc787c826660eb7ba0b641b8b175d AS build
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
FROM gcr.io/distroless/static-debian12:nonroot@sha256:f5b485ea962d9bd1186b2f6b3a061191539b905b82ec395de78cbfae51f20e35
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
