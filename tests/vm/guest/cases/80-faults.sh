# Faults the VM allows: a session pause and resume through a real VT switch (seatd hands
# the seat back and forth as the kernel switches virtual terminals).
vm_case quay-udev-virtio-vt-switch virtio case_quay_vt_switch 240

# vt_activate N: switch the kernel to VT N and wait until it is active (VT_ACTIVATE,
# VT_WAITACTIVE on /dev/tty0; perl-base is in every Debian root, kbd's chvt is not).
vt_activate() {
  timeout 20 perl -e 'open(my $t, "+<", "/dev/tty0") or die "tty0: $!";
    ioctl($t, 0x5606, int($ARGV[0])) or die "VT_ACTIVATE: $!";
    ioctl($t, 0x5607, int($ARGV[0])) or die "VT_WAITACTIVE: $!";' "$1"
}
# active_vt: the number of the active VT
active_vt() { sed 's/^tty//' /sys/class/tty/tty0/active; }

# Quay shows a dma-heap window and weston-simple-shm; the VT is switched away (Quay's
# session is paused: rendering stops) and back (resumed: outputs come back, the dma-buf
# is drawn from its import again, frames flow, the window's colour is on screen).
case_quay_vt_switch() {
  quay_on virtio_gpu || return 1
  wait_outputs 60 || { stop_quay; return 1; }
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
  local away=$((home == 2 ? 3 : 2))
  say "switching to VT $away"
  vt_activate "$away" || fail "cannot switch to VT $away"
  for i in $(seq 40); do grep -q "session paused" "$CASE_OUT/quay.log" && break; sleep 0.25; done
  grep -q "session paused" "$CASE_OUT/quay.log" || fail "Quay was not paused by the VT switch"
  local f_paused; f_paused=$(qmsg stats | json_num frames_presented_total)
  sleep 2
  local f_still; f_still=$(qmsg stats | json_num frames_presented_total)
  metric frames_while_away $((f_still - f_paused))
  expect_eq "frames presented while the session is away" $((f_still - f_paused)) 0
  say "switching back to VT $home"
  vt_activate "$home" || fail "cannot switch back to VT $home"
  for i in $(seq 40); do grep -q "session resumed" "$CASE_OUT/quay.log" && break; sleep 0.25; done
  grep -q "session resumed" "$CASE_OUT/quay.log" || fail "Quay was not resumed"
  local f0 f1 c0 c1
  f0=$(qmsg stats | json_num frames_presented_total); c0=$(client_commits shm)
  sleep 3
  f1=$(qmsg stats | json_num frames_presented_total); c1=$(client_commits shm)
  metric frames_after_resume $((f1 - f0)); metric shm_commits_after_resume $((c1 - c0))
  expect_ge "frames presented after resume" $((f1 - f0)) 3
  expect_ge "weston-simple-shm commits after resume" $((c1 - c0)) 3
  qmsg outputs > "$CASE_OUT/outputs-after.json"
  grep -q '"width":800' "$CASE_OUT/outputs-after.json" || grep -q '"width": 800' "$CASE_OUT/outputs-after.json" ||
    fail "the output did not come back: $(tail_of "$CASE_OUT/outputs-after.json" 2)"
  # The dma-buf window is at the origin, weston-simple-shm cascaded over it from (32,32).
  screenshot resumed.png && host_check pixel resumed.png 10 10 32 192 64
  kill -INT "${CPID[shm]}" 2>/dev/null; client_wait shm; client_ok shm
  kill $win 2>/dev/null; wait $win 2>/dev/null
  stop_quay
}
