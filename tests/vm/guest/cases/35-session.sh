# A session on udev (issue #13): the cursor on virtio_gpu's cursor plane, moved by QEMU's
# pointer; [input] settings on real libinput devices; mode switches.
#  - quay-udev-virtio-cursor-plane: the virtio boot has a virtio-tablet-pci; the host moves it
#    over QMP (boot.sh forwards share/qmp/NAME.req). libinput hands Quay the absolute motion,
#    the pointer enters a fullscreen client, the client sets a 24x24 cursor surface
#    (quay-dmabuf-client --cursor-color), and Quay puts it on the CRTC's cursor plane through
#    its own framebuffer table (backends/cursor_plane.rs). Read back from the kernel by another
#    process (quay-dmabuf-client --probe-cursor-plane: the plane's FB_ID, CRTC_X/Y, and the
#    framebuffer's pixels): at the pointer less the hotspot, the hotspot in HOTSPOT_X/Y (which
#    virtio_gpu needs: without DRM_CLIENT_CAP_CURSOR_PLANE_HOTSPOT the kernel hides its cursor
#    plane from atomic clients), every pixel the client's colour;
#    a second move re-sets the same framebuffer (no new AddFB2); the plane goes off when the
#    client and its cursor surface are gone. The table's counters move with it.
vm_case quay-udev-virtio-cursor-plane virtio case_quay_virtio_cursor_plane 180
# the same with GLES (kms_swrast) composing the rest: the plane does not depend on the engine
vm_case quay-udev-virtio-cursor-plane-gles virtio case_quay_virtio_cursor_plane_gles 240
case_quay_virtio_cursor_plane_gles() { QUAY_RENDERER=gles case_quay_virtio_cursor_plane; }

