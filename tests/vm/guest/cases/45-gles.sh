# Quay's GLES engine on real kernel dma-bufs: headless Quay with --renderer gles in the
# guest (Mesa 25's llvmpipe, through the EGL device of virtio_gpu's kms_swrast). llvmpipe is
# software, so client dma-bufs never go to EGL (llvmpipe crashed on foreign buffers here);
# they take the upload path: mapped under DMA_BUF_IOCTL_SYNC, copied into a texture Quay
# holds, once per kernel dma-buf, copied again at each commit of it.
vm_case quay-headless-gles-dmabuf virtio case_quay_headless_gles 240
vm_case quay-udev-virtio-gles virtio case_quay_udev_gles 240
# weston-presentation-shm and weston-simple-shm on GLES (session 9: with the blit shader
# GLES presents 34 fps here; before it, 3 commits and no presented feedback in the case's
# time). Both wait for the output's first frame before their client: Quay's socket is up before
# the udev backend has its EGL context, scanout buffers and compiled shaders (8.4 s to the
# client's first event on 2026-12-03, cold shader cache), and a 10 s client spent all but
# 1.6 s of its run waiting for them (18 commits, 0 frames while the case watched).
vm_case quay-udev-virtio-presentation-shm-gles virtio case_quay_presentation_shm_gles 180
vm_case quay-udev-virtio-shm-gles virtio case_quay_virtio_shm_gles 180
# quay_gles_drawing: Quay with --renderer gles on virtio_gpu, its output up and its first
# frame presented (GLES start-up: EGL context, scanout buffers, shader compiles)
quay_gles_drawing() {
  local QUAY_RENDERER=gles i f
  quay_on virtio_gpu || return 1
  wait_outputs 60 || { stop_quay; return 1; }
  for i in $(seq 120); do
    f=$(qmsg stats | json_num frames_presented_total)
    [ "${f:-0}" -ge 1 ] && break
    sleep 0.5
  done
  expect_ge "frames presented before the client (first frame)" "${f:-0}" 1 || { stop_quay; return 1; }
}
case_quay_presentation_shm_gles() {
  quay_gles_drawing || return 1
  presentation_case
  stop_quay
}
case_quay_virtio_shm_gles() {
  quay_gles_drawing || return 1
  shm_case
  stop_quay
}

# gles_heap_window FRAMES MIN_UPLOADS: a window of three wl_buffers on one dma-heap buffer
# (the earlier clients are gone, so it is placed at the origin: (100, 75) is inside it): its
# colour on the host, one dma-buf entry and two cache hits for it, at least MIN_UPLOADS
# uploads. Counted with dmabuf_imports_total: imports_total also counts the window's first
# (shm) buffer's upload entry on GLES when a frame drew it before the dma-buf came, a race.
# Leaves the stats while it is shown in stats-live.json.
gles_heap_window() {
  qmsg stats > "$CASE_OUT/stats-before-heap.json"
  dmabuf_client_shot heap heap.png --source heap --size 200x150 --color 0xff20c040 --buffers 3 --frames "$1"
  [ -f "$CASE_OUT/heap.png" ] && host_check pixel heap.png 100 75 32 192 64
  local s=$CASE_OUT/stats-live.json i0
  i0=$(json_num dmabuf_imports_total < "$CASE_OUT/stats-before-heap.json")
  expect_eq "dma-buf entries made for the heap window" "$(( $(json_num dmabuf_imports_total < "$s") - ${i0:-0} ))" 1
  expect_eq "import cache hits while shown" "$(json_num import_cache_hits < "$s")" 2
  expect_ge "dma-buf uploads" "$(json_num dmabuf_uploads_total < "$s")" "$2"
}

