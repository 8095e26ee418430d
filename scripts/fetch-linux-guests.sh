#!/usr/bin/env bash
# Fetches Debian's stock kernels (amd64 and 686) and busybox-static from the
# distribution's packages, and builds two initramfs images from busybox:
#   initramfs-test-<arch>.cpio.gz   /init prints XLAT-BOOT-OK and powers off
#   initramfs-shell-<arch>.cpio.gz  /init starts a shell on the console
# and one image per further scripts/initramfs/<kind>.init (with the modules
# that <kind>.modules names), and keeps the kernel's modules tree.
# Everything lands in a cache outside the repository:
#   ${XLAT_GUESTS:-$HOME/.cache/xlat-guests}
# Nothing here is committed. Safe to run again: finished files are kept.
set -euo pipefail

out="${XLAT_GUESTS:-$HOME/.cache/xlat-guests}"
here="$(cd "$(dirname "$0")" && pwd)"
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
need depmod kmod

# The versioned package a meta package (linux-image-amd64) points at.
resolve() {
    apt-cache depends "$1" 2>/dev/null | awk '/Depends: linux-image-[0-9]/ { print $2; exit }'
}

# The modules must come from the same package as the kernel, so a missing
# modules tree fetches both again.
fetched() {
    [ -s "$out/vmlinuz-$1" ] && [ -s "$out/busybox-$1" ] && [ -d "$out/modules-$1" ]
}

fetch_arch() {
    local arch="$1" meta="$2" suffix="$3"
    local kernel="$out/vmlinuz-$suffix"
    local bb="$out/busybox-$suffix"
    local modules="$out/modules-$suffix"
    fetched "$suffix" && return
    local pkg
    pkg="$(resolve "$meta")"
    [ -n "$pkg" ] || { echo "fetch: cannot resolve $meta" >&2; exit 1; }
    (cd "$work" && apt-get download -q "$pkg" "busybox-static:$arch")
    mkdir -p "$work/$suffix"
    for deb in "$work"/*.deb; do dpkg-deb -x "$deb" "$work/$suffix"; done
    cp "$(ls "$work/$suffix"/boot/vmlinuz-* | head -n 1)" "$kernel"
    cp "$work/$suffix/bin/busybox" "$bb"
    rm -rf "$modules"
    mkdir -p "$modules/lib/modules"
    cp -a "$work/$suffix"/lib/modules/* "$modules/lib/modules/"
    # The package leaves modules.dep to the installer's depmod.
    local version
    version="$(basename "$(ls -d "$modules"/lib/modules/*/ | head -n 1)")"
    depmod -b "$modules" "$version"
    rm -rf "$work/$suffix"
    # Images built from an older kernel's modules are stale now.
    rm -f "$out"/initramfs-*-"$suffix".cpio.gz
    rm -f "$work"/*.deb
    echo "fetch: $pkg -> $kernel"
}

# Copies module NAME and everything modules.dep says it needs into the image,
# and appends them to /etc/modules in load order (dependencies first).
add_module() {
    local suffix="$1" root="$2" name="$3"
    local tree
    tree="$(ls -d "$out/modules-$suffix"/lib/modules/*/ | head -n 1)"
    local line
    line="$(grep -E "(^|/)$name\.ko[^:]*:" "$tree/modules.dep" | head -n 1)" ||
        { echo "fetch: module $name not in $tree" >&2; exit 1; }
    local target="${line%%:*}" deps="${line#*:}"
    # modules.dep lists a module's needs so that the last one loads first.
    local reversed="" dep
    for dep in $deps; do reversed="$dep $reversed"; done
    for dep in $reversed "$target"; do
        local ko="/lib/modules/$(basename "$dep" | sed 's/\.ko.*$/.ko/')"
        grep -qx "$ko" "$root/etc/modules" 2>/dev/null && continue
        mkdir -p "$root/lib/modules"
        case "$dep" in
            *.xz) xz -dc "$tree/$dep" > "$root$ko" ;;
            *.zst) zstd -qdc "$tree/$dep" > "$root$ko" ;;
            *) cp "$tree/$dep" "$root$ko" ;;
        esac
        echo "$ko" >> "$root/etc/modules"
    done
}

# Builds initramfs-KIND-ARCH.cpio.gz from busybox and scripts/initramfs/KIND.init;
# scripts/initramfs/KIND.modules (optional) names kernel modules to include,
# listed in /etc/modules in load order for the init script to insmod;
# scripts/initramfs/KIND.c (optional) is built with gcc, without libc, into
# /bin/KIND.
initramfs() {
    local suffix="$1" kind="$2"
    local image="$out/initramfs-$kind-$suffix.cpio.gz"
    [ -s "$image" ] && return
    local root="$work/root-$kind-$suffix"
    mkdir -p "$root"/{bin,dev,proc,sys,tmp,etc}
    cp "$out/busybox-$suffix" "$root/bin/busybox"
    for app in sh mount poweroff reboot cat ls dmesg echo uname setsid cttyhack insmod \
        sleep seq dd md5sum sync; do
        ln -sf busybox "$root/bin/$app"
    done
    cp "$here/initramfs/$kind.init" "$root/init"
    chmod +x "$root/init"
    # scripts/initramfs/KIND.c (optional): a freestanding helper, /bin/KIND.
    if [ -f "$here/initramfs/$kind.c" ]; then
        local bits=64
        [ "$suffix" = 686 ] && bits=32
        gcc -m$bits -static -nostdlib -ffreestanding -fno-stack-protector \
            -fno-pie -no-pie -Os -o "$root/bin/$kind" "$here/initramfs/$kind.c"
    fi
    if [ -f "$here/initramfs/$kind.modules" ]; then
        local name
        while read -r name; do
            case "$name" in ''|'#'*) continue ;; esac
            add_module "$suffix" "$root" "$name"
        done < "$here/initramfs/$kind.modules"
    fi
    (cd "$root" && find . | cpio -o -H newc --quiet | gzip -9) > "$image"
    echo "fetch: built $image"
}

# A mirror caught mid-sync can fail one index; what it has is enough.
apt-get update -q >/dev/null 2>&1 || true
fetch_arch amd64 linux-image-amd64 amd64

# The i386 packages need the i386 architecture only for the download; the
# exit trap removes it again.
if ! fetched 686 && ! dpkg --print-foreign-architectures | grep -qx i386; then
    dpkg --add-architecture i386
    added_i386=yes
    apt-get update -q >/dev/null 2>&1 || true
fi
fetch_arch i386 linux-image-686:i386 686

for arch in amd64 686; do
    for init in "$here"/initramfs/*.init; do
        initramfs "$arch" "$(basename "$init" .init)"
    done
done
echo "fetch: guests in $out"
