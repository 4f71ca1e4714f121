#!/usr/bin/env bash
# Builds the node's Docker image, `quorate:local`, from the release binary: an image FROM
# scratch holding the binary and the shared libraries ldd names (no registry, no download at
# build time). Prints the image's size.
set -euo pipefail
cd "$(dirname "$0")/.."
cargo build --release -q -p quorate-server
BIN=target/release/quorate
CTX=$(mktemp -d)
trap 'rm -rf "$CTX"' EXIT
mkdir -p "$CTX/rootfs/data" "$CTX/rootfs/tmp"
cp "$BIN" "$CTX/rootfs/quorate"
libs=0
for lib in $(ldd "$BIN" | grep -o '/[^ ]*'); do
  mkdir -p "$CTX/rootfs$(dirname "$lib")"
  cp -L "$lib" "$CTX/rootfs$lib"
  libs=$((libs + 1))
done
cat >"$CTX/Dockerfile" <<'DOCKERFILE'
FROM scratch
COPY rootfs/ /
ENTRYPOINT ["/quorate"]
DOCKERFILE
# The legacy builder warns that it is deprecated: shown only if the build fails.
docker build -q -t quorate:local "$CTX" >"$CTX/build.log" 2>&1 || { cat "$CTX/build.log" >&2; exit 1; }
echo "quorate:local built: $(docker image inspect quorate:local --format '{{.Size}}') bytes (the binary and $libs shared libraries)"
