//! Starting programs: `startup` commands and `spawn` bindings. Each
//! command runs through `sh -c` with this Quay's `WAYLAND_DISPLAY`,
//! `QUAY_SOCKET` and Xwayland's `DISPLAY` (none when Xwayland is not
//! running), the fd limit Quay was started with
//! ([`crate::limits::restore_nofile_for_child`]), stdin from /dev/null, and
//! its own process group, so a terminal's Ctrl+C to Quay is not its. A
//! thread per child reaps it and logs how it ended, so no zombies stay.

use std::process::{Command, Stdio};

use tracing::{info, warn};

use crate::state::Core;

/// Run `command` (a shell command line) as a child of Quay.
pub fn spawn(core: &Core, command: &str) {
    let mut cmd = Command::new("/bin/sh");
    cmd.arg("-c")
        .arg(command)
        .env("WAYLAND_DISPLAY", &core.socket_name)
        .env_remove("WAYLAND_SOCKET")
        .stdin(Stdio::null());
    if let Some(ipc) = core.ipc.as_ref() {
        cmd.env("QUAY_SOCKET", &ipc.path);
    }
    match core.xwayland.display {
        Some(n) => cmd.env("DISPLAY", format!(":{n}")),
        None => cmd.env_remove("DISPLAY"),
    };
    std::os::unix::process::CommandExt::process_group(&mut cmd, 0);
    crate::limits::restore_nofile_for_child(&mut cmd);
    match cmd.spawn() {
        Ok(mut child) => {
            let pid = child.id();
            info!(pid, command, "started");
            let command = command.to_owned();
            let reaper = std::thread::Builder::new()
                .name("quay-reap".into())
                .spawn(move || match child.wait() {
                    Ok(status) if status.success() => info!(pid, command, "exited"),
                    Ok(status) => info!(pid, command, %status, "exited"),
                    Err(e) => warn!(pid, command, "waiting for it failed: {e}"),
                });
            if let Err(e) = reaper {
                warn!("no thread to reap {pid}: {e}");
            }
        }
        Err(e) => warn!(command, "cannot start: {e}"),
    }
}

/// The config's `startup` commands, once.
pub fn run_startup(core: &Core) {
    for command in &core.config.startup {
        spawn(core, command);
    }
}
