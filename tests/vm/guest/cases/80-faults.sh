# Churn and faults on real kernel objects: many clients living and dying on dma-bufs and
# syncobjs, a connector unplugged and plugged back (the DRM connector's sysfs `status`
# forces it off or back to detection; the card's `change` uevent is what a real hotplug
# sends), and
# a session pause and resume through a real VT switch (seatd hands the seat
# back and forth as the kernel switches virtual terminals).
# Each also on GLES (kms_swrast over virtio_gpu): the renderer's own objects (EGL images,
# textures, the GBM swapchain) must come and go with the clients and the output too. The
# VT switches last: they hand the seat away and back.
vm_case quay-churn-soak virtio case_quay_churn_soak 300
vm_case quay-churn-soak-gles virtio case_quay_churn_soak_gles 360
vm_case quay-udev-virtio-hotplug virtio case_quay_hotplug 240
vm_case quay-udev-virtio-hotplug-gles virtio case_quay_hotplug_gles 300
vm_case quay-udev-virtio-vt-switch virtio case_quay_vt_switch 240
vm_case quay-udev-virtio-vt-switch-gles virtio case_quay_vt_switch_gles 300
case_quay_churn_soak_gles() { local QUAY_RENDERER=gles; case_quay_churn_soak; }
case_quay_hotplug_gles() { local QUAY_RENDERER=gles; case_quay_hotplug; }
case_quay_vt_switch_gles() { local QUAY_RENDERER=gles; case_quay_vt_switch; }

# faults_quay_on: Quay on virtio_gpu with its output up, in the renderer QUAY_RENDERER
# names (a *-gles variant sets it); on GLES also its first frame presented, since GLES
# start-up under TCG takes seconds of a client's run (quay_gles_drawing).
faults_quay_on() {
  if [ "${QUAY_RENDERER:-}" = gles ]; then
    quay_gles_drawing
  else
    quay_on virtio_gpu || return 1
    wait_outputs 60 || { stop_quay; return 1; }
  fi
}

# vt_activate N: switch the kernel to VT N and wait until it is active (VT_ACTIVATE,
# VT_WAITACTIVE on /dev/tty0; perl-base is in every Debian root, kbd's chvt is not).
vt_activate() {
  timeout 20 perl -e 'open(my $t, "+<", "/dev/tty0") or die "tty0: $!";
    ioctl($t, 0x5606, int($ARGV[0])) or die "VT_ACTIVATE: $!";
    ioctl($t, 0x5607, int($ARGV[0])) or die "VT_WAITACTIVE: $!";' "$1"
}
# active_vt: the number of the active VT
active_vt() { sed 's/^tty//' /sys/class/tty/tty0/active; }

