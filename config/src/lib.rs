//! Quay's typed configuration.
//!
//! The schema is plain `serde` structs with `deny_unknown_fields`, so a typo is
//! an error that names the key. Value checks (sizes, refresh rates, colours)
//! live in the newtypes' `TryFrom` impls, so `toml` reports them with the line
//! and column of the bad value, exactly like a syntax error.
//!
//! The shipped default (`default-config.toml`) is embedded with
//! `include_str!`; [`Config::default`] is that file parsed, so the documented
//! defaults and the code's defaults cannot drift apart.

use std::{fmt, path::Path};

use serde::Deserialize;

/// The default configuration file shipped with Quay, byte for byte.
pub const DEFAULT_CONFIG: &str = include_str!("../default-config.toml");

/// A configuration that failed to load.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("cannot read {path}: {source}")]
    Io {
        path: String,
        #[source]
        source: std::io::Error,
    },
    /// Syntax, unknown key, wrong type or out-of-range value. The message holds
    /// the line, column and the offending text.
    #[error("{path}: {source}")]
    Parse {
        path: String,
        #[source]
        source: Box<toml::de::Error>,
    },
}

impl ConfigError {
    /// 1-based (line, column) of the error in the file, when known.
    pub fn line_col(&self, text: &str) -> Option<(usize, usize)> {
        let ConfigError::Parse { source, .. } = self else {
            return None;
        };
        let span = source.span()?;
        let before = text.get(..span.start)?;
        let line = before.matches('\n').count() + 1;
        let col = before.len() - before.rfind('\n').map_or(0, |i| i + 1) + 1;
        Some((line, col))
    }
}

// Missing keys take their value from the shipped default file. The defaults
// are field-level, not container-level: serde evaluates a container default
// eagerly, which would recurse through `Config::default`. Parsing the shipped
// file itself never calls them, since it defines every key.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    #[serde(default = "default_background")]
    pub background: Color,
    /// Commands run once Quay is up (`sh -c`).
    #[serde(default)]
    pub startup: Vec<String>,
    #[serde(default)]
    pub headless: Headless,
    #[serde(default)]
    pub winit: Winit,
    #[serde(default)]
    pub memory: Memory,
    #[serde(default)]
    pub sync: Sync,
    #[serde(default)]
    pub udev: Udev,
    #[serde(default)]
    pub limits: Limits,
    #[serde(default)]
    pub render: Render,
    #[serde(default)]
    pub cursor: Cursor,
    #[serde(default)]
    pub keyboard: Keyboard,
    #[serde(default)]
    pub input: Input,
    #[serde(default)]
    pub xwayland: Xwayland,
    /// Per-output settings (`[[output]]`), matched by output name.
    #[serde(default, rename = "output")]
    pub outputs: Vec<OutputSettings>,
    /// Key bindings as the file gives them; [`Config::bindings`] merges
    /// them over the shipped defaults.
    #[serde(default = "default_bindings")]
    pub bindings: Bindings,
}

/// The keyboard (`[keyboard]`): an XKB keymap by RMLVO names, and repeat.
/// Empty strings take xkbcommon's defaults (`XKB_DEFAULT_LAYOUT`, ..., or
/// "us").
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Keyboard {
    #[serde(default)]
    pub layout: String,
    #[serde(default)]
    pub variant: String,
    #[serde(default)]
    pub options: String,
    #[serde(default)]
    pub model: String,
    /// Repeated keys per second once repeat starts.
    #[serde(default = "default_repeat_rate")]
    pub repeat_rate: RepeatRate,
    /// How long a key is held before it repeats.
    #[serde(default = "default_repeat_delay_ms")]
    pub repeat_delay_ms: Millis,
}

impl Default for Keyboard {
    fn default() -> Self {
        Config::default().keyboard
    }
}
fn default_repeat_rate() -> RepeatRate {
    Keyboard::default().repeat_rate
}
fn default_repeat_delay_ms() -> Millis {
    Keyboard::default().repeat_delay_ms
}

/// One `[[output]]`: settings for the output called `name` (as
/// `quay msg outputs` and `wlr-randr` show it), applied when it appears.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OutputSettings {
    pub name: String,
    #[serde(default = "default_true")]
    pub enabled: bool,
    /// The scale, fractional too (1.5); logical size = mode / scale.
    #[serde(default)]
    pub scale: Option<OutputScale>,
    /// The top-left corner in the global logical space; unset: right of
    /// the outputs before it.
    #[serde(default)]
    pub position: Option<Position>,
    #[serde(default)]
    pub transform: Option<OutputTransform>,
    /// `"WIDTHxHEIGHT"` or `"WIDTHxHEIGHT@HZ"`: one of the connector's
    /// modes on udev (the refresh nearest HZ; unset: its preferred one), any
    /// size on headless.
    #[serde(default)]
    pub mode: Option<OutputMode>,
}

