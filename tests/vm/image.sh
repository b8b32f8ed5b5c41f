#!/usr/bin/env bash
# Build (or reuse) the test VM image: a Debian trixie root filesystem as an ext4 image,
# the Debian kernel and initrd, and out-of-tree vkms.ko + sw_sync.ko for that kernel
# (Debian builds neither).
#
#   tests/vm/image.sh          build if needed; last stdout line: the image directory
#   tests/vm/image.sh --dir    only print the image directory (nothing is built)
#
# The image lives in $QUAY_VM_CACHE/<key>/ where <key> is the first 16 hex digits of a
# sha256 over this script, vm-init.sh, the guest package list and the kernel versions.
# It is built in a temporary directory and renamed into place only when complete, so an
# interrupted build is never taken for a cache hit. Old image directories are removed
# after a successful build. Needs root, mmdebstrap, e2fsprogs and network access to a
# Debian mirror (the host's own, trixie suite).
#
# Env: QUAY_VM_CACHE, QUAY_VM_EXTRA_PKGS (more guest packages, space-separated),
#      QUAY_VM_KVER / QUAY_VM_SRCVER (kernel ABI and source version; pinned so the
#      image and the modules always match).
set -euo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
. "$HERE/lib.sh"

# Pinned: the rootfs gets exactly this kernel and the modules are built against its
# headers. If the mirror has moved on, `apt-cache policy linux-image-amd64` (trixie) tells
# the new ABI; bump both together.
KVER=${QUAY_VM_KVER:-6.12.107+deb13-amd64}
SRCVER=${QUAY_VM_SRCVER:-6.12.107-1}
PKGS=(
  "linux-image-$KVER" kmod udev initramfs-tools zstd
  libegl-mesa0 libegl1 libgbm1 libgl1-mesa-dri libgles2 mesa-utils mesa-utils-bin
  libdrm-tests drm-info
  weston seatd libseat1 libinput10 libxkbcommon0 libpixman-1-0 libudev1
  libwayland-server0 libwayland-client0 wayland-utils wlr-randr
  v4l-utils strace procps psmisc fonts-dejavu-core xkb-data
)
# shellcheck disable=SC2206
PKGS+=(${QUAY_VM_EXTRA_PKGS:-})

KEY=$( { cat "$HERE/image.sh" "$HERE/vm-init.sh"; echo "${PKGS[*]}|$KVER|$SRCVER"; } | sha256sum | cut -c1-16)
DIR=$QUAY_VM_CACHE/$KEY
if [ "${1:-}" = --dir ]; then echo "$DIR"; exit 0; fi

[ "$(id -u)" = 0 ] || vm_die "image.sh must run as root (mmdebstrap --mode=root, chroot)"
mkdir -p "$QUAY_VM_CACHE"
exec 9> "$QUAY_VM_CACHE/.image.lock"
flock 9   # one builder at a time; a second caller waits, then finds the cache hit

if [ -f "$DIR/complete" ]; then
  vm_log "image $KEY: cached ($DIR)"
  echo "$DIR"
  exit 0
fi

for c in mmdebstrap mkfs.ext4; do command -v $c >/dev/null || vm_die "$c missing (apt-get install mmdebstrap e2fsprogs)"; done
# remove_tree DIR: unmount anything an interrupted mmdebstrap left mounted below DIR, then
# delete it without ever crossing into another file system (a bind-mounted /dev, /sys).
remove_tree() {
  local m mounts
  [ -e "$1" ] || return 0
  mounts=$(findmnt -rn -o TARGET | grep -F "$1/" | sort -r) || true
  for m in $mounts; do umount -l "$m"; done
  rm -rf --one-file-system "$1"
}
for d in "$QUAY_VM_CACHE"/.tmp-*; do remove_tree "$d"; done   # interrupted builds (we hold the lock)
TMP=$QUAY_VM_CACHE/.tmp-$KEY-$$
P1= P2=
cleanup() {
  local p
  for p in $P1 $P2; do pkill -TERM -P "$p" 2>/dev/null; kill "$p" 2>/dev/null; done
  wait 2>/dev/null
  remove_tree "$TMP"
}
trap cleanup EXIT
trap 'exit 130' INT TERM
mkdir -p "$TMP/modules" "$TMP/log"
T0=$(vm_now)
vm_log "image $KEY: building in $TMP (logs in $TMP/log while it runs)"

