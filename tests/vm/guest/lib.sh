# Guest-side helpers for the VM test cases (sourced by run.sh; bash, no python in the guest).
#
# A case is a bash function registered with
#     vm_case NAME BOOT FUNCTION [TIMEOUT_S]
# in a file under cases/. BOOT names the VM configuration it needs (see run-suite: virtio,
# vkms). The function runs in its own session (everything it starts is killed after it),
# with CASE (its name) and CASE_OUT (share/out/NAME/, for its logs) set. It reports
# problems with `fail REASON` (which returns 1, so `... || return` stops the case early);
# the case passes when it returns 0 and no fail was recorded. Metrics go to
# $CASE_OUT/metrics with `metric KEY VALUE`; checks that need the host (pixels of a PNG)
# are requested with `host_check png-nonuniform FILE` (see run-suite).
S=${S:-/mnt/share}
OUT=${OUT:-$S/out}
QUAY=$S/bin/quay
QUAY_SOCKET_NAME=quay-1
WESTON_SOCKET_NAME=wayland-1

declare -A CASE_FN CASE_BOOT CASE_TIMEOUT
CASE_ORDER=()
vm_case() { CASE_FN[$1]=$3; CASE_BOOT[$1]=$2; CASE_TIMEOUT[$1]=${4:-180}; CASE_ORDER+=("$1"); }

