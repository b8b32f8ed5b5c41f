//! Command line: `quay [run options]`, `quay validate`, `quay msg`.

use std::path::PathBuf;

use clap::{Parser, Subcommand};

use crate::backends::{BackendKind, RendererKind};

#[derive(Debug, Parser)]
#[command(
    name = "quay",
    version,
    about = "A Wayland compositor built around the client-buffer subsystem"
)]
pub struct Cli {
    /// Which backend to run.
    #[arg(long, value_enum, default_value = "auto")]
    pub backend: BackendKind,
    /// Which renderer to draw with (default: `[render] renderer` in the
    /// config, itself `auto` by default).
    #[arg(long, value_enum, value_name = "auto|gles|pixman")]
    pub renderer: Option<RendererKind>,
    /// Listen on $XDG_RUNTIME_DIR/NAME (default: the first free wayland-N).
    #[arg(long, value_name = "NAME")]
    pub socket: Option<String>,
    /// DRM device for the udev backend (default: the seat's primary GPU).
    #[arg(long, value_name = "PATH")]
    pub drm_device: Option<PathBuf>,
    /// Config file (default: $XDG_CONFIG_HOME/quay/config.toml, written on first run).
    #[arg(long, value_name = "PATH")]
    pub config: Option<PathBuf>,
    #[command(subcommand)]
    pub command: Option<Command>,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Check a config file and report the first error with its line.
    Validate {
        /// The file to check (default: the config Quay would load).
        path: Option<PathBuf>,
    },
    /// Talk to a running Quay over its IPC socket.
    Msg {
        /// The running Quay's wayland socket name (default: $WAYLAND_DISPLAY),
        /// used when $QUAY_SOCKET is not set.
        #[arg(long, value_name = "NAME")]
        socket: Option<String>,
        #[command(subcommand)]
        msg: Msg,
    },
}

#[derive(Debug, Subcommand)]
pub enum Msg {
    /// Quay's version and backend.
    Version,
    /// Outputs with their modes and positions.
    Outputs,
    /// Save what an output shows as a PNG.
    Screenshot {
        /// Where to write the PNG.
        path: PathBuf,
        /// Output name (default: the first output).
        #[arg(long)]
        output: Option<String>,
    },
    /// Counters as JSON.
    Stats,
    /// Drop every client-buffer import that is not on screen (it is imported
    /// again when next drawn).
    Evict,
    /// Move the pointer to X Y, or by X Y with --relative as a mouse does
    /// (headless backend only, for tests).
    Pointer {
        #[arg(long)]
        relative: bool,
        #[arg(allow_negative_numbers = true)]
        x: f64,
        #[arg(allow_negative_numbers = true)]
        y: f64,
    },
    /// Press the keys with these evdev codes in order, then release them
    /// in reverse (`quay msg key 125 28` is Super+Return; headless backend
    /// only, for tests). Goes through the same path as a keyboard's keys:
    /// bindings, then the focused client.
    Key {
        /// Only press them (hold them down).
        #[arg(long, conflicts_with = "release")]
        press: bool,
        /// Only release them, in the order given.
        #[arg(long)]
        release: bool,
        #[arg(required = true)]
        codes: Vec<u32>,
    },
    /// Press and release a pointer button by its evdev code (272 is the
    /// left button), or only press or release it (headless only).
    Button {
        #[arg(long, conflicts_with = "release")]
        press: bool,
        #[arg(long)]
        release: bool,
        code: u32,
    },
    /// The windows, topmost first: title, app id, place and size, focus.
    Windows,
    /// Read the config file again now (as the reload-config binding does).
    Reload,
}

/// `$XDG_CONFIG_HOME/quay/config.toml`, or `~/.config/quay/config.toml`.
pub fn default_config_path() -> Option<PathBuf> {
    let base = std::env::var_os("XDG_CONFIG_HOME")
        .filter(|v| !v.is_empty())
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".config")))?;
    Some(base.join("quay").join("config.toml"))
}
