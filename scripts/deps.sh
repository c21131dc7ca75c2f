#!/usr/bin/env bash
# Installs what anther needs on a fresh Debian 12 machine, idempotently:
# only what is missing is installed, and every step says what it did.
# Pinned versions live here and in go.mod, nowhere else.
set -euo pipefail

# Debian packages the build and the tests need. Later capabilities add theirs
# here (libopencv-dev, ffmpeg, mosquitto, chromium, ...).
APT_PACKAGES=(gcc make git ca-certificates libopencv-dev libavcodec-dev libswscale-dev pkg-config ffmpeg chromium)

say() { printf 'deps: %s\n' "$*"; }

missing=()
for p in "${APT_PACKAGES[@]}"; do
	if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed'; then
		missing+=("$p")
	fi
done
if [ ${#missing[@]} -eq 0 ]; then
	say "apt: all ${#APT_PACKAGES[@]} packages present (${APT_PACKAGES[*]})"
else
	SUDO=""
	[ "$(id -u)" -eq 0 ] || SUDO="sudo"
	say "apt: installing ${missing[*]}"
	$SUDO apt-get update -qq
	DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi

if ! command -v go >/dev/null 2>&1; then
	say "go is not on PATH; install Go 1.26 (https://go.dev/dl) and retry"
	exit 1
fi
say "go: $(go version | cut -d' ' -f3-)"
go mod download
say "go modules: downloaded"
