# Host-side helpers shared by tests/vm/{image.sh,boot.sh,run-suite} (sourced, not run).
# Everything the VM harness makes lives under $QUAY_VM_CACHE:
#   <key>/            one built image (root.img, vmlinuz, initrd.img, modules/), see image.sh
#   apt/              the trixie apt state used to download the kernel source
#   dl/               downloaded .debs kept across image rebuilds (linux-source)
#   mesa-shader-cache/ Mesa's shader cache, shared into every guest (llvmpipe is slow to compile)
#   runs/             per-run share directories and console logs (run-suite keeps the last few)
QUAY_VM_CACHE=${QUAY_VM_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/quay-vm}
VM_LIB_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)

vm_now() { date +%s.%N; }
# vm_dt T0 [T1]: seconds between two vm_now stamps, one decimal
vm_dt() { awk -v a="$1" -v b="${2:-$(vm_now)}" 'BEGIN { printf "%.1f", b - a }'; }
vm_log() { echo "vm: $*" >&2; }
vm_die() { echo "vm: error: $*" >&2; exit 1; }

# vm_trixie_apt: a trixie sources.list that uses the host's own Debian mirror, and
# APTOPT pointing apt-get at a private state dir (the host's bookworm apt is untouched).
vm_trixie_apt() {
  local d=$QUAY_VM_CACHE/apt uri
  mkdir -p "$d/lists/partial" "$d/cache/archives/partial"
  if [ ! -s "$d/sources.list" ]; then
    uri=$(sed -n 's/^URIs:[[:space:]]*//p' /etc/apt/sources.list.d/debian.sources 2>/dev/null | grep -v security | head -n1)
    [ -n "$uri" ] || uri=$(awk '$1=="deb" && $0 !~ /security/ {print $2; exit}' /etc/apt/sources.list 2>/dev/null)
    [ -n "$uri" ] || vm_die "no Debian mirror found in the host's apt configuration"
    echo "deb $uri trixie main" > "$d/sources.list"
  fi
  SOURCES=$d/sources.list
  APTOPT="-o Dir::Etc::SourceList=$SOURCES -o Dir::Etc::SourceParts=/dev/null -o Dir::State::Lists=$d/lists -o Dir::Cache=$d/cache"
}