# qmp NAME JSON...: have the host send these QMP commands (one per argument); waits for the
# replies (share/qmp/CASE-NAME.out: names are per case, one boot runs several) and fails on a
# QMP error.
qmp() {
  local name=$CASE-$1 i; shift
  printf '%s\n' "$@" > "$S/qmp/$name.tmp" && mv "$S/qmp/$name.tmp" "$S/qmp/$name.req"
  for i in $(seq 60); do [ -f "$S/qmp/$name.out" ] && break; sleep 0.5; done
  [ -f "$S/qmp/$name.out" ] || { fail "no QMP reply for $name within 30 s"; return 1; }
  cp "$S/qmp/$name.out" "$CASE_OUT/qmp-$name.out"
  if grep -q '"error"\|Traceback\|Error' "$S/qmp/$name.out"; then
    fail "QMP $name: $(head -c 300 "$S/qmp/$name.out")"; return 1
  fi
}
# tablet_to NAME X Y WAIT: QEMU's tablet to pixel (X, Y) of the 800x600 output (axes 0..32767:
# libinput scales by (max - min + 1) = 32768, so these land on whole pixels); WAIT as in
# input_until
tablet_to() {
  input_until "$1" "$(input_node 'QEMU Virtio Tablet')" "$4" "{\"execute\":\"input-send-event\",\"arguments\":{\"events\":[{\"type\":\"abs\",\"data\":{\"axis\":\"x\",\"value\":$(($2 * 32768 / 800))}},{\"type\":\"abs\",\"data\":{\"axis\":\"y\",\"value\":$(($3 * 32768 / 600))}}]}}"
}
# probe_until FILE SECS COND: read the cursor plane back until COND (a shell test on the
# probe's JSON in $P) holds; the last probe is in $CASE_OUT/FILE
probe_until() {
  local file=$1 secs=$2 cond=$3 i
  for i in $(seq $((secs * 2))); do
    P=$("$S/bin/quay-dmabuf-client" --probe-cursor-plane "$CARD" 2>&1)
    echo "$P" > "$CASE_OUT/$file"
    eval "$cond" && return 0
    sleep 0.5
  done
  return 1
}
# input_node NAME: the /dev/input/eventN of the input device called NAME
input_node() {
  grep -A8 "^N: Name=\"$1\"" /proc/bus/input/devices | grep -o 'event[0-9]*' | head -n1 | sed 's|^|/dev/input/|'
}
# evdev_record NODE FILE: record the guest kernel's events on NODE (24 bytes each; a reader of
# its own takes nothing from libinput's) into FILE, from before this returns until evdev_stop.
EVDEV_READERS=()
evdev_record() {
  local pid i
  cat "$1" > "$2" & pid=$!
  EVDEV_READERS+=("$pid")
  for i in $(seq 50); do ls -l /proc/$pid/fd 2>/dev/null | grep -q " $1\$" && break; sleep 0.1; done
}
evdev_stop() {
  [ ${#EVDEV_READERS[@]} = 0 ] && return
  kill "${EVDEV_READERS[@]}" 2>/dev/null; wait "${EVDEV_READERS[@]}" 2>/dev/null; EVDEV_READERS=()
}
# evdev_events FILE: the number of events evdev_record wrote to FILE
evdev_events() { echo $(( $(stat -c %s "$1") / 24 )); }
# input_until NAME NODE WAIT JSON...: send QEMU input events (qmp NAME JSON...) and eval WAIT, a
# command that polls for their effect (the caller's checks follow; WAIT only decides whether the
# events arrived). Meanwhile the guest kernel's events on NODE are recorded. When WAIT fails and
# the kernel saw none of them, they were lost before they reached the guest's input device (seen
# once in CI on 2026-12-06: a tablet move that neither the client nor the cursor plane ever
# saw): they are sent once more, with metric input_resent_NAME. When the kernel did deliver
# them, nothing is resent and the caller's checks fail: Quay or libinput dropped them.
input_until() {
  local name=$1 node=$2 wait=$3 raw n; shift 3
  raw=$CASE_OUT/evdev-$name.raw
  [ -c "$node" ] || { fail "$name: no input device node '$node'"; return 1; }
  evdev_record "$node" "$raw"
  local sent=0
  if qmp "$name" "$@"; then
    sent=1
    if ! eval "$wait"; then
      n=$(evdev_events "$raw")
      if [ "$n" -gt 0 ]; then
        say "$name: the kernel delivered $n events on $node, and their effect did not show"
      else
        say "$name: no event reached $node (lost between QEMU and the guest's device): sending again"
        metric "input_resent_$name" 1
        qmp "$name-again" "$@" || sent=0
        [ $sent = 1 ] && eval "$wait"
        say "$name: $(evdev_events "$raw") events on $node after sending again"
      fi
    fi
  fi
  evdev_stop
  [ $sent = 1 ]
}

case_quay_virtio_cursor_plane() {
  grep -q 'Virtio Tablet' /proc/bus/input/devices || modprobe virtio_input
  udevadm settle -t 10
  grep -A4 'Virtio Tablet' /proc/bus/input/devices > "$CASE_OUT/input-devices.txt" ||
    { fail "no QEMU tablet in /proc/bus/input/devices (boot without virtio-tablet-pci?)"; return 1; }
  quay_on virtio_gpu || return 1
  wait_outputs 60 || { stop_quay; return 1; }
  grep -q 'cursor_plane=true' "$CASE_OUT/quay.log" || say "warning: no 'cursor_plane=true' in quay.log"
  local base_gem base_own color=0xff20c040 want
  want=$((color))
  probe_until probe-before.json 1 'true'
  expect_eq "cursor plane FB_ID before the pointer moved" "$(json_num fb < "$CASE_OUT/probe-before.json")" 0

  client_start cur 150 "$S/bin/quay-dmabuf-client" --source shm --fullscreen --frames 1 \
    --cursor-color $color --until-file "$CASE_OUT/stop"
  wait_commits cur 2 60 || { fail "the client did not commit twice: $(tail_of "$CASE_OUT/cur.wldebug" 2)"; stop_quay; return 1; }
  # The base once the window's frames were presented twice: Quay has drawn at least two
  # frames by then, so the swapchain holds both its buffers (one on screen, one drawn into;
  # it grows as frames need them, and Quay draws no frame that changes nothing).
  local i
  for i in $(seq 60); do [ "$(grep -c 'presented(' "$CASE_OUT/cur.wldebug")" -ge 2 ] && break; sleep 0.5; done
  qmsg stats > "$CASE_OUT/stats-base.json"
  base_gem=$(json_num gem_handles_live < "$CASE_OUT/stats-base.json")
  base_own=$(json_num own_framebuffers_total < "$CASE_OUT/stats-base.json")
  expect_eq "own framebuffers before any cursor" "$base_own" 0

  local c1='[ "$(json_num x <<< "$P")" = 398 ] && [ "$(json_num opaque <<< "$P")" = 576 ]'
  tablet_to move1 400 300 'probe_until probe-1.json 30 "$c1"' || { stop_quay; return 1; }
  for i in $(seq 60); do grep -q '^CURSOR ' "$CASE_OUT/cur.wldebug" && break; sleep 0.5; done
  grep -q '^CURSOR ' "$CASE_OUT/cur.wldebug" ||
    { fail "no wl_pointer.enter on the client after QEMU's pointer moved: $(grep -c wl_pointer "$CASE_OUT/cur.wldebug") wl_pointer lines"; }
  probe_until probe-1.json 30 "$c1"
  local fb1; fb1=$(json_num fb < "$CASE_OUT/probe-1.json")
  say "probe 1: $(cat "$CASE_OUT/probe-1.json")"
  expect_ge "cursor plane FB_ID after the move" "${fb1:-0}" 1
  expect_eq "cursor plane CRTC_X (pointer 400 less hotspot 2)" "$(json_num x < "$CASE_OUT/probe-1.json")" 398
  expect_eq "cursor plane CRTC_Y (pointer 300 less hotspot 3)" "$(json_num y < "$CASE_OUT/probe-1.json")" 297
  expect_eq "cursor plane HOTSPOT_X (virtio_gpu hands it to QEMU)" "$(json_num hot_x < "$CASE_OUT/probe-1.json")" 2
  expect_eq "cursor plane HOTSPOT_Y" "$(json_num hot_y < "$CASE_OUT/probe-1.json")" 3
  expect_eq "cursor pixels with alpha (24x24)" "$(json_num opaque < "$CASE_OUT/probe-1.json")" 576
  expect_eq "cursor top-left pixel (ARGB)" "$(json_num p00 < "$CASE_OUT/probe-1.json")" "$want"
  qmsg stats > "$CASE_OUT/stats-1.json"
  local own1; own1=$(json_num own_framebuffers_total < "$CASE_OUT/stats-1.json")
  metric own_framebuffers_total_1 "$own1"
  metric cursor_plane_updates_total_1 "$(json_num cursor_plane_updates_total < "$CASE_OUT/stats-1.json")"
  expect_ge "framebuffers the table made for the cursor" "${own1:-0}" 1
  expect_ge "cursor plane updates" "$(json_num cursor_plane_updates_total < "$CASE_OUT/stats-1.json")" 1
  expect_eq "GEM handles live with the cursor up (base + its buffer)" \
    "$(json_num gem_handles_live < "$CASE_OUT/stats-1.json")" $((base_gem + own1))

  local c2='[ "$(json_num x <<< "$P")" = 198 ]'
  tablet_to move2 200 150 'probe_until probe-2.json 30 "$c2"' || { stop_quay; return 1; }
  say "probe 2: $(cat "$CASE_OUT/probe-2.json")"
  expect_eq "cursor plane CRTC_X after the second move" "$(json_num x < "$CASE_OUT/probe-2.json")" 198
  expect_eq "cursor plane CRTC_Y after the second move" "$(json_num y < "$CASE_OUT/probe-2.json")" 147
  expect_eq "the same framebuffer after a move" "$(json_num fb < "$CASE_OUT/probe-2.json")" "$fb1"
  expect_eq "cursor pixels after the move" "$(json_num opaque < "$CASE_OUT/probe-2.json")" 576
  qmsg stats > "$CASE_OUT/stats-2.json"
  expect_ge "cursor plane moves" "$(json_num cursor_plane_moves_total < "$CASE_OUT/stats-2.json")" 1
  expect_eq "no new framebuffer for a move" "$(json_num own_framebuffers_total < "$CASE_OUT/stats-2.json")" "$own1"
  expect_eq "cursor frames composited" "$(json_num cursor_composited_frames_total < "$CASE_OUT/stats-2.json")" 0
  metric cursor_plane_moves_total "$(json_num cursor_plane_moves_total < "$CASE_OUT/stats-2.json")"
  metric cursor_plane_update_max_us "$(json_num cursor_plane_update_max_us < "$CASE_OUT/stats-2.json")"
  metric cursor_plane_move_max_us "$(json_num cursor_plane_move_max_us < "$CASE_OUT/stats-2.json")"

  touch "$CASE_OUT/stop"
  client_wait cur; client_ok cur
  probe_until probe-gone.json 20 '[ "$(json_num fb <<< "$P")" = 0 ]'
  expect_eq "cursor plane FB_ID once the client is gone" "$(json_num fb < "$CASE_OUT/probe-gone.json")" 0
  stop_quay
}

# quay-udev-virtio-input-settings: [input] applied by libinput to real devices (QEMU's PS/2
# mouse takes QMP's relative motion, the tablet its absolute motion; the wheel goes to either,
# both are configured), and again on `quay msg reload`. The pointer's place is read back from
# the cursor plane as above, the scroll direction from the client's wl_pointer.axis events:
#  - accel_profile flat, speed 0.0: a relative move of 20 is 20 pixels; natural_scroll: a
#    wheel step down scrolls up (negative axis value);
#  - reload with speed 0.5 and natural_scroll off: the same move is 30 pixels (flat: the
#    speed alone scales, by 1 + speed), the same wheel step scrolls down.
vm_case quay-udev-virtio-input-settings virtio case_quay_virtio_input_settings 180

input_config() {
  printf '[input]\naccel_profile = "flat"\naccel_speed = %s\nnatural_scroll = %s\n' "$2" "$3" > "$1"
}
# rel_x NAME DX WAIT: QEMU's mouse (PS/2) DX to the right; WAIT as in input_until
rel_x() { input_until "$1" "$(input_node 'ImExPS/2 Generic Explorer Mouse')" "$3" "{\"execute\":\"input-send-event\",\"arguments\":{\"events\":[{\"type\":\"rel\",\"data\":{\"axis\":\"x\",\"value\":$2}}]}}"; }
# wheel_down NAME: one wheel step down. QEMU gives a button event to the input device it
# activated last that takes buttons: the tablet (REL_WHEEL on its evdev node) or the PS/2 mouse;
# where the kernel delivered it is said (and metric wheel_device_NAME).
wheel_down() {
  local t m tablet_raw=$CASE_OUT/evdev-$1-tablet.raw mouse_raw=$CASE_OUT/evdev-$1-mouse.raw
  t=$(input_node 'QEMU Virtio Tablet'); m=$(input_node 'ImExPS/2 Generic Explorer Mouse')
  evdev_record "$t" "$tablet_raw"; evdev_record "$m" "$mouse_raw"
  qmp "$1" '{"execute":"input-send-event","arguments":{"events":[{"type":"btn","data":{"down":true,"button":"wheel-down"}}]}}' \
    '{"execute":"input-send-event","arguments":{"events":[{"type":"btn","data":{"down":false,"button":"wheel-down"}}]}}'
  local rc=$?
  sleep 1
  evdev_stop
  local nt nm
  nt=$(evdev_events "$tablet_raw"); nm=$(evdev_events "$mouse_raw")
  say "$1: the kernel delivered $nt events on the tablet ($t), $nm on the mouse ($m)"
  if [ "$nt" -gt 0 ]; then metric "wheel_device_$1" tablet; elif [ "$nm" -gt 0 ]; then metric "wheel_device_$1" mouse; fi
  return $rc
}
# axis_values: the vertical wl_pointer.axis values the client got, in order
axis_values() { sed -n 's/.*wl_pointer[#@][0-9]*\.axis([0-9]*, 0, \([-0-9.]*\)).*/\1/p' "$CASE_OUT/cur.wldebug"; }

case_quay_virtio_input_settings() {
  cat /proc/bus/input/devices > "$CASE_OUT/input-devices.txt"
  grep -q 'Virtio Tablet' "$CASE_OUT/input-devices.txt" || { fail "no QEMU tablet (boot without virtio-tablet-pci?)"; return 1; }
  quay_usable || return 1
  need_card virtio_gpu || return 1
  input_config /tmp/input.toml 0.0 true
  start_quay --drm-device "$CARD" --config /tmp/input.toml || return 1
  wait_outputs 60 || { stop_quay; return 1; }
  client_start cur 150 "$S/bin/quay-dmabuf-client" --source shm --fullscreen --frames 1 \
    --cursor-color 0xff20c040 --until-file "$CASE_OUT/stop"
  wait_commits cur 2 60 || { fail "the client did not commit twice"; stop_quay; return 1; }
  grep 'input device configured' "$CASE_OUT/quay.log" | sed 's/.*INFO //' | while read -r l; do say "$l"; done
  local c='[ "$(json_num x <<< "$P")" = 398 ]'
  tablet_to abs 400 300 'probe_until probe-abs.json 30 "$c"' || { stop_quay; return 1; }
  probe_until probe-abs.json 1 "$c" ||
    { fail "the cursor plane never reached x 398: $(cat "$CASE_OUT/probe-abs.json")"; stop_quay; return 1; }

  local r1='[ "$(json_num x <<< "$P")" != 398 ]' r2='[ "$(json_num x <<< "$P")" != 418 ]'
  rel_x rel1 20 'probe_until probe-rel1.json 20 "$r1"' || { stop_quay; return 1; }
  expect_eq "x after a relative 20 at flat speed 0.0 (398 + 20)" "$(json_num x < "$CASE_OUT/probe-rel1.json")" 418
  wheel_down wheel1 || { stop_quay; return 1; }
  local i
  for i in $(seq 40); do [ -n "$(axis_values)" ] && break; sleep 0.5; done
  local a1; a1=$(axis_values | head -n1)
  metric axis_natural "$a1"
  case $a1 in -*) ;; *) fail "wheel down with natural_scroll: axis value '$a1', want negative" ;; esac

  input_config /tmp/input.toml 0.5 false
  qmsg reload > "$CASE_OUT/reload.json"
  grep -q 'config reloaded' "$CASE_OUT/quay.log" || fail "no 'config reloaded' in quay.log"
  rel_x rel2 20 'probe_until probe-rel2.json 20 "$r2"' || { stop_quay; return 1; }
  expect_eq "x after a relative 20 at flat speed 0.5 (418 + 30)" "$(json_num x < "$CASE_OUT/probe-rel2.json")" 448
  wheel_down wheel2 || { stop_quay; return 1; }
  for i in $(seq 40); do [ "$(axis_values | wc -l)" -ge 2 ] && break; sleep 0.5; done
  local a2; a2=$(axis_values | sed -n 2p)
  metric axis_after_reload "$a2"
  case $a2 in -*|'') fail "wheel down after natural_scroll off: axis value '$a2', want positive" ;; esac
  touch "$CASE_OUT/stop"
  client_wait cur; client_ok cur
  stop_quay
}

