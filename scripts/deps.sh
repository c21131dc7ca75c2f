#!/usr/bin/env bash
# Installs what anther needs on a fresh Debian 12 machine, idempotently:
# only what is missing is installed, and every step says what it did.
# Pinned versions live here and in go.mod, nowhere else.
set -euo pipefail

# Debian packages the build and the tests need. Later capabilities add theirs
# here (libopencv-dev, ffmpeg, mosquitto, chromium, ...).
APT_PACKAGES=(gcc make git ca-certificates libopencv-dev libavcodec-dev libswscale-dev pkg-config ffmpeg chromium locales mosquitto mosquitto-clients)

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

# Independent parquet readers for the dataset tests (they must not share
# code with the writer): npm packages, installed without their scripts into
# .cache/npm-tools (git-ignored). Debian's nodejs/npm are used if none is on PATH.
NPM_TOOLS=(hyparquet@1.31.5 hyparquet-compressors@1.1.2 @duckdb/node-api@1.5.6-r.1)
NPM_DIR=.cache/npm-tools
if ! command -v npm >/dev/null 2>&1; then
	SUDO=""
	[ "$(id -u)" -eq 0 ] || SUDO="sudo"
	say "apt: installing nodejs npm (for the parquet test readers)"
	$SUDO apt-get update -qq
	DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends nodejs npm
fi
npm_missing=()
for spec in "${NPM_TOOLS[@]}"; do
	name=${spec%@*}
	want=${spec##*@}
	have=$(node -p "try{require('./$NPM_DIR/node_modules/$name/package.json').version}catch(e){''}" 2>/dev/null || true)
	[ "$have" = "$want" ] || npm_missing+=("$spec")
done
if [ ${#npm_missing[@]} -eq 0 ]; then
	say "npm test tools: present in $NPM_DIR (${NPM_TOOLS[*]})"
else
	mkdir -p "$NPM_DIR"
	[ -f "$NPM_DIR/package.json" ] || printf '{"name":"anther-test-tools","private":true}\n' >"$NPM_DIR/package.json"
	say "npm test tools: installing ${npm_missing[*]} into $NPM_DIR"
	(cd "$NPM_DIR" && npm install --ignore-scripts --no-audit --no-fund --silent "${NPM_TOOLS[@]}")
fi

# The en_US.UTF-8 locale (ONNX Runtime needs it for string tensors; see
# ../shared/spec/setup.md).
if locale -a 2>/dev/null | grep -qiE '^en_US\.utf-?8$'; then
	say "locale: en_US.UTF-8 present"
else
	SUDO=""
	[ "$(id -u)" -eq 0 ] || SUDO="sudo"
	say "locale: generating en_US.UTF-8"
	$SUDO sed -i 's/^# *en_US.UTF-8 UTF-8/en_US.UTF-8 UTF-8/' /etc/locale.gen
	grep -q '^en_US.UTF-8 UTF-8' /etc/locale.gen || echo 'en_US.UTF-8 UTF-8' | $SUDO tee -a /etc/locale.gen >/dev/null
	$SUDO locale-gen >/dev/null
fi

# The ONNX Runtime shared library for policies (pinned in scripts/ort.sh).
scripts/ort.sh
