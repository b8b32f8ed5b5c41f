# Quay's udev (KMS/GBM + libseat via seatd + libinput) backend on real kernel drivers.
# Quay comes from share/bin/quay (run-suite copies $QUAY_BIN there). Contract:
#   LIBSEAT_BACKEND=seatd RUST_LOG=info quay --backend udev --socket quay-1 [--drm-device CARD]
#   quay msg --socket quay-1 outputs|stats|screenshot /abs/path.png
vm_case quay-udev-virtio-outputs virtio case_quay_virtio_outputs 180
vm_case quay-udev-virtio-shm virtio case_quay_virtio_shm 180
vm_case quay-udev-virtio-simple-dmabuf-egl virtio case_quay_virtio_dmabuf_egl 240
vm_case quay-udev-vkms-outputs vkms case_quay_vkms_outputs 180
vm_case quay-udev-vkms-simple-dmabuf-feedback vkms case_quay_vkms_dmabuf_feedback 180

# quay_on DRIVER: Quay on that driver's card (CARD), on the renderer QUAY_RENDERER names
# (auto when unset; the *-gles variants of pixman cases set gles, and wait_outputs checks it)
quay_on() {
  quay_usable || return 1
  need_card "$1" || return 1
  start_quay --drm-device "$CARD" ${QUAY_RENDERER:+--renderer "$QUAY_RENDERER"}
}

# warm_swapchain: a small shm window for a few frames, then gone, and Quay back to no client
# and nothing imported. Quay draws a frame only when something changed, and its swapchain
# allocates a buffer (with its framebuffer, GEM handle and dma-buf fd) when a frame first
# needs one: right after start-up it holds one. After a window came and went it holds the
# two it keeps (one on screen, one to draw into), so GEM-handle, framebuffer and fd
# baselines taken next are its steady state.
warm_swapchain() {
  dmabuf_client warm --source shm --size 64x64 --frames 5 || return 1
  local i s
  for i in $(seq 40); do
    s=$(qmsg stats)
    [ "$(json_num clients_live <<< "$s")" = 0 ] && [ "$(json_num windows_live <<< "$s")" = 0 ] &&
      [ "$(json_num imported_bytes <<< "$s")" = 0 ] && return 0
    sleep 0.25
  done
  fail "warm_swapchain: Quay still holds the warm-up client: clients_live $(json_num clients_live <<< "$s"), windows_live $(json_num windows_live <<< "$s"), imported_bytes $(json_num imported_bytes <<< "$s")"
  return 1
}

# wait_outputs TIMEOUT: poll `quay msg outputs` until it lists one; leaves outputs.json. With
# QUAY_RENDERER set, the renderer in use must be that one.
wait_outputs() {
  local i
  for i in $(seq "$1"); do
    qmsg outputs > "$CASE_OUT/outputs.json" 2> "$CASE_OUT/outputs.err" && grep -q '"width"' "$CASE_OUT/outputs.json" && {
      [ -z "${QUAY_RENDERER:-}" ] && return 0
      qmsg stats > "$CASE_OUT/stats-renderer.json"
      grep -q "\"renderer\": *\"$QUAY_RENDERER\"" "$CASE_OUT/stats-renderer.json" && return 0
      fail "renderer is not $QUAY_RENDERER: $(grep -o '"renderer":[^,]*' "$CASE_OUT/stats-renderer.json")"
      return 1
    }
    kill -0 "$QPID" 2>/dev/null || break
    sleep 1
  done
  fail "quay msg outputs listed no output within $1 s: $(tail_of "$CASE_OUT/outputs.json" 2) $(tail_of "$CASE_OUT/outputs.err" 2)"
}

# output_sizes FILE: "WxH WxH ..." of the outputs in `quay msg outputs` JSON (objects are
# flat but for the location array, so one object per line after joining)
output_sizes() {
  local o w
  tr -d ' \n' < "$1" | sed 's/},{/}\n{/g' | while read -r o || [ -n "$o" ]; do
    w=$(echo "$o" | json_num width); [ -n "$w" ] && echo "${w}x$(echo "$o" | json_num height)"
  done | tr '\n' ' ' | sed 's/ $//'
}

# outputs_case W H: >= 1 output of W x H, and its first (modeset) frame was presented.
# An idle Quay queues no frame without damage; continuous presentation is what the
# client cases show.
outputs_case() {
  wait_outputs 60 || return 1
  local n sizes
  n=$(grep -c '"name"' "$CASE_OUT/outputs.json")
  sizes=$(output_sizes "$CASE_OUT/outputs.json")
  metric outputs "$n"; metric sizes "${sizes:-none}"
  expect_ge outputs "$n" 1
  echo " $sizes " | grep -q " $1x$2 " || fail "no ${1}x$2 output (outputs: ${sizes:-none})"
  local f
  f=$(qmsg stats | tee "$CASE_OUT/stats.json" | json_num frames_presented_total)
  metric frames_presented "${f:-?}"
  expect_ge "frames presented (page flips completed)" "${f:-0}" 1
  # The flips reached the output's frame clock through the one frame path
  # (render::frame_presented at the flip; quay msg outputs).
  local fp
  fp=$(qmsg outputs | tee "$CASE_OUT/outputs-clock.json" | json_num frames_presented)
  metric output_frames_presented "${fp:-?}"
  expect_ge "flips seen by the output's frame clock" "${fp:-0}" 1
}

