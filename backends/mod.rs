//! Backends: adapters between Quay's core and where pixels go.
//!
//! A closed enum (niri's choice over a trait object): every call site sees
//! every backend, and backend-only capabilities are returned as `Option`s
//! instead of panicking. Backends hold renderers, outputs and frame clocks;
//! they hold no buffer-cache policy (that is `crate::buffer`).

pub mod cursor_plane;
pub mod headless;
pub mod linear;
pub mod udev;
pub mod winit;

/// One refresh at `mhz`, truncated like weston's millihz_to_nsec (10^12 / mHz).
pub fn refresh_interval(mhz: i32) -> std::time::Duration {
    std::time::Duration::from_nanos(1_000_000_000_000 / mhz.max(1) as u64)
}

use smithay::backend::allocator::{dmabuf::Dmabuf, Format};

pub use self::{headless::Headless, udev::Udev, winit::Winit};

/// Which backend to run, as chosen on the command line.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum BackendKind {
    /// winit when WAYLAND_DISPLAY or DISPLAY is set, headless otherwise.
    Auto,
    Winit,
    Headless,
    /// The KMS/GBM session backend (libseat, libinput).
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

/// Which renderer to draw with, as chosen on the command line or in
/// `[render] renderer`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum RendererKind {
    /// GLES on a hardware EGL device and on winit, pixman on a software-only
    /// device.
    Auto,
    Gles,
    Pixman,
}

impl From<quay_config::RendererChoice> for RendererKind {
    fn from(c: quay_config::RendererChoice) -> RendererKind {
        match c {
            quay_config::RendererChoice::Auto => RendererKind::Auto,
            quay_config::RendererChoice::Gles => RendererKind::Gles,
            quay_config::RendererChoice::Pixman => RendererKind::Pixman,
        }
    }
}

/// The GLES renderer headless should use for `choice`, or `None` for
/// pixman; logs why. An explicit `gles` that cannot start is an error (the
/// user asked for it and must hear that it is not there); `auto` falls
/// back to pixman.
pub fn headless_gles(
    choice: RendererKind,
) -> anyhow::Result<Option<(smithay::backend::renderer::gles::GlesRenderer, bool)>> {
    if choice == RendererKind::Pixman {
        return Ok(None);
    }
    match crate::buffer::gles::device_renderer() {
        Ok((_, true)) if choice == RendererKind::Auto => {
            tracing::info!("renderer auto: the only EGL device is software (llvmpipe); drawing with pixman");
            Ok(None)
        }
        Ok(r) => Ok(Some(r)),
        Err(e) if choice == RendererKind::Gles => {
            Err(anyhow::anyhow!("renderer gles: GLES does not start ({e})"))
        }
        Err(e) => {
            tracing::warn!("GLES does not start ({e}); falling back to pixman");
            Ok(None)
        }
    }
}

/// Whether an output's picture changed since the last frame drawn for it.
///
/// A backend that draws into a chain of buffers (udev's swapchain, winit's
/// EGL surface) renders with the buffer's age, and smithay's damage tracker
/// then adds the damage of the last `age - 1` frames to this frame's
/// (smithay-0.7.0 src/backend/renderer/damage/mod.rs:693-699): after one
/// change, the next frame finds damage and is drawn and flipped again even
/// though nothing changed, the same pixels into the next buffer. In the VM
/// bench (GLES, a client that commits once per frame callback) that was 111
/// frames drawn for 60 commits, each a full draw of the window, and a
/// commit arriving during such a frame waited for it. This tracker sees
/// every frame at age 1, so it reports only what changed since the last
/// frame drawn; a frame without changes is not drawn (the backend takes it
/// as a frame with no damage). It does not see the clear colour (its
/// `damage_output` passes the last one, damage/mod.rs:490), which the
/// lock changes, so that is compared here.
pub struct SceneChanges {
    tracker: smithay::backend::renderer::damage::OutputDamageTracker,
    clear: Option<smithay::backend::renderer::Color32F>,
}

impl SceneChanges {
    pub fn new(output: &smithay::output::Output) -> SceneChanges {
        SceneChanges {
            tracker: smithay::backend::renderer::damage::OutputDamageTracker::from_output(output),
            clear: None,
        }
    }

    /// Whether `elements` on `clear` differ from the last frame this saw
    /// change, and the elements' states for the frame path. Call once per
    /// frame, before drawing; [`SceneChanges::forget`] when a drawn frame
    /// did not reach the screen.
    pub fn changed<E: smithay::backend::renderer::element::Element>(
        &mut self,
        elements: &[E],
        clear: impl Into<smithay::backend::renderer::Color32F>,
    ) -> (bool, smithay::backend::renderer::element::RenderElementStates) {
        let clear = clear.into();
        match self.tracker.damage_output(1, elements) {
            Ok((damage, states)) => {
                let cleared = self.clear.replace(clear) != Some(clear);
                (damage.is_some() || cleared, states)
            }
            // No mode yet: let the renderer decide.
            Err(_) => (true, Default::default()),
        }
    }

