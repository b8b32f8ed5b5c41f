# One KMS framebuffer per dma-buf and one GEM handle per object per fd (issue #4), on vkms:
# its planes scan out foreign dma-bufs, and the test process can be DRM master.
#  - kms-gem-handles: tests/kms_handles.rs (built by scripts/test as bin/quay-kms-tests) on
#    the card: the naive close-per-framebuffer breaking the other user, and Quay's table
#    keeping the shared handle until its last user, the remaining framebuffer scanned out.
#  - quay-udev-vkms-direct-scanout-shared: K wl_buffers on one heap dma-buf, fullscreen, so
#    Quay puts it on the primary plane: 1 renderer import, 1 framebuffer, 1 GEM handle for it;
#    counters back to their baseline when the client is gone.
#  - quay-udev-vkms-direct-scanout-off: the same with `[udev] direct_scanout = false`: composited,
#    no frame ZERO_COPY, no framebuffer for the client's dma-buf.
#  - quay-udev-vkms-two-clients-fullscreen: two connections, one heap dma-buf of the output's
#    size, both windows fullscreen: 1 renderer import and at most 1 framebuffer on the fd.
vm_case kms-gem-handles vkms case_kms_gem_handles 120
vm_case quay-udev-vkms-direct-scanout-shared vkms case_quay_vkms_direct_scanout_shared 180
vm_case quay-udev-vkms-direct-scanout-off vkms case_quay_vkms_direct_scanout_off 180
vm_case quay-udev-vkms-two-clients-fullscreen vkms case_quay_vkms_two_clients_fullscreen 180

case_kms_gem_handles() {
  local t="${S:-/mnt/share}/bin/quay-kms-tests"
  [ -x "$t" ] || { fail "share/bin/quay-kms-tests missing (scripts/test builds it)"; return 1; }
  need_card vkms || return 1
  QUAY_TEST_CARD=$CARD timeout 60 "$t" --ignored --test-threads 1 --nocapture > "$CASE_OUT/tests.log" 2>&1
  local rc=$?
  metric rc "$rc"
  grep -E '^(test |naive:|two layouts:|all gone:|round trip:)' "$CASE_OUT/tests.log" | while read -r l; do say "$l"; done
  [ "$rc" = 0 ] || fail "kms_handles tests rc $rc: $(grep -E 'panicked|assert' "$CASE_OUT/tests.log" | tail_of - 3)"
  grep -q '^test result: ok. 3 passed' "$CASE_OUT/tests.log" ||
    fail "want 'test result: ok. 3 passed': $(grep '^test result' "$CASE_OUT/tests.log")"
}

case_quay_vkms_direct_scanout_shared() {
  quay_on vkms || return 1
  wait_outputs 60 || { stop_quay; return 1; }
  warm_swapchain || { stop_quay; return 1; }
  qmsg stats > "$CASE_OUT/stats-base.json"
  local k base_fb base_gem
  base_fb=$(json_num framebuffers_live < "$CASE_OUT/stats-base.json")
  base_gem=$(json_num gem_handles_live < "$CASE_OUT/stats-base.json")
  metric framebuffers_live_base "$base_fb"; metric gem_handles_live_base "$base_gem"
  dmabuf_client_shot shared shot.png --source heap --fullscreen --buffers 4 --frames 60 --color 0xff3060c0
  for k in imports_total import_cache_hits dmabufs_live framebuffers_live gem_handles_live framebuffers_total framebuffer_cache_hits; do
    metric "live_$k" "$(json_num $k < "$CASE_OUT/stats-live.json")"
  done
  local zc; zc=$(json_num zero_copy < "$CASE_OUT/shared.json")
  metric zero_copy "${zc:-?}"
  expect_ge "frames presented ZERO_COPY (direct scanout)" "${zc:-0}" 30
  expect_eq "renderer imports for 4 wl_buffers on one dma-buf" "$(json_num imports_total < "$CASE_OUT/stats-live.json")" 1
  expect_eq "client framebuffers alive at once (peak)" "$(json_num framebuffers_live_peak < "$CASE_OUT/stats-live.json")" $((base_fb + 1))
  expect_eq "client framebuffers live" "$(json_num framebuffers_live < "$CASE_OUT/stats-live.json")" $((base_fb + 1))
  expect_eq "GEM handles live" "$(json_num gem_handles_live < "$CASE_OUT/stats-live.json")" $((base_gem + 1))
  expect_ge "framebuffer cache hits (the other wl_buffers)" "$(json_num framebuffer_cache_hits < "$CASE_OUT/stats-live.json")" 3
  [ -f "$CASE_OUT/shot.png" ] && host_check pixel shot.png 10 10 48 96 192
  # The client is gone: Quay releases the plane's buffer with the next frames. Wait for
  # the counts to come back (events), 20 s at most (a leak never gets there).
  local i live fbl gem
  for i in $(seq 40); do
    qmsg stats > "$CASE_OUT/stats-after.json"
    live=$(json_num dmabufs_live < "$CASE_OUT/stats-after.json")
    fbl=$(json_num framebuffers_live < "$CASE_OUT/stats-after.json")
    gem=$(json_num gem_handles_live < "$CASE_OUT/stats-after.json")
    [ "$live" = 0 ] && [ "$fbl" = "$base_fb" ] && [ "$gem" = "$base_gem" ] && break
    sleep 0.5
  done
  expect_eq "framebuffers live after exit (20 s cap)" "$fbl" "$base_fb"
  expect_eq "GEM handles live after exit (20 s cap)" "$gem" "$base_gem"
  expect_eq "dma-bufs live after exit (20 s cap)" "$live" 0
  stop_quay
}

