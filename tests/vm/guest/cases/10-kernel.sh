# Kernel objects the Quay cases rely on (boot: virtio).
vm_case kernel-objects virtio case_kernel_objects 120

case_kernel_objects() {
  local missing=() virtio vkms
  [ -s "$OUT/modules.failed" ] && missing+=("modules that failed to load: $(tr '\n' ' ' < "$OUT/modules.failed")")
  [ -c /dev/udmabuf ] || missing+=("/dev/udmabuf")
  [ -c /dev/dma_heap/system ] || missing+=("/dev/dma_heap/system")
  if virtio=$(card_by_driver virtio_gpu); then
    drm_info "$virtio" > "$CASE_OUT/drm_info-virtio.txt" 2>&1
    grep -q 'DRM_CAP_SYNCOBJ = 1' "$CASE_OUT/drm_info-virtio.txt" || missing+=("syncobj on $virtio")
    grep -q 'DRM_CAP_SYNCOBJ_TIMELINE = 1' "$CASE_OUT/drm_info-virtio.txt" || missing+=("syncobj timelines on $virtio")
  else
    missing+=("virtio_gpu card")
  fi
  if vkms=$(card_by_driver vkms); then
    drm_info "$vkms" > "$CASE_OUT/drm_info-vkms.txt" 2>&1
  else
    missing+=("vkms card after insmod")
  fi
  [ -e /sys/kernel/debug/sync/sw_sync ] || missing+=("/sys/kernel/debug/sync/sw_sync")
  drm_info > "$CASE_OUT/drm_info.txt" 2>&1
  ls -l /dev/dri /dev/udmabuf /dev/dma_heap > "$CASE_OUT/nodes.txt" 2>&1
  say "virtio=${virtio:-none} vkms=${vkms:-none} vgem=$(card_by_driver vgem || echo none)"
  [ ${#missing[@]} = 0 ] || fail "missing: $(printf '%s, ' "${missing[@]}" | sed 's/, $//')"
}
