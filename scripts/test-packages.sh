#!/usr/bin/env bash
# Prints "race PKG" or "plain PKG" for every package: the race detector is on
# for packages that do not link big cgo libraries (it slows those builds by
# minutes on a 2-core CI machine and finds nothing in C code).
set -euo pipefail
heavy='gocv.io/x/gocv|github.com/yalue/onnxruntime_go'
go list -f '{{.ImportPath}} {{join .Deps " "}}' ./... | while read -r pkg deps; do
	if echo " $deps " | grep -Eq " ($heavy) "; then echo "plain $pkg"; else echo "race $pkg"; fi
done