# quay-udev-virtio-mode-switch: wlr-randr (zwlr_output_manager_v1) switches virtio_gpu's
# connector to another of its modes; the kernel's CRTC then holds it (read back by another
# process: quay-dmabuf-client --probe-crtc), wl_output and `quay msg outputs` say it, and
# page flips go on at the new size. --preferred goes back. `[[output]] mode` starts Quay
# in a mode.
vm_case quay-udev-virtio-mode-switch virtio case_quay_virtio_mode_switch 180

# crtc_until FILE SECS W: probe the CRTC's mode until its width is W
crtc_until() {
  local i
  for i in $(seq $(($2 * 2))); do
    P=$("$S/bin/quay-dmabuf-client" --probe-crtc "$CARD" 2>&1)
    echo "$P" > "$CASE_OUT/$1"
    [ "$(json_num w <<< "$P")" = "$3" ] && return 0
    sleep 0.5
  done
  return 1
}

case_quay_virtio_mode_switch() {
  command -v wlr-randr > /dev/null || { fail "wlr-randr is not in the image (tests/vm/image.sh)"; return 1; }
  quay_on virtio_gpu || return 1
  wait_outputs 60 || { stop_quay; return 1; }
  wlr-randr > "$CASE_OUT/randr-before.txt" 2>&1
  grep -q '1024x768 px' "$CASE_OUT/randr-before.txt" ||
    { fail "virtio_gpu lists no 1024x768 mode: $(tail_of "$CASE_OUT/randr-before.txt" 3)"; stop_quay; return 1; }
  crtc_until crtc-before.json 10 800 || fail "CRTC before: $(cat "$CASE_OUT/crtc-before.json")"
  wlr-randr --output Virtual-1 --mode 1024x768 > "$CASE_OUT/randr-set.txt" 2>&1 ||
    fail "wlr-randr --mode 1024x768: $(tail_of "$CASE_OUT/randr-set.txt" 2)"
  crtc_until crtc-1024.json 20 1024
  expect_eq "CRTC width after the switch" "$(json_num w < "$CASE_OUT/crtc-1024.json")" 1024
  expect_eq "CRTC height after the switch" "$(json_num h < "$CASE_OUT/crtc-1024.json")" 768
  qmsg outputs > "$CASE_OUT/outputs-1024.json"
  expect_eq "quay msg outputs width" "$(json_num width < "$CASE_OUT/outputs-1024.json")" 1024
  wlr-randr > "$CASE_OUT/randr-after.txt" 2>&1
  grep -q '1024x768 px.*current' "$CASE_OUT/randr-after.txt" || fail "wlr-randr does not show 1024x768 current"
  # page flips go on at the new size (events, not a rate: three more, up to 30 s)
  local f0 f i
  f0=$(qmsg stats | json_num frames_presented_total)
  client_start shm 60 weston-simple-shm
  for i in $(seq 60); do
    f=$(qmsg stats | json_num frames_presented_total)
    [ $((${f:-0} - ${f0:-0})) -ge 3 ] && break
    sleep 0.5
  done
  expect_ge "frames presented after the switch" $((${f:-0} - ${f0:-0})) 3
  qmsg screenshot "$CASE_OUT/mode.png" > "$CASE_OUT/screenshot.json" 2>&1
  expect_eq "screenshot width" "$(json_num width < "$CASE_OUT/screenshot.json")" 1024
  kill -ALRM "${CPID[shm]}" 2>/dev/null; client_wait shm; client_ok shm
  wlr-randr --output Virtual-1 --preferred > "$CASE_OUT/randr-back.txt" 2>&1 ||
    fail "wlr-randr --preferred: $(tail_of "$CASE_OUT/randr-back.txt" 2)"
  crtc_until crtc-back.json 20 800
  expect_eq "CRTC width back at the preferred mode" "$(json_num w < "$CASE_OUT/crtc-back.json")" 800
  metric output_configurations_total "$(qmsg stats | json_num output_configurations_total)"
  stop_quay

  printf '[[output]]\nname = "Virtual-1"\nmode = "1024x768"\n' > /tmp/mode.toml
  start_quay --drm-device "$CARD" --config /tmp/mode.toml || return 1
  wait_outputs 60 || { stop_quay; return 1; }
  crtc_until crtc-config.json 20 1024
  expect_eq "CRTC width with [[output]] mode" "$(json_num w < "$CASE_OUT/crtc-config.json")" 1024
  stop_quay
}

