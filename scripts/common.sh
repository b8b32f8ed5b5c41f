# Shared by scripts/run and scripts/test (sourced, not run).
# Debian packages Quay needs to build, run and test on the host.

# Build: smithay's backends link these.
BUILD_PKGS="pkg-config libwayland-dev libxkbcommon-dev libpixman-1-dev libudev-dev libinput-dev
libseat-dev libgbm-dev libdrm-dev libegl-dev libgles-dev"
# Run: Mesa's EGL/GLES (llvmpipe when there is no GPU) for the winit backend, a
# cursor theme (Adwaita; [cursor] theme = "default" follows it on Debian),
# Xwayland for X11 applications and foot, the shipped terminal binding.
RUN_PKGS="libegl1 libgles2 libegl-mesa0 libgl1-mesa-dri adwaita-icon-theme xwayland foot"
# Test: real clients (weston's, grim, wtype), a real X server, WLCS (the
# conformance suite; python3, below, judges its report), and the
# applications tests/applications.rs runs (GTK 4 and 3, Qt 6's qml with the
# QtQuick modules a TextField needs, Chromium, Firefox ESR, mpv, xterm).
TEST_PKGS="weston wayland-utils xvfb x11-apps x11-utils grim wl-clipboard swaybg swaylock swayidle
wev wlr-randr xclip wlcs wtype
gtk-4-examples gtk-3-examples mpv chromium firefox-esr xterm qml-qt6 qt6-wayland qml6-module-qtquick
qml6-module-qtquick-controls qml6-module-qtquick-window qml6-module-qtquick-templates
qml6-module-qtquick-layouts qml6-module-qtqml-workerscript"
# VM suite (tests/vm/run-suite): QEMU TCG, the trixie image builder, python3 for pixel checks.
VM_PKGS="qemu-system-x86 mmdebstrap e2fsprogs python3"

missing_pkgs() {
  local p out=""
  for p in "$@"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || out="$out $p"
  done
  echo "$out"
}

# ensure_pkgs PKG...: install what is missing (as root), or say exactly what to run.
ensure_pkgs() {
  local missing
  missing=$(missing_pkgs "$@")
  [ -z "$missing" ] && return 0
  if [ "$(id -u)" = 0 ]; then
    echo "quay: installing Debian packages:$missing"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -q >/dev/null || { echo "quay: apt-get update failed" >&2; return 1; }
    # shellcheck disable=SC2086
    apt-get install -y -q --no-install-recommends $missing >/dev/null || {
      echo "quay: apt-get install failed for:$missing" >&2; return 1; }
  else
    echo "quay: missing Debian packages. Run:" >&2
    echo "  sudo apt-get install -y$missing" >&2
    return 1
  fi
}

ensure_cargo() {
  if ! command -v cargo >/dev/null 2>&1; then
    [ -x "$HOME/.cargo/bin/cargo" ] && export PATH="$HOME/.cargo/bin:$PATH"
  fi
  if ! command -v cargo >/dev/null 2>&1; then
    echo "quay: no Rust toolchain. Install one with rustup (https://rustup.rs), Rust 1.87 or newer;" >&2
    echo "      Debian 12's own cargo package is too old for smithay 0.7." >&2
    return 1
  fi
}
