# Explicit sync (issue #5) on real kernel fences: wp_linux_drm_syncobj_v1 on virtio_gpu
# (the only driver here with syncobj timelines and DRM_IOCTL_SYNCOBJ_EVENTFD) and sw_sync
# fences for the deadline hint. The client is quay-dmabuf-client --syncobj-test
# (tests/client/src/sync_scenarios.rs); it makes its syncobjs on the card's render node.
vm_case quay-syncobj-timeline virtio case_quay_syncobj_timeline 180
vm_case quay-syncobj-stall virtio case_quay_syncobj_stall 180
vm_case quay-syncobj-deadline virtio case_quay_syncobj_deadline 180
vm_case quay-syncobj-errors virtio case_quay_syncobj_errors 180
vm_case quay-explicit-sync virtio case_quay_explicit_sync 180
vm_case quay-implicit-sync virtio case_quay_implicit_sync 180
vm_case quay-implicit-sync-no-hints virtio case_quay_implicit_sync_no_hints 180
# The same fences and deadlines on the GLES engine (llvmpipe: the buffers take the upload
# path once their fence signals): the wait and its hints come before any engine.
vm_case quay-syncobj-timeline-gles virtio case_quay_syncobj_timeline_gles 240
vm_case quay-syncobj-deadline-gles virtio case_quay_syncobj_deadline_gles 240
vm_case quay-explicit-sync-gles virtio case_quay_explicit_sync_gles 240
vm_case quay-implicit-sync-gles virtio case_quay_implicit_sync_gles 240
vm_case quay-syncobj-errors-gles virtio case_quay_syncobj_errors_gles 240
vm_case quay-syncobj-stall-gles virtio case_quay_syncobj_stall_gles 240
# A client's unsignalled fence in a dma-buf (at create, and on a buffer on screen while a
# screencopy is asked for) never stops Quay's loop: tests/client/src/trust.rs.
vm_case quay-fence-freeze virtio case_quay_fence_freeze 180
vm_case quay-fence-freeze-gles virtio case_quay_fence_freeze_gles 240
# Commits held on syncobj points that never signal, in a loop: the fds they make Quay hold
# are charged to the client, which is disconnected (no_memory); Quay's fds come back.
vm_case quay-held-flood virtio case_quay_held_flood 180
# tests/fuzz.rs (built by scripts/test as bin/quay-fuzz) against headless Quay in the guest,
# its fds a real dma-heap buffer with an unsignalled sw_sync write fence and that fence.
vm_case quay-fuzz-real virtio case_quay_fuzz_real 300
case_quay_fence_freeze_gles() { QUAY_RENDERER=gles case_quay_fence_freeze; }
case_quay_syncobj_stall_gles() { QUAY_RENDERER=gles case_quay_syncobj_stall; }
case_quay_syncobj_errors_gles() { QUAY_RENDERER=gles case_quay_syncobj_errors; }
case_quay_syncobj_timeline_gles() { QUAY_RENDERER=gles case_quay_syncobj_timeline; }
case_quay_syncobj_deadline_gles() { QUAY_RENDERER=gles case_quay_syncobj_deadline; }
case_quay_explicit_sync_gles() { QUAY_RENDERER=gles case_quay_explicit_sync; }
case_quay_implicit_sync_gles() { QUAY_RENDERER=gles case_quay_implicit_sync; }

# render_node_of CARD: the render node of the same device
render_node_of() { ls "/sys/class/drm/$(basename "$1")/device/drm" 2>/dev/null | grep '^renderD' | head -n1 | sed 's|^|/dev/dri/|'; }

# sync_stats: Quay's fence counters into $CASE_OUT/stats.json and the metrics
sync_stats() {
  qmsg stats > "$CASE_OUT/stats.json"
  local k
  for k in acquire_waits_total deadlines_set_total deadlines_skipped_signalled fences_late_total fences_pending; do
    metric "$k" "$(json_num $k < "$CASE_OUT/stats.json")"
  done
}

