#!/usr/bin/env bash
# Build imfault's local base image (Debian bookworm minbase + python3) without any registry:
# debootstrap a root file system, then `docker import` it.
#
# usage: docker/build-base.sh TAG [LABEL=VALUE ...]
# The mirror is taken from $IMFAULT_DEBIAN_MIRROR, else from apt's own configuration
# (/etc/apt/sources.list*), else http://deb.debian.org/debian. Needs root and debootstrap
# (scripts/docker-engine installs both the engine and debootstrap).
set -euo pipefail

tag="${1:?usage: build-base.sh TAG [LABEL=VALUE ...]}"
shift

find_mirror() {
    if [ -n "${IMFAULT_DEBIAN_MIRROR:-}" ]; then echo "$IMFAULT_DEBIAN_MIRROR"; return; fi
    local uri
    uri="$(grep -hsE '^URIs:' /etc/apt/sources.list.d/*.sources 2>/dev/null \
        | awk '{print $2}' | grep -v security | head -n1 || true)"
    if [ -z "$uri" ]; then
        uri="$(grep -hsE '^deb ' /etc/apt/sources.list /etc/apt/sources.list.d/*.list 2>/dev/null \
            | awk '{for (i=2;i<=NF;i++) if ($i ~ /^https?:/) {print $i; exit}}' \
            | grep -v security | head -n1 || true)"
    fi
    echo "${uri:-http://deb.debian.org/debian}"
}

mirror="$(find_mirror)"
rootfs="$(mktemp -d /tmp/imfault-rootfs.XXXXXX)"
trap 'rm -rf "$rootfs"' EXIT

echo "build-base: debootstrap bookworm (minbase + python3) from $mirror" >&2
debootstrap --variant=minbase --include=python3-minimal,python3 bookworm "$rootfs" "$mirror" \
    >"$rootfs.log" 2>&1 || { tail -n 30 "$rootfs.log" >&2; rm -f "$rootfs.log"; exit 1; }
rm -f "$rootfs.log"

# Trim what a node never needs: package caches, docs, man pages, locales.
rm -rf "$rootfs"/var/cache/apt/archives/*.deb "$rootfs"/var/lib/apt/lists/* \
    "$rootfs"/usr/share/doc/* "$rootfs"/usr/share/man/* "$rootfs"/usr/share/locale/*

import_args=(--change 'CMD ["python3"]' --change 'ENV LANG=C.UTF-8')
for label in "$@"; do
    import_args+=(--change "LABEL $label")
done
tar -C "$rootfs" -c . | docker import "${import_args[@]}" - "$tag" >/dev/null
echo "build-base: imported $tag" >&2