case_quay_vkms_two_clients_fullscreen() {
  quay_on vkms || return 1
  wait_outputs 60 || { stop_quay; return 1; }
  warm_swapchain || { stop_quay; return 1; }
  qmsg stats > "$CASE_OUT/stats-base.json"
  local base_fb base_gem i
  base_fb=$(json_num framebuffers_live < "$CASE_OUT/stats-base.json")
  base_gem=$(json_num gem_handles_live < "$CASE_OUT/stats-base.json")
  scenario_start share share-fullscreen
  # Both clients shown: both connected and the second's buffer found in the framebuffer
  # cache (its first frame went to the plane). Waited for as events, 30 s at most; the
  # frames do not flow (nothing changes on screen), so no frame count is asked.
  for i in $(seq 60); do
    qmsg stats > "$CASE_OUT/stats-shown.json"
    [ "$(json_num clients_live < "$CASE_OUT/stats-shown.json")" = 2 ] &&
      [ "$(json_num framebuffer_cache_hits < "$CASE_OUT/stats-shown.json")" -ge 1 ] 2>/dev/null && break
    sleep 0.5
  done
  screenshot share.png && host_check pixel share.png 512 384 32 192 64
  scenario_end share share-fullscreen
  local s=$CASE_OUT/stats-shown.json k
  for k in clients_live imports_total import_cache_hits framebuffers_live framebuffers_total framebuffer_cache_hits gem_handles_live; do
    metric "shown_$k" "$(json_num $k < "$s")"
  done
  expect_eq "clients live while shown" "$(json_num clients_live < "$s")" 2
  expect_eq "renderer imports for one dma-buf in two clients" "$(json_num imports_total < "$s")" 1
  # One framebuffer per dma-buf at a time. Session 4 saw two AddFB2s in 3 of 7 runs: the
  # table keyed framebuffers by smithay's opaque flag, which is true for the primary plane
  # and false for overlays, and vkms offered the second client's element an overlay.
  metric shown_framebuffers_live_peak "$(json_num framebuffers_live_peak < "$s")"
  expect_eq "client framebuffers alive at once (peak)" "$(json_num framebuffers_live_peak < "$s")" $((base_fb + 1))
  expect_eq "AddFB2s for one dma-buf in two clients" \
    "$(( $(json_num framebuffers_total < "$s") - $(json_num framebuffers_total < "$CASE_OUT/stats-base.json") ))" 1
  expect_ge "framebuffer cache hits (the second client)" "$(json_num framebuffer_cache_hits < "$s")" 1
  [ "$(json_num framebuffers_live < "$s")" -le $((base_fb + 1)) ] || fail "framebuffers live $(json_num framebuffers_live < "$s"), want <= base $base_fb + 1"
  [ "$(json_num gem_handles_live < "$s")" -le $((base_gem + 1)) ] || fail "GEM handles live $(json_num gem_handles_live < "$s"), want <= base $base_gem + 1"
  local live fbl gem
  for i in $(seq 20); do
    qmsg stats > "$CASE_OUT/stats-after.json"
    live=$(json_num dmabufs_live < "$CASE_OUT/stats-after.json")
    fbl=$(json_num framebuffers_live < "$CASE_OUT/stats-after.json")
    gem=$(json_num gem_handles_live < "$CASE_OUT/stats-after.json")
    [ "$live" = 0 ] && [ "$fbl" = "$base_fb" ] && [ "$gem" = "$base_gem" ] && break
    sleep 0.5
  done
  expect_eq "dma-bufs live after both exited" "$live" 0
  expect_eq "framebuffers live after both exited" "$fbl" "$base_fb"
  expect_eq "GEM handles live after both exited" "$gem" "$base_gem"
  stop_quay
}