# sync_case TEST: Quay on virtio_gpu, then the client's scenario; stats as metrics
sync_case() {
  quay_on virtio_gpu || return 1
  wait_outputs 60 || { stop_quay; return 1; }
  grep -q "wp_linux_drm_syncobj_v1: the device waits" "$CASE_OUT/quay.log" ||
    fail "Quay did not offer wp_linux_drm_syncobj_v1: $(grep -i syncobj "$CASE_OUT/quay.log" | tail -n 1)"
  local node; node=$(render_node_of "$CARD")
  [ -c "$node" ] || { fail "no render node for $CARD"; stop_quay; return 1; }
  dmabuf_client "sync-$1" --syncobj-test "$1" --drm-device "$node"
  sync_stats
}

case_quay_syncobj_timeline() {
  sync_case timeline
  expect_ge "acquire waits" "$(json_num acquire_waits_total < "$CASE_OUT/stats.json")" 2
  stop_quay
}

# With budget 0 every import not pinned is evicted after each frame: the stalled buffer's
# import survives only because its pending acquire fence pins it.
case_quay_syncobj_stall() {
  printf '[memory]\nbudget_mib = 0\n' > /tmp/budget0.toml
  quay_usable || return 1
  need_card virtio_gpu || return 1
  start_quay --drm-device "$CARD" --config /tmp/budget0.toml ${QUAY_RENDERER:+--renderer "$QUAY_RENDERER"} || return 1
  wait_outputs 60 || { stop_quay; return 1; }
  local node qc i; node=$(render_node_of "$CARD"); qc=$(qclient)
  timeout 120 "$qc" --syncobj-test stall --drm-device "$node" > "$CASE_OUT/sync-stall.json" 2> "$CASE_OUT/sync-stall.err" &
  local pid=$!
  for i in $(seq 120); do grep -q STALLED "$CASE_OUT/sync-stall.err" 2>/dev/null && break; kill -0 $pid 2>/dev/null || break; sleep 0.5; done
  qmsg stats > "$CASE_OUT/stats-stalled.json"
  wait $pid; local rc=$?
  say "client stall rc=$rc: $(cat "$CASE_OUT/sync-stall.json")"
  [ $rc = 0 ] && grep -q '"ok":true' "$CASE_OUT/sync-stall.json" || fail "stall: rc $rc $(tail_of "$CASE_OUT/sync-stall.err" 2)"
  metric pinned_bytes_while_stalled "$(json_num pinned_bytes < "$CASE_OUT/stats-stalled.json")"
  # The waiting 128x128 dma-buf is pinned by its pending acquire. On GLES each shm window on
  # screen is an upload entry of the cache too, pinned by the output: the stalled window's
  # first (shm) buffer and the other window, 128x128 each. Pixman reads shm in place.
  local shm_live want
  shm_live=$(json_num shm_surfaces_live < "$CASE_OUT/stats-stalled.json")
  if [ "${QUAY_RENDERER:-}" = gles ]; then
    expect_eq "shm upload entries while stalled (two windows on screen)" "$shm_live" 2
  fi
  want=$((65536 * (1 + ${shm_live:-0})))
  expect_eq "pinned bytes while the commit waits (one 128x128 dma-buf + shm uploads)" "$(json_num pinned_bytes < "$CASE_OUT/stats-stalled.json")" "$want"
  expect_eq "imported bytes while stalled, budget 0" "$(json_num imported_bytes < "$CASE_OUT/stats-stalled.json")" "$want"
  qmsg stats > "$CASE_OUT/stats.json"
  expect_ge "acquire waits" "$(json_num acquire_waits_total < "$CASE_OUT/stats.json")" 1
  expect_eq "pinned bytes after the stalled surface died" "$(json_num pinned_bytes < "$CASE_OUT/stats.json")" 0
  # The never-signalled wait went with its surface: nothing left pending in Quay.
  expect_eq "fences pending after the stalled surface died" "$(json_num fences_pending < "$CASE_OUT/stats.json")" 0
  local live=
  for i in $(seq 20); do live=$(qmsg stats | json_num dmabufs_live); [ "$live" = 0 ] && break; sleep 0.5; done
  expect_eq "dma-bufs live after the stalled client is gone" "$live" 0
  # A client whose only window (so it has the keyboard focus) exits with a commit held on a
  # point that never signals: the buffer, its import and the timeline go with the surface.
  # A destroyed surface kept as keyboard focus kept its data, the held commit and its
  # wl_buffer alive (the churn soak's leak, session 4; State::release_focus_of).
  local fds0; fds0=$(ls /proc/$QPID/fd | wc -l)
  timeout 60 "$qc" --syncobj-test held-exit --drm-device "$node" > "$CASE_OUT/held-exit.json" 2> "$CASE_OUT/held-exit.err" &
  pid=$!
  for i in $(seq 120); do grep -q STALLED "$CASE_OUT/held-exit.err" 2>/dev/null && break; kill -0 $pid 2>/dev/null || break; sleep 0.5; done
  qmsg stats > "$CASE_OUT/stats-held.json"
  expect_eq "dma-bufs live while the commit is held" "$(json_num dmabufs_live < "$CASE_OUT/stats-held.json")" 1
  wait $pid; rc=$?
  [ $rc = 0 ] && grep -q '"ok":true' "$CASE_OUT/held-exit.json" || fail "held-exit: rc $rc $(tail_of "$CASE_OUT/held-exit.err" 2)"
  local fds1=
  for i in $(seq 20); do
    live=$(qmsg stats | json_num dmabufs_live); fds1=$(ls /proc/$QPID/fd | wc -l)
    [ "$live" = 0 ] && [ "$fds1" -le "$fds0" ] && break
    sleep 0.5
  done
  expect_eq "dma-bufs live after the focused client left with its commit held" "$live" 0
  [ "$fds1" -le "$fds0" ] || fail "Quay's fds: $fds0 before the held-exit client, $fds1 after"
  metric fds_before_held_exit "$fds0"; metric fds_after_held_exit "$fds1"
  stop_quay
}