    /// The next [`SceneChanges::changed`] reports a change: the screen may
    /// not show the last frame (a failed render or flip, another DRM master
    /// in between).
    pub fn forget(&mut self, output: &smithay::output::Output) {
        *self = SceneChanges::new(output);
    }
}

/// A screenshot in RGBA8, row-major, no padding.
pub struct Screenshot {
    pub width: u32,
    pub height: u32,
    pub rgba: Vec<u8>,
}

/// Read a render target (an output's offscreen buffer) back as RGBA.
pub fn read_target<E, T>(
    renderer: &mut crate::buffer::import::QuayRenderer<E>,
    target: &mut T,
) -> Result<Screenshot, String>
where
    E: crate::buffer::import::Engine,
    crate::buffer::import::QuayRenderer<E>: smithay::backend::renderer::Bind<T>,
{
    use smithay::backend::renderer::{Bind, ExportMem, Texture};
    let fb = renderer.bind(target).map_err(|e| format!("{e:?}"))?;
    let (w, h) = (fb.width() as i32, fb.height() as i32);
    // ABGR8888 is R,G,B,A in memory on little-endian: PNG's RGBA.
    let mapping = renderer
        .copy_framebuffer(
            &fb,
            smithay::utils::Rectangle::from_size((w, h).into()),
            smithay::backend::allocator::Fourcc::Abgr8888,
        )
        .map_err(|e| format!("{e:?}"))?;
    // Not `TextureMapping::flipped`: smithay's GLES mapping always says
    // true (smithay-0.7.0 src/backend/renderer/gles/texture.rs:217), but a
    // frame drawn with Transform::Normal into an offscreen target already
    // has its top row at GL's row 0, so ReadPixels returns it top first
    // (tests/gles.rs checks the top-left pixel).
    let bytes = renderer.map_texture(&mapping).map_err(|e| format!("{e:?}"))?;
    Ok(Screenshot::from_rows(w as u32, h as u32, bytes))
}

impl Screenshot {
    /// From `height` rows of RGBA pixels whose stride may exceed `width * 4`.
    pub fn from_rows(width: u32, height: u32, bytes: &[u8]) -> Screenshot {
        let row = width as usize * 4;
        let stride = bytes.len() / (height.max(1) as usize);
        let mut rgba = Vec::with_capacity(row * height as usize);
        for y in 0..height as usize {
            rgba.extend_from_slice(&bytes[y * stride..y * stride + row]);
        }
        Screenshot { width, height, rgba }
    }
}

pub enum Backend {
    Headless(Box<Headless>),
    Winit(Box<Winit>),
    Udev(Box<Udev>),
}