# Quay shows a dma-heap window and weston-simple-shm; the VT is switched away by Ctrl+Alt+F<n>
# typed on a (uinput) keyboard (Quay's session is paused: rendering stops) and back by chvt
# (resumed: outputs come back, the dma-buf is drawn from its import again, frames flow, the
# window's colour is on screen).
case_quay_vt_switch() {
  faults_quay_on || return 1
  local home qc
  home=$(active_vt); say "Quay's VT: $home"
  qc=$(qclient)
  timeout 150 "$qc" --source heap --size 200x150 --color 0xff20c040 --frames 20 --linger-ms 60000 \
    > "$CASE_OUT/win.json" 2> "$CASE_OUT/win.err" &
  local win=$! i
  for i in $(seq 120); do grep -q READY "$CASE_OUT/win.err" 2>/dev/null && break; sleep 0.5; done
  grep -q READY "$CASE_OUT/win.err" || { fail "the dma-buf window never got READY"; kill $win; stop_quay; return 1; }
  client_start shm 100 weston-simple-shm
  wait_commits shm 5 60
  local away=$((home == 2 ? 3 : 2)) keys
  # Away by the user's keys: Ctrl+Alt+F<away> on a uinput keyboard (KEY_LEFTCTRL 29, KEY_LEFTALT
  # 56, KEY_F1 59...), through libinput and Quay's VT binding to seatd.
  need_uinput || { kill $win; stop_quay; return 1; }
  "$qc" --uinput-keys "29+56+$((58 + away)),$CASE_OUT/keys-go,$CASE_OUT/keys-done" \
    > "$CASE_OUT/keys.json" 2> "$CASE_OUT/keys.err" & keys=$!
  quay_has_input "Quay Test Keyboard" 30 ||
    fail "Quay never got the uinput keyboard: $(tr '\n' ' ' < "$CASE_OUT/keys.err")"
  say "Ctrl+Alt+F$away"
  touch "$CASE_OUT/keys-go"
  for i in $(seq 40); do grep -q "switching VT" "$CASE_OUT/quay.log" && break; sleep 0.25; done
  grep -q "switching VT vt=$away" "$CASE_OUT/quay.log" || fail "Ctrl+Alt+F$away did not make Quay switch to VT $away"
  for i in $(seq 40); do grep -q "session paused" "$CASE_OUT/quay.log" && break; sleep 0.25; done
  grep -q "session paused" "$CASE_OUT/quay.log" || fail "Quay was not paused by the VT switch"
  local f_paused; f_paused=$(qmsg stats | json_num frames_presented_total)
  sleep 2
  local f_still; f_still=$(qmsg stats | json_num frames_presented_total)
  metric frames_while_away $((f_still - f_paused))
  expect_eq "frames presented while the session is away" $((f_still - f_paused)) 0
  expect_eq "the active VT after Ctrl+Alt+F$away" "$(active_vt)" "$away"
  touch "$CASE_OUT/keys-done"; wait $keys
  say "switching back to VT $home"
  vt_activate "$home" || fail "cannot switch back to VT $home"
  for i in $(seq 40); do grep -q "session resumed" "$CASE_OUT/quay.log" && break; sleep 0.25; done
  grep -q "session resumed" "$CASE_OUT/quay.log" || fail "Quay was not resumed"
  # Frames and commits flow again: 3 of each, however long TCG takes, up to 60 s.
  wait_flow shm 3 3 60
  metric frames_after_resume "$FLOW_FRAMES"; metric shm_commits_after_resume "$FLOW_COMMITS"
  metric resume_flow_s "$FLOW_S"
  expect_ge "frames presented after resume (60 s cap)" "$FLOW_FRAMES" 3
  expect_ge "weston-simple-shm commits after resume (60 s cap)" "$FLOW_COMMITS" 3
  qmsg outputs > "$CASE_OUT/outputs-after.json"
  grep -q '"width":800' "$CASE_OUT/outputs-after.json" || grep -q '"width": 800' "$CASE_OUT/outputs-after.json" ||
    fail "the output did not come back: $(tail_of "$CASE_OUT/outputs-after.json" 2)"
  # The dma-buf window is at the origin, weston-simple-shm placed beside it.
  screenshot resumed.png && host_check pixel resumed.png 10 10 32 192 64
  # SIGALRM is timeout(1)'s own "time is up": it stops the client and exits 124, which
  # client_ok takes. (A SIGINT of ours reaches weston-simple-shm twice, directly and through
  # timeout's process group, and its handler is SA_RESETHAND: the second one kills it.)
  kill -ALRM "${CPID[shm]}" 2>/dev/null; client_wait shm; client_ok shm
  kill $win 2>/dev/null; wait $win 2>/dev/null
  stop_quay
}


# qfds / qrss: Quay's open fds and resident KiB
qfds() { ls "/proc/$QPID/fd" 2>/dev/null | wc -l; }
qrss() { awk '/^VmRSS:/ { print $2 }' "/proc/$QPID/status" 2>/dev/null; }
CHURN_LIVE="clients_live windows_live dmabufs_live imported_bytes pinned_bytes fences_pending framebuffers_live gem_handles_live"

