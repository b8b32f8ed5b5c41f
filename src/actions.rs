//! What key bindings do, and reading the config again.
//!
//! The config file is watched by polling its modification time once a
//! second, as niri does: inotify on the file misses an editor's
//! rename-over-it and a symlinked config directory (a dotfiles checkout)
//! changing its target. A reload re-applies what can change in a running
//! session: the background, the keyboard's keymap and repeat, pointer
//! device settings (`[input]`, udev), the bindings and the cursor theme. The rest (outputs, limits, the
//! renderer) is read at start only, and a reload says so in the log.

use std::{
    path::{Path, PathBuf},
    time::{Duration, SystemTime},
};

use quay_config::{Action, Config};
use smithay::{
    desktop::Window,
    input::keyboard::XkbConfig,
    reexports::{
        calloop::timer::{TimeoutAction, Timer},
        wayland_protocols::xdg::shell::server::xdg_toplevel,
        wayland_server::protocol::wl_surface::WlSurface,
    },
    utils::SERIAL_COUNTER,
};
use tracing::{debug, info, warn};

use crate::{state::Core, State};

/// How often the config file's mtime is looked at.
const CONFIG_POLL: Duration = Duration::from_secs(1);

/// The XKB names a `[keyboard]` section gives (empty: xkbcommon's default).
pub fn xkb_config(keyboard: &quay_config::Keyboard) -> XkbConfig<'_> {
    XkbConfig {
        rules: "",
        model: &keyboard.model,
        layout: &keyboard.layout,
        variant: &keyboard.variant,
        options: (!keyboard.options.is_empty()).then(|| keyboard.options.clone()),
    }
}

/// The config file and what it looked like when last read.
#[derive(Debug)]
pub struct ConfigWatch {
    pub path: PathBuf,
    mtime: Option<SystemTime>,
}

fn mtime(path: &Path) -> Option<SystemTime> {
    // `metadata` follows symlinks: a re-pointed link is a change.
    std::fs::metadata(path).and_then(|m| m.modified()).ok()
}

impl ConfigWatch {
    pub fn new(path: PathBuf) -> ConfigWatch {
        let mtime = mtime(&path);
        ConfigWatch { path, mtime }
    }
}

/// Poll the config file (if Quay has one) and reload it when it changes.
pub fn watch_config(core: &Core) {
    if core.config_watch.is_none() {
        return;
    }
    let res = core
        .loop_handle
        .insert_source(Timer::from_duration(CONFIG_POLL), |_, _, state| {
            let changed = state.core.config_watch.as_mut().is_some_and(|w| {
                let now = mtime(&w.path);
                if now == w.mtime {
                    return false;
                }
                w.mtime = now;
                // A file that went away is not reloaded; its return is.
                now.is_some()
            });
            if changed {
                state.reload_config();
            }
            TimeoutAction::ToDuration(CONFIG_POLL)
        });
    if let Err(e) = res {
        warn!("cannot watch the config file: {e}");
    }
}

impl Core {
    /// The focused toplevel's window, if the keyboard is on one.
    fn focused_window(&self) -> Option<Window> {
        let focus = self.seat.get_keyboard()?.current_focus()?;
        // By `window_wl_surface`: an X11 window's surface may be paired by
        // Quay alone (`crate::xwayland`), where `window_for_surface` misses it.
        self.space
            .elements()
            .find(|w| self.window_wl_surface(w).as_ref() == Some(&focus))
            .cloned()
    }
}

impl State {
    fn focused_x11(&self) -> Option<smithay::xwayland::X11Surface> {
        self.core.focused_window().and_then(|w| w.x11_surface().cloned())
    }

    pub fn run_action(&mut self, action: &Action) {
        info!(?action, "binding");
        self.core.stats.bindings_run_total += 1;
        match action {
            Action::Spawn(command) => crate::spawn::spawn(&self.core, command),
            // X11 windows by the same policy (`crate::xwayland`).
            Action::Close => {
                if let Some(w) = self.core.focused_window() {
                    match (w.toplevel(), w.x11_surface()) {
                        (Some(t), _) => t.send_close(),
                        (None, Some(x)) => {
                            if let Err(e) = x.close() {
                                debug!("X11 close: {e}");
                            }
                        }
                        (None, None) => {}
                    }
                }
            }
            Action::Fullscreen if self.focused_x11().is_some() => {
                if let Some(x) = self.focused_x11() {
                    let on = !x.is_fullscreen();
                    self.core.x11_fullscreen(&x, on);
                }
            }
            Action::Maximize if self.focused_x11().is_some() => {
                if let Some(x) = self.focused_x11() {
                    let on = !x.is_maximized();
                    self.core.x11_maximize(&x, on);
                }
            }
            Action::Fullscreen => {
                if let Some(toplevel) = self.core.focused_window().and_then(|w| w.toplevel().cloned()) {
                    if toplevel.with_pending_state(|s| s.states.contains(xdg_toplevel::State::Fullscreen)) {
                        self.core.unfullscreen(&toplevel);
                    } else {
                        self.core.fullscreen(&toplevel, None);
                    }
                }
            }
            Action::Maximize => {
                if let Some(toplevel) = self.core.focused_window().and_then(|w| w.toplevel().cloned()) {
                    if toplevel.with_pending_state(|s| s.states.contains(xdg_toplevel::State::Maximized)) {
                        self.core.unmaximize(&toplevel);
                    } else {
                        self.core.maximize(&toplevel);
                    }
                }
            }
            Action::FocusNext => self.focus_next(),
            Action::Minimize => {
                if let Some(window) = self.core.focused_window() {
                    self.minimize_window(&window);
                }
            }
            Action::Unminimize => {
                if let Some((window, _)) = self.core.toplevels.minimized.last().cloned() {
                    self.activate_window(&window);
                }
            }
            Action::ReloadConfig => self.reload_config(),
            Action::Quit => {
                info!("quit by key binding");
                self.core.loop_signal.stop();
            }
            Action::None => {}
        }
    }

