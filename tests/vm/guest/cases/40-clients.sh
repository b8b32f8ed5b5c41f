# Quay with the project's own Rust client on real kernel dma-bufs, and the
# weston-vs-Quay baseline (information, not assertions, beyond "it ran").
# The client is share/bin/quay-dmabuf-client (run-suite copies $QUAY_CLIENT_BIN).
vm_case quay-udev-virtio-dmabuf-heap virtio case_quay_dmabuf_heap 180
vm_case quay-udev-virtio-udmabuf virtio case_quay_udmabuf 180
vm_case quay-udev-virtio-dmabuf-two-clients virtio case_quay_dmabuf_two_clients 180
vm_case quay-screencopy-dmabuf virtio case_quay_screencopy_dmabuf 180
vm_case quay-udev-virtio-dmabuf-offset virtio case_quay_dmabuf_offset 180
vm_case bench-weston-vs-quay virtio case_bench 900
# The same on Quay's GLES engine (issue #11): llvmpipe through kms_swrast, so client
# dma-bufs take the upload fallback (mapped under DMA_BUF_IOCTL_SYNC, copied into a texture
# Quay holds, one entry per kernel dma-buf): the same pixels, the same one entry for K
# wl_buffers and for two clients. shm windows are entries too on GLES, and whether a window's
# first (shm) buffer was drawn before its dma-buf replaced it is a race, so the counts are of
# dma-buf entries (dmabuf_imports_total), not of every entry (imports_total).
vm_case quay-udev-virtio-dmabuf-heap-gles virtio case_quay_dmabuf_heap_gles 240
vm_case quay-udev-virtio-udmabuf-gles virtio case_quay_udmabuf_gles 240
vm_case quay-udev-virtio-dmabuf-two-clients-gles virtio case_quay_dmabuf_two_clients_gles 240
case_quay_dmabuf_heap_gles() { QUAY_RENDERER=gles case_quay_dmabuf_heap; }
case_quay_udmabuf_gles() { QUAY_RENDERER=gles case_quay_udmabuf; }
case_quay_dmabuf_two_clients_gles() { QUAY_RENDERER=gles case_quay_dmabuf_two_clients; }
vm_case quay-screencopy-dmabuf-gles virtio case_quay_screencopy_dmabuf_gles 240
vm_case quay-udev-virtio-dmabuf-offset-gles virtio case_quay_dmabuf_offset_gles 240
case_quay_screencopy_dmabuf_gles() { QUAY_RENDERER=gles case_quay_screencopy_dmabuf; }
case_quay_dmabuf_offset_gles() { QUAY_RENDERER=gles case_quay_dmabuf_offset; }

# (the share is /mnt/share in the guest; run-suite also reads this file on the host)
qclient() { echo "${S:-/mnt/share}/bin/quay-dmabuf-client"; }

# dmabuf_client_shot TAG PNG ARGS...: run the client with a 5 s linger; once it says READY
# (all frames done, window still up) take the stats (stats-live.json) and the window list
# (windows-live.json, topmost first), then a screenshot into
# PNG, then wait for its report. Stats first: on GLES under TCG the screenshot alone can take
# longer than the linger, and stats taken after it saw the client gone.
dmabuf_client_shot() {
  local tag=$1 png=$2; shift 2
  local qc; qc=$(qclient)
  [ -x "$qc" ] || { fail "share/bin/quay-dmabuf-client missing"; return 1; }
  say "client $tag: quay-dmabuf-client $* --linger-ms 5000"
  timeout 120 "$qc" "$@" --linger-ms 5000 > "$CASE_OUT/$tag.json" 2> "$CASE_OUT/$tag.err" &
  local pid=$! i rc
  for i in $(seq 200); do
    grep -q READY "$CASE_OUT/$tag.err" 2>/dev/null && break
    kill -0 $pid 2>/dev/null || break
    sleep 0.5
  done
  if grep -q READY "$CASE_OUT/$tag.err" 2>/dev/null; then
    qmsg stats > "$CASE_OUT/stats-live.json" 2>&1
    qmsg windows > "$CASE_OUT/windows-live.json" 2>&1
    screenshot "$png"
  else
    fail "$tag: never READY"
  fi
  wait $pid; rc=$?
  say "client $tag rc=$rc: $(cat "$CASE_OUT/$tag.json")"
  [ $rc = 0 ] || { fail "$tag: rc $rc: $(tail_of "$CASE_OUT/$tag.json" 1) $(tail_of "$CASE_OUT/$tag.err" 2)"; return 1; }
  grep -q '"ok":true' "$CASE_OUT/$tag.json" || { fail "$tag: report not ok"; return 1; }
}