# Eight clients at once for 20 s on real dma-heap buffers and syncobj timelines
# (quay-dmabuf-client --syncobj-test churn): shown and cleanly destroyed, dropped with
# an acquire point that never signals, dropped mid-import, dropped between attach and
# commit, two wl_buffers on one dma-buf dropped alive, cut mid-message. Afterwards Quay's
# fds and every live counter are back at their baseline and a new client is served.
case_quay_churn_soak() {
  faults_quay_on || return 1
  local node qc; node=$(render_node_of "$CARD"); qc=$(qclient)
  [ -c "$node" ] || { fail "no render node for $CARD"; stop_quay; return 1; }
  warm_swapchain || { stop_quay; return 1; }
  qmsg stats > "$CASE_OUT/stats-before.json"
  local fds0 rss0; fds0=$(qfds); rss0=$(qrss)
  QUAY_CHURN_CLIENTS=8 QUAY_CHURN_SECS=20 timeout 150 "$qc" --syncobj-test churn --drm-device "$node" \
    > "$CASE_OUT/churn.json" 2> "$CASE_OUT/churn.err" &
  local pid=$! peak=$rss0 r i
  while kill -0 $pid 2>/dev/null; do r=$(qrss); [ "${r:-0}" -gt "$peak" ] && peak=$r; sleep 1; done
  wait $pid; local rc=$?
  say "churn rc=$rc: $(cat "$CASE_OUT/churn.json")"
  [ $rc = 0 ] && grep -q '"ok":true' "$CASE_OUT/churn.json" || fail "churn: rc $rc $(tail_of "$CASE_OUT/churn.json" 1) $(tail_of "$CASE_OUT/churn.err" 2)"
  local k back=0
  for i in $(seq 40); do
    qmsg stats > "$CASE_OUT/stats-after.json"
    back=1
    for k in $CHURN_LIVE; do
      [ "$(json_num $k < "$CASE_OUT/stats-after.json")" = "$(json_num $k < "$CASE_OUT/stats-before.json")" ] || back=0
    done
    [ $back = 1 ] && [ "$(qfds)" -le "$fds0" ] && break
    sleep 0.5
  done
  local fds1 rss1; fds1=$(qfds); rss1=$(qrss)
  metric lives "$(json_num lives < "$CASE_OUT/churn.json")"
  metric never_signalled "$(json_num never_signalled < "$CASE_OUT/churn.json")"
  metric fds_before "$fds0"; metric fds_after "$fds1"
  metric rss_kib_before "$rss0"; metric rss_kib_peak "$peak"; metric rss_kib_after "$rss1"
  metric clients_served "$(json_num clients_connected_total < "$CASE_OUT/stats-after.json")"
  # Session 4 saw one run in five leave one 64 KiB import and 3 fds: a client gone with its
  # acquire point unsignalled while its window had the keyboard focus (a dead focus kept the
  # surface's data, and the held commit in it, alive). Fixed in session 5
  # (State::release_focus_of); quay-syncobj-stall checks that case alone.
  for k in $CHURN_LIVE; do
    expect_eq "$k back at its baseline" "$(json_num $k < "$CASE_OUT/stats-after.json")" "$(json_num $k < "$CASE_OUT/stats-before.json")"
  done
  [ "$fds1" -le "$fds0" ] || fail "Quay's fds: $fds0 before, $fds1 after"
  # A new client is served, its dma-buf's colour on screen.
  # Fullscreen: wherever thousands of windows before it were placed.
  dmabuf_client_shot after after.png --source heap --fullscreen --color 0xff20c040 --frames 10
  [ -f "$CASE_OUT/after.png" ] && host_check pixel after.png 100 75 32 192 64
  stop_quay
}

# hotplug_uevent: the card's `change` uevent, as the kernel sends it on a real hotplug
# (forcing a connector through sysfs re-probes it but sends none)
hotplug_uevent() { echo change > "/sys/class/drm/$(basename "$CARD")/uevent"; }

# wl_outputs: wl_output globals a new client sees
wl_outputs() { timeout 20 wayland-info 2>/dev/null | grep -c "interface: 'wl_output'"; }

