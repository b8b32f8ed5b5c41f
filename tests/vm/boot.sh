#!/usr/bin/env bash
# Boot the test VM once under QEMU TCG and wait for it to power off.
#
#   tests/vm/boot.sh --image DIR --share DIR --log FILE [--gpu DEVICE] [--append CMDLINE]
#                    [--timeout SECONDS] [--boot-timeout SECONDS] [--device QEMU-DEVICE]...
#
# DIR (image) is what image.sh printed. The share directory is mounted in the guest at
# /mnt/share (9p); the guest's init runs /mnt/share/run.sh and powers off. root.img is
# opened with snapshot=on, so nothing a guest does survives it.
#   --gpu       QEMU display device (default virtio-gpu-pci,xres=800,yres=600; "none": no device)
#   --append    extra kernel command line (e.g. modprobe.blacklist=virtio_gpu)
#   --timeout   the whole boot, in seconds (default $QUAY_VM_TIMEOUT or 1500)
#   --boot-timeout  seconds allowed to reach the init script (default 300)
#   --device    one more QEMU device (e.g. virtio-tablet-pci), repeatable
#   --stall     seconds the console may stay silent once init is up (default
#               $QUAY_VM_STALL or 180): the
#               guest runner writes a heartbeat line every 10 s while a case runs, so a
#               console silent that long is a frozen guest (seen once, 2026-12-02: a vkms
#               boot went silent at DrmDevice init and stayed so for the whole 1800 s)
# QEMU's monitor (QMP) listens on FILE.qmp. A guest asks the host for QMP commands (moving
# QEMU's pointer: input-send-event) by writing share/qmp/NAME.req, one JSON command per
# line; the host sends them (tests/vm/qmp.py) and writes the replies to share/qmp/NAME.out.
# The serial console goes to FILE. A boot that never reaches the init script (about one
# boot in a dozen panics early under TCG) is retried once; the first attempt's console is
# kept as FILE.attempt1. Mesa's shader cache is shared in as well (tag mesacache,
# $QUAY_VM_CACHE/mesa-shader-cache) so llvmpipe's compiles survive across boots.
# Lines "PASS ..." / "FAIL ..." from the guest are echoed as they appear.
# Exit: 0 the guest ran its init to the end; 2 it never reached init (twice);
#       3 it reached init but stopped before the end (crash, panic); 124 timeout;
#       5 the guest froze (console silent for --stall seconds): run-suite boots again.
set -uo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
. "$HERE/lib.sh"

IMG= SHARE= LOG= GPU=virtio-gpu-pci,xres=800,yres=600 APPEND= TIMEOUT=${QUAY_VM_TIMEOUT:-1500} BOOT_TIMEOUT=300 STALL=${QUAY_VM_STALL:-180}
DEVICES=()
while [ $# -gt 0 ]; do
  case $1 in
    --image) IMG=$2; shift 2 ;;
    --share) SHARE=$2; shift 2 ;;
    --log) LOG=$2; shift 2 ;;
    --gpu) GPU=$2; shift 2 ;;
    --append) APPEND=$2; shift 2 ;;
    --timeout) TIMEOUT=$2; shift 2 ;;
    --boot-timeout) BOOT_TIMEOUT=$2; shift 2 ;;
    --stall) STALL=$2; shift 2 ;;
    --device) [ -n "$2" ] && DEVICES+=(-device "$2"); shift 2 ;;
    *) vm_die "boot.sh: unknown argument $1" ;;
  esac
done
[ -f "$IMG/root.img" ] || vm_die "boot.sh: no image in '$IMG' (run tests/vm/image.sh)"
[ -d "$SHARE" ] || vm_die "boot.sh: share directory '$SHARE' missing"
[ -n "$LOG" ] || vm_die "boot.sh: --log FILE is required"
command -v qemu-system-x86_64 >/dev/null || vm_die "qemu-system-x86_64 missing (apt-get install qemu-system-x86)"
mkdir -p "$(dirname "$LOG")" "$QUAY_VM_CACHE/mesa-shader-cache"

QPID=
trap '[ -n "$QPID" ] && kill $QPID 2>/dev/null' EXIT INT TERM