/// `mode = "1024x768"` or `"1920x1080@59.94"`.
#[derive(Debug, Clone, Copy, PartialEq, Deserialize)]
#[serde(try_from = "String")]
pub struct OutputMode {
    pub width: u32,
    pub height: u32,
    /// Hz; None: any (the preferred, else the highest).
    pub refresh: Option<f64>,
}

impl OutputMode {
    /// The refresh in mHz, as wl_output and KMS modes count it.
    pub fn refresh_mhz(&self) -> Option<i32> {
        self.refresh.map(|hz| (hz * 1000.0).round() as i32)
    }
}

impl TryFrom<String> for OutputMode {
    type Error = String;
    fn try_from(v: String) -> Result<Self, String> {
        let bad = || format!("{v:?} is not a mode: expected WIDTHxHEIGHT or WIDTHxHEIGHT@HZ (1920x1080@60)");
        let (size, refresh) = match v.split_once('@') {
            Some((s, r)) => (s, Some(r.parse::<f64>().map_err(|_| bad())?)),
            None => (v.as_str(), None),
        };
        let (w, h) = size.split_once('x').ok_or_else(bad)?;
        let (width, height) = (
            w.parse::<u32>().map_err(|_| bad())?,
            h.parse::<u32>().map_err(|_| bad())?,
        );
        if !(1..=16384).contains(&width) || !(1..=16384).contains(&height) {
            return Err(bad());
        }
        if refresh.is_some_and(|r| !(r.is_finite() && (1.0..=1000.0).contains(&r))) {
            return Err(bad());
        }
        Ok(OutputMode {
            width,
            height,
            refresh,
        })
    }
}

fn default_true() -> bool {
    true
}

/// `position = { x = 1920, y = 0 }`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Position {
    pub x: i32,
    pub y: i32,
}

/// An output scale, 0.25..=10.
#[derive(Debug, Clone, Copy, PartialEq, Deserialize)]
#[serde(try_from = "f64")]
pub struct OutputScale(pub f64);

impl TryFrom<f64> for OutputScale {
    type Error = String;
    fn try_from(v: f64) -> Result<Self, String> {
        if (0.25..=10.0).contains(&v) {
            Ok(OutputScale(v))
        } else {
            Err(format!("{v} is not a valid scale: expected 0.25..=10"))
        }
    }
}

/// `transform = "normal" | "90" | "180" | "270" | "flipped" |
/// "flipped-90" | "flipped-180" | "flipped-270"` (wl_output's, counter-clockwise).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
pub enum OutputTransform {
    #[serde(rename = "normal")]
    Normal,
    #[serde(rename = "90")]
    R90,
    #[serde(rename = "180")]
    R180,
    #[serde(rename = "270")]
    R270,
    #[serde(rename = "flipped")]
    Flipped,
    #[serde(rename = "flipped-90")]
    Flipped90,
    #[serde(rename = "flipped-180")]
    Flipped180,
    #[serde(rename = "flipped-270")]
    Flipped270,
}

/// X11 applications (`[xwayland]`).
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Xwayland {
    /// Start Xwayland with Quay (when it is installed) and give its
    /// `DISPLAY` to the commands Quay starts.
    #[serde(default = "default_xwayland_enabled")]
    pub enabled: bool,
}

impl Default for Xwayland {
    fn default() -> Self {
        Config::default().xwayland
    }
}
fn default_xwayland_enabled() -> bool {
    Xwayland::default().enabled
}

/// Pointer devices (`[input]`), applied by libinput to every mouse and
/// touchpad as it appears on udev and again when the config is reloaded.
/// Devices without a setting (tap on a mouse) ignore it.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Input {
    /// "adaptive" (libinput's default), "flat" (no acceleration curve: the
    /// speed alone scales motion), or "" for the device's default.
    #[serde(default)]
    pub accel_profile: AccelProfile,
    /// Pointer speed, -1.0 (slowest) ..= 1.0; 0.0 is libinput's default.
    #[serde(default)]
    pub accel_speed: AccelSpeed,
    /// Scrolling moves the content, not the view (inverted wheel/fingers).
    #[serde(default)]
    pub natural_scroll: bool,
    /// A tap on a touchpad is a click.
    #[serde(default = "default_true")]
    pub tap_to_click: bool,
}

impl Default for Input {
    fn default() -> Self {
        Config::default().input
    }
}

/// `[input] accel_profile`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum AccelProfile {
    #[default]
    #[serde(rename = "")]
    Device,
    Adaptive,
    Flat,
}

/// `[input] accel_speed`, -1.0..=1.0.
#[derive(Debug, Clone, Copy, PartialEq, Default, Deserialize)]
#[serde(try_from = "f64")]
pub struct AccelSpeed(pub f64);

impl TryFrom<f64> for AccelSpeed {
    type Error = String;
    fn try_from(v: f64) -> Result<Self, String> {
        if (-1.0..=1.0).contains(&v) {
            Ok(AccelSpeed(v))
        } else {
            Err(format!("{v} is not a valid pointer speed: expected -1.0..=1.0"))
        }
    }
}

