#!/bin/bash
# Guest-side test runner: copied to share/run.sh and started by /sbin/vm-init.
# share/run.env (written by run-suite) sets BOOT (the VM configuration), CASES (names, in
# order) and MODULES (what to load: modprobe, or insmod of share/modules/NAME.ko).
# For every case it prints exactly one line, `PASS <case>` or `FAIL <case>: <reason>`,
# and leaves share/out/<case>/{result,seconds,case.log,...}.
#   run.sh                 the whole run
#   run.sh --case NAME     one case, in this process (run.sh starts it so, in its own session)
S=/mnt/share
OUT=$S/out
. "$S/lib.sh"
for f in "$S"/cases/*.sh; do . "$f"; done
[ -f "$S/run.env" ] && . "$S/run.env"
export XDG_RUNTIME_DIR=/run/user/0
export MESA_SHADER_CACHE_DIR=/var/cache/mesa-shader-cache
export LIBSEAT_BACKEND=seatd

if [ "${1:-}" = --case ]; then
  CASE=$2 CASE_OUT=$OUT/$2
  say "case $CASE (${CASE_FN[$CASE]})"
  "${CASE_FN[$CASE]}"; rc=$?
  stop_quay 2>/dev/null; stop_weston 2>/dev/null   # whatever the case left running
  if [ ${#REASONS[@]} = 0 ] && [ $rc = 0 ]; then
    echo "PASS $CASE" > "$CASE_OUT/result"
  else
    [ ${#REASONS[@]} -gt 0 ] || REASONS=("case function returned $rc")
    r=$(printf '%s; ' "${REASONS[@]}"); r=${r%; }
    echo "FAIL $CASE: $(printf '%s' "$r" | tr '\n\r' '  ')" > "$CASE_OUT/result"
  fi
  exit 0
fi

section() { echo; echo "##### $* (uptime $(up) s)"; }
section "system"
uname -a; cat /proc/cmdline; nproc; grep MemTotal /proc/meminfo
echo "BOOT=$BOOT MODULES=$MODULES"
echo "CASES=$CASES"

# Mesa's shader cache persists on the host (second 9p share); llvmpipe under TCG compiles slowly.
mkdir -p "$MESA_SHADER_CACHE_DIR"
mount -t 9p -o trans=virtio,version=9p2000.L,msize=262144 mesacache "$MESA_SHADER_CACHE_DIR" ||
  echo "no mesacache share: shader cache is per boot"

section "modules"
: > "$OUT/modules.failed"
for m in $MODULES; do
  if [ -f "$S/modules/$m.ko" ]; then
    case $m in
      vkms) modprobe drm_kms_helper; modprobe drm_shmem_helper
        args="enable_cursor=1 enable_writeback=1 enable_overlay=1" ;;
      *) args= ;;
    esac
    # shellcheck disable=SC2086
    if insmod "$S/modules/$m.ko" $args 2>&1; then echo "insmod $m: OK"; else echo "$m" >> "$OUT/modules.failed"; echo "insmod $m: FAILED"; fi
  else
    if modprobe "$m" 2>&1; then echo "modprobe $m: OK"; else echo "$m" >> "$OUT/modules.failed"; echo "modprobe $m: FAILED"; fi
  fi
done
udevadm settle -t 30
echo "settled at $(up) s"

section "devices"
ls -l /dev/dri /dev/udmabuf /dev/dma_heap 2>&1
for c in /sys/class/drm/card[0-9]*; do
  n=$(basename "$c"); case $n in *-*) continue ;; esac
  echo "$n: driver $(card_driver "$n") (debugfs name: $(cat "/sys/kernel/debug/dri/${n#card}/name" 2>/dev/null)," \
    "device $(readlink -f "$c/device"), bound to $(basename "$(readlink "$c/device/driver" 2>/dev/null)" 2>/dev/null))"
done

# crashing processes leave cores in the share (analyse on the host with gdb)
ulimit -c unlimited
mkdir -p "$OUT/cores"; echo "$OUT/cores/core.%e.%p" > /proc/sys/kernel/core_pattern

mkdir -p -m 700 "$XDG_RUNTIME_DIR"
seatd -l info > "$OUT/seatd.log" 2>&1 &
SEATD=$!
for i in $(seq 50); do [ -S /run/seatd.sock ] && break; sleep 0.2; done
[ -S /run/seatd.sock ] && echo "seatd up" || echo "seatd did not come up: $(tail_of "$OUT/seatd.log")"

section "cases"
for c in $CASES; do
  d=$OUT/$c
  rm -rf "$d"; mkdir -p "$d"
  if [ -z "${CASE_FN[$c]:-}" ]; then
    echo "FAIL $c: no such case in share/cases" | tee "$d/result"; continue
  fi
  to=${CASE_TIMEOUT[$c]}
  t0=$(up); up_cs; end_cs=$((UP_CS + to * 100))
  setsid "$S/run.sh" --case "$c" > "$d/case.log" 2>&1 &
  pid=$!
  beat=0
  # this loop runs through every case: it starts no process (lib.sh: sleep, up_cs)
  while kill -0 $pid 2>/dev/null && up_cs && [ "$UP_CS" -lt "$end_cs" ]; do
    sleep 0.5
    # a heartbeat on the serial console, not through the 9p share: the host (boot.sh) takes
    # a console that stays silent for minutes as a frozen guest and boots again
    beat=$((beat + 1)); [ $((beat % 20)) = 0 ] && echo "vm-heartbeat $(up) $c" > /dev/console
  done
  if kill -0 $pid 2>/dev/null; then
    # where the case's processes are stuck (kernel stacks), on the console as well: a process
    # blocked on the share would block this write to the share too
    stuck_report $pid > /tmp/stuck.txt 2>&1
    cat /tmp/stuck.txt > /dev/console
    cp /tmp/stuck.txt "$d/stuck.txt"
    echo "FAIL $c: timed out after $to s; last log: $(tail_of "$d/case.log" 2)" > "$d/result"
  fi
  # the case ran in its own session: end whatever it left behind
  kill -TERM -- -$pid 2>/dev/null && sleep 1
  kill -KILL -- -$pid 2>/dev/null
  wait $pid 2>/dev/null
  since "$t0" > "$d/seconds"
  [ -s "$d/result" ] || echo "FAIL $c: the case produced no result; log: $(tail_of "$d/case.log" 2)" > "$d/result"
  head -n1 "$d/result"
  sync
done

kill $SEATD 2>/dev/null
section "end"
dmesg | grep -iE 'segfault|BUG|Oops|WARNING|drm.*(error|fail)' | tail -20
echo "run.sh: finished at $(up) s"
touch "$OUT/runner-finished"
