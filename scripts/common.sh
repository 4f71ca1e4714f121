# Helpers sourced by the scripts in this directory (not run on its own).

# build_sim [cargo options...]: builds quorate-sim in release mode and prints the path of the
# executable cargo made, wherever it put it (CARGO_TARGET_DIR, .cargo/config, --target-dir).
# Fails (status 1, with a message on stderr) if the build fails or names no executable.
build_sim() {
  local json exe
  json=$(cargo build --release -p quorate-sim --message-format=json-render-diagnostics "$@") || {
    echo "building quorate-sim failed" >&2
    return 1
  }
  exe=$(printf '%s\n' "$json" | sed -n 's/.*"executable":"\([^"]*\)".*/\1/p' | grep '/quorate-sim\(\.exe\)\?$' | tail -n 1)
  if [ -z "$exe" ] || [ ! -x "$exe" ]; then
    echo "cargo built quorate-sim but reported no executable for it (got '${exe}')" >&2
    return 1
  fi
  printf '%s\n' "$exe"
}