# attempt: one boot. Returns 0 done, 10 never reached init, 3 stopped after init, 124 timeout,
# 5 frozen.
attempt() {
  local gpuarg=() t0 reached=0 shown=0 n rc size last_size=-1 t_grow
  [ "$GPU" = none ] || gpuarg=(-device "$GPU")
  : > "$LOG"
  t0=$(vm_now)
  # -avx2: QEMU's TCG vpgatherdd was seen (core dumps, Quay on llvmpipe, 2026-12-01) to
  # fault at base - 2^31 for a lane whose index was 0x9348: llvmpipe's bilinear texture
  # fetch crashed in the emulator. Without AVX2, LLVM emits no hardware gathers.
  qemu-system-x86_64 -accel tcg,thread=multi -cpu max,-avx2 -smp 2 -m 3G \
    -nodefaults -no-user-config -display none -monitor none -no-reboot \
    -serial file:"$LOG" \
    -kernel "$IMG/vmlinuz" -initrd "$IMG/initrd.img" \
    -append "root=/dev/vda rw console=ttyS0 init=/sbin/vm-init panic=-1 quiet $APPEND" \
    -drive file="$IMG/root.img",if=virtio,format=raw,snapshot=on \
    -virtfs local,path="$SHARE",mount_tag=share,security_model=none,id=share \
    -virtfs local,path="$QUAY_VM_CACHE/mesa-shader-cache",mount_tag=mesacache,security_model=none,id=mesacache \
    -qmp unix:"$LOG.qmp",server=on,wait=off \
    "${gpuarg[@]}" "${DEVICES[@]}" </dev/null >"$LOG.qemu" 2>&1 &
  QPID=$!
  t_grow=$(vm_now)
  while kill -0 $QPID 2>/dev/null; do
    sleep 1
    # the guest's QMP requests
    for req in "$SHARE"/qmp/*.req; do
      [ -e "$req" ] || continue
      python3 "$HERE/qmp.py" "$LOG.qmp" "$req" > "${req%.req}.out.tmp" 2>&1
      mv "$req" "${req%.req}.sent"; mv "${req%.req}.out.tmp" "${req%.req}.out"
    done
    if [ $reached = 0 ] && grep -q '^vm-init: up' "$LOG"; then
      reached=1; echo "boot: reached init after $(vm_dt "$t0") s"
    fi
    # echo the guest's result lines as they come
    n=$(grep -c '^\(PASS\|FAIL\) ' "$LOG")
    if [ "$n" -gt $shown ]; then
      grep '^\(PASS\|FAIL\) ' "$LOG" | tr -d '\r' | tail -n +$((shown + 1)) | sed 's/^/  guest: /'; shown=$n
    fi
    if [ $reached = 0 ] && [ "$(vm_dt "$t0" | cut -d. -f1)" -ge "$BOOT_TIMEOUT" ]; then
      echo "boot: init not reached within $BOOT_TIMEOUT s"; kill $QPID; wait $QPID 2>/dev/null; QPID=; return 10
    fi
    size=$(stat -c %s "$LOG" 2>/dev/null || echo 0)
    [ "$size" != "$last_size" ] && { last_size=$size; t_grow=$(vm_now); }
    if [ $reached = 1 ] && [ "$(vm_dt "$t_grow" | cut -d. -f1)" -ge "$STALL" ]; then
      echo "boot: FROZE: the console stayed silent for $STALL s (after $(vm_dt "$t0") s; last line: $(tail -n1 "$LOG" | tr -d '\r' | cut -c1-160))"
      # SIGKILL as well: a QEMU that is itself stopped never acts on SIGTERM
      kill $QPID; sleep 2; kill -KILL $QPID 2>/dev/null; wait $QPID 2>/dev/null; QPID=; return 5
    fi
    if [ "$(vm_dt "$t0" | cut -d. -f1)" -ge "$TIMEOUT" ]; then
      echo "boot: timed out after $TIMEOUT s"; kill $QPID; wait $QPID 2>/dev/null; QPID=; return 124
    fi
  done
  wait $QPID; rc=$?; QPID=
  grep -q '^vm-init: up' "$LOG" || { echo "boot: qemu exited (rc $rc) after $(vm_dt "$t0") s before init: $(grep -m1 -E 'Kernel panic|Oops|BUG:' "$LOG" | tr -d '\r')"; return 10; }
  if grep -q '^vm-init: done' "$LOG"; then
    echo "boot: powered off after $(vm_dt "$t0") s"; return 0
  fi
  echo "boot: qemu exited (rc $rc) after $(vm_dt "$t0") s before the guest finished; console tail:"
  tail -15 "$LOG" | tr -d '\r' | sed 's/^/  | /'
  return 3
}

attempt; rc=$?
if [ $rc = 10 ]; then
  mv "$LOG" "$LOG.attempt1"
  echo "boot: RETRY: the first boot never reached the init script (console kept in $LOG.attempt1); booting once more"
  rm -rf "$SHARE/out"; mkdir -p "$SHARE/out"
  attempt; rc=$?
  [ $rc = 10 ] && rc=2
fi
exit $rc