    /// Focus and raise the window below the focused one in the stack (the
    /// bottom one after the topmost wraps round to the top), so repeated
    /// presses visit every window.
    pub fn focus_next(&mut self) {
        if self.core.lock.is_locked() {
            return;
        }
        let windows: Vec<Window> = self
            .core
            .space
            .elements()
            .filter(|w| w.toplevel().is_some_and(|t| t.alive()))
            .cloned()
            .collect();
        if windows.is_empty() {
            return;
        }
        // Stacking order, bottom first. The focused window is normally on
        // top; the next one is the bottom one, which goes to the top.
        let next = windows[0].clone();
        self.core.space.raise_element(&next, true);
        for w in &windows {
            w.set_activated(w == &next);
            if let Some(t) = w.toplevel() {
                t.send_pending_configure();
            }
        }
        let surface: Option<WlSurface> = next.toplevel().map(|t| t.wl_surface().clone());
        self.focus_keyboard(surface, SERIAL_COUNTER.next_serial());
    }

    /// Read the config file again; a file that does not parse leaves the
    /// running config as it is.
    pub fn reload_config(&mut self) {
        let Some(path) = self.core.config_watch.as_ref().map(|w| w.path.clone()) else {
            info!("no config file to reload: Quay runs on the built-in config");
            return;
        };
        let new = match Config::load(&path) {
            Ok(c) => c,
            Err(e) => {
                self.core.stats.config_reload_errors_total += 1;
                warn!("config not reloaded, keeping the running one: {e}");
                return;
            }
        };
        let old = std::mem::replace(&mut self.core.config, new);
        let config = &self.core.config;
        for (changed, what) in [
            (old.headless != config.headless, "[headless]"),
            (old.winit != config.winit, "[winit]"),
            (old.memory != config.memory, "[memory]"),
            (old.sync != config.sync, "[sync]"),
            (old.udev != config.udev, "[udev]"),
            (old.limits != config.limits, "[limits]"),
            (old.render != config.render, "[render]"),
            (old.startup != config.startup, "startup"),
        ] {
            if changed {
                info!("{what} changed: it takes effect when Quay next starts");
            }
        }
        if old.keyboard != self.core.config.keyboard {
            self.apply_keyboard();
        }
        if old.input != self.core.config.input {
            if let Some(u) = self.backend.udev() {
                u.configure_input_devices(&self.core.config.input);
            }
        }
        if old.cursor != self.core.config.cursor {
            self.core.pointer.theme = crate::cursor::CursorTheme::new(&self.core.config.cursor);
            self.core
                .pointer
                .theme
                .load(smithay::input::pointer::CursorIcon::Default);
        }
        self.core.bindings = crate::bindings::compile_logged(&self.core.config);
        self.core.suppressed_keys.clear();
        self.core.stats.config_reloads_total += 1;
        // A new background needs no push: every backend's damage tracker
        // redraws all of an output whose clear colour changed
        // (smithay-0.7.0 src/backend/renderer/damage/mod.rs:673).
        info!(path = %path.display(), "config reloaded");
    }

    /// Give the keyboard the config's keymap and repeat.
    pub fn apply_keyboard(&mut self) {
        let Some(keyboard) = self.core.seat.get_keyboard() else {
            return;
        };
        let k = self.core.config.keyboard.clone();
        if let Err(e) = keyboard.set_xkb_config(self, xkb_config(&k)) {
            warn!(
                layout = k.layout,
                variant = k.variant,
                options = k.options,
                "keymap failed ({e:?}); the keyboard keeps its keymap"
            );
        }
        keyboard.change_repeat_info(k.repeat_rate.0 as i32, k.repeat_delay_ms.0 as i32);
    }
}
