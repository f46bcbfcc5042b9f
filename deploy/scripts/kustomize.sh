#!/usr/bin/env bash
# kustomize, pinned: runs .cache/kustomize-<version>/kustomize with the given arguments, building it
# first with `go install` (from the Go module proxy; about a minute, once) when it is not there yet.
#
#   deploy/scripts/kustomize.sh build deploy/k8s/overlays/son-la
#   KUSTOMIZE=/path/to/kustomize deploy/scripts/kustomize.sh ...     (use that binary instead)
#
# Used by deploy/k8s/check.py and tests/unit/test_deploy_static.py, so that the manifests are built by
# the same kustomize everywhere, whatever kubectl or kustomize the machine has (or not).
set -euo pipefail

VERSION=v5.7.1
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
DIR="$ROOT/.cache/kustomize-$VERSION"
BIN="$DIR/kustomize"

if [[ -n "${KUSTOMIZE:-}" ]]; then
  exec "$KUSTOMIZE" "$@"
fi

if [[ ! -x "$BIN" ]]; then
  if ! command -v go >/dev/null; then
    echo "kustomize.sh: Go is needed to build kustomize $VERSION (or set KUSTOMIZE=/path/to/kustomize)" >&2
    exit 2
  fi
  echo "kustomize.sh: building kustomize $VERSION into $DIR (once)" >&2
  mkdir -p "$DIR"
  tmp="$(mktemp -d "$DIR/.build.XXXXXX")"
  trap 'rm -rf "$tmp"' EXIT
  # -modcacherw: a module cache that `rm -rf` (make clean, CI caches) can delete
  GOBIN="$tmp" GOFLAGS="${GOFLAGS:-} -modcacherw" go install "sigs.k8s.io/kustomize/kustomize/v5@$VERSION" >&2
  mv -f "$tmp/kustomize" "$BIN"  # atomic: a concurrent run sees no half-written binary
fi

exec "$BIN" "$@"