vm_trixie_apt
t=$(vm_now)
apt-get $APTOPT update >"$TMP/log/apt-update.log" 2>&1 || { cat "$TMP/log/apt-update.log" >&2; vm_die "apt-get update (trixie) failed"; }
apt-cache $APTOPT show "linux-image-$KVER" >/dev/null 2>&1 ||
  vm_die "linux-image-$KVER is not on the mirror any more; trixie has $(apt-cache $APTOPT depends linux-image-amd64 2>/dev/null | awk '/Depends: linux-image-/ {print $2}'); set QUAY_VM_KVER/QUAY_VM_SRCVER (or bump them in image.sh)"
vm_log "  trixie apt lists: $(vm_dt "$t") s"

DPKGOPT=(--dpkgopt='path-exclude=/usr/share/man/*' --dpkgopt='path-exclude=/usr/share/doc/*'
  --dpkgopt='path-include=/usr/share/doc/*/copyright' --dpkgopt='path-exclude=/usr/share/locale/*'
  --dpkgopt='path-exclude=/usr/share/info/*')

build_rootfs() {
  local t IFS=,
  t=$(vm_now)
  mmdebstrap --mode=root --variant=apt --include="${PKGS[*]}" "${DPKGOPT[@]}" \
    --essential-hook='mkdir -p "$1/etc/initramfs-tools/conf.d"; echo MODULES=list > "$1/etc/initramfs-tools/conf.d/vm.conf"; printf "virtio_pci\nvirtio_blk\next4\n" > "$1/etc/initramfs-tools/modules"' \
    --customize-hook='echo vmtest > "$1/etc/hostname"; sed -i "s/^root:[^:]*:/root::/" "$1/etc/shadow"' \
    --customize-hook='rm -rf "$1"/var/cache/apt/archives/*.deb "$1"/var/lib/apt/lists/*' \
    trixie "$TMP/rootfs" "$SOURCES"
  unset IFS
  echo "rootfs (mmdebstrap): $(vm_dt "$t") s, $(du -sh "$TMP/rootfs" | cut -f1)"
  t=$(vm_now)
  install -m755 "$HERE/vm-init.sh" "$TMP/rootfs/sbin/vm-init"
  [ -f "$TMP/rootfs/boot/vmlinuz-$KVER" ] || { echo "no /boot/vmlinuz-$KVER in the rootfs"; return 1; }
  cp -L "$TMP/rootfs/boot/vmlinuz-$KVER" "$TMP/vmlinuz"
  cp -L "$TMP/rootfs/boot/initrd.img-$KVER" "$TMP/initrd.img"
  local mb=$(( $(du -sm "$TMP/rootfs" | cut -f1) * 13 / 10 + 256 ))
  truncate -s "${mb}M" "$TMP/root.img"
  mkfs.ext4 -q -F -L vmroot -d "$TMP/rootfs" "$TMP/root.img"
  rm -rf --one-file-system "$TMP/rootfs"
  echo "ext4 image: $(vm_dt "$t") s, ${mb} MiB apparent, $(du -sh "$TMP/root.img" | cut -f1) on disk"
}

