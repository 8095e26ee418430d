#!/usr/bin/env bash
# Fetches Debian's stock kernels (amd64 and 686) and busybox-static from the
# distribution's packages, and builds two initramfs images from busybox:
#   initramfs-test-<arch>.cpio.gz   /init prints XLAT-BOOT-OK and powers off
#   initramfs-shell-<arch>.cpio.gz  /init starts a shell on the console
# Everything lands in a cache outside the repository:
#   ${XLAT_GUESTS:-$HOME/.cache/xlat-guests}
# Nothing here is committed. Safe to run again: finished files are kept.
set -euo pipefail

out="${XLAT_GUESTS:-$HOME/.cache/xlat-guests}"
mkdir -p "$out"
work="$(mktemp -d)"
chmod 755 "$work"
added_i386=no
cleanup() {
    rm -rf "$work"
    if [ "$added_i386" = yes ]; then
        dpkg --remove-architecture i386 || true
        apt-get update -q >/dev/null 2>&1 || true
    fi
}
trap cleanup EXIT

need() { command -v "$1" >/dev/null || { apt-get update -q && apt-get install -y -q "$2"; }; }
need cpio cpio
need dpkg-deb dpkg

# The versioned package a meta package (linux-image-amd64) points at.
resolve() {
    apt-cache depends "$1" 2>/dev/null | awk '/Depends: linux-image-[0-9]/ { print $2; exit }'
}

fetch_arch() {
    local arch="$1" meta="$2" suffix="$3"
    local kernel="$out/vmlinuz-$suffix"
    local bb="$out/busybox-$suffix"
    if [ -s "$kernel" ] && [ -s "$bb" ]; then
        return
    fi
    local pkg
    pkg="$(resolve "$meta")"
    [ -n "$pkg" ] || { echo "fetch: cannot resolve $meta" >&2; exit 1; }
    (cd "$work" && apt-get download -q "$pkg" "busybox-static:$arch")
    mkdir -p "$work/$suffix"
    for deb in "$work"/*.deb; do dpkg-deb -x "$deb" "$work/$suffix"; done
    cp "$(ls "$work/$suffix"/boot/vmlinuz-* | head -n 1)" "$kernel"
    cp "$work/$suffix/bin/busybox" "$bb"
    rm -f "$work"/*.deb
    echo "fetch: $pkg -> $kernel"
}

initramfs() {
    local suffix="$1" kind="$2"
    local image="$out/initramfs-$kind-$suffix.cpio.gz"
    [ -s "$image" ] && return
    local root="$work/root-$kind-$suffix"
    mkdir -p "$root"/{bin,dev,proc,sys,tmp,etc}
    cp "$out/busybox-$suffix" "$root/bin/busybox"
    for app in sh mount poweroff reboot cat ls dmesg echo uname setsid cttyhack; do
        ln -sf busybox "$root/bin/$app"
    done
    if [ "$kind" = test ]; then
        cat > "$root/init" <<'INIT'
#!/bin/busybox sh
mount -t proc proc /proc
mount -t sysfs sysfs /sys
echo "XLAT-BOOT-OK $(uname -m) $(cat /proc/cmdline)"
poweroff -f
INIT
    else
        cat > "$root/init" <<'INIT'
#!/bin/busybox sh
mount -t proc proc /proc
mount -t sysfs sysfs /sys
mount -t devtmpfs devtmpfs /dev 2>/dev/null
echo "xlat: busybox shell (poweroff -f to leave)"
exec setsid cttyhack sh
INIT
    fi
    chmod +x "$root/init"
    (cd "$root" && find . | cpio -o -H newc --quiet | gzip -9) > "$image"
    echo "fetch: built $image"
}

# A mirror caught mid-sync can fail one index; what it has is enough.
apt-get update -q >/dev/null 2>&1 || true
fetch_arch amd64 linux-image-amd64 amd64

# The i386 packages need the i386 architecture only for the download; the
# exit trap removes it again.
if [ ! -s "$out/vmlinuz-686" ] && ! dpkg --print-foreign-architectures | grep -qx i386; then
    dpkg --add-architecture i386
    added_i386=yes
    apt-get update -q >/dev/null 2>&1 || true
fi
fetch_arch i386 linux-image-686:i386 686

for arch in amd64 686; do
    initramfs "$arch" test
    initramfs "$arch" shell
done
echo "fetch: guests in $out"
