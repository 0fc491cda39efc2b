#!/bin/sh
# Regenerates ../data.txt from @faker-js/faker, installed in a temporary
# directory (nothing is added to the repository but the data file).
set -eu
version=10.6.0
here=$(cd "$(dirname "$0")" && pwd)
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
cp "$here/gen.mjs" "$tmp/"
(cd "$tmp" && npm install --silent --no-audit --no-fund "@faker-js/faker@$version" >/dev/null)
(cd "$tmp" && FAKER_VERSION=$version node gen.mjs) >"$here/../data.txt"