/// Key repeats per second, 1..=1000.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(try_from = "i64")]
pub struct RepeatRate(pub u32);

impl TryFrom<i64> for RepeatRate {
    type Error = String;
    fn try_from(v: i64) -> Result<Self, String> {
        if (1..=1000).contains(&v) {
            Ok(RepeatRate(v as u32))
        } else {
            Err(format!(
                "{v} is not a valid repeat rate: expected 1..=1000 per second"
            ))
        }
    }
}

/// Modifiers of a key binding.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Mods {
    pub logo: bool,
    pub ctrl: bool,
    pub alt: bool,
    pub shift: bool,
}

/// A key combination as written in `[bindings]`: modifiers and one key,
/// joined by `+` (`"Super+Shift+Q"`). The key is an XKB keysym name
/// (`Return`, `q`, `F1`, `XF86AudioMute`), matched on the layout's
/// unshifted, latin level, so `Super+Shift+Q` is the Q key with Shift
/// whichever layout is active. The name is checked against xkbcommon by
/// Quay itself (`quay validate` too); here it is only normalised.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct KeyCombo {
    pub mods: Mods,
    /// A keysym name; one letter is lower-cased.
    pub key: String,
}

impl std::str::FromStr for KeyCombo {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        let mut mods = Mods::default();
        let mut parts: Vec<&str> = s.split('+').map(str::trim).collect();
        let key = parts.pop().filter(|k| !k.is_empty()).ok_or_else(|| {
            format!("{s:?} is not a key binding: expected modifiers and a key, e.g. \"Super+Return\"")
        })?;
        for m in parts {
            let flag = match m.to_ascii_lowercase().as_str() {
                "super" | "logo" | "mod4" | "win" => &mut mods.logo,
                "ctrl" | "control" => &mut mods.ctrl,
                "alt" | "mod1" => &mut mods.alt,
                "shift" => &mut mods.shift,
                _ => {
                    return Err(format!(
                        "{m:?} in {s:?} is not a modifier: expected Super, Ctrl, Alt or Shift"
                    ))
                }
            };
            if std::mem::replace(flag, true) {
                return Err(format!("{m:?} appears twice in {s:?}"));
            }
        }
        let key = if key.chars().count() == 1 {
            key.to_lowercase()
        } else {
            key.to_owned()
        };
        Ok(KeyCombo { mods, key })
    }
}

impl fmt::Display for KeyCombo {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (on, name) in [
            (self.mods.logo, "Super+"),
            (self.mods.ctrl, "Ctrl+"),
            (self.mods.alt, "Alt+"),
            (self.mods.shift, "Shift+"),
        ] {
            if on {
                f.write_str(name)?;
            }
        }
        f.write_str(&self.key)
    }
}

/// What a key binding does.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(try_from = "String")]
pub enum Action {
    /// `"spawn COMMAND"`: run a shell command line, as `startup` does.
    Spawn(String),
    /// `"close"`: ask the focused window to close.
    Close,
    /// `"fullscreen"`: toggle the focused window's fullscreen.
    Fullscreen,
    /// `"maximize"`: toggle the focused window's maximized state.
    Maximize,
    /// `"focus-next"`: focus and raise the next window.
    FocusNext,
    /// `"minimize"`: take the focused window off the screen (it keeps its
    /// place; a taskbar or `"unminimize"` brings it back).
    Minimize,
    /// `"unminimize"`: bring back the window minimized last, focused.
    Unminimize,
    /// `"reload-config"`: read the config file again now.
    ReloadConfig,
    /// `"quit"`: end Quay (and with it the session).
    Quit,
    /// `"none"`: the key does nothing (removes a shipped binding).
    None,
}

impl TryFrom<String> for Action {
    type Error = String;
    fn try_from(s: String) -> Result<Self, String> {
        let (verb, rest) = s.trim().split_once(char::is_whitespace).unwrap_or((s.trim(), ""));
        let rest = rest.trim();
        let action = match verb {
            "spawn" if !rest.is_empty() => Action::Spawn(rest.to_owned()),
            "spawn" => return Err("\"spawn\" needs a command: \"spawn foot\"".into()),
            "close" => Action::Close,
            "fullscreen" => Action::Fullscreen,
            "maximize" => Action::Maximize,
            "focus-next" => Action::FocusNext,
            "minimize" => Action::Minimize,
            "unminimize" => Action::Unminimize,
            "reload-config" => Action::ReloadConfig,
            "quit" => Action::Quit,
            "none" => Action::None,
            _ => {
                return Err(format!(
                    "{s:?} is not an action: expected \"spawn COMMAND\", close, fullscreen, maximize, \
                     focus-next, minimize, unminimize, reload-config, quit or none"
                ))
            }
        };
        if !matches!(action, Action::Spawn(_)) && !rest.is_empty() {
            return Err(format!("{verb:?} takes no argument (in {s:?})"));
        }
        Ok(action)
    }
}

/// `[bindings]`: `"Super+Return" = "spawn foot"`, one line per binding.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Bindings(pub std::collections::BTreeMap<KeyCombo, Action>);

