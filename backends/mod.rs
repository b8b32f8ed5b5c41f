//! Backends: adapters between Quay's core and where pixels go.
//!
//! A closed enum (niri's choice over a trait object): every call site sees
//! every backend, and backend-only capabilities are returned as `Option`s
//! instead of panicking. Backends hold renderers, outputs and frame clocks;
//! they hold no buffer-cache policy (that is `crate::buffer`).

pub mod headless;
pub mod winit;

use smithay::backend::allocator::{dmabuf::Dmabuf, Format};

pub use self::{headless::Headless, winit::Winit};

/// Which backend to run, as chosen on the command line.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum BackendKind {
    /// winit when WAYLAND_DISPLAY or DISPLAY is set, headless otherwise.
    Auto,
    Winit,
    Headless,
    /// The KMS/GBM session backend (not built yet).
    Udev,
}

impl BackendKind {
    /// Resolve `Auto` from the environment.
    pub fn resolve(self) -> BackendKind {
        match self {
            BackendKind::Auto => {
                let set = |v: &str| std::env::var_os(v).is_some_and(|s| !s.is_empty());
                if set("WAYLAND_DISPLAY") || set("DISPLAY") {
                    BackendKind::Winit
                } else {
                    BackendKind::Headless
                }
            }
            other => other,
        }
    }
}

/// A screenshot in RGBA8, row-major, no padding.
pub struct Screenshot {
    pub width: u32,
    pub height: u32,
    pub rgba: Vec<u8>,
}

pub enum Backend {
    Headless(Headless),
    Winit(Box<Winit>),
}

impl Backend {
    pub fn name(&self) -> &'static str {
        match self {
            Backend::Headless(_) => "headless",
            Backend::Winit(_) => "winit",
        }
    }

    pub fn headless(&mut self) -> Option<&mut Headless> {
        match self {
            Backend::Headless(h) => Some(h),
            _ => None,
        }
    }

    pub fn winit(&mut self) -> Option<&mut Winit> {
        match self {
            Backend::Winit(w) => Some(w),
            _ => None,
        }
    }

    /// The formats the renderer can import from dma-bufs.
    pub fn dmabuf_formats(&mut self) -> Vec<Format> {
        match self {
            Backend::Headless(h) => h.dmabuf_formats(),
            Backend::Winit(w) => w.dmabuf_formats(),
        }
    }

    /// Import a client dma-buf into the renderer; an error means the client
    /// gets `failed`.
    pub fn import_dmabuf(&mut self, dmabuf: &Dmabuf) -> Result<(), String> {
        match self {
            Backend::Headless(h) => h.import_dmabuf(dmabuf),
            Backend::Winit(w) => w.import_dmabuf(dmabuf),
        }
    }

    /// What an output shows now. `output`: its name, or the first output.
    pub fn screenshot(&mut self, output: Option<&str>) -> Result<Screenshot, String> {
        match self {
            Backend::Headless(h) => h.screenshot(output),
            Backend::Winit(_) => Err("screenshots are not implemented on the winit backend; \
                 take one of the host window instead"
                .into()),
        }
    }
}
