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
for lib in $(ldd "$BIN" | grep -o '/[^ ]*'); do
  mkdir -p "$CTX/rootfs$(dirname "$lib")"
  cp -L "$lib" "$CTX/rootfs$lib"
done
cat >"$CTX/Dockerfile" <<'DOCKERFILE'
FROM scratch
COPY rootfs/ /
ENTRYPOINT ["/quorate"]
DOCKERFILE
docker build -q -t quorate:local "$CTX" >/dev/null
echo "quorate:local built: $(docker image inspect quorate:local --format '{{.Size}}') bytes, $(ls "$CTX/rootfs"/lib* "$CTX/rootfs"/usr 2>/dev/null | grep -c so) shared libraries"
