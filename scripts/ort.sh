#!/usr/bin/env bash
# Fetches the ONNX Runtime shared library anther's policy runtime loads, idempotently.
#
# The library is the linux-x64 CPU build shipped inside the onnxruntime-node npm
# package: `npm pack` downloads the tarball (no install scripts run: nothing is
# installed, only the archive is fetched), one file is unpacked from it, its
# sha256 is checked, and it is kept in a cache folder:
#   ${XDG_CACHE_HOME:-$HOME/.cache}/anther/onnxruntime-1.30.0/libonnxruntime.so.1
# anther finds it there (or wherever --ort-lib / ORT_LIB point).
#
#   scripts/ort.sh               fetch if missing or damaged, print what was done
#   scripts/ort.sh --print-path  print the cached library's path only (exit 1 if absent)
# Pinned here and nowhere else (policy/ort.go repeats the version and hash to
# find and check the cache: keep them in step).
set -euo pipefail

ORT_VERSION=1.30.0
ORT_NPM=onnxruntime-node@${ORT_VERSION}
ORT_MEMBER=package/bin/napi-v6/linux/x64/libonnxruntime.so.1
ORT_SHA256=ffb75a925ba05e47b235bb66e3e3911714a80b328a9c9425539feb204aa32a23

cache_dir="${XDG_CACHE_HOME:-$HOME/.cache}/anther/onnxruntime-${ORT_VERSION}"
lib="$cache_dir/libonnxruntime.so.1"

say() { printf 'ort: %s\n' "$*"; }
sha() { sha256sum "$1" | cut -d' ' -f1; }

if [ "${1:-}" = "--print-path" ]; then
	[ -f "$lib" ] || exit 1
	echo "$lib"
	exit 0
fi

if [ -f "$lib" ]; then
	if [ "$(sha "$lib")" = "$ORT_SHA256" ]; then
		say "ONNX Runtime $ORT_VERSION present: $lib (sha256 ok)"
		exit 0
	fi
	say "cached $lib has the wrong sha256: fetching it again"
fi

case "$(uname -s)/$(uname -m)" in
Linux/x86_64) ;;
*)
	say "no prebuilt ONNX Runtime for $(uname -s)/$(uname -m) in $ORT_NPM; set ORT_LIB to a libonnxruntime built for this machine"
	exit 1
	;;
esac
if ! command -v npm >/dev/null 2>&1; then
	say "npm is not on PATH (apt-get install npm) and is needed to fetch $ORT_NPM"
	exit 1
fi

tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT
say "fetching $ORT_NPM with npm pack (tarball only, no install scripts; ~113 MB)"
tarball="$(cd "$tmp" && npm pack --ignore-scripts --silent "$ORT_NPM" | tail -n1)"
say "unpacking $ORT_MEMBER from $tarball"
tar -xzf "$tmp/$tarball" -C "$tmp" "$ORT_MEMBER"
got="$(sha "$tmp/$ORT_MEMBER")"
if [ "$got" != "$ORT_SHA256" ]; then
	say "sha256 mismatch for $ORT_MEMBER: got $got, want $ORT_SHA256"
	exit 1
fi
mkdir -p "$cache_dir"
install -m 0644 "$tmp/$ORT_MEMBER" "$lib.tmp.$$"
mv -f "$lib.tmp.$$" "$lib"
say "ONNX Runtime $ORT_VERSION installed: $lib (sha256 ok)"