# frames_grow MIN CAP: frames_presented_total grows by >= MIN, however long that takes up
# to CAP seconds (a stall fails, a slow guest does not); the rate is a metric.
frames_grow() {
  local f0 f1 t0 i
  t0=$(up)
  f0=$(qmsg stats | tee "$CASE_OUT/stats-0.json" | json_num frames_presented_total)
  [ -n "$f0" ] || { fail "quay msg stats has no frames_presented_total: $(tail_of "$CASE_OUT/stats-0.json" 2)"; return 1; }
  f1=$f0
  for i in $(seq $(($2 * 2))); do
    sleep 0.5
    f1=$(qmsg stats | tee "$CASE_OUT/stats-1.json" | json_num frames_presented_total)
    [ $((${f1:-0} - f0)) -ge "$1" ] && break
  done
  metric frames_per_s "$(awk -v a="$f0" -v b="${f1:-0}" -v s="$(since "$t0")" 'BEGIN { if (s > 0) printf "%.1f", (b - a) / s; else print "n/a" }')"
  expect_ge "frames presented (within $2 s)" $((${f1:-0} - f0)) "$1"
}

# screenshot NAME: quay msg screenshot into the case's output dir. The guest has no PNG
# decoder, so it checks only that a PNG was written; run-suite checks its pixels on the host.
screenshot() {
  local f=$CASE_OUT/$1
  qmsg screenshot "$f" > "$CASE_OUT/$1.json" 2>&1 || { fail "quay msg screenshot failed: $(tail_of "$CASE_OUT/$1.json" 2)"; return 1; }
  [ "$(head -c 8 "$f" 2>/dev/null | od -An -tx1 | tr -d ' \n')" = 89504e470d0a1a0a ] || { fail "screenshot $1 is not a PNG"; return 1; }
  [ "$(stat -c %s "$f")" -gt 200 ] || { fail "screenshot $1 is only $(stat -c %s "$f") bytes"; return 1; }
}

case_quay_virtio_outputs() {
  quay_on virtio_gpu || return 1
  outputs_case 800 600
  # renderer = "auto" on kms_swrast (software EGL) keeps pixman.
  grep -q '"renderer": *"pixman"' "$CASE_OUT/stats.json" ||
    fail "auto renderer on virtio_gpu is not pixman: $(grep renderer "$CASE_OUT/stats.json")"
  stop_quay
}

case_quay_vkms_outputs() {
  quay_on vkms || return 1
  outputs_case 1024 768
  stop_quay
}

# shm_case: weston-simple-shm against the running Quay until it has committed 20 frames:
# its pixels in the screenshot (checked on the host), page flips completing while it
# animates. Counts of events under caps only a stall reaches, not rates.
shm_case() {
  client_start shm 150 weston-simple-shm
  # screenshot while the client runs, once it has drawn a few frames
  wait_commits shm 5 40 && sleep 0.5
  screenshot shm.png && host_check png-nonuniform shm.png
  frames_grow 10 40
  wait_commits shm 20 60
  client_stop shm
  client_ok shm
  expect_ge "commits (60 s cap)" "$C_COMMITS" 20
  expect_eq "protocol errors" "$C_ERRORS" 0
  metric fps "$C_FPS"; metric commits "$C_COMMITS"
}

case_quay_virtio_shm() {
  quay_on virtio_gpu || return 1
  shm_case
  stop_quay
}

case_quay_virtio_dmabuf_egl() {
  quay_on virtio_gpu || return 1
  # Run first in a boot (cold page cache, llvmpipe compiling its shaders; Mesa's shader
  # cache does not persist over the 9p share) the client's first frame has been seen to
  # take 13 s: the cap is generous, the run stops at its 10th commit.
  client_start egl 180 weston-simple-dmabuf-egl -d "$CARD"
  wait_commits egl 10 150 && screenshot egl.png && host_check png-info egl.png
  client_stop egl
  client_ok egl
  # llvmpipe under TCG draws 5-20 frames a second, and a loaded host
  # has been seen to halve that, so the count asks for steady frames, not a rate.
  expect_ge "commits (150 s cap)" "$C_COMMITS" 10
  # Quay hands buffers back: the client cycles its buffers on wl_buffer.release
  expect_ge "wl_buffer releases" "$C_RELEASES" 5
  expect_ge "dmabuf created" "$C_CREATED" 1
  expect_eq "dmabuf failed" "$C_FAILED" 0
  expect_eq "protocol errors" "$C_ERRORS" 0
  # Quay offers zwp_linux_explicit_synchronization_v1, so the client's default (-e on)
  # takes the explicit path: an acquire fence per frame, each buffer released.
  local fences releases
  fences=$(grep -c 'zwp_linux_surface_synchronization_v1[#@][0-9]*\.set_acquire_fence' "$CASE_OUT/egl.wldebug")
  releases=$(grep -cE 'zwp_linux_buffer_release_v1[#@][0-9]*\.(immediate|fenced)_release' "$CASE_OUT/egl.wldebug")
  expect_ge "acquire fences sent" "$fences" 10
  expect_ge "explicit releases" "$releases" 5
  metric fps "$C_FPS"; metric commits "$C_COMMITS"; metric first_commit_s "$C_FIRST"
  metric acquire_fences "$fences"; metric explicit_releases "$releases"
  stop_quay
}