# zwlr_export_dmabuf_v1 and back: 8 captures of the output while a composed window changes,
# each `ready` with one linear dma-buf; the export cache hands out one dma-buf per swapchain
# buffer (distinct st_ino <= 4, exports_total <= 4 for any number of captures); the first
# capture shows the window's colour; sent back through linux-dmabuf as a fullscreen buffer it
# is scanned out from a framebuffer on Quay's own GEM handle: export_roundtrips_total >= 1
# and no PRIME import at all (gem_prime_imports_total 0).
vm_case quay-udev-vkms-export-roundtrip vkms case_quay_vkms_export_roundtrip 180
case_quay_vkms_export_roundtrip() {
  quay_usable || return 1
  need_card vkms || return 1
  printf '[udev]\nexport_dmabuf = true\n' > /tmp/export.toml
  start_quay --drm-device "$CARD" --config /tmp/export.toml || return 1
  wait_outputs 60 || { stop_quay; return 1; }
  scenario_start export export-roundtrip
  sleep 1
  qmsg stats > "$CASE_OUT/stats-shown.json"
  scenario_end export export-roundtrip || { stop_quay; return 1; }
  local r=$CASE_OUT/export.json s=$CASE_OUT/stats-shown.json k
  for k in export_dmabuf_frames_total exports_total export_cache_hits export_roundtrips_total gem_prime_imports_total framebuffers_total framebuffers_live gem_handles_live; do
    metric "$k" "$(json_num $k < "$s")"
  done
  metric distinct_dmabufs "$(json_num distinct_dmabufs < "$r")"
  expect_eq "frames exported" "$(json_num export_dmabuf_frames_total < "$s")" 8
  local d; d=$(json_num distinct_dmabufs < "$r")
  [ "${d:-9}" -ge 1 ] && [ "${d:-9}" -le 4 ] || fail "8 captures gave $d distinct dma-bufs, want 1..4 (one per swapchain buffer)"
  local x; x=$(json_num exports_total < "$s")
  [ "${x:-9}" -le 4 ] || fail "exports_total = $x for 8 captures, want <= 4 (one per buffer)"
  expect_ge "export cache hits" "$(json_num export_cache_hits < "$s")" $((8 - ${d:-0}))
  grep -q '"centre":"c06030"' "$r" || fail "the export does not show the window's colour c06030: $(cat "$r")"
  expect_ge "our export mapped back to the original object" "$(json_num export_roundtrips_total < "$s")" 1
  expect_eq "PRIME imports (none: it is our own object)" "$(json_num gem_prime_imports_total < "$s")" 0
  expect_eq "client framebuffers alive at once (peak)" "$(json_num framebuffers_live_peak < "$s")" 1
  stop_quay
}

# `[udev] direct_scanout = false`: the same fullscreen client is composited, never put on a
# plane as it is: no frame presented ZERO_COPY, no framebuffer for its dma-buf, one renderer
# import, its colour on screen.
case_quay_vkms_direct_scanout_off() {
  quay_usable || return 1
  need_card vkms || return 1
  printf '[udev]\ndirect_scanout = false\n' > /tmp/noscanout.toml
  start_quay --drm-device "$CARD" --config /tmp/noscanout.toml || return 1
  wait_outputs 60 || { stop_quay; return 1; }
  warm_swapchain || { stop_quay; return 1; }
  qmsg stats > "$CASE_OUT/stats-base.json"
  local base_fb; base_fb=$(json_num framebuffers_live < "$CASE_OUT/stats-base.json")
  dmabuf_client_shot off shot.png --source heap --fullscreen --buffers 4 --frames 60 --color 0xff3060c0
  local zc; zc=$(json_num zero_copy < "$CASE_OUT/off.json")
  metric zero_copy "${zc:-?}"
  expect_eq "frames presented ZERO_COPY with direct_scanout = false" "${zc:-x}" 0
  expect_eq "client framebuffers made (peak)" "$(json_num framebuffers_live_peak < "$CASE_OUT/stats-live.json")" "$base_fb"
  expect_eq "renderer imports for 4 wl_buffers on one dma-buf" "$(json_num imports_total < "$CASE_OUT/stats-live.json")" 1
  [ -f "$CASE_OUT/shot.png" ] && host_check pixel shot.png 10 10 48 96 192
  stop_quay
}