case_quay_syncobj_deadline() {
  [ -e /sys/kernel/debug/sync/sw_sync ] || { fail "no sw_sync (insmod sw_sync, debugfs)"; return 1; }
  sync_case deadline
  expect_ge "acquire waits" "$(json_num acquire_waits_total < "$CASE_OUT/stats.json")" 1
  local j=$CASE_OUT/sync-deadline.json
  local k
  for k in deadline_after_commit_ms handled_after_commit_ms deadline_minus_vblank_ms deadline_minus_vblank_after_handling_ms; do
    metric "$k" "$(grep -o "\"$k\":[-0-9.]*" "$j" | cut -d: -f2)"
  done
  metric refresh_ms "$(grep -o '"refresh_ms":[0-9.]*' "$j" | cut -d: -f2)"
  expect_ge "deadlines set" "$(json_num deadlines_set_total < "$CASE_OUT/stats.json")" 1
  stop_quay
}

# Every error of both syncobj interfaces from a real client; a bystander keeps its frames.
case_quay_syncobj_errors() {
  sync_case errors
  expect_eq "errors checked" "$(json_num errors_checked < "$CASE_OUT/sync-errors.json")" 8
  stop_quay
}

# zwp_linux_explicit_synchronization_v1 with sw_sync fences: held until the fence signals,
# a deadline on the fence, the replaced buffer released, duplicate_fence and
# unsupported_buffer answered. (weston-simple-dmabuf-egl speaks this protocol by default:
# quay-udev-virtio-simple-dmabuf-egl checks it took the explicit path.)
case_quay_explicit_sync() {
  [ -e /sys/kernel/debug/sync/sw_sync ] || { fail "no sw_sync (insmod sw_sync, debugfs)"; return 1; }
  quay_on virtio_gpu || return 1
  wait_outputs 60 || { stop_quay; return 1; }
  dmabuf_client explicit --syncobj-test explicit
  sync_stats
  expect_eq "errors checked" "$(json_num errors_checked < "$CASE_OUT/explicit.json")" 2
  expect_ge "acquire waits" "$(json_num acquire_waits_total < "$CASE_OUT/stats.json")" 2
  expect_ge "deadlines set" "$(json_num deadlines_set_total < "$CASE_OUT/stats.json")" 1
  stop_quay
}