# scenario_start TAG NAME: `quay-dmabuf-client --syncobj-test NAME` in the background, its
# report in TAG.json; returns once it prints READY (its windows are up) or exits.
scenario_start() {
  local qc i; qc=$(qclient)
  timeout 120 "$qc" --syncobj-test "$2" > "$CASE_OUT/$1.json" 2> "$CASE_OUT/$1.err" &
  SCENARIO_PID=$!
  for i in $(seq 120); do grep -q READY "$CASE_OUT/$1.err" 2>/dev/null && break; kill -0 $SCENARIO_PID 2>/dev/null || break; sleep 0.5; done
}
# scenario_end TAG NAME: wait for it; fails the case unless it exited 0 with an ok report
scenario_end() {
  wait $SCENARIO_PID; local rc=$?
  say "client $2 rc=$rc: $(cat "$CASE_OUT/$1.json")"
  [ $rc = 0 ] && grep -q '"ok":true' "$CASE_OUT/$1.json" ||
    { fail "$2: rc $rc $(tail_of "$CASE_OUT/$1.json" 1) $(tail_of "$CASE_OUT/$1.err" 2)"; return 1; }
}

# dmabuf_client TAG ARGS...: run the client (no WAYLAND_DEBUG: its JSON report is the record)
dmabuf_client() {
  local tag=$1; shift
  local qc; qc=$(qclient)
  [ -x "$qc" ] || { fail "share/bin/quay-dmabuf-client missing"; return 1; }
  say "client $tag: quay-dmabuf-client $*"
  timeout 120 "$qc" "$@" > "$CASE_OUT/$tag.json" 2> "$CASE_OUT/$tag.err"
  local rc=$?
  say "client $tag rc=$rc: $(cat "$CASE_OUT/$tag.json")"
  [ $rc = 0 ] || { fail "$tag: rc $rc: $(tail_of "$CASE_OUT/$tag.json" 1) $(tail_of "$CASE_OUT/$tag.err" 2)"; return 1; }
  grep -q '"ok":true' "$CASE_OUT/$tag.json" || { fail "$tag: report not ok"; return 1; }
}

# dmabuf_refused TAG REASON ARGS...: quay-dmabuf-client with ARGS must get `failed` for its
# buffer, counted under dmabuf_failed_REASON_total (and under no other reason).
dmabuf_refused() {
  local tag=$1 reason=$2; shift 2
  local qc before after r; qc=$(qclient)
  before=$(qmsg stats)
  timeout 60 "$qc" "$@" > "$CASE_OUT/$tag.json" 2> "$CASE_OUT/$tag.err"
  say "client $tag rc=$?: $(cat "$CASE_OUT/$tag.json")"
  grep -q '"error":"params failed"' "$CASE_OUT/$tag.json" || fail "$tag: not answered failed: $(tail_of "$CASE_OUT/$tag.json" 1)"
  after=$(qmsg stats)
  for r in not_dmabuf stat unsupported_layout incomplete mapping refused; do
    local d=$(( $(json_num "dmabuf_failed_${r}_total" <<< "$after") - $(json_num "dmabuf_failed_${r}_total" <<< "$before") ))
    if [ "$r" = "$reason" ]; then expect_eq "$tag: failed for $r" "$d" 1; else expect_eq "$tag: failed for $r" "$d" 0; fi
  done
}

