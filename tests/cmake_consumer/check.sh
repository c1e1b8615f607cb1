#!/usr/bin/env bash
# Installs docgate from BUILD_DIR into a temporary prefix, builds this folder's
# project against it with find_package(docgate), and runs it against an address
# where nothing listens: it must link, run, and report UNAVAILABLE (exit 14).
set -euo pipefail
build_dir=$1
here=$(cd "$(dirname "$0")" && pwd)
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
cmake --install "$build_dir" --prefix "$work/prefix" >/dev/null
cmake -S "$here" -B "$work/build" -DCMAKE_PREFIX_PATH="$work/prefix" -DCMAKE_BUILD_TYPE=Release >/dev/null
cmake --build "$work/build" -j 2 >/dev/null
set +e
"$work/build/consumer" 127.0.0.1:1
status=$?
set -e
if [ "$status" -ne 14 ]; then
  echo "consumer exited $status, expected 14 (UNAVAILABLE)" >&2
  exit 1
fi
echo "the installed client builds and runs in an outside project"