impl<'de> Deserialize<'de> for Bindings {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let raw = std::collections::BTreeMap::<String, Action>::deserialize(d)?;
        let mut out = std::collections::BTreeMap::new();
        for (combo, action) in raw {
            let combo: KeyCombo = combo.parse().map_err(serde::de::Error::custom)?;
            if out.insert(combo.clone(), action).is_some() {
                return Err(serde::de::Error::custom(format!("{combo} is bound twice")));
            }
        }
        Ok(Bindings(out))
    }
}

fn default_bindings() -> Bindings {
    Config::default().bindings
}

/// The pointer's own cursor (`[cursor]`): where no client set one, and for
/// the shapes clients name (`wp_cursor_shape_v1`).
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Cursor {
    /// An XCursor theme name, looked up like libXcursor does
    /// (`$XCURSOR_PATH`, `~/.icons`, `/usr/share/icons`, inheriting).
    #[serde(default = "default_cursor_theme")]
    pub theme: String,
    /// The nominal size in pixels; the theme's nearest size is used.
    #[serde(default = "default_cursor_size")]
    pub size: Dimension,
}

impl Default for Cursor {
    fn default() -> Self {
        Config::default().cursor
    }
}
fn default_cursor_theme() -> String {
    Cursor::default().theme
}
fn default_cursor_size() -> Dimension {
    Cursor::default().size
}

/// How Quay draws (`[render]`).
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Render {
    #[serde(default = "default_renderer")]
    pub renderer: RendererChoice,
    /// How long before the predicted vblank, beyond Quay's own render-time
    /// estimate, a repaint starts (udev).
    #[serde(default = "default_repaint_margin_ms")]
    pub repaint_margin_ms: Millis,
}

/// `renderer = "auto" | "gles" | "pixman"`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum RendererChoice {
    Auto,
    Gles,
    Pixman,
}

fn default_renderer() -> RendererChoice {
    Render::default().renderer
}

fn default_repaint_margin_ms() -> Millis {
    Render::default().repaint_margin_ms
}

impl Default for Render {
    fn default() -> Self {
        Config::default().render
    }
}

fn default_background() -> Color {
    Config::default().background
}

#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Headless {
    /// At least one output; an empty list is rejected.
    #[serde(rename = "output", deserialize_with = "non_empty_outputs")]
    pub outputs: Vec<OutputConfig>,
}

#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OutputConfig {
    pub name: Option<String>,
    pub width: Dimension,
    pub height: Dimension,
    #[serde(default = "default_refresh")]
    pub refresh: Refresh,
}

#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Winit {
    pub width: Dimension,
    pub height: Dimension,
}

/// Explicit sync and fence deadlines (`[sync]`).
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Sync {
    /// Tell the kernel when each acquire fence must signal.
    #[serde(default = "default_deadline_hints")]
    pub deadline_hints: bool,
}

fn default_deadline_hints() -> bool {
    Sync::default().deadline_hints
}

impl Default for Sync {
    fn default() -> Self {
        Config::default().sync
    }
}

/// The session backend (`[udev]`).
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Udev {
    /// Put a client's dma-buf straight on a plane when the plane takes it.
    #[serde(default = "default_direct_scanout")]
    pub direct_scanout: bool,
    /// Offer `zwlr_export_dmabuf_manager_v1`: clients get the dma-buf of the
    /// buffer an output shows.
    #[serde(default = "default_export_dmabuf")]
    pub export_dmabuf: bool,
}

fn default_export_dmabuf() -> bool {
    Udev::default().export_dmabuf
}

fn default_direct_scanout() -> bool {
    Udev::default().direct_scanout
}

impl Default for Udev {
    fn default() -> Self {
        Config::default().udev
    }
}

/// What one client may make Quay hold (`[limits]`). A client over either
/// budget is disconnected with a protocol error that names it.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Limits {
    /// File descriptors a client's objects keep open in Quay (shm pools and
    /// buffers, dma-buf params planes and dma-buf buffers). Quay also caps
    /// it at a quarter of its own fd limit, so no one client can use it up.
    #[serde(default = "default_client_fds")]
    pub client_fds: Count,
    /// Bytes of a client's shm pools, shm buffers and dma-buf buffers, in MiB.
    #[serde(default = "default_client_buffer_mib")]
    pub client_buffer_mib: Mebibytes,
    /// Surfaces, regions and pending frame callbacks of one client.
    #[serde(default = "default_client_objects")]
    pub client_objects: Count,
    /// The same three for all clients together (Xwayland, which carries
    /// every X11 client, included): what many connections at once (a
    /// sandbox can open as many as it likes) may make Quay hold. Quay also
    /// caps the fds at three quarters of its own fd limit.
    #[serde(default = "default_total_fds")]
    pub total_fds: Count,
    #[serde(default = "default_total_buffer_mib")]
    pub total_buffer_mib: Mebibytes,
    #[serde(default = "default_total_objects")]
    pub total_objects: Count,
}