# A window of real dma-heap buffers (3 wl_buffers on one dma-buf) on Quay: all created,
# every frame presented, and the screenshot shows the colour (checked on the host).
case_quay_dmabuf_heap() {
  quay_on virtio_gpu || return 1
  wait_outputs 60 || { stop_quay; return 1; }
  dmabuf_client_shot heap heap.png --source heap --size 200x150 --color 0xff20c040 --buffers 3 --frames 60
  expect_eq "heap presented" "$(json_num presented < "$CASE_OUT/heap.json")" 60
  [ -f "$CASE_OUT/heap.png" ] && host_check pixel heap.png 100 75 32 192 64
  # One kernel dma-buf behind 3 wl_buffers: one renderer import, two cache hits.
  local s=$CASE_OUT/stats-live.json
  metric imports_total "$(json_num imports_total < "$s")"
  metric import_cache_hits "$(json_num import_cache_hits < "$s")"
  expect_eq "dma-buf imports while shown" "$(json_num dmabuf_imports_total < "$s")" 1
  expect_eq "import cache hits while shown" "$(json_num import_cache_hits < "$s")" 2
  expect_eq "dma-bufs live while shown" "$(json_num dmabufs_live < "$s")" 1
  # The client is gone: its import is released (after the next frame's cleanup).
  local i live=
  for i in $(seq 20); do
    live=$(qmsg stats | json_num dmabufs_live)
    [ "$live" = 0 ] && break
    sleep 0.5
  done
  expect_eq "dma-bufs live after the client exited" "$live" 0
  # A real dma-buf whose stride is shorter than a row (smithay's bounds check passes:
  # offset + stride * height fits): pixman refuses it as incomplete.
  dmabuf_refused short-stride incomplete --source heap --size 64x64 --stride 252 --frames 1
  stop_quay
}

# One kernel dma-buf, two clients (two connections, one wl_buffer each): one renderer
# import, one cache hit, one live entry while both show it; none after they exit.
case_quay_dmabuf_two_clients() {
  quay_on virtio_gpu || return 1
  wait_outputs 60 || { stop_quay; return 1; }
  local i
  scenario_start share share
  qmsg stats > "$CASE_OUT/stats-shown.json"
  screenshot share.png && host_check pixel share.png 100 100 32 192 64
  scenario_end share share
  local s=$CASE_OUT/stats-shown.json
  metric imports_total "$(json_num imports_total < "$s")"
  metric import_cache_hits "$(json_num import_cache_hits < "$s")"
  expect_eq "clients live while shown" "$(json_num clients_live < "$s")" 2
  expect_eq "dma-buf imports for one dma-buf in two clients" "$(json_num dmabuf_imports_total < "$s")" 1
  expect_eq "cache hits (the second client)" "$(json_num import_cache_hits < "$s")" 1
  expect_eq "dma-bufs live while shown" "$(json_num dmabufs_live < "$s")" 1
  local live=
  for i in $(seq 20); do live=$(qmsg stats | json_num dmabufs_live); [ "$live" = 0 ] && break; sleep 0.5; done
  expect_eq "dma-bufs live after both exited" "$live" 0
  stop_quay
}

case_quay_udmabuf() {
  quay_on virtio_gpu || return 1
  wait_outputs 60 || { stop_quay; return 1; }
  dmabuf_client_shot udmabuf udmabuf.png --source udmabuf --size 200x150 --color 0xffc02040 --buffers 2 --frames 60
  expect_eq "udmabuf presented" "$(json_num presented < "$CASE_OUT/udmabuf.json")" 60
  [ -f "$CASE_OUT/udmabuf.png" ] && host_check pixel udmabuf.png 100 75 192 32 64
  stop_quay
}

# cpu_ticks PID: utime + stime of a process, in clock ticks
cpu_ticks() { awk '{ print $14 + $15 }' "/proc/$1/stat" 2>/dev/null; }
# min_faults PID: minor page faults of a process so far (a page touched for the first time
# in a mapping: a render target mapped afresh every frame pays one per page it writes)
min_faults() { awk '{ print $10 }' "/proc/$1/stat" 2>/dev/null; }