# vkms and sw_sync out of tree, in a throw-away trixie chroot with the kernel's headers,
# from the linux-source package of the same version.
build_modules() {
  local t KB=$TMP/kbuild DL=$QUAY_VM_CACHE/dl
  t=$(vm_now)
  mmdebstrap --mode=root --variant=apt --include="linux-headers-$KVER,make,xz-utils" "${DPKGOPT[@]}" \
    trixie "$KB" "$SOURCES"
  echo "module build chroot (mmdebstrap): $(vm_dt "$t") s"
  t=$(vm_now)
  mkdir -p "$DL"
  if [ ! -f "$DL/linux-source-6.12_${SRCVER}_all.deb" ]; then
    rm -f "$DL"/linux-source-6.12_*.deb
    (cd "$DL" && apt-get $APTOPT download "linux-source-6.12=$SRCVER")
  fi
  local S=$KB/root/src/linux-source-6.12 W=$KB/root/src
  mkdir -p "$W"
  dpkg-deb --fsys-tarfile "$DL/linux-source-6.12_${SRCVER}_all.deb" | tar -x -O './usr/src/linux-source-6.12.tar.xz' |
    tar -xJ -C "$W" --wildcards 'linux-source-6.12/drivers/gpu/drm/vkms/*' \
      'linux-source-6.12/drivers/dma-buf/sw_sync.c' 'linux-source-6.12/drivers/dma-buf/sync_debug.*' \
      'linux-source-6.12/drivers/dma-buf/sync_trace.h'
  echo "kernel source download+extract: $(vm_dt "$t") s"
  t=$(vm_now)
  # vkms: the upstream Makefile works as-is with CONFIG_DRM_VKMS=m
  mkdir -p "$W/vkms" "$W/sw_sync"
  cp "$S"/drivers/gpu/drm/vkms/*.[ch] "$S"/drivers/gpu/drm/vkms/Makefile "$W/vkms/"
  # sw_sync: sw_sync.c + sync_debug.c as one module
  cp "$S"/drivers/dma-buf/sync_debug.[ch] "$S"/drivers/dma-buf/sync_trace.h "$W/sw_sync/"
  cp "$S"/drivers/dma-buf/sw_sync.c "$W/sw_sync/sw_sync_core.c"
  sed -i 's|#define TRACE_INCLUDE_PATH .*|#define TRACE_INCLUDE_PATH .|' "$W/sw_sync/sync_trace.h"
  # built in only upstream: its late_initcall becomes module_init (the module cannot unload)
  sed -i '1i #include <linux/module.h>' "$W/sw_sync/sync_debug.c"
  sed -i 's/^late_initcall(sync_debugfs_init);/module_init(sync_debugfs_init);/' "$W/sw_sync/sync_debug.c"
  # sync_file_get_name() is not exported; it is only used by the debugfs "info" dump
  sed -i 's/sync_file_get_name(sync_file, buf, sizeof(buf))/"sync_file"/' "$W/sw_sync/sync_debug.c"
  printf '#include <linux/module.h>\nMODULE_LICENSE("GPL");\nMODULE_DESCRIPTION("sw_sync (drivers/dma-buf/sw_sync.c built out of tree) for tests");\n' \
    > "$W/sw_sync/sw_sync_mod.c"
  printf 'obj-m := sw_sync.o\nsw_sync-y := sw_sync_core.o sync_debug.o sw_sync_mod.o\nccflags-y += -I$(src)\n' \
    > "$W/sw_sync/Makefile"
  local m
  for m in vkms sw_sync; do
    chroot "$KB" make -C "/usr/src/linux-headers-$KVER" M="/root/src/$m" CONFIG_DRM_VKMS=m modules -j2
  done
  cp "$W/vkms/vkms.ko" "$W/sw_sync/sw_sync.ko" "$TMP/modules/"
  rm -rf --one-file-system "$KB"
  echo "module compile: $(vm_dt "$t") s ($(cd "$TMP/modules" && ls -s --block-size=K | tail -n +2 | tr '\n' ' '))"
}

# Both mostly wait on the network and dpkg: run them side by side.
build_rootfs > "$TMP/log/rootfs.log" 2>&1 & P1=$!
build_modules > "$TMP/log/modules.log" 2>&1 & P2=$!
rc1=0; wait $P1 || rc1=$?
rc2=0; wait $P2 || rc2=$?
for f in rootfs modules; do grep -E '^[a-z].*: [0-9.]+ s' "$TMP/log/$f.log" | sed 's/^/vm:   /' >&2 || true; done
[ $rc1 = 0 ] || { tail -30 "$TMP/log/rootfs.log" >&2; vm_die "rootfs build failed (rc $rc1)"; }
[ $rc2 = 0 ] || { tail -30 "$TMP/log/modules.log" >&2; vm_die "module build failed (rc $rc2)"; }

{ echo "key=$KEY"; echo "kver=$KVER"; echo "srcver=$SRCVER"; echo "packages=${PKGS[*]}"
  echo "built=$(date -u +%FT%TZ) in $(vm_dt "$T0") s"; } > "$TMP/complete"
mv -T "$TMP" "$DIR"
trap - EXIT
for old in "$QUAY_VM_CACHE"/*/complete; do
  old=$(dirname "$old"); [ "$old" = "$DIR" ] || { vm_log "removing old image $old"; rm -rf --one-file-system "$old"; }
done
vm_log "image $KEY: built in $(vm_dt "$T0") s ($DIR)"
echo "$DIR"