# quay-udev-tablet-pen: a drawing tablet. The kernel's uinput makes a pen tablet
# (quay-dmabuf-client --uinput-pen: BTN_TOOL_PEN, BTN_TOUCH, BTN_STYLUS, x and y 0..32767,
# pressure, INPUT_PROP_DIRECT); udev and libinput hand it to Quay as a tablet and its tool. A
# fullscreen client bound to zwp_tablet_manager_v2 gets the tablet, then the tool, and after the
# pen's warm-up (in and out of proximity at once: see uinput.rs, `Pen::stroke`), for one
# stroke: proximity_in on its surface, down, pressure, motion toward where the pen went (axis
# 8192 -> 9192 of 32768 on 800x600: pixel 200,150 -> 224,168; libinput averages a tablet's
# last four positions, so one step shows a quarter of the way), up, the side button,
# proximity_out. When the device goes Quay forgets the tablet and its tools; clients are not told
# (smithay 0.7 sends neither zwp_tablet_v2.removed nor zwp_tablet_tool_v2.removed: see
# src/tablet.rs).
vm_case quay-udev-tablet-pen virtio case_quay_tablet_pen 180
case_quay_tablet_pen() {
  need_uinput || return 1
  quay_on virtio_gpu || return 1
  wait_outputs 60 || { stop_quay; return 1; }
  local log=$CASE_OUT/tablet.log i pen
  client_start pen-client 150 "$S/bin/quay-dmabuf-client" --source shm --fullscreen --frames 1 \
    --tablet-log "$log" --until-file "$CASE_OUT/stop"
  wait_commits pen-client 2 60 || { fail "the client did not commit twice"; stop_quay; return 1; }
  "$S/bin/quay-dmabuf-client" --uinput-pen "8192,8192,$CASE_OUT/go,$CASE_OUT/pen-done" \
    > "$CASE_OUT/pen.json" 2> "$CASE_OUT/pen.err" & pen=$!
  for i in $(seq 60); do grep -q '^tablet:' "$log" 2>/dev/null && break; sleep 0.5; done
  grep -A6 "Name=\"Quay Test Pen\"" /proc/bus/input/devices > "$CASE_OUT/input-devices.txt"
  if ! grep -q '^tablet:Quay Test Pen$' "$log" 2>/dev/null; then
    fail "the client got no tablet for the uinput pen (pen: $(tr '\n' ' ' < "$CASE_OUT/pen.err"); quay.log: $(grep -ci tablet "$CASE_OUT/quay.log") tablet lines)"
    touch "$CASE_OUT/pen-done" "$CASE_OUT/stop"; wait $pen; client_wait pen-client; stop_quay; return 1
  fi
  touch "$CASE_OUT/go"
  # the stroke's end: the second proximity_out (the first is the warm-up's)
  for i in $(seq 60); do [ "$(grep -c '^proximity_out' "$log" 2>/dev/null)" -ge 2 ] && break; sleep 0.5; done
  say "tablet events: $(tr '\n' ' ' < "$log" | head -c 1500)"
  local surface
  surface=$(grep -o '^proximity_in:[0-9]*' "$log" | head -n1 | cut -d: -f2)
  expect_ge "proximity_in on the client's surface (object id)" "${surface:-0}" 1
  grep -q '^tool_added$' "$log" || fail "no zwp_tablet_seat_v2.tool_added"
  grep -q '^tool_type:320$' "$log" || fail "the tool is not a pen (tool_type 0x140)"
  grep -q '^down$' "$log" || fail "no zwp_tablet_tool_v2.down for the tip"
  grep -q '^up$' "$log" || fail "no zwp_tablet_tool_v2.up"
  grep -q '^button:331:1$' "$log" || fail "no press of the side button (BTN_STYLUS 331)"
  grep -q '^proximity_out$' "$log" || fail "no proximity_out"
  grep -q '^pressure:[1-9]' "$log" || fail "no pressure above 0"
  grep -q '^motion:200,150$' "$log" || fail "no motion at the pen's first position (200,150)"
  local moved
  moved=$(awk -F'[:,]' '/^down$/ { d = 1 } d && /^motion:/ && $2 > 200 && $2 <= 224 && $3 > 150 && $3 <= 168 { n++ } END { print n + 0 }' "$log")
  expect_ge "motions right and down after the tip went down" "$moved" 1
  # the order of one stroke
  local order
  order=$(grep -E '^(proximity_in|down|up|proximity_out)' "$log" | cut -d: -f1 | tr '\n' ' ')
  expect_eq "the warm-up's and the stroke's order" "$order" "proximity_in proximity_out proximity_in down up proximity_out "
  touch "$CASE_OUT/pen-done"
  wait $pen || fail "the pen helper failed: $(cat "$CASE_OUT/pen.json")"
  for i in $(seq 40); do grep -q 'tablet removed' "$CASE_OUT/quay.log" && break; sleep 0.5; done
  grep -q 'tablet removed.*tablets=0' "$CASE_OUT/quay.log" || fail "Quay did not forget the tablet when the device went"
  touch "$CASE_OUT/stop"
  client_wait pen-client
  stop_quay
}