# bench_run NAME PID: the same shm client (300 frames, 256x256, 2 buffers) against the
# running compositor; records fps, commit-to-present p50/p99 and the compositor's CPU
# seconds and minor page faults per 1000 presented frames.
bench_run() {
  local name=$1 pid=$2 c0 c1 f0 f1 hz presented
  hz=$(getconf CLK_TCK)
  local d0= d1= s0= s1=
  [[ $name == *quay* ]] && s0=$(qmsg stats) && d0=$(json_num frames_drawn_total <<< "$s0")
  c0=$(cpu_ticks "$pid")
  f0=$(min_faults "$pid")
  dmabuf_client "bench-$name" --source shm --size 256x256 --buffers 2 --frames 300 \
    --c2p-file "$CASE_OUT/c2p-$name.txt" || return 1
  c1=$(cpu_ticks "$pid")
  f1=$(min_faults "$pid")
  [[ $name == *quay* ]] && s1=$(qmsg stats) && d1=$(json_num frames_drawn_total <<< "$s1")
  presented=$(json_num presented < "$CASE_OUT/bench-$name.json")
  # Quay draws a frame only when something changed: one per commit the client made, a few
  # for its window mapping and unmapping. A swapchain buffer's age used to redraw the last
  # change into the next buffer after each one: 111 frames drawn for 60 commits on GLES
  # (2026-12-06), each a full draw of the window that a commit arriving meanwhile waited for.
  if [ -n "$d0" ] && [ -n "$d1" ]; then
    metric "${name}_frames_drawn" "$((d1 - d0))"
    expect_le "$name frames drawn" "$((d1 - d0))" "$((presented + 10))"
    # Refreshes by which flips came after the vblank their frame was started for (real
    # vblanks only: vkms; virtio_gpu flips when the host has the frame).
    metric "${name}_vblanks_missed" "$(( $(json_num vblanks_missed_total <<< "$s1") - $(json_num vblanks_missed_total <<< "$s0") ))"
  elif [[ $name == *quay* ]]; then
    fail "$name: no frames_drawn_total in quay msg stats"
  fi
  local fps p50 p99
  fps=$(grep -o '"fps":[0-9.]*' "$CASE_OUT/bench-$name.json" | cut -d: -f2)
  p50=$(grep -o '"c2p_p50_ms":[0-9.]*' "$CASE_OUT/bench-$name.json" | cut -d: -f2)
  p99=$(grep -o '"c2p_p99_ms":[0-9.]*' "$CASE_OUT/bench-$name.json" | cut -d: -f2)
  metric "${name}_fps" "$fps"
  metric "${name}_c2p_p50_ms" "$p50"
  metric "${name}_c2p_p99_ms" "$p99"
  metric "${name}_cpu_s_per_1000_frames" "$(awk -v a="$c0" -v b="$c1" -v hz="$hz" -v n="$presented" 'BEGIN { if (n > 0) printf "%.2f", (b - a) / hz / n * 1000; else print "n/a" }')"
  metric "${name}_minor_faults_per_1000_frames" "$(awk -v a="$f0" -v b="$f1" -v n="$presented" 'BEGIN { if (n > 0) printf "%.0f", (b - a) / n * 1000; else print "n/a" }')"
  expect_ge "$name presented" "$presented" 250
}

# The reference must draw what Quay draws. weston's desktop shell places a new window at a
# pseudo-random spot (the same one each start): the bench's window went to (723, 597) on the
# 800x600 output, 77x3 of its 256x256 pixels on screen, so weston composited 231 pixels a frame
# against Quay's 65,536 (2026-12-06; the "231 fragment shader invocations a frame" of
# BENCHMARKS.md). weston runs the bench under its kiosk shell, which centres the window, and
# its scene graph (weston-debug) must show the window wholly on the output.
bench_weston() {
  start_weston --shell=kiosk --debug "$@" || return 1
  ( sleep 4; timeout 20 weston-debug scene-graph > "$CASE_OUT/scene-$BENCH_NAME.txt" 2>&1 ) &
  local probe=$!
  bench_run "$BENCH_NAME" "$WPID"
  wait $probe
  weston_window_visible "$CASE_OUT/scene-$BENCH_NAME.txt" 256 256
  stop_weston
}
# weston_window_visible SCENE W H: the WxH view of weston's scene-graph dump lies wholly on
# the first output; records its place as a metric, fails otherwise
weston_window_visible() {
  local out win ow oh x0 y0 x1 y1
  # "position: (0, 0) -> (800, 600)" under "Output 0", and the view's own position line, the
  # last one before its buffer's "width: W, height: H"
  read -r _ _ ow oh <<< "$(grep -m1 -A1 '^Output 0' "$1" | grep 'position:' | grep -o -- '-\?[0-9]\+' | tr '\n' ' ')"
  win=$(grep -B10 "width: $2, height: $3\$" "$1" | grep 'position:' | tail -n1 | grep -o -- '-\?[0-9]\+' | tr '\n' ' ')
  read -r x0 y0 x1 y1 <<< "$win"
  metric "${BENCH_NAME}_window" "${x0:-none},${y0:-none}-${x1:-none},${y1:-none}"
  [ -n "$y1" ] && [ -n "$oh" ] && [ "$x0" -ge 0 ] && [ "$y0" -ge 0 ] && [ "$x1" -le "$ow" ] && [ "$y1" -le "$oh" ] ||
    fail "weston's bench window is not wholly on its ${ow:-?}x${oh:-?} output: ${win:-not found}"
}

