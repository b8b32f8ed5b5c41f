// The binary's edge: command output and fatal errors are for a human on a
// terminal, not log records (clippy.toml bans these macros elsewhere).
#![allow(clippy::disallowed_macros)]

use std::{path::PathBuf, process::ExitCode};

use anyhow::{bail, Context};
use clap::Parser;
use quay::{
    backends::{headless_gles, Backend, BackendKind, Headless, RendererKind, Udev, Winit},
    cli::{default_config_path, Cli, Command, Msg},
    ipc::{self, IpcServer, Request},
    Core, State,
};
use quay_config::{Config, ConfigError, DEFAULT_CONFIG};
use smithay::reexports::{
    calloop::{
        signals::{Signal, Signals},
        EventLoop,
    },
    wayland_server::Display,
};
use tracing::{info, warn};

fn main() -> ExitCode {
    let cli = Cli::parse();
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info")),
        )
        .with_writer(std::io::stderr)
        .init();

    let result = match cli.command {
        Some(Command::Validate { ref path }) => validate(path.clone().or(cli.config.clone())),
        Some(Command::Msg { ref socket, ref msg }) => message(socket.as_deref(), msg),
        None => run(&cli),
    };
    match result {
        Ok(code) => code,
        Err(err) => {
            // The binary's edge: anyhow's chain, printed for a human.
            eprintln!("quay: {err:#}");
            ExitCode::FAILURE
        }
    }
}

fn print_config_error(err: &ConfigError, path: &std::path::Path) {
    let text = std::fs::read_to_string(path).unwrap_or_default();
    match err.line_col(&text) {
        Some((line, col)) => eprintln!("quay: {}:{line}:{col}: invalid config\n{err}", path.display()),
        None => eprintln!("quay: {err}"),
    }
}

fn validate(path: Option<PathBuf>) -> anyhow::Result<ExitCode> {
    let path = path
        .or_else(default_config_path)
        .context("no config path given and neither XDG_CONFIG_HOME nor HOME is set")?;
    match Config::load(&path) {
        Ok(config) => {
            // Key names are xkbcommon's to judge.
            let (_, errors) = quay::bindings::compile(&config);
            if !errors.is_empty() {
                for e in errors {
                    eprintln!("quay: {}: {e}", path.display());
                }
                return Ok(ExitCode::FAILURE);
            }
            println!("{}: OK", path.display());
            Ok(ExitCode::SUCCESS)
        }
        Err(err) => {
            print_config_error(&err, &path);
            Ok(ExitCode::FAILURE)
        }
    }
}

/// An explicit `--config` must load; the default path is written on first
/// run, and if it is broken Quay starts on built-in defaults with a warning
/// (a typo must not lock a user out of their session).
/// Also the file to watch for changes, if there is one.
fn load_config(explicit: Option<&PathBuf>) -> anyhow::Result<(Config, Option<PathBuf>)> {
    if let Some(path) = explicit {
        let config = Config::load(path).map_err(|err| {
            print_config_error(&err, path);
            anyhow::anyhow!("invalid config {}", path.display())
        })?;
        return Ok((config, Some(path.clone())));
    }
    let Some(path) = default_config_path() else {
        warn!("neither XDG_CONFIG_HOME nor HOME is set; using the built-in config");
        return Ok((Config::default(), None));
    };
    let config = load_default_path(&path)?;
    Ok((config, Some(path)))
}

fn load_default_path(path: &std::path::Path) -> anyhow::Result<Config> {
    if !path.exists() {
        let written = path
            .parent()
            .map(std::fs::create_dir_all)
            .transpose()
            .and_then(|_| std::fs::write(path, DEFAULT_CONFIG));
        match written {
            Ok(()) => info!(path = %path.display(), "wrote the default config"),
            Err(e) => warn!(path = %path.display(), "cannot write the default config: {e}"),
        }
        return Ok(Config::default());
    }
    match Config::load(path) {
        Ok(c) => Ok(c),
        Err(err) => {
            print_config_error(&err, path);
            warn!("using the built-in config until {} is fixed", path.display());
            Ok(Config::default())
        }
    }
}