impl Limits {
    pub fn client_buffer_bytes(&self) -> u64 {
        self.client_buffer_mib.0 << 20
    }

    pub fn total_buffer_bytes(&self) -> u64 {
        self.total_buffer_mib.0 << 20
    }
}

fn default_client_fds() -> Count {
    Limits::default().client_fds
}
fn default_client_buffer_mib() -> Mebibytes {
    Limits::default().client_buffer_mib
}
fn default_client_objects() -> Count {
    Limits::default().client_objects
}
fn default_total_fds() -> Count {
    Limits::default().total_fds
}
fn default_total_buffer_mib() -> Mebibytes {
    Limits::default().total_buffer_mib
}
fn default_total_objects() -> Count {
    Limits::default().total_objects
}

impl Default for Limits {
    fn default() -> Self {
        Config::default().limits
    }
}

/// A count, 1..=1048576.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(try_from = "i64")]
pub struct Count(pub u32);

impl TryFrom<i64> for Count {
    type Error = String;
    fn try_from(v: i64) -> Result<Self, String> {
        if (1..=1 << 20).contains(&v) {
            Ok(Count(v as u32))
        } else {
            Err(format!("{v} is not a valid count: expected 1..=1048576"))
        }
    }
}

/// Client-buffer imports under memory pressure (`[memory]`).
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Memory {
    /// Bytes of client-buffer imports kept, in MiB.
    #[serde(default = "default_budget_mib")]
    pub budget_mib: Mebibytes,
    /// Evict down to this share of the budget once over it.
    #[serde(default = "default_low_water_percent")]
    pub low_water_percent: Percent,
    /// Watch Linux PSI (`/proc/pressure/memory`).
    #[serde(default = "default_psi")]
    pub psi: bool,
    /// "some" stall time within the window that counts as pressure.
    #[serde(default = "default_psi_stall_ms")]
    pub psi_stall_ms: Millis,
    /// The PSI window; the kernel wants 500..=10000 ms, and a multiple of
    /// 2000 ms for an unprivileged process.
    #[serde(default = "default_psi_window_ms")]
    pub psi_window_ms: Millis,
    /// The pressure file to watch: `/proc/pressure/memory` when unset, or a
    /// cgroup's `memory.pressure`.
    #[serde(default)]
    pub psi_file: Option<String>,
}

impl Memory {
    pub fn budget_bytes(&self) -> u64 {
        self.budget_mib.0 << 20
    }
}

fn default_budget_mib() -> Mebibytes {
    Memory::default().budget_mib
}
fn default_low_water_percent() -> Percent {
    Memory::default().low_water_percent
}
fn default_psi() -> bool {
    Memory::default().psi
}
fn default_psi_stall_ms() -> Millis {
    Memory::default().psi_stall_ms
}
fn default_psi_window_ms() -> Millis {
    Memory::default().psi_window_ms
}

impl Default for Memory {
    fn default() -> Self {
        Config::default().memory
    }
}

/// A size in MiB, 0..=1048576 (1 TiB).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(try_from = "i64")]
pub struct Mebibytes(pub u64);

impl TryFrom<i64> for Mebibytes {
    type Error = String;
    fn try_from(v: i64) -> Result<Self, String> {
        if (0..=1 << 20).contains(&v) {
            Ok(Mebibytes(v as u64))
        } else {
            Err(format!("{v} is not a valid size: expected 0..=1048576 MiB"))
        }
    }
}

/// A percentage, 0..=100.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(try_from = "i64")]
pub struct Percent(pub u8);

impl TryFrom<i64> for Percent {
    type Error = String;
    fn try_from(v: i64) -> Result<Self, String> {
        if (0..=100).contains(&v) {
            Ok(Percent(v as u8))
        } else {
            Err(format!("{v} is not a percentage: expected 0..=100"))
        }
    }
}

/// A duration in milliseconds, 1..=10000.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(try_from = "i64")]
pub struct Millis(pub u32);

impl TryFrom<i64> for Millis {
    type Error = String;
    fn try_from(v: i64) -> Result<Self, String> {
        if (1..=10_000).contains(&v) {
            Ok(Millis(v as u32))
        } else {
            Err(format!("{v} is not a valid duration: expected 1..=10000 ms"))
        }
    }
}

/// A width or height in pixels, 1..=16384.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(try_from = "i64")]
pub struct Dimension(pub u32);

impl TryFrom<i64> for Dimension {
    type Error = String;
    fn try_from(v: i64) -> Result<Self, String> {
        if (1..=16384).contains(&v) {
            Ok(Dimension(v as u32))
        } else {
            Err(format!("{v} is not a valid size: expected 1..=16384 pixels"))
        }
    }
}

/// A refresh rate in Hz, 1..=1000.
#[derive(Debug, Clone, Copy, PartialEq, Deserialize)]
#[serde(try_from = "f64")]
pub struct Refresh(pub f64);