# bench_quay NAME ARGS...: Quay (start_quay ARGS) warmed up as start_weston warms weston, a
# weston-simple-shm presented, then the bench. Without it Quay's first frames ran much code
# for the first time while weston's had (the first frame of a fresh Quay on vkms: 120-310 ms
# under TCG, 2026-12-06; on GLES llvmpipe also compiles its shaders then).
bench_quay() {
  local name=$1; shift
  start_quay "$@" || return 1
  wait_outputs 60 && wait_compositor_ready 90 "${name}_ready_s" || { stop_quay; return 1; }
  bench_run "$name" "$QPID"
  stop_quay
}

# Three rounds, as on vkms (below): one round's p99 is the 4th-worst of 300 commits, and on
# llvmpipe under TCG a few slow frames move it by tens of ms. p50/p99 over each one's 900.
case_bench() {
  need_card virtio_gpu || return 1
  local r
  for r in 1 2 3; do
    BENCH_NAME=weston_r$r bench_weston --backend=drm --renderer=gl --drm-device="$(basename "$CARD")" || return 1
    bench_quay quay_r$r --drm-device "$CARD" || return 1
    # The same client on Quay's GLES engine (llvmpipe through kms_swrast: --renderer gles,
    # as auto keeps pixman on this software device).
    bench_quay quay_gles_r$r --drm-device "$CARD" --renderer gles || return 1
  done
  pooled_c2p weston
  pooled_c2p quay
  pooled_c2p quay_gles
}

# On vkms the vblank is real (an hrtimer at the mode's 60 Hz), unlike virtio_gpu's, whose
# flips complete as soon as the host has the frame: there, starting a frame earlier simply
# makes more frames. This is where repaint scheduling (`[render] repaint_margin_ms`) shows
# as latency. Both compositors on pixman (llvmpipe is not safe on vkms: it crashed there).
# What disturbs a TCG guest for a while (the host, another vCPU) makes a compositor miss a
# vblank or two in 300 frames, and each miss is two commits ~16 ms late: one round's p99 (the
# 4th-worst of 300) is a coin toss between two compositors that miss about as often. Three
# rounds, weston and Quay in turn, and p50/p99 over each compositor's 900 commits (pooled).
vm_case bench-vkms-weston-vs-quay vkms case_bench_vkms 420
case_bench_vkms() {
  need_card vkms || return 1
  local r
  for r in 1 2 3; do
    BENCH_NAME=vkms_weston_r$r bench_weston --backend=drm --renderer=pixman --drm-device="$(basename "$CARD")" || return 1
    bench_quay vkms_quay_r$r --drm-device "$CARD" || return 1
  done
  pooled_c2p vkms_weston
  pooled_c2p vkms_quay
}
# pooled_c2p NAME: commit-to-present p50/p99 over the c2p files of NAME's rounds, ranked as
# quay-dmabuf-client ranks its own
pooled_c2p() {
  local f=$CASE_OUT/c2p-$1-pooled.txt p
  sort -n "$CASE_OUT/c2p-$1"_r*.txt > "$f"
  metric "$1_c2p_commits" "$(wc -l < "$f")"
  for p in 50 99; do
    metric "$1_c2p_p${p}_ms" "$(awk -v p="$p" '{ v[NR - 1] = $1 } END { if (NR) printf "%.2f", v[int((NR - 1) * p / 100 + 0.5)] }' "$f")"
  done
}

vm_case quay-udev-virtio-presentation-shm virtio case_quay_presentation_shm 180
vm_case quay-udev-virtio-v4l-xr24 virtio case_quay_v4l_xr24 180
vm_case quay-udev-virtio-v4l-yuyv virtio case_quay_v4l_yuyv 180
vm_case quay-udev-virtio-v4l-xr24-gles virtio case_quay_v4l_xr24_gles 240
vm_case quay-udev-virtio-v4l-yuyv-gles virtio case_quay_v4l_yuyv_gles 240
case_quay_v4l_xr24_gles() { QUAY_RENDERER=gles v4l_case XR24; }
case_quay_v4l_yuyv_gles() { QUAY_RENDERER=gles v4l_case YUYV; }