fn run(cli: &Cli) -> anyhow::Result<ExitCode> {
    let kind = cli.backend.resolve();
    if std::env::var_os("XDG_RUNTIME_DIR").is_none() {
        bail!("XDG_RUNTIME_DIR is not set; Quay puts its wayland and IPC sockets there");
    }
    let (config, config_path) = load_config(cli.config.as_ref())?;

    // Before any fd is opened: clients' fds count against this limit.
    let nofile = quay::limits::raise_nofile();
    let mut event_loop: EventLoop<'static, State> =
        EventLoop::try_new().context("creating the event loop")?;
    let display: Display<State> = Display::new().context("creating the wayland display")?;
    let mut core = Core::new(
        display,
        event_loop.handle(),
        event_loop.get_signal(),
        config,
        cli.socket.as_deref(),
        nofile,
    )?;
    core.config_watch = config_path.map(quay::actions::ConfigWatch::new);
    quay::actions::watch_config(&core);

    let choice = cli
        .renderer
        .unwrap_or_else(|| RendererKind::from(core.config.render.renderer));
    let mut backend = match kind {
        BackendKind::Winit => {
            if choice == RendererKind::Pixman {
                warn!("the winit backend draws with GLES only; ignoring renderer = pixman");
            }
            Backend::Winit(Box::new(Winit::new(&mut core)?))
        }
        BackendKind::Udev => {
            Backend::Udev(Box::new(Udev::new(&mut core, cli.drm_device.as_deref(), choice)?))
        }
        _ => Backend::Headless(Box::new(Headless::new(&mut core, headless_gles(choice)?)?)),
    };
    let formats = backend.dmabuf_formats();
    core.init_dmabuf(formats, backend.main_device(), backend.surface_feedback());
    IpcServer::start(&mut core)?;

    let signals = Signals::new(&[Signal::SIGINT, Signal::SIGTERM]).context("installing signal handlers")?;
    event_loop
        .handle()
        .insert_source(signals, |event, _, state| {
            info!(signal = ?event.signal(), "shutting down");
            state.core.loop_signal.stop();
        })
        .map_err(|e| anyhow::anyhow!("cannot register signal handlers: {e}"))?;
    // After the signal mask is set, so the PSI thread inherits it.
    if core.config.memory.psi {
        quay::buffer::pressure::watch(&core.loop_handle, &core.config.memory, |state: &mut State| {
            state.backend.imports().pressure()
        });
    }

    info!(
        backend = backend.name(),
        renderer = backend.imports().renderer_name(),
        socket = ?core.socket_name,
        "Quay is running; clients connect with WAYLAND_DISPLAY={}",
        core.socket_name.to_string_lossy()
    );
    quay::xwayland::start(&mut core);
    quay::spawn::run_startup(&core);
    let mut state = State { backend, core };
    event_loop
        .run(None, &mut state, |state| {
            state.refresh_pointer_focus();
            state.core.refresh_and_flush()
        })
        .context("event loop")?;
    info!("bye");
    Ok(ExitCode::SUCCESS)
}

fn message(socket: Option<&str>, msg: &Msg) -> anyhow::Result<ExitCode> {
    let path = match (std::env::var_os("QUAY_SOCKET"), socket) {
        (_, Some(name)) => {
            let runtime = std::env::var_os("XDG_RUNTIME_DIR").context("XDG_RUNTIME_DIR is not set")?;
            ipc::socket_path(std::path::Path::new(&runtime), name)
        }
        (Some(p), None) => PathBuf::from(p),
        (None, None) => {
            let name =
                std::env::var("WAYLAND_DISPLAY").context("set QUAY_SOCKET, WAYLAND_DISPLAY or --socket")?;
            let runtime = std::env::var_os("XDG_RUNTIME_DIR").context("XDG_RUNTIME_DIR is not set")?;
            ipc::socket_path(std::path::Path::new(&runtime), &name)
        }
    };
    let req = match msg {
        Msg::Version => Request::Version,
        Msg::Outputs => Request::Outputs,
        Msg::Stats => Request::Stats,
        Msg::Evict => Request::Evict,
        Msg::Pointer { x, y, relative } => Request::Pointer {
            x: *x,
            y: *y,
            relative: *relative,
        },
        Msg::Key {
            codes,
            press,
            release,
        } => Request::Key {
            codes: codes.clone(),
            press: !*release,
            release: !*press,
        },
        Msg::Button { code, press, release } => Request::Button {
            code: *code,
            press: !*release,
            release: !*press,
        },
        Msg::Windows => Request::Windows,
        Msg::Reload => Request::Reload,
        Msg::Screenshot { path, output } => Request::Screenshot {
            path: std::path::absolute(path).context("resolving the screenshot path")?,
            output: output.clone(),
        },
    };
    match ipc::send(&path, &req)? {
        Ok(v) => {
            println!("{}", serde_json::to_string_pretty(&v)?);
            Ok(ExitCode::SUCCESS)
        }
        Err(e) => {
            eprintln!("quay: {e}");
            Ok(ExitCode::FAILURE)
        }
    }
}