impl Refresh {
    /// Refresh in mHz, as `wl_output` and smithay's `Mode` want it.
    pub fn millihertz(self) -> i32 {
        (self.0 * 1000.0).round() as i32
    }
}

impl TryFrom<f64> for Refresh {
    type Error = String;
    fn try_from(v: f64) -> Result<Self, String> {
        if (1.0..=1000.0).contains(&v) {
            Ok(Refresh(v))
        } else {
            Err(format!("{v} is not a valid refresh rate: expected 1..=1000 Hz"))
        }
    }
}

fn default_refresh() -> Refresh {
    Refresh(60.0)
}

/// An opaque colour written `"#rrggbb"`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(try_from = "String")]
pub struct Color {
    pub r: u8,
    pub g: u8,
    pub b: u8,
}

impl Color {
    pub fn to_f32(self) -> [f32; 4] {
        [
            self.r as f32 / 255.0,
            self.g as f32 / 255.0,
            self.b as f32 / 255.0,
            1.0,
        ]
    }
}

impl fmt::Display for Color {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "#{:02x}{:02x}{:02x}", self.r, self.g, self.b)
    }
}

impl TryFrom<String> for Color {
    type Error = String;
    fn try_from(s: String) -> Result<Self, String> {
        let bad = || format!("{s:?} is not a colour: expected \"#rrggbb\"");
        let hex = s.strip_prefix('#').filter(|h| h.len() == 6).ok_or_else(bad)?;
        let v = u32::from_str_radix(hex, 16).map_err(|_| bad())?;
        Ok(Color {
            r: (v >> 16) as u8,
            g: (v >> 8) as u8,
            b: v as u8,
        })
    }
}

fn non_empty_outputs<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Vec<OutputConfig>, D::Error> {
    let outputs = Vec::<OutputConfig>::deserialize(d)?;
    if outputs.is_empty() {
        return Err(serde::de::Error::custom(
            "at least one [[headless.output]] is required",
        ));
    }
    Ok(outputs)
}

impl Default for Config {
    fn default() -> Self {
        // The embedded file is tested to parse (tests below), so this cannot fail
        // at run time unless the file in the binary was changed without its test.
        toml::from_str(DEFAULT_CONFIG).expect("the shipped default config parses")
    }
}

// Section defaults come from the shipped file as well, so `[winit]` alone in a
// user's file still gets the default headless outputs.
impl Default for Headless {
    fn default() -> Self {
        Config::default().headless
    }
}

impl Default for Winit {
    fn default() -> Self {
        Config::default().winit
    }
}

impl Config {
    /// The bindings in effect: the shipped ones, with this file's over
    /// them (a file's `[bindings]` adds to and overrides the defaults;
    /// `"none"` removes one).
    pub fn bindings(&self) -> Vec<(KeyCombo, Action)> {
        let mut all = Config::default().bindings.0;
        all.extend(self.bindings.0.iter().map(|(k, a)| (k.clone(), a.clone())));
        all.into_iter().filter(|(_, a)| *a != Action::None).collect()
    }

    /// Parse a configuration from text. `origin` names it in errors.
    /// The `[[output]]` for the output called `name`.
    pub fn output_settings(&self, name: &str) -> Option<&OutputSettings> {
        self.outputs.iter().find(|s| s.name == name)
    }

    pub fn parse(text: &str, origin: &str) -> Result<Config, ConfigError> {
        toml::from_str(text).map_err(|e| ConfigError::Parse {
            path: origin.to_owned(),
            source: Box::new(e),
        })
    }