# The virtio connector forced off and back: the output goes (no framebuffer or GEM
# handle of its swapchain left, its wl_output global withdrawn, Quay and the client
# survive) and comes back (one wl_output, frames flow, the same framebuffer and handle
# counts as before).
case_quay_hotplug() {
  faults_quay_on || return 1
  local conn; conn=$(ls -d /sys/class/drm/"$(basename "$CARD")"-*/ 2>/dev/null | head -n1)
  [ -n "$conn" ] && [ -w "$conn/status" ] || { fail "no connector status file for $CARD"; stop_quay; return 1; }
  say "connector $(basename "$conn"): $(cat "$conn/status")"
  client_start shm 120 weston-simple-shm
  wait_commits shm 5 60
  qmsg stats > "$CASE_OUT/stats-up.json"
  local out0; out0=$(wl_outputs)
  expect_eq "wl_output globals with the connector up" "$out0" 1
  echo off > "$conn/status"
  hotplug_uevent
  local i
  for i in $(seq 40); do
    qmsg outputs > "$CASE_OUT/outputs-off.json" 2>&1; grep -q '"width"' "$CASE_OUT/outputs-off.json" || break; sleep 0.5
  done
  grep -q '"width"' "$CASE_OUT/outputs-off.json" && fail "the output is still listed with its connector off"
  # The wl_output global is removed 5 s after it is withdrawn (so clients that bound it
  # late are not killed); wait for that event, 30 s at most, rather than sleep past it.
  local n_off
  for i in $(seq 30); do n_off=$(wl_outputs); [ "$n_off" = 0 ] && break; sleep 1; done
  qmsg stats > "$CASE_OUT/stats-off.json"
  metric framebuffers_live_off "$(json_num framebuffers_live < "$CASE_OUT/stats-off.json")"
  metric gem_handles_live_off "$(json_num gem_handles_live < "$CASE_OUT/stats-off.json")"
  expect_eq "framebuffers with no output" "$(json_num framebuffers_live < "$CASE_OUT/stats-off.json")" 0
  expect_eq "GEM handles with no output" "$(json_num gem_handles_live < "$CASE_OUT/stats-off.json")" 0
  expect_eq "wl_output globals with the connector off (30 s cap)" "$n_off" 0
  kill -0 "${CPID[shm]}" 2>/dev/null || fail "weston-simple-shm died with the output"
  echo detect > "$conn/status"
  hotplug_uevent
  for i in $(seq 40); do
    qmsg outputs > "$CASE_OUT/outputs-back.json" 2>&1; grep -q '"width"' "$CASE_OUT/outputs-back.json" && break; sleep 0.5
  done
  grep -q '"width"' "$CASE_OUT/outputs-back.json" || fail "the output did not come back"
  # Frames and commits flow again: 3 of each, however long TCG takes, up to 60 s.
  wait_flow shm 3 3 60
  qmsg stats > "$CASE_OUT/stats-back.json"
  metric frames_after_replug "$FLOW_FRAMES"; metric shm_commits_after_replug "$FLOW_COMMITS"
  metric replug_flow_s "$FLOW_S"
  expect_ge "frames after the connector came back (60 s cap)" "$FLOW_FRAMES" 3
  expect_ge "weston-simple-shm commits after the connector came back (60 s cap)" "$FLOW_COMMITS" 3
  expect_eq "wl_output globals after it came back" "$(wl_outputs)" 1
  local k
  for k in framebuffers_live gem_handles_live; do
    metric "${k}_up" "$(json_num $k < "$CASE_OUT/stats-up.json")"; metric "${k}_back" "$(json_num $k < "$CASE_OUT/stats-back.json")"
    expect_eq "$k after the replug" "$(json_num $k < "$CASE_OUT/stats-back.json")" "$(json_num $k < "$CASE_OUT/stats-up.json")"
  done
  screenshot replugged.png && host_check png-nonuniform replugged.png
  # SIGALRM is timeout(1)'s own "time is up": it stops the client and exits 124, which
  # client_ok takes. (A SIGINT of ours reaches weston-simple-shm twice, directly and through
  # timeout's process group, and its handler is SA_RESETHAND: the second one kills it.)
  kill -ALRM "${CPID[shm]}" 2>/dev/null; client_wait shm; client_ok shm
  stop_quay
}