# Implicit sync: a sw_sync fence attached to a heap dma-buf as its write fence
# (DMA_BUF_IOCTL_IMPORT_SYNC_FILE) holds a plain linux-dmabuf commit until it signals.
case_quay_implicit_sync() {
  [ -e /sys/kernel/debug/sync/sw_sync ] || { fail "no sw_sync (insmod sw_sync, debugfs)"; return 1; }
  quay_on virtio_gpu || return 1
  wait_outputs 60 || { stop_quay; return 1; }
  dmabuf_client implicit --syncobj-test implicit
  sync_stats
  grep -q '"deadline_set":true' "$CASE_OUT/implicit.json" || fail "the implicit fence got no deadline"
  expect_ge "acquire waits" "$(json_num acquire_waits_total < "$CASE_OUT/stats.json")" 1
  stop_quay
}

# fence-freeze: the attacker's create is answered and a screencopy of its buffer on screen
# is made while their fences are unsignalled; a bystander gets frame callbacks throughout;
# once a fence signals, the buffer shows. The bystander's longest gap is information.
case_quay_fence_freeze() {
  [ -e /sys/kernel/debug/sync/sw_sync ] || { fail "no sw_sync (insmod sw_sync, debugfs)"; return 1; }
  quay_on virtio_gpu || return 1
  wait_outputs 60 || { stop_quay; return 1; }
  dmabuf_client fence-freeze --syncobj-test fence-freeze
  local j=$CASE_OUT/fence-freeze.json k
  for k in created_after_ms screencopy_after_ms bystander_max_gap_ms bystander_max_gap_in_holds_ms bystander_p99_gap_ms; do
    metric "$k" "$(grep -o "\"$k\":[-0-9.]*" "$j" | cut -d: -f2)"
  done
  for k in bystander_frames bystander_frames_in_create_hold bystander_frames_in_screencopy_hold; do
    metric "$k" "$(json_num $k < "$j")"
  done
  qmsg stats > "$CASE_OUT/stats.json"
  metric cpu_access_not_ready_total "$(json_num cpu_access_not_ready_total < "$CASE_OUT/stats.json")"
  metric cpu_access_interrupted_total "$(json_num cpu_access_interrupted_total < "$CASE_OUT/stats.json")"
  # The CPU read of the fenced buffer (pixman's draw, or the GLES upload) found it not ready
  # instead of waiting for it.
  expect_ge "CPU accesses that found fences pending" "$(json_num cpu_access_not_ready_total < "$CASE_OUT/stats.json")" 1
  stop_quay
}