# The same client and criteria as the weston case, against Quay; its per-frame timing lines
# become metrics next to weston's.
case_quay_presentation_shm() {
  quay_on virtio_gpu || return 1
  presentation_case
  stop_quay
}

# vivid's capture buffers (videobuf2 dma-bufs, a foreign exporter for virtio_gpu) shown by
# weston-simple-dmabuf-v4l: XR24 is read by mmap in place; YUYV (which pixman cannot read)
# is converted to XRGB by Quay at each commit.
case_quay_v4l_xr24() { v4l_case XR24; }
case_quay_v4l_yuyv() { v4l_case YUYV; }

v4l_case() {
  local dev fmt=$1
  dev=$(v4l2-ctl --list-devices 2>/dev/null | awk '/vivid/ { getline; print $1; exit }')
  [ -n "$dev" ] || { fail "no vivid video device (modprobe vivid)"; return 1; }
  v4l2-ctl -d "$dev" --set-fmt-video=width=640,height=480,pixelformat=$fmt > "$CASE_OUT/v4l2-ctl.out" 2>&1
  quay_on virtio_gpu || return 1
  # Until 10 commits (events, not a rate: GLES uploads each 640x480 frame under TCG), then
  # SIGINT, which the client answers by exiting 0; the 90 s timeout only turns a stall into
  # a failure.
  client_start v4l 90 weston-simple-dmabuf-v4l -v "$dev" -f $fmt -d $fmt
  wait_commits v4l 10 80 && screenshot v4l.png && host_check png-nonuniform v4l.png
  pkill -INT -P "${CPID[v4l]}" 2>/dev/null
  client_wait v4l
  client_ok v4l
  expect_ge commits "$C_COMMITS" 10
  expect_ge "dmabuf created" "$C_CREATED" 1
  expect_eq "dmabuf failed" "$C_FAILED" 0
  expect_eq "protocol errors" "$C_ERRORS" 0
  metric fps "$C_FPS"; metric commits "$C_COMMITS"
  stop_quay
}


# zwlr_screencopy_v1 into a real dma-buf: a 0x3060c0 window, then two captures of the whole
# output into one dma-heap buffer (quay-dmabuf-client --syncobj-test screencopy, which reads
# it back between DMA_BUF_IOCTL_SYNC): the window's colour at its centre, the background at
# the output's last pixel, both times.
case_quay_screencopy_dmabuf() {
  quay_on virtio_gpu || return 1
  wait_outputs 60 || { stop_quay; return 1; }
  dmabuf_client screencopy --syncobj-test screencopy || { stop_quay; return 1; }
  local r=$CASE_OUT/screencopy.json
  metric captures "$(grep -o '"centre"' "$r" | wc -l)"
  expect_eq "captures" "$(grep -o '"centre":"3060c0"' "$r" | wc -l)" 2
  # Quay's default background, #1e1e2e (config/default-config.toml)
  expect_eq "captures with the background at the last pixel" "$(grep -o '"corner":"1e1e2e"' "$r" | wc -l)" 2
  qmsg stats > "$CASE_OUT/stats.json"
  expect_eq "screencopy frames into dma-bufs" "$(json_num screencopy_dmabuf_frames_total < "$CASE_OUT/stats.json")" 2
  expect_eq "screencopy failures" "$(json_num screencopy_failed_total < "$CASE_OUT/stats.json")" 0
  stop_quay
}

# A plane that does not start at byte 0: the image at offset 4100 (not page aligned) and at
# 65536, magenta before it. The screenshot must show the image's colour: a renderer that maps
# from the offset (mmap needs page-aligned offsets) refuses the buffer, one that applies the
# offset twice reads past it or shows the wrong bytes.
case_quay_dmabuf_offset() {
  quay_on virtio_gpu || return 1
  wait_outputs 60 || { stop_quay; return 1; }
  local off
  for off in 4100 65536; do
    dmabuf_client_shot "offset-$off" "offset-$off.png" --source heap --size 200x150 --color 0xffc03080 --offset $off --frames 20 || continue
    expect_eq "presented at offset $off" "$(json_num presented < "$CASE_OUT/offset-$off.json")" 20
    [ -f "$CASE_OUT/offset-$off.png" ] && host_check pixel "offset-$off.png" 100 75 192 48 128
  done
  stop_quay
}