# Under TCG every program a script starts costs the guest about 60 ms of CPU (its code is
# translated afresh at its new ASLR addresses; 50 runs of /bin/true took 3.1 s, of awk 4.4 s,
# 2026-12-06), so what runs all the time (the runner's wait, the cases' polls) starts none:
# up, up_cs and sleep are builtins-only. `sleep` here shadows /bin/sleep for every case:
# a read with a timeout on a FIFO that nobody writes.
up() { local u _; read -r u _ < /proc/uptime; echo "$u"; }
# up_cs: the uptime in centiseconds, in UP_CS (/proc/uptime has two decimals)
up_cs() { local u _; read -r u _ < /proc/uptime; UP_CS=$((10#${u/./})); }
NAP_FIFO=/run/quay-vm-nap.fifo
[ -p "$NAP_FIFO" ] || mkfifo "$NAP_FIFO" 2>/dev/null
exec {NAP_FD}<>"$NAP_FIFO"
sleep() { read -r -t "$1" -u "$NAP_FD" _; return 0; }
since() { awk -v a="$1" -v b="$(up)" 'BEGIN { printf "%.1f", b - a }'; }
say() { echo "[$(up)] $*"; }

REASONS=()
fail() { REASONS+=("$*"); say "fail: $*"; return 1; }
metric() { echo "$1=$2" >> "$CASE_OUT/metrics"; say "metric $1=$2"; }
host_check() { echo "$*" >> "$CASE_OUT/host-checks"; }

# expect_ge LABEL VALUE MIN / expect_le LABEL VALUE MAX / expect_eq LABEL VALUE WANT: record a
# failure when not met
expect_ge() { [ "${2:-0}" -ge "$3" ] 2>/dev/null || fail "$1 = ${2:-?}, want >= $3"; }
expect_le() { [ "${2:-x}" -le "$3" ] 2>/dev/null || fail "$1 = ${2:-?}, want <= $3"; }
expect_eq() { [ "${2:-x}" = "$3" ] || fail "$1 = ${2:-?}, want $3"; }

# tail_of FILE [N]: the last N non-empty lines of a log joined into one line (for reasons)
# (FILE "-" reads stdin)
tail_of() {
  { [ "$1" = - ] && cat || cat "$1" 2>/dev/null; } | grep -v '^[[:space:]]*$' | tail -n "${2:-3}" |
    sed 's/\x1b\[[0-9;]*m//g' | tr '\n\r\t' '   ' | sed 's/  */ /g; s/ $//' | cut -c1-400
}

# stuck_report SID: every process of session SID with its state, wait channel and kernel
# stack (for a case that timed out)
stuck_report() {
  local p
  echo "stuck: processes of session $1 at $(up) s"
  for p in $(ps -e -o pid=,sid= | awk -v s="$1" '$2 == s {print $1}'); do
    echo "  pid $p $(tr '\0' ' ' < "/proc/$p/cmdline" 2>/dev/null | cut -c1-120)" \
      "state $(awk '/^State:/ {print $2}' "/proc/$p/status" 2>/dev/null) wchan $(cat "/proc/$p/wchan" 2>/dev/null)"
    sed 's/^/      /' "/proc/$p/stack" 2>/dev/null | head -n 12
  done
}

# ---- devices ----
# card_driver cardN: the DRM driver name of a card (as DRM_IOCTL_VERSION reports it: virtio_gpu,
# vgem, vkms), from debugfs, else from the kernel driver bound to its device
card_driver() {
  local drv
  drv=$(awk '{print $1; exit}' "/sys/kernel/debug/dri/${1#card}/name" 2>/dev/null)
  [ -n "$drv" ] || drv=$(awk -F= '$1 == "DRIVER" {print $2}' "/sys/class/drm/$1/device/uevent" 2>/dev/null)
  [ -n "$drv" ] || drv=$(drm_info "/dev/dri/$1" 2>/dev/null | sed -n 's/.*Driver: \([^ ]*\).*/\1/p' | head -n1)
  echo "${drv:-unknown}"
}
# card_by_driver DRIVER: /dev/dri/cardN of the first card whose driver is DRIVER, or nothing
card_by_driver() {
  local c n
  for c in /sys/class/drm/card[0-9]*; do
    n=$(basename "$c"); case $n in *-*) continue ;; esac
    [ "$(card_driver "$n")" = "$1" ] && { echo "/dev/dri/$n"; return 0; }
  done
  return 1
}
# need_card DRIVER: card node in CARD, waiting up to 15 s for udev; fails the case otherwise
need_card() {
  local i
  for i in $(seq 30); do CARD=$(card_by_driver "$1") && [ -c "$CARD" ] && return 0; sleep 0.5; done
  CARD=; fail "no $1 card (/dev/dri: $(ls /dev/dri 2>/dev/null | tr '\n' ' '))"
}

# ---- compositors ----
WPID= QPID=
# wait_socket NAME PID TIMEOUT LOG: wait for $XDG_RUNTIME_DIR/NAME while PID lives
wait_socket() {
  local name=$1 pid=$2 to=$3 log=$4 t0 rc
  t0=$(up)
  while [ "$(awk -v a="$t0" -v b="$(up)" -v t="$to" 'BEGIN { print (b - a < t) }')" = 1 ]; do
    [ -S "$XDG_RUNTIME_DIR/$name" ] && { say "socket $name up after $(since "$t0") s"; return 0; }
    if ! kill -0 "$pid" 2>/dev/null; then
      wait "$pid"; rc=$?
      fail "compositor exited (rc $rc) before its socket $name appeared: $(tail_of "$log" 4)"; return 1
    fi
    sleep 0.2
  done
  fail "no socket $name after $to s: $(tail_of "$log" 3)"
}

# start_weston ARGS...: weston on socket wayland-1, log in $CASE_OUT/weston.log
start_weston() {
  rm -f "$XDG_RUNTIME_DIR/$WESTON_SOCKET_NAME"*
  say "start weston $*"
  EGL_LOG_LEVEL=warning weston --socket=$WESTON_SOCKET_NAME --idle-time=0 --continue-without-input \
    --log="$CASE_OUT/weston.log" "$@" > "$CASE_OUT/weston.stdout" 2>&1 &
  WPID=$!
  wait_socket $WESTON_SOCKET_NAME $WPID 90 "$CASE_OUT/weston.log" || return 1
  export WAYLAND_DISPLAY=$WESTON_SOCKET_NAME
  weston --version > "$CASE_OUT/weston.version" 2>&1
  # weston's desktop shell holds the first repaints until its shell client has drawn the
  # background and panel (10-20 s under TCG): wait until a client's frames get through
  wait_compositor_ready 90 weston_ready_s
}
# wait_compositor_ready TIMEOUT METRIC: a warm-up weston-simple-shm must get a frame
# presented (3 commits: configure ack, first frame, one after its frame callback) within
# TIMEOUT s; it is ended then and the seconds it took are recorded as METRIC.
wait_compositor_ready() {
  local t0 ok=0
  t0=$(up)
  client_start warmup "$1" weston-simple-shm
  wait_commits warmup 3 "$1" && ok=1
  kill -INT "${CPID[warmup]}" 2>/dev/null; wait "${CPID[warmup]}" 2>/dev/null
  [ $ok = 1 ] || { fail "compositor did not present a warm-up client's frame within $1 s"; return 1; }
  metric "$2" "$(since "$t0")"
}
stop_weston() {
  [ -n "$WPID" ] || return 0
  kill -0 $WPID 2>/dev/null || { wait $WPID; fail "weston died during the case (rc $?): $(tail_of "$CASE_OUT/weston.log")"; WPID=; return 1; }
  kill -TERM $WPID; wait $WPID; say "weston exited rc $?"; WPID=
}

# quay_usable: the Quay binary from the share exists and its libraries resolve
quay_usable() {
  [ -f "$QUAY" ] || { fail "share/bin/quay missing (run-suite copies \$QUAY_BIN there)"; return 1; }
  [ -x "$QUAY" ] || { fail "share/bin/quay is not executable"; return 1; }
  local missing
  missing=$(ldd "$QUAY" 2>&1 | awk '/not found/ {print $1}' | tr '\n' ' ')
  [ -z "$missing" ] || { fail "quay needs libraries missing from the image: $missing"; return 1; }
}
# start_quay ARGS...: Quay's udev backend on socket quay-1, log in $CASE_OUT/quay.log
start_quay() { start_quay_on udev "$@"; }
# start_quay_on BACKEND ARGS...: the same with another backend (headless: no seat, no KMS)
start_quay_on() {
  local backend=$1; shift
  quay_usable || return 1
  rm -f "$XDG_RUNTIME_DIR/$QUAY_SOCKET_NAME"* "$XDG_RUNTIME_DIR/quay.$QUAY_SOCKET_NAME".*
  say "start quay --backend $backend --socket $QUAY_SOCKET_NAME $*"
  LIBSEAT_BACKEND=seatd RUST_LOG=${QUAY_RUST_LOG:-info} RUST_BACKTRACE=1 NO_COLOR=1 \
    "$QUAY" --backend "$backend" --socket $QUAY_SOCKET_NAME "$@" > "$CASE_OUT/quay.log" 2>&1 &
  QPID=$!
  wait_socket $QUAY_SOCKET_NAME $QPID 90 "$CASE_OUT/quay.log" || return 1
  export WAYLAND_DISPLAY=$QUAY_SOCKET_NAME
}
# stop_quay: SIGTERM must end Quay cleanly (exit 0) within 15 s
stop_quay() {
  [ -n "$QPID" ] || return 0
  if ! kill -0 $QPID 2>/dev/null; then
    wait $QPID; local rc=$?; QPID=
    fail "quay died during the case (rc $rc): $(tail_of "$CASE_OUT/quay.log")"; return 1
  fi
  kill -TERM $QPID
  local i rc
  for i in $(seq 75); do kill -0 $QPID 2>/dev/null || break; sleep 0.2; done
  if kill -0 $QPID 2>/dev/null; then
    kill -KILL $QPID; wait $QPID; QPID=; fail "quay did not exit within 15 s of SIGTERM"; return 1
  fi
  wait $QPID; rc=$?; QPID=
  say "quay exited rc $rc"
  [ $rc = 0 ] || fail "quay exited rc $rc on SIGTERM: $(tail_of "$CASE_OUT/quay.log" 2)"
}
# qmsg ARGS...: quay msg against the running Quay (10 s limit); JSON on stdout
qmsg() { timeout 10 "$QUAY" msg --socket $QUAY_SOCKET_NAME "$@"; }
# json_num KEY < JSON: the first number stored under "KEY" (flat JSON, no jq in the guest)
json_num() { grep -o "\"$1\"[[:space:]]*:[[:space:]]*[0-9]*" | head -n1 | grep -o '[0-9]*$'; }

# ---- clients ----
# Each client runs under WAYLAND_DEBUG=client with `timeout -s INT SECS`; its protocol log
# is $CASE_OUT/TAG.wldebug, its other output $CASE_OUT/TAG.out.
declare -A CPID
# need_uinput: /dev/uinput (the uinput module) for the cases that make input devices
# (quay-dmabuf-client --uinput-pen/-keys/-touchpad); the case fails without it.
need_uinput() {
  [ -c /dev/uinput ] || modprobe uinput 2>> "$CASE_OUT/modprobe.err"
  udevadm settle -t 10
  [ -c /dev/uinput ] || { fail "no /dev/uinput: $(cat "$CASE_OUT/modprobe.err" 2>/dev/null)"; return 1; }
}
# quay_has_input NAME SECS: wait until Quay's log says it configured the input device NAME
quay_has_input() {
  local i
  for i in $(seq $(($2 * 2))); do grep -q "device=\"$1\"" "$CASE_OUT/quay.log" && return 0; sleep 0.5; done
  return 1
}
client_start() {  # client_start TAG SECS CMD...
  local tag=$1 secs=$2; shift 2
  say "client $tag: $* (for $secs s)"
  echo "$(up)" > "$CASE_OUT/$tag.t0"
  WAYLAND_DEBUG=client timeout -s INT -k 5 "$secs" "$@" > "$CASE_OUT/$tag.out" 2> "$CASE_OUT/$tag.wldebug" &
  CPID[$tag]=$!
}
# client_commits TAG: commits so far
client_commits() { grep -c 'wl_surface[#@][0-9]*\.commit()' "$CASE_OUT/$1.wldebug" 2>/dev/null; }
# wait_flow TAG FRAMES COMMITS CAP: poll until Quay has presented FRAMES more frames and
# client TAG has committed COMMITS more times. Events, not a rate: a slow TCG guest only takes
# longer; the caller fails on the counts only past CAP seconds (a stall). Sets FLOW_FRAMES,
# FLOW_COMMITS and FLOW_S (seconds it took).
wait_flow() {
  local tag=$1 nf=$2 nc=$3 cap=$4 f0 c0 f c t0 i
  t0=$(up); f0=$(qmsg stats | json_num frames_presented_total); c0=$(client_commits "$tag")
  f=$f0; c=$c0
  for i in $(seq $((cap * 2))); do
    sleep 0.5
    f=$(qmsg stats | json_num frames_presented_total); c=$(client_commits "$tag")
    [ $((${f:-0} - ${f0:-0})) -ge "$nf" ] && [ $((${c:-0} - ${c0:-0})) -ge "$nc" ] && break
  done
  FLOW_FRAMES=$((${f:-0} - ${f0:-0})); FLOW_COMMITS=$((${c:-0} - ${c0:-0})); FLOW_S=$(since "$t0")
}
# wait_commits TAG N TIMEOUT: wait until the client has committed N times (or exited)
wait_commits() {
  local i
  for i in $(seq $(($3 * 2))); do
    [ "$(client_commits "$1")" -ge "$2" ] && return 0
    kill -0 "${CPID[$1]}" 2>/dev/null || return 1
    sleep 0.5
  done
  return 1
}
# client_wait TAG: wait for it, then set C_RC C_COMMITS C_RELEASES C_CREATED C_FAILED
# C_ERRORS C_PRESENTED C_FPS (steady state) and write $CASE_OUT/TAG.summary
client_wait() {
  local tag=$1 log=$CASE_OUT/$1.wldebug
  wait "${CPID[$tag]}"; C_RC=$?
  C_WALL=$(since "$(cat "$CASE_OUT/$tag.t0")")
  C_COMMITS=$(grep -c 'wl_surface[#@][0-9]*\.commit()' "$log")
  C_RELEASES=$(grep -c 'wl_buffer[#@][0-9]*\.release()' "$log")
  # created: the event after create(), or a create_immed() request
  C_CREATED=$(grep -c 'zwp_linux_buffer_params_v1[#@][0-9]*\.\(created(\|create_immed(\)' "$log")
  C_FAILED=$(grep -c 'zwp_linux_buffer_params_v1[#@][0-9]*\.failed(' "$log")
  C_ERRORS=$(grep -c 'wl_display[#@]1\.error(' "$log")
  C_PRESENTED=$(grep -c 'wp_presentation_feedback[#@][0-9]*\.presented(' "$log")
  # steady fps: commits after the first two (the first frames carry shader compiles)
  C_FPS=$(grep 'wl_surface[#@][0-9]*\.commit()' "$log" | sed -n 's/^\[ *\([0-9.]*\)\].*/\1/p' |
    awk 'NR == 3 { a = $1 } { l = $1; n = NR } END { if (n >= 5 && l > a) printf "%.2f", (n - 3) / ((l - a) / 1000); else print "n/a" }')
  # first commit, in s after the client's first protocol message
  C_FIRST=$(awk '!/^\[ *[0-9]/ { next } { t = $0; sub(/^\[ */, "", t); sub(/\].*/, "", t) }
    a == "" { a = t } /wl_surface[#@][0-9]*\.commit\(\)/ { printf "%.1f", (t - a) / 1000; exit }' "$log")
  echo "rc=$C_RC wall=${C_WALL}s commits=$C_COMMITS releases=$C_RELEASES dmabuf_created=$C_CREATED dmabuf_failed=$C_FAILED protocol_errors=$C_ERRORS presented=$C_PRESENTED steady_fps=$C_FPS first_commit_after=${C_FIRST:-n/a}s" |
    tee "$CASE_OUT/$tag.summary" | sed "s/^/[$(up)] client $tag: /"
  grep 'wl_display[#@]1\.error(' "$log" | head -3 | sed 's/^/    /'
}
# client_ok: the client ran until its timeout (124) or exited 0
client_ok() {
  [ "$C_RC" = 0 ] || [ "$C_RC" = 124 ] && return 0
  [ "$C_RC" = 137 ] && { fail "client still running 5 s after SIGINT (killed; $C_COMMITS commits)"; return 1; }
  fail "client exited rc $C_RC: $(grep -v '^\[' "$CASE_OUT/$1.wldebug" | cat "$CASE_OUT/$1.out" - | tail_of - 2)"
}
# run_client TAG SECS CMD...: client_start + client_wait
run_client() { client_start "$@"; client_wait "$1"; }
# client_stop TAG: SIGINT to a client still running (timeout passes it on), then
# client_wait. One that ended on it (rc 0, or 130 killed by it) ran until stopped, as one
# timeout stopped (124) did.
client_stop() {
  kill -INT "${CPID[$1]}" 2>/dev/null
  client_wait "$1"
  case "$C_RC" in 0|130) C_RC=124 ;; esac
}
# run_until TAG N CAP CMD...: run a client until it has committed N times, then stop it.
# A count of events, not a rate: a slow TCG guest only takes longer; CAP seconds is a cap
# only a stall reaches (the caller's expect_ge on C_COMMITS then fails).
run_until() {
  local tag=$1 n=$2 cap=$3; shift 3
  client_start "$tag" "$cap" "$@"
  wait_commits "$tag" "$n" "$cap"
  client_stop "$tag"
}