case_quay_held_flood() {
  quay_on virtio_gpu || return 1
  wait_outputs 60 || { stop_quay; return 1; }
  local node; node=$(render_node_of "$CARD")
  [ -c "$node" ] || { fail "no render node for $CARD"; stop_quay; return 1; }
  # The fd baseline on a grown swapchain (warm_swapchain, 30-quay.sh).
  warm_swapchain || { stop_quay; return 1; }
  local fds0 fds1= i; fds0=$(ls /proc/$QPID/fd | wc -l)
  dmabuf_client held-flood --syncobj-test held-flood --drm-device "$node"
  metric commits_before_disconnect "$(json_num commits_before_disconnect < "$CASE_OUT/held-flood.json")"
  for i in $(seq 20); do fds1=$(ls /proc/$QPID/fd | wc -l); [ "$fds1" -le "$fds0" ] && break; sleep 0.5; done
  metric fds_before_flood "$fds0"; metric fds_after_flood "$fds1"
  [ "$fds1" -le "$fds0" ] || fail "Quay's fds: $fds0 before the flood, $fds1 after its client was disconnected"
  qmsg stats > "$CASE_OUT/stats.json"
  expect_ge "clients disconnected over budget" "$(json_num clients_over_budget_total < "$CASE_OUT/stats.json")" 1
  expect_eq "fences pending after the flooding client left" "$(json_num fences_pending < "$CASE_OUT/stats.json")" 0
  # Another client is served as before.
  dmabuf_client after --source shm --size 64x64 --frames 5
  stop_quay
}

case_quay_fuzz_real() {
  [ -e /sys/kernel/debug/sync/sw_sync ] || { fail "no sw_sync (insmod sw_sync, debugfs)"; return 1; }
  local t="${S:-/mnt/share}/bin/quay-fuzz"
  [ -x "$t" ] || { fail "share/bin/quay-fuzz missing (scripts/test builds it)"; return 1; }
  quay_usable || return 1
  QUAY_TEST_BIN="${S:-/mnt/share}/bin/quay" QUAY_FUZZ_REAL=1 QUAY_FUZZ_CASES=${QUAY_FUZZ_CASES:-300} \
    timeout 280 "$t" --test-threads 1 --nocapture > "$CASE_OUT/fuzz.log" 2>&1
  local rc=$?
  metric rc "$rc"
  local line; line=$(grep '^fuzz: seed' "$CASE_OUT/fuzz.log")
  say "$line"
  metric fuzz_seconds "$(echo "$line" | sed -n 's/.* cases in \([0-9.]*\) s.*/\1/p')"
  metric fuzz_protocol_errors "$(echo "$line" | sed -n 's/.*, \([0-9]*\) ended in a protocol error.*/\1/p')"
  metric bystander_p99_ms "$(echo "$line" | sed -n 's/.* p99 \([0-9.]*\) ms.*/\1/p')"
  metric bystander_longest_ms "$(echo "$line" | sed -n 's/.* longest \([0-9.]*\) ms.*/\1/p')"
  [ "$rc" = 0 ] || fail "fuzz rc $rc: $(grep -E 'panicked|minimal failing|Test failed' "$CASE_OUT/fuzz.log" | tail_of - 3)"
  grep -q '^test result: ok. 1 passed' "$CASE_OUT/fuzz.log" || fail "want 'test result: ok. 1 passed'"
}

# `[sync] deadline_hints = false`: the same implicit fence holds the commit until it
# signals, and gets no deadline from Quay (the client reads SW_SYNC_GET_DEADLINE).
case_quay_implicit_sync_no_hints() {
  [ -e /sys/kernel/debug/sync/sw_sync ] || { fail "no sw_sync (insmod sw_sync, debugfs)"; return 1; }
  quay_usable || return 1
  need_card virtio_gpu || return 1
  printf '[sync]\ndeadline_hints = false\n' > /tmp/nohints.toml
  start_quay --drm-device "$CARD" --config /tmp/nohints.toml || return 1
  wait_outputs 60 || { stop_quay; return 1; }
  dmabuf_client implicit --syncobj-test implicit
  sync_stats
  grep -q '"deadline_set":false' "$CASE_OUT/implicit.json" ||
    fail "the implicit fence got a deadline with deadline_hints = false: $(tail_of "$CASE_OUT/implicit.json" 1)"
  expect_eq "deadlines set" "$(json_num deadlines_set_total < "$CASE_OUT/stats.json")" 0
  expect_ge "acquire waits" "$(json_num acquire_waits_total < "$CASE_OUT/stats.json")" 1
  stop_quay
}