impl Backend {
    pub fn name(&self) -> &'static str {
        match self {
            Backend::Headless(_) => "headless",
            Backend::Winit(_) => "winit",
            Backend::Udev(_) => "udev",
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

    pub fn udev(&mut self) -> Option<&mut Udev> {
        match self {
            Backend::Udev(u) => Some(u),
            _ => None,
        }
    }

    /// Render `output` now. Every repaint, whatever drives it (headless's
    /// frame clock, udev's repaint slot, winit's redraw), comes through
    /// here and then through the one frame path, `crate::render`'s
    /// [`frame_rendered`](crate::render::frame_rendered) and
    /// [`frame_presented`](crate::render::frame_presented). Returns whether
    /// a frame was drawn (udev: queued, or a flip still pending).
    pub fn render(&mut self, core: &mut crate::Core, output: &smithay::output::Output) -> bool {
        match self {
            Backend::Headless(h) => h.render(core, output),
            Backend::Udev(u) => u.render(core, output),
            Backend::Winit(w) => w.render(core, output),
        }
    }

    /// The device dma-buf clients should allocate on (feedback's main device).
    pub fn main_device(&self) -> Option<(libc::dev_t, Option<std::path::PathBuf>)> {
        match self {
            Backend::Udev(u) => u.main_device(),
            _ => crate::buffer::find_main_device(),
        }
    }

    /// Per-surface dma-buf feedback, where it differs from the default.
    pub fn surface_feedback(&self) -> Option<smithay::wayland::dmabuf::DmabufFeedback> {
        match self {
            Backend::Udev(u) => udev::feedback(u),
            _ => None,
        }
    }

    /// The import path of the renderer in use (every backend draws through
    /// Quay's import cache).
    pub fn imports(&mut self) -> &mut dyn crate::buffer::import::Imports {
        match self {
            Backend::Headless(h) => h.imports(),
            Backend::Udev(u) => u.imports(),
            Backend::Winit(w) => w.renderer_mut(),
        }
    }

    /// Import-cache and upload counters, and the renderer's name.
    pub fn import_stats(&mut self) -> crate::buffer::import::ImportStats {
        self.imports().stats()
    }

    /// KMS framebuffer, GEM handle and export counters: the udev backend's
    /// device table; zero elsewhere (no KMS, nothing exported).
    pub fn kms_stats(&self) -> crate::buffer::kms::KmsStats {
        match self {
            Backend::Udev(u) => u.kms_stats(),
            _ => Default::default(),
        }
    }

    /// Switch `output` to `mode` (udev: one its connector lists; headless:
    /// any). `test_only`: only say whether it could.
    pub fn set_mode(
        &mut self,
        core: &mut crate::Core,
        output: &smithay::output::Output,
        mode: smithay::output::Mode,
        test_only: bool,
    ) -> Result<(), String> {
        match self {
            Backend::Headless(h) => h.set_mode(output, mode, test_only),
            Backend::Udev(u) => u.set_mode(core, output, mode, test_only),
            Backend::Winit(_) => Err(format!(
                "{}: winit's output follows its window; resize the window",
                output.name()
            )),
        }
    }

    /// Switch virtual terminal (session backends only; elsewhere a no-op).
    pub fn change_vt(&mut self, vt: i32) {
        if let Backend::Udev(u) = self {
            u.change_vt(vt);
        }
    }

    /// The formats the renderer can import from dma-bufs.
    pub fn dmabuf_formats(&mut self) -> Vec<Format> {
        match self {
            Backend::Headless(h) => h.dmabuf_formats(),
            Backend::Winit(w) => w.dmabuf_formats(),
            Backend::Udev(u) => u.dmabuf_formats(),
        }
    }

    /// Import a client dma-buf into the renderer; an error means the client
    /// gets `failed`.
    pub fn import_dmabuf(&mut self, dmabuf: &Dmabuf) -> Result<(), crate::buffer::error::ImportError> {
        self.imports().import_client(dmabuf).map(|_| ())
    }

    /// What an output shows now. `output`: its name, or the first output.
    /// Whether [`Backend::screenshot`] can read outputs back.
    pub fn can_screenshot(&self) -> bool {
        !matches!(self, Backend::Winit(_))
    }

    pub fn screenshot(&mut self, core: &crate::Core, output: Option<&str>) -> Result<Screenshot, String> {
        match self {
            Backend::Headless(h) => h.screenshot(output),
            Backend::Udev(u) => u.screenshot(core, output),
            Backend::Winit(_) => Err("screenshots are not implemented on the winit backend; \
                 take one of the host window instead"
                .into()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::SceneChanges;
    use smithay::{
        backend::renderer::{
            element::{solid::SolidColorRenderElement, Id, Kind},
            utils::CommitCounter,
        },
        output::{Mode, Output, PhysicalProperties, Subpixel},
        utils::Rectangle,
    };

    fn output() -> Output {
        let output = Output::new(
            "test".into(),
            PhysicalProperties {
                size: (0, 0).into(),
                subpixel: Subpixel::Unknown,
                make: "Quay".into(),
                model: "test".into(),
            },
        );
        let mode = Mode {
            size: (64, 48).into(),
            refresh: 60_000,
        };
        output.change_current_state(Some(mode), None, None, Some((0, 0).into()));
        output.set_preferred(mode);
        output
    }

    #[test]
    fn only_a_changed_scene_is_a_change() {
        let output = output();
        let mut changes = SceneChanges::new(&output);
        let id = Id::new();
        let mut commit = CommitCounter::default();
        let window = |at: (i32, i32), commit: CommitCounter| {
            [SolidColorRenderElement::new(
                id.clone(),
                Rectangle::new(at.into(), (16, 16).into()),
                commit,
                [0.5, 0.5, 0.5, 1.0],
                Kind::Unspecified,
            )]
        };
        let grey = [0.2, 0.2, 0.2, 1.0];
        assert!(
            changes.changed(&window((0, 0), commit), grey).0,
            "the first frame"
        );
        // What a swapchain's buffer age would redraw: the same scene.
        assert!(!changes.changed(&window((0, 0), commit), grey).0);
        assert!(!changes.changed(&window((0, 0), commit), grey).0);
        commit.increment();
        assert!(changes.changed(&window((0, 0), commit), grey).0, "a commit");
        assert!(!changes.changed(&window((0, 0), commit), grey).0);
        assert!(changes.changed(&window((8, 0), commit), grey).0, "a move");
        assert!(!changes.changed(&window((8, 0), commit), grey).0);
        // The lock's colour with the same elements.
        let locked = [0.0, 0.0, 0.0, 1.0];
        assert!(
            changes.changed(&window((8, 0), commit), locked).0,
            "the clear colour"
        );
        assert!(!changes.changed(&window((8, 0), commit), locked).0);
        assert!(
            changes.changed::<SolidColorRenderElement>(&[], locked).0,
            "a window gone"
        );
        assert!(!changes.changed::<SolidColorRenderElement>(&[], locked).0);
        // A frame drawn that did not reach the screen.
        changes.forget(&output);
        assert!(
            changes.changed::<SolidColorRenderElement>(&[], locked).0,
            "after forget"
        );
        // A new mode, even with nothing else changed.
        let mode = Mode {
            size: (32, 48).into(),
            refresh: 60_000,
        };
        output.change_current_state(Some(mode), None, None, None);
        assert!(
            changes.changed::<SolidColorRenderElement>(&[], locked).0,
            "a new size"
        );
    }
}
