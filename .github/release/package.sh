#!/usr/bin/env bash
# Pack the release binaries of one target the way action/install.sh unpacks them:
# dist/policy-VERSION-TARGET.tar.gz (zip on Windows) holding policy-VERSION-TARGET/{policy,
# policy-gateway, README.md, docs/, schema/} (the README links into docs/ and schema/), and
# next to it the archive's SHA-256 file (`HEX  NAME`).
#   .github/release/package.sh TARGET TAG      e.g. x86_64-unknown-linux-gnu v0.2.0
set -euo pipefail
target=$1
version=${2#v}
name="policy-${version}-${target}"
mkdir -p "dist/$name"
exe=""
case "$target" in *windows*) exe=.exe ;; esac
for bin in policy policy-gateway; do
  if [ -f "target/$target/release/$bin$exe" ]; then
    cp "target/$target/release/$bin$exe" "dist/$name/"
  fi
done
[ -f "dist/$name/policy$exe" ] || { echo "no policy binary for $target" >&2; exit 1; }
cp -R README.md docs schema "dist/$name/"
cd dist
if [ -n "$exe" ]; then
  7z a -tzip "$name.zip" "$name" >/dev/null
  archive="$name.zip"
else
  tar -czf "$name.tar.gz" "$name"
  archive="$name.tar.gz"
fi
if command -v sha256sum >/dev/null; then
  sha256sum "$archive" > "$archive.sha256"
else
  shasum -a 256 "$archive" > "$archive.sha256"
fi
rm -rf "$name"
cat "$archive.sha256"
