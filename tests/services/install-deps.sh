#!/bin/sh
# install-deps.sh PKG... - installs the Debian packages not yet installed.
# Idempotent: does nothing (and needs no network) when all are present.
# Runs apt-get update once per machine state, only when something is missing.
set -eu

missing=""
for p in "$@"; do
	if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null |
		grep -q 'install ok installed'; then
		missing="$missing $p"
	fi
done
[ -z "$missing" ] && exit 0

SUDO=""
if [ "$(id -u)" -ne 0 ]; then
	SUDO="sudo"
fi
echo "install-deps: installing:$missing"
export DEBIAN_FRONTEND=noninteractive
# An old package list may lack a security update's version: update once.
$SUDO apt-get update -q >/dev/null || true
# shellcheck disable=SC2086
$SUDO apt-get install -y -q --no-install-recommends $missing