# (The guest CPU has no AVX2, tests/vm/boot.sh says why: llvmpipe's texture fetch crashed in
# QEMU's emulation of AVX2 gathers.)
case_quay_headless_gles() {
  start_quay_on headless --renderer gles || return 1
  wait_outputs 60 || { stop_quay; return 1; }
  qmsg stats > "$CASE_OUT/stats-start.json"
  grep -q '"renderer": *"gles"' "$CASE_OUT/stats-start.json" ||
    { fail "renderer is not gles: $(grep renderer "$CASE_OUT/stats-start.json")"; stop_quay; return 1; }
  grep -q 'llvmpipe' "$CASE_OUT/quay.log" || say "note: no llvmpipe in the log"

  # shm first: GLES uploads it (whole once, then the damage).
  dmabuf_client shm --source shm --size 200x150 --frames 20
  qmsg stats > "$CASE_OUT/stats-shm.json"
  expect_ge "shm uploads" "$(json_num shm_uploads_total < "$CASE_OUT/stats-shm.json")" 1
  # Three wl_buffers on one dma-heap buffer (the second window; the first is gone): one upload
  # entry, two cache hits, an upload per commit.
  gles_heap_window 30 2
  local s=$CASE_OUT/stats-live.json
  expect_eq "heap presented" "$(json_num presented < "$CASE_OUT/heap.json")" 30
  expect_eq "dma-bufs live while shown" "$(json_num dmabufs_live < "$s")" 1
  metric heap_dmabuf_uploads "$(json_num dmabuf_uploads_total < "$s")"
  metric heap_upload_bytes "$(json_num upload_bytes_total < "$s")"
  local i live=
  for i in $(seq 20); do live=$(qmsg stats | json_num dmabufs_live); [ "$live" = 0 ] && break; sleep 0.5; done
  expect_eq "dma-bufs live after the client exited" "$live" 0

  # udmabuf (memfd-backed) and a plane at a non-page-aligned offset.
  dmabuf_client_shot udmabuf udmabuf.png --source udmabuf --size 200x150 --color 0xffc02040 --buffers 2 --frames 20
  [ -f "$CASE_OUT/udmabuf.png" ] && host_check pixel udmabuf.png 100 75 192 32 64
  dmabuf_client_shot offset offset.png --source heap --size 200x150 --color 0xffc03080 --offset 4100 --frames 10
  # The fourth window of this Quay, alone on screen: at the origin.
  [ -f "$CASE_OUT/offset.png" ] && host_check pixel offset.png 100 75 192 48 128

  # vivid's YUYV capture buffers: converted to XRGB and uploaded at each commit.
  local dev
  dev=$(v4l2-ctl --list-devices 2>/dev/null | awk '/vivid/ { getline; print $1; exit }')
  if [ -n "$dev" ]; then
    v4l2-ctl -d "$dev" --set-fmt-video=width=640,height=480,pixelformat=YUYV > "$CASE_OUT/v4l2-ctl.out" 2>&1
    client_start v4l 15 weston-simple-dmabuf-v4l -v "$dev" -f YUYV -d YUYV
    wait_commits v4l 5 12 && screenshot v4l.png && host_check png-nonuniform v4l.png
    client_wait v4l
    client_ok v4l
    expect_ge "v4l commits" "$C_COMMITS" 5
    expect_eq "v4l dmabuf failed" "$C_FAILED" 0
    metric v4l_fps "$C_FPS"
  else
    fail "no vivid video device (modprobe vivid)"
  fi

  # The upload fallback's checks give the same reason as pixman's (quay-udev-virtio-dmabuf-heap).
  dmabuf_refused short-stride incomplete --source heap --size 64x64 --stride 252 --frames 1
  # Nothing left once every client is gone.
  for i in $(seq 20); do
    qmsg stats > "$CASE_OUT/stats-end.json"
    [ "$(json_num dmabufs_live < "$CASE_OUT/stats-end.json")" = 0 ] && break
    sleep 0.5
  done
  expect_eq "dma-bufs live at the end" "$(json_num dmabufs_live < "$CASE_OUT/stats-end.json")" 0
  metric upload_bytes_total "$(json_num upload_bytes_total < "$CASE_OUT/stats-end.json")"
  stop_quay
}

# The udev backend on GLES (--renderer gles; auto keeps pixman on this software device):
# smithay's GlesRenderer on the card's GBM EGL display, drawing into Quay's linear scanout
# buffers through the same import cache. weston-simple-shm's pixels, weston-simple-dmabuf-egl
# on the explicit-sync path and a dma-heap window (uploaded: llvmpipe) in the screenshots,
# page flips completing, a deadline on every queued frame's render fence.
case_quay_udev_gles() {
  need_card virtio_gpu || return 1
  start_quay --drm-device "$CARD" --renderer gles || return 1
  wait_outputs 60 || { stop_quay; return 1; }
  qmsg stats > "$CASE_OUT/stats-start.json"
  grep -q '"renderer": *"gles"' "$CASE_OUT/stats-start.json" ||
    { fail "renderer is not gles: $(grep renderer "$CASE_OUT/stats-start.json")"; stop_quay; return 1; }
  client_start shm 120 weston-simple-shm
  wait_commits shm 5 40 && sleep 0.5
  screenshot shm.png && host_check png-nonuniform shm.png
  wait_commits shm 10 60
  client_stop shm
  client_ok shm
  expect_ge "shm commits (60 s cap)" "$C_COMMITS" 10
  expect_eq "protocol errors" "$C_ERRORS" 0
  metric shm_fps "$C_FPS"
  # weston-simple-dmabuf-egl on the card (kms_swrast dumb buffers, implicit modifier, read
  # as linear) with explicit sync: every frame's acquire fence waited for, then uploaded.
  client_start egl 150 weston-simple-dmabuf-egl -d "$CARD"
  wait_commits egl 10 120 && screenshot egl.png && host_check png-info egl.png
  client_stop egl
  client_ok egl
  expect_ge "egl commits (120 s cap)" "$C_COMMITS" 10
  expect_ge "egl wl_buffer releases" "$C_RELEASES" 5
  expect_eq "egl dmabuf failed" "$C_FAILED" 0
  expect_eq "egl protocol errors" "$C_ERRORS" 0
  metric egl_fps "$C_FPS"
  # The third window of this Quay, alone on screen: at the origin.
  gles_heap_window 20 1
  local s=$CASE_OUT/stats-live.json
  expect_ge "frames presented" "$(json_num frames_presented_total < "$s")" 1
  # Every queued GLES frame's render fence got the target vblank as its deadline.
  expect_ge "render fence deadlines set" "$(json_num render_deadlines_set_total < "$s")" 1
  expect_eq "render fence deadline errors" "$(json_num render_deadline_errors_total < "$s")" 0
  metric render_deadlines_set "$(json_num render_deadlines_set_total < "$s")"
  metric frames_presented "$(json_num frames_presented_total < "$s")"
  metric upload_bytes_total "$(json_num upload_bytes_total < "$s")"
  stop_quay
}