    /// Read and parse a configuration file.
    pub fn load(path: &Path) -> Result<Config, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|e| ConfigError::Io {
            path: path.display().to_string(),
            source: e,
        })?;
        Config::parse(&text, &path.display().to_string())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shipped_default_parses_and_has_documented_values() {
        let c = Config::parse(DEFAULT_CONFIG, "default").unwrap();
        assert_eq!(c.headless.outputs.len(), 1);
        let o = &c.headless.outputs[0];
        assert_eq!(
            (o.width.0, o.height.0, o.refresh.millihertz()),
            (1280, 720, 60_000)
        );
        assert_eq!(c.background.to_string(), "#1e1e2e");
        assert_eq!(c, Config::default());
    }

    #[test]
    fn empty_file_is_the_default() {
        assert_eq!(Config::parse("", "empty").unwrap(), Config::default());
    }

    #[test]
    fn partial_section_keeps_other_defaults() {
        let c = Config::parse("[winit]\nwidth = 640\nheight = 480\n", "t").unwrap();
        assert_eq!((c.winit.width.0, c.winit.height.0), (640, 480));
        assert_eq!(c.headless, Config::default().headless);
    }

    #[test]
    fn memory_defaults_partial_keys_and_ranges() {
        let d = Config::default().memory;
        assert_eq!(d.budget_bytes(), 512 << 20);
        assert_eq!((d.low_water_percent.0, d.psi), (75, true));
        assert_eq!(
            (d.psi_stall_ms.0, d.psi_window_ms.0, d.psi_file.clone()),
            (150, 2000, None)
        );
        let c = Config::parse("[memory]\nbudget_mib = 4\npsi = false\n", "t").unwrap();
        assert_eq!((c.memory.budget_bytes(), c.memory.psi), (4 << 20, false));
        assert_eq!(c.memory.low_water_percent, d.low_water_percent);
        let text = "[memory]\nlow_water_percent = 101\n";
        let err = Config::parse(text, "t").unwrap_err();
        assert_eq!(err.line_col(text), Some((2, 21)));
        assert!(err.to_string().contains("not a percentage"), "{err}");
        assert!(Config::parse("[memory]\npsi_window_ms = 0\n", "t").is_err());
        assert!(Config::parse("[memory]\nbudget_mib = -1\n", "t").is_err());
    }

    #[test]
    fn two_outputs() {
        let c = Config::parse(
            "[[headless.output]]\nwidth=320\nheight=240\n[[headless.output]]\nname=\"B\"\nwidth=64\nheight=64\nrefresh=30\n",
            "t",
        )
        .unwrap();
        assert_eq!(c.headless.outputs.len(), 2);
        assert_eq!(c.headless.outputs[0].refresh.millihertz(), 60_000);
        assert_eq!(c.headless.outputs[1].refresh.millihertz(), 30_000);
        assert_eq!(c.headless.outputs[1].name.as_deref(), Some("B"));
    }

    fn err_at(text: &str) -> (String, (usize, usize)) {
        let e = Config::parse(text, "t").unwrap_err();
        let lc = e.line_col(text).expect("error has a position");
        (e.to_string(), lc)
    }

    #[test]
    fn unknown_key_names_key_and_line() {
        let (msg, (line, _)) = err_at("background = \"#000000\"\n[winit]\nwidht = 3\nheight = 4\n");
        assert!(msg.contains("widht"), "{msg}");
        assert_eq!(line, 3);
    }

    #[test]
    fn out_of_range_value_points_at_value() {
        let text = "[[headless.output]]\nwidth = 0\nheight = 10\n";
        let (msg, (line, col)) = err_at(text);
        assert!(msg.contains("not a valid size"), "{msg}");
        assert_eq!((line, col), (2, 9));
        let (msg, (line, _)) = err_at("[[headless.output]]\nwidth = 10\nheight = 10\nrefresh = 0.5\n");
        assert!(msg.contains("refresh"), "{msg}");
        assert_eq!(line, 4);
    }

    #[test]
    fn bad_colour_and_syntax() {
        let (msg, (line, _)) = err_at("\nbackground = \"red\"\n");
        assert!(msg.contains("not a colour"), "{msg}");
        assert_eq!(line, 2);
        let (_, (line, _)) = err_at("[winit\n");
        assert_eq!(line, 1);
    }

    #[test]
    fn empty_output_list_rejected() {
        let e = Config::parse("[headless]\noutput = []\n", "t").unwrap_err();
        assert!(e.to_string().contains("at least one"), "{e}");
    }

    #[test]
    fn output_modes() {
        let c = Config::parse(
            "[[output]]\nname = \"A\"\nmode = \"1024x768\"\n[[output]]\nname = \"B\"\nmode = \"1920x1080@59.94\"\n",
            "t",
        )
        .unwrap();
        let m = c.outputs[0].mode.unwrap();
        assert_eq!((m.width, m.height, m.refresh), (1024, 768, None));
        let m = c.outputs[1].mode.unwrap();
        assert_eq!((m.width, m.height, m.refresh), (1920, 1080, Some(59.94)));
        for bad in ["1024", "0x768", "axb", "800x600@", "800x600@0", "99999x1"] {
            let text = format!("[[output]]\nname = \"A\"\nmode = \"{bad}\"\n");
            assert!(Config::parse(&text, "t").is_err(), "{bad} accepted");
        }
    }

    #[test]
    fn input_settings() {
        let d = Config::default().input;
        assert_eq!(d.accel_profile, AccelProfile::Device);
        assert_eq!(
            (d.accel_speed.0, d.natural_scroll, d.tap_to_click),
            (0.0, false, true)
        );
        let c = Config::parse(
            "[input]\naccel_profile = \"flat\"\naccel_speed = 0.5\nnatural_scroll = true\n",
            "t",
        )
        .unwrap();
        assert_eq!(c.input.accel_profile, AccelProfile::Flat);
        assert_eq!((c.input.accel_speed.0, c.input.natural_scroll), (0.5, true));
        assert!(c.input.tap_to_click, "unset keys keep their defaults");
        let e = Config::parse("[input]\naccel_speed = 2.0\n", "t").unwrap_err();
        assert!(e.to_string().contains("pointer speed"), "{e}");
        assert!(Config::parse("[input]\naccel_profile = \"fast\"\n", "t").is_err());
    }

    #[test]
    fn keyboard_and_bindings() {
        let d = Config::default();
        assert_eq!(
            (d.keyboard.repeat_rate.0, d.keyboard.repeat_delay_ms.0),
            (25, 600)
        );
        assert_eq!(d.keyboard.layout, "");
        let b = d.bindings();
        let find = |s: &str| {
            let k: KeyCombo = s.parse().unwrap();
            b.iter().find(|(c, _)| *c == k).map(|(_, a)| a.clone())
        };
        assert_eq!(find("Super+Return"), Some(Action::Spawn("foot".into())));
        assert_eq!(find("super+shift+q"), Some(Action::Close));
        assert_eq!(find("Super+Shift+E"), Some(Action::Quit));

        let c = Config::parse(
            "[keyboard]\nlayout = \"de\"\nrepeat_rate = 40\n[bindings]\n\"Super+Return\" = \"spawn weston-terminal\"\n\"Super+Shift+E\" = \"none\"\n\"Ctrl+Alt+t\" = \"spawn foot\"\n",
            "t",
        )
        .unwrap();
        assert_eq!((c.keyboard.layout.as_str(), c.keyboard.repeat_rate.0), ("de", 40));
        assert_eq!(c.keyboard.repeat_delay_ms.0, 600);
        let b = c.bindings();
        let find = |s: &str| {
            let k: KeyCombo = s.parse().unwrap();
            b.iter().find(|(c, _)| *c == k).map(|(_, a)| a.clone())
        };
        assert_eq!(
            find("Super+Return"),
            Some(Action::Spawn("weston-terminal".into()))
        );
        assert_eq!(find("Super+Shift+E"), None, "\"none\" removes a default");
        assert_eq!(find("Super+Shift+Q"), Some(Action::Close), "other defaults stay");
        assert_eq!(find("Alt+Ctrl+T"), Some(Action::Spawn("foot".into())));

        for bad in [
            "[bindings]\n\"Hyper+x\" = \"close\"\n",
            "[bindings]\n\"Super+\" = \"close\"\n",
            "[bindings]\n\"Super+Super+x\" = \"close\"\n",
            "[bindings]\n\"Super+x\" = \"explode\"\n",
            "[bindings]\n\"Super+x\" = \"spawn\"\n",
            "[bindings]\n\"Super+x\" = \"close now\"\n",
            "[bindings]\n\"Super+x\" = \"close\"\n\"super+X\" = \"quit\"\n",
            "[keyboard]\nrepeat_rate = 0\n",
        ] {
            assert!(Config::parse(bad, "t").is_err(), "{bad}");
        }
    }

    #[test]
    fn output_settings() {
        let c = Config::parse(
            "[[output]]\nname = \"Virtual-1\"\nscale = 1.5\nposition = { x = 1920, y = 0 }\ntransform = \"90\"\n[[output]]\nname = \"HDMI-A-1\"\nenabled = false\n",
            "t",
        )
        .unwrap();
        assert_eq!(c.outputs.len(), 2);
        assert_eq!(c.outputs[0].scale, Some(OutputScale(1.5)));
        assert_eq!(c.outputs[0].position, Some(Position { x: 1920, y: 0 }));
        assert_eq!(c.outputs[0].transform, Some(OutputTransform::R90));
        assert!(c.outputs[0].enabled && !c.outputs[1].enabled);
        assert!(Config::parse("[[output]]\nname = \"A\"\nscale = 0\n", "t").is_err());
        assert!(Config::parse("[[output]]\nname = \"A\"\ntransform = \"45\"\n", "t").is_err());
        assert!(
            Config::parse("[[output]]\nscale = 2\n", "t").is_err(),
            "name is required"
        );
        assert!(Config::default().outputs.is_empty());
    }

    /// docs/configuration.md carries the shipped config, every key with its
    /// default, word for word.
    #[test]
    fn the_configuration_doc_has_the_shipped_config() {
        let doc = include_str!("../../docs/configuration.md");
        assert!(
            doc.contains(DEFAULT_CONFIG.trim_end()),
            "docs/configuration.md's copy of config/default-config.toml is out of date"
        );
    }

    /// Every TOML snippet in the README and the docs must parse: the docs
    /// cannot rot.
    #[test]
    fn doc_snippets_parse() {
        let docs = [
            ("README.md", include_str!("../../README.md")),
            (
                "docs/configuration.md",
                include_str!("../../docs/configuration.md"),
            ),
            ("docs/security.md", include_str!("../../docs/security.md")),
        ];
        for (name, text) in docs {
            let mut n = 0;
            let mut in_block = false;
            let mut block = String::new();
            for line in text.lines() {
                if line.trim_start().starts_with("```toml") {
                    in_block = true;
                    block.clear();
                } else if in_block && line.trim_start().starts_with("```") {
                    in_block = false;
                    Config::parse(&block, name)
                        .unwrap_or_else(|e| panic!("a snippet in {name} does not parse: {e}\n{block}"));
                    n += 1;
                } else if in_block {
                    block.push_str(line);
                    block.push('\n');
                }
            }
            assert!(n > 0, "{name} has no toml snippets to check");
        }
    }
}
