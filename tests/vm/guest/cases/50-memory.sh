# The memory-pressure LRU (issue #6) on real dma-heap dma-bufs: a byte budget ten times
# smaller than what the clients allocate, and a PSI trigger fired by a bounded memory hog
# in a small cgroup. Needs psi=1 on the kernel command line (Debian builds PSI disabled
# by default); run-suite's psi boot passes it, for this case alone.
vm_case quay-lru-budget virtio case_quay_lru_budget 240
# The same budget on GLES (issue #11): the evicted entries are textures Quay holds (uploads
# from the dma-bufs' mappings on this software device), freed and uploaded again.
vm_case quay-lru-budget-gles virtio case_quay_lru_budget_gles 300
case_quay_lru_budget_gles() { QUAY_RENDERER=gles case_quay_lru_budget; }
vm_case quay-lru-psi psi case_quay_lru_psi 240

# lru_config FILE BUDGET_MIB PSI: a config with a [memory] section
lru_config() {
  cat > "$1" <<EOF
[memory]
budget_mib = $2
low_water_percent = 50
psi = $3
psi_stall_ms = 50
psi_window_ms = 1000
EOF
}

# stat_of KEY: one counter from a fresh `quay msg stats`
stat_of() { qmsg stats | json_num "$1"; }

# wait_baseline: after the clients exit, every import counter back to zero
wait_baseline() {
  local i s
  for i in $(seq 30); do
    s=$(qmsg stats)
    [ "$(echo "$s" | json_num dmabufs_live)" = 0 ] && [ "$(echo "$s" | json_num imported_bytes)" = 0 ] && break
    sleep 0.5
  done
  echo "$s" > "$CASE_OUT/stats-end.json"
  expect_eq "dma-bufs live after the clients exited" "$(json_num dmabufs_live < "$CASE_OUT/stats-end.json")" 0
  expect_eq "imported bytes after the clients exited" "$(json_num imported_bytes < "$CASE_OUT/stats-end.json")" 0
  expect_eq "pinned bytes after the clients exited" "$(json_num pinned_bytes < "$CASE_OUT/stats-end.json")" 0
}

