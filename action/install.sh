#!/usr/bin/env bash
# The GitHub Action's install step: download the release archive of `policy` for this runner,
# verify its SHA-256 against the release's checksum file before anything from it runs, and
# unpack it into $DEST/bin. Testable outside GitHub: tests/suite/release.rs serves release
# assets from 127.0.0.1 and runs this script against good, tampered and missing archives.
#
#   VERSION   `latest`, `X.Y.Z` or `vX.Y.Z`; empty means the release of the action's own tag
#             ($ACTION_REF, e.g. `v0.2.0`), else `latest`
#   REPO      owner/name the releases belong to (default: $GITHUB_ACTION_REPOSITORY)
#   BASE_URL  where releases are served (default: https://github.com/$REPO/releases)
#   DEST      install prefix (default: $RUNNER_TEMP/policy-cli); the binaries go to $DEST/bin
#   TARGET    Rust target triple (default: this machine's)
set -euo pipefail

fail() {
  echo "::error title=policy action::$*" >&2
  exit 2
}

REPO=${REPO:-${GITHUB_ACTION_REPOSITORY:-}}
BASE_URL=${BASE_URL:-https://github.com/${REPO}/releases}
DEST=${DEST:-${RUNNER_TEMP:-/tmp}/policy-cli}
VERSION=${VERSION:-}
if [ -z "$VERSION" ]; then
  case "${ACTION_REF:-}" in
    v[0-9]*.[0-9]*.[0-9]*) VERSION=${ACTION_REF} ;;
    *) VERSION=latest ;;
  esac
fi

if [ -z "${TARGET:-}" ]; then
  os=$(uname -s)
  arch=$(uname -m)
  case "$os/$arch" in
    Linux/x86_64) TARGET=x86_64-unknown-linux-gnu ;;
    Linux/aarch64 | Linux/arm64) TARGET=aarch64-unknown-linux-gnu ;;
    Darwin/arm64) TARGET=aarch64-apple-darwin ;;
    MINGW*/x86_64 | MSYS*/x86_64 | CYGWIN*/x86_64) TARGET=x86_64-pc-windows-msvc ;;
    *) fail "no release binary for $os/$arch; use 'version: action' to build from source" ;;
  esac
fi

case "$TARGET" in
  *windows*) ext=zip ;;
  *) ext=tar.gz ;;
esac

# `latest` resolves through the release page's redirect to its tag.
if [ "$VERSION" = latest ]; then
  tag=$(curl -fsSL -o /dev/null -w '%{url_effective}' "$BASE_URL/latest") ||
    fail "cannot reach $BASE_URL/latest to find the latest release"
  tag=${tag##*/}
  case "$tag" in
    v[0-9]*) ;;
    *) fail "$BASE_URL/latest names no release tag (got '$tag')" ;;
  esac
else
  tag=v${VERSION#v}
fi
version=${tag#v}
asset="policy-${version}-${TARGET}.${ext}"
url="$BASE_URL/download/$tag/$asset"

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
fetch() {
  local code
  code=$(curl -sSL -o "$2" -w '%{http_code}' "$1") || fail "cannot download $1"
  [ "$code" = 200 ] || fail "release $tag has no asset $(basename "$1") (HTTP $code from $1)"
}
fetch "$url" "$work/$asset"
fetch "$url.sha256" "$work/$asset.sha256"

want=$(awk '{print $1; exit}' "$work/$asset.sha256")
case "$want" in
  [0-9a-f][0-9a-f]*) ;;
  *) fail "$asset.sha256 of release $tag holds no SHA-256" ;;
esac
if command -v sha256sum >/dev/null; then
  got=$(sha256sum "$work/$asset" | awk '{print $1}')
else
  got=$(shasum -a 256 "$work/$asset" | awk '{print $1}')
fi
[ "${#want}" = 64 ] && [ "$got" = "$want" ] ||
  fail "$asset of release $tag does not match its SHA-256 (expected $want, got $got): refusing to run it"

mkdir -p "$DEST/bin"
if [ "$ext" = zip ]; then
  unzip -q -o "$work/$asset" -d "$work/unpacked"
else
  mkdir -p "$work/unpacked"
  tar -xzf "$work/$asset" -C "$work/unpacked"
fi
found=0
for bin in policy policy-gateway policy.exe policy-gateway.exe; do
  path=$(find "$work/unpacked" -type f -name "$bin" | head -n 1)
  if [ -n "$path" ]; then
    cp "$path" "$DEST/bin/$bin"
    chmod +x "$DEST/bin/$bin"
    found=1
  fi
done
[ "$found" = 1 ] || fail "$asset of release $tag holds no policy binary"
echo "installed policy $version ($TARGET) into $DEST/bin, SHA-256 $got verified"
