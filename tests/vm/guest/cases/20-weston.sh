# Baseline: weston 14 (drm backend, GL renderer on llvmpipe) on the virtio_gpu card with
# weston's demo clients. These need nothing from Quay; they prove the VM, the kernel
# drivers and Mesa can do what the Quay cases ask for, and give reference fps.
vm_case weston-drm-virtio-simple-dmabuf-egl virtio case_weston_dmabuf_egl 240
vm_case weston-drm-virtio-simple-shm virtio case_weston_shm 180
vm_case weston-drm-virtio-presentation-shm virtio case_weston_presentation_shm 180

weston_on_virtio() {
  need_card virtio_gpu || return 1
  start_weston --backend=drm --renderer=gl --drm-device="$(basename "$CARD")"
}

case_weston_dmabuf_egl() {
  weston_on_virtio || return 1
  # the reference: weston itself draws about 5 fps here and once only 9 commits in 20 s
  run_until egl 5 150 weston-simple-dmabuf-egl -d "$CARD"
  client_ok egl
  expect_ge "commits (150 s cap)" "$C_COMMITS" 5
  expect_ge "dmabuf created" "$C_CREATED" 1
  expect_eq "dmabuf failed" "$C_FAILED" 0
  expect_eq "protocol errors" "$C_ERRORS" 0
  metric fps "$C_FPS"; metric commits "$C_COMMITS"; metric first_commit_s "$C_FIRST"
  stop_weston
}

case_weston_shm() {
  weston_on_virtio || return 1
  run_until shm 20 120 weston-simple-shm
  client_ok shm
  expect_ge "commits (120 s cap)" "$C_COMMITS" 20
  expect_eq "protocol errors" "$C_ERRORS" 0
  metric fps "$C_FPS"; metric commits "$C_COMMITS"
  stop_weston
}

# weston-presentation-shm -f: feedback mode, one wp_presentation feedback per frame; it
# prints per-frame timing lines (commit-to-present etc.) that are kept as metrics.
case_weston_presentation_shm() {
  weston_on_virtio || return 1
  presentation_case
  stop_weston
}

# presentation_case: weston-presentation-shm -f against the running compositor (weston
# here, Quay in 40-clients.sh and 45-gles.sh) until it has committed 10 frames: frames
# presented, no protocol error, its timings.
presentation_case() {
  run_until pres 10 120 weston-presentation-shm -f
  client_ok pres
  expect_ge "commits (120 s cap)" "$C_COMMITS" 10
  expect_ge "presentation feedbacks presented" "$C_PRESENTED" 1
  expect_eq "protocol errors" "$C_ERRORS" 0
  metric fps "$C_FPS"; metric presented "$C_PRESENTED"
  presentation_metrics pres
}

# presentation_metrics TAG: medians of the per-frame numbers weston-presentation-shm -f
# prints ("  2: f2c 195 ms, c2p 127 ms, f2p 322 ms, p2p 136634 us, ..."), in ms
presentation_metrics() {
  local k v
  for k in f2c c2p f2p p2p; do
    v=$(awk -v k="$k" '/^ *[0-9]+: f2c/ { for (i = 1; i < NF; i++) if ($i == k) { u = $(i + 2); sub(/,/, "", u)
          print (u == "us" ? $(i + 1) / 1000 : $(i + 1)) } }' "$CASE_OUT/$1.out" | sort -n |
      awk '{ a[NR] = $1 } END { if (NR) printf "%.1f", a[int((NR + 1) / 2)] }')
    [ -z "$v" ] || metric "${k}_median_ms" "$v"
  done
}