# feedback_teardown_crash: whether the client's SIGABRT/SIGSEGV is weston 14's own
# teardown bug, seen 1 in 11 runs here (2026-12-01): when the scanout tranche invalidates
# its buffers, buffer_free() destroys a buffer's wl_buffer without clearing the pointer and
# asks for a new one; if the 3 s loop ends before that `created` is dispatched,
# destroy_window() destroys the freed proxy again (wl_proxy_unref's refcount assertion, or
# a crash on the freed memory). Its signature on the wire: after at least a second of
# frames the last params.create was never answered in the client's log, and nothing Quay
# sent is missing or out of order (every earlier create got `created`, no protocol error).
feedback_teardown_crash() {
  local log=$CASE_OUT/feedback.wldebug creates answered span
  creates=$(grep -c -- '-> zwp_linux_buffer_params_v1[#@][0-9]*\.create(' "$log")
  answered=$(grep -c 'zwp_linux_buffer_params_v1[#@][0-9]*\.created(' "$log")
  span=$(awk '/wl_surface[#@][0-9]*\.commit\(\)/ { t = $0; sub(/^\[ */, "", t); sub(/\].*/, "", t); if (a == "") a = t; l = t }
    END { if (a != "") printf "%d", l - a; else print 0 }' "$log")
  say "client died rc $C_RC: creates=$creates answered=$answered commit span=${span} ms"
  [ "$creates" -eq $((answered + 1)) ] && [ "${span:-0}" -ge 1000 ] && [ "$C_ERRORS" = 0 ] && [ "$C_FAILED" = 0 ] || return 1
  say "known client bug: weston-simple-dmabuf-feedback destroyed a freed wl_buffer in destroy_window()"
  metric client_teardown_crash "$C_RC"
}

# vkms alone (virtio_gpu blacklisted, no vgem): one KMS card and no render node, so the
# client allocates on the card Quay's v5 feedback names as main device. The client exits 0
# by itself after ~3 s of frames.
case_quay_vkms_dmabuf_feedback() {
  quay_on vkms || return 1
  ls /dev/dri > "$CASE_OUT/dri.txt"
  run_client feedback 30 weston-simple-dmabuf-feedback
  case $C_RC in
    0) ;;
    124) fail "weston-simple-dmabuf-feedback still running after 30 s ($C_COMMITS commits)" ;;
    134|139) feedback_teardown_crash ||
      fail "weston-simple-dmabuf-feedback died (rc $C_RC): $(grep -v '^\[' "$CASE_OUT/feedback.wldebug" | cat "$CASE_OUT/feedback.out" - | tail_of - 2)" ;;
    *) fail "weston-simple-dmabuf-feedback exited rc $C_RC: $(grep -v '^\[' "$CASE_OUT/feedback.wldebug" | cat "$CASE_OUT/feedback.out" - | tail_of - 2)" ;;
  esac
  expect_eq "dmabuf failed" "$C_FAILED" 0
  expect_eq "protocol errors" "$C_ERRORS" 0
  expect_ge "dmabuf created" "$C_CREATED" 1
  # Under TCG the client spends its 3 s on GL set-up and exits after its first frame, before
  # that frame's feedback; that its surface entered Quay's output shows it was mapped there.
  expect_ge "wl_surface.enter events" "$(grep -c 'wl_surface[#@][0-9]*\.enter(' "$CASE_OUT/feedback.wldebug")" 1
  metric commits "$C_COMMITS"; metric dmabuf_created "$C_CREATED"
  # The client prints this when wp_presentation says ZERO_COPY: its dma-buf was
  # scanned out directly on a plane (information: vkms planes accept foreign buffers).
  if grep -q "Presenting in zero-copy mode" "$CASE_OUT/feedback.wldebug" "$CASE_OUT/feedback.out" 2>/dev/null; then
    metric zero_copy yes
  else
    metric zero_copy no
  fi
  stop_quay
}

vm_case quay-udev-vkms-shm vkms case_quay_vkms_shm 180

# The same on vkms (card only, no render node).
case_quay_vkms_shm() {
  quay_on vkms || return 1
  shm_case
  stop_quay
}