# quay-udev-touchpad-gestures: a uinput touchpad (quay-dmabuf-client --uinput-touchpad: three
# multitouch slots at 40 units/mm) that libinput takes as a touchpad. One finger moves the pointer
# onto a fullscreen client, then three fingers move 30 mm down together: libinput's swipe reaches
# the client through zwp_pointer_gestures_v1 (swipe_begin with 3 fingers, updates moving down,
# swipe_end not cancelled), and no pinch is seen.
vm_case quay-udev-touchpad-gestures virtio case_quay_touchpad_gestures 180
case_quay_touchpad_gestures() {
  need_uinput || return 1
  quay_on virtio_gpu || return 1
  wait_outputs 60 || { stop_quay; return 1; }
  local log=$CASE_OUT/gestures.log i pad
  client_start gest-client 150 "$S/bin/quay-dmabuf-client" --source shm --fullscreen --frames 1 \
    --gesture-log "$log" --until-file "$CASE_OUT/stop"
  wait_commits gest-client 2 60 || { fail "the client did not commit twice"; stop_quay; return 1; }
  "$S/bin/quay-dmabuf-client" --uinput-touchpad "$CASE_OUT/go,$CASE_OUT/pad-done" \
    > "$CASE_OUT/pad.json" 2> "$CASE_OUT/pad.err" & pad=$!
  if ! quay_has_input "Quay Test Touchpad" 30; then
    fail "Quay never got the uinput touchpad: $(tr '\n' ' ' < "$CASE_OUT/pad.err")"
    touch "$CASE_OUT/pad-done" "$CASE_OUT/stop"; wait $pad; client_wait gest-client; stop_quay; return 1
  fi
  touch "$CASE_OUT/go"
  for i in $(seq 60); do grep -q '^swipe_end' "$log" 2>/dev/null && break; sleep 0.5; done
  say "gesture events: $(tr '\n' ' ' < "$log" 2>/dev/null | head -c 1500)"
  grep -q '^swipe_begin:3$' "$log" || fail "no three-finger swipe_begin on the client"
  grep -q '^swipe_end:0$' "$log" || fail "no swipe_end (not cancelled)"
  grep -q '^pinch_begin' "$log" && fail "a pinch where the fingers moved together"
  local n dy
  read -r n dy < <(awk -F'[:,]' '/^swipe_update:/ { n++; dy += $3 } END { print n + 0, dy + 0 }' "$log")
  metric swipe_updates "$n"; metric swipe_dy "$dy"
  expect_ge "swipe updates" "$n" 3
  expect_ge "the swipe's distance down (pixels)" "$dy" 1
  touch "$CASE_OUT/pad-done"
  wait $pad || fail "the touchpad helper failed: $(cat "$CASE_OUT/pad.json")"
  touch "$CASE_OUT/stop"
  client_wait gest-client
  stop_quay
}