# Four clients, ten distinct 512 KiB dma-bufs each (20 MiB), against a 2 MiB budget:
# every client keeps running until the samples are taken, sampled imported_bytes stays within budget + pinned,
# buffers are evicted and re-imported as they cycle, the screenshot is right, and an
# explicit eviction leaves the screen byte-identical.
case_quay_lru_budget() {
  quay_usable || return 1
  need_card virtio_gpu || return 1
  lru_config /tmp/lru.toml 2 false
  start_quay --drm-device "$CARD" --config /tmp/lru.toml ${QUAY_RENDERER:+--renderer "$QUAY_RENDERER"} || return 1
  wait_outputs 60 || { stop_quay; return 1; }
  local qc n pids=() over=0 samples=0 maxb=0 s b p budget ev0= ev=0 stop=/tmp/lru-stop alive q
  rm -f "$stop"
  qc=$(qclient)
  # The background windows cycle until told to stop: how long they run is decided by the
  # events below (samples taken, the top client done), never by a frame count guessed for
  # a slow guest.
  for n in 1 2 3; do
    timeout 200 "$qc" --source heap --distinct --buffers 10 --size 512x256 --color 0xff2040c0 \
      --frames 20 --until-file "$stop" > "$CASE_OUT/bg$n.json" 2> "$CASE_OUT/bg$n.err" &
    pids+=($!)
    sleep 1
  done
  # Each window is placed at its first commit (src/shell.rs), which for this client is a
  # 1x1 buffer (TestClient::window_with): where it goes depends on whether the window before
  # it has grown to 512x256 yet. The fourth is on top wherever it is: the pixel checked is 10
  # px inside the topmost window of `quay msg windows` at the screenshot.
  dmabuf_client_shot top lru.png --source heap --distinct --buffers 10 --size 512x256 \
    --color 0xffc08020 --frames 60 &
  local top=$!
  # Sample while every background client cycles: at least 10 samples (each one IPC round
  # trip) and the top client finished. The iteration cap only turns a hang into a failure.
  for n in $(seq 600); do
    alive=1
    for q in "${pids[@]}"; do kill -0 "$q" 2>/dev/null || alive=0; done
    [ $alive = 1 ] || { fail "a background client exited before it was told to stop"; break; }
    s=$(qmsg stats) || continue
    b=$(echo "$s" | json_num imported_bytes); p=$(echo "$s" | json_num pinned_bytes)
    budget=$(echo "$s" | json_num budget_bytes); ev=$(echo "$s" | json_num evictions_total)
    [ -n "$ev0" ] || ev0=$ev
    samples=$((samples + 1))
    [ "$b" -gt "$maxb" ] && maxb=$b
    if [ "$b" -gt $((budget + p)) ]; then
      over=$((over + 1)); say "sample over budget: imported $b > budget $budget + pinned $p"
    fi
    [ "$samples" -ge 10 ] && ! kill -0 $top 2>/dev/null && break
    sleep 0.2
  done
  touch "$stop"
  wait $top || fail "the top client failed"
  for n in 1 2 3; do
    wait "${pids[$((n - 1))]}"; local rc=$?
    say "client bg$n rc=$rc: $(cat "$CASE_OUT/bg$n.json")"
    [ $rc = 0 ] && grep -q '"ok":true' "$CASE_OUT/bg$n.json" || fail "client bg$n: rc $rc $(tail_of "$CASE_OUT/bg$n.err" 2)"
  done
  metric evictions_while_sampling $((ev - ${ev0:-0}))
  metric samples "$samples"; metric max_imported_bytes "$maxb"; metric budget_bytes "$budget"
  expect_ge "stats samples" "$samples" 10
  expect_ge "evictions between the first and the last sample" $((ev - ${ev0:-0})) 1
  expect_eq "samples over budget + pinned" "$over" 0
  local st=$CASE_OUT/stats-live.json
  metric evictions_total "$(json_num evictions_total < "$st")"
  metric reimports_total "$(json_num reimports_total < "$st")"
  metric imports_total "$(json_num imports_total < "$st")"
  expect_ge "evictions while cycling" "$(json_num evictions_total < "$st")" 10
  expect_ge "re-imports while cycling" "$(json_num reimports_total < "$st")" 10
  expect_eq "dma-buf imports (one per distinct dma-buf)" "$(json_num dmabuf_imports_total < "$st")" 40
  local top_at
  top_at=$(tr -d ' \n' < "$CASE_OUT/windows-live.json" | grep -o '"location":\[[0-9]*,[0-9]*\]' | head -n1 | grep -o '[0-9]*,[0-9]*')
  metric top_window_at "${top_at:-?}"
  if [ -f "$CASE_OUT/lru.png" ] && [ -n "$top_at" ]; then
    host_check pixel lru.png $((${top_at%,*} + 10)) $((${top_at#*,} + 10)) 192 128 32
  else
    fail "no screenshot or no window list: $(head -c 200 "$CASE_OUT/windows-live.json" 2>/dev/null)"
  fi
  wait_baseline
  stop_quay
}

# A window of six 512 KiB dma-bufs (one on screen, its last frame), then 128 MiB touched in a cgroup with
# memory.high = 16 MiB: the throttled hog stalls on memory, PSI fires, and Quay evicts the
# five imports that are not on screen. The budget (512 MiB) never triggers here.
case_quay_lru_psi() {
  quay_usable || return 1
  need_card virtio_gpu || return 1
  [ -e /proc/pressure/memory ] || { fail "no /proc/pressure/memory (boot with psi=1)"; return 1; }
  mountpoint -q /sys/fs/cgroup || mount -t cgroup2 none /sys/fs/cgroup || { fail "cannot mount cgroup2"; return 1; }
  echo +memory > /sys/fs/cgroup/cgroup.subtree_control 2>/dev/null
  mkdir -p /sys/fs/cgroup/hog
  echo 16M > /sys/fs/cgroup/hog/memory.high || { fail "cannot set memory.high"; return 1; }
  lru_config /tmp/psi.toml 512 true
  start_quay --drm-device "$CARD" --config /tmp/psi.toml || return 1
  wait_outputs 60 || { stop_quay; return 1; }
  grep -q "PSI trigger registered" "$CASE_OUT/quay.log" || fail "no PSI trigger: $(grep -i pressure "$CASE_OUT/quay.log" | tail -n 2)"
  local qc; qc=$(qclient)
  timeout 120 "$qc" --source heap --distinct --buffers 6 --size 512x256 --color 0xff2040c0 \
    --frames 12 --linger-ms 40000 > "$CASE_OUT/win.json" 2> "$CASE_OUT/win.err" &
  local win=$! i
  for i in $(seq 120); do grep -q READY "$CASE_OUT/win.err" 2>/dev/null && break; sleep 0.5; done
  grep -q READY "$CASE_OUT/win.err" || { fail "the window never got READY"; kill $win; stop_quay; return 1; }
  screenshot psi-before.png || fail "no screenshot before pressure"
  qmsg stats > "$CASE_OUT/stats-before.json"
  expect_eq "imported before pressure" "$(json_num imported_bytes < "$CASE_OUT/stats-before.json")" $((6 * 512 * 1024))
  expect_eq "pressure events before" "$(json_num pressure_events_total < "$CASE_OUT/stats-before.json")" 0
  cat /proc/pressure/memory > "$CASE_OUT/psi-before.txt"
  say "memory hog: 128 MiB in a cgroup with memory.high=16M for 10 s"
  sh -c 'echo $$ > /sys/fs/cgroup/hog/cgroup.procs && exec timeout 20 "$0" --memhog-mib 128 --memhog-secs 10' "$qc" \
    > "$CASE_OUT/hog.json" 2>&1 &
  local hog=$! ev=0
  for i in $(seq 50); do
    ev=$(stat_of pressure_events_total)
    [ "${ev:-0}" -ge 1 ] && break
    sleep 0.5
  done
  cat /proc/pressure/memory > "$CASE_OUT/psi-after.txt"
  wait $hog; say "hog: $(cat "$CASE_OUT/hog.json")"
  qmsg stats > "$CASE_OUT/stats-after.json"
  local sa=$CASE_OUT/stats-after.json
  metric pressure_events_total "$(json_num pressure_events_total < "$sa")"
  metric evictions_total "$(json_num evictions_total < "$sa")"
  metric psi_some_total_us "$(grep -o 'some.*total=[0-9]*' "$CASE_OUT/psi-after.txt" | grep -o '[0-9]*$')"
  expect_ge "pressure events" "$(json_num pressure_events_total < "$sa")" 1
  expect_ge "evictions under pressure" "$(json_num evictions_total < "$sa")" 5
  expect_eq "imported after pressure = what is on screen" \
    "$(json_num imported_bytes < "$sa")" "$(json_num pinned_bytes < "$sa")"
  expect_eq "on screen after pressure" "$(json_num pinned_bytes < "$sa")" $((512 * 1024))
  # What is on screen was never touched: the screen is byte-for-byte what it was.
  screenshot psi.png && host_check pixel psi.png 256 128 32 64 192
  cmp -s "$CASE_OUT/psi-before.png" "$CASE_OUT/psi.png" || fail "the screen changed across the eviction"
  # An explicit eviction now finds nothing more to drop.
  qmsg evict > "$CASE_OUT/evict.json"
  expect_eq "evict after pressure" "$(json_num evicted_bytes < "$CASE_OUT/evict.json")" 0
  wait $win; say "window: $(cat "$CASE_OUT/win.json")"
  grep -q '"ok":true' "$CASE_OUT/win.json" || fail "the window client failed: $(tail_of "$CASE_OUT/win.err" 2)"
  wait_baseline
  rmdir /sys/fs/cgroup/hog 2>/dev/null
  stop_quay
}
