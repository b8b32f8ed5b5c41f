//! Winit backend: Quay in a window of another compositor or X server, for
//! development. One output the size of the window, rendered with GLES
//! through Quay's own import cache (`crate::buffer::gles`), the same path
//! headless GLES takes: client buffers are cache entries, pinned while shown,
//! evicted under the budget.
//!
//! Frames are paced by a timer at 60 Hz that requests a redraw; each redraw
//! renders with damage tracking, swaps, and counts as presented at the time
//! of the swap (winit gives no presentation timestamps).

use std::time::Duration;

use smithay::{
    backend::{
        allocator::Format,
        renderer::{damage::OutputDamageTracker, ImportDma},
        winit::{self, WinitEvent, WinitGraphicsBackend},
    },
    output::{Mode, Output, PhysicalProperties, Subpixel},
    reexports::{
        calloop::timer::{TimeoutAction, Timer},
        wayland_protocols::wp::presentation_time::server::wp_presentation_feedback,
        winit::{dpi::LogicalSize, window::Window as WinitWindow},
    },
    utils::Transform,
};
use tracing::{info, warn};

use crate::{
    buffer::gles::{display_is_software, renderer_is_software, GlesQuay},
    render::{frame_presented, frame_rendered, render_space, Presentation, Rendered},
    state::Core,
    State,
};

const REFRESH_MHZ: i32 = 60_000;

pub struct Winit {
    backend: WinitGraphicsBackend<GlesQuay>,
    output: Output,
    damage_tracker: OutputDamageTracker,
    /// Whether anything changed since the last frame drawn: the EGL
    /// surface's buffer age would redraw the last change into the next
    /// buffer otherwise (`super::SceneChanges`).
    changes: super::SceneChanges,
    seq: u64,
}

impl Winit {
    pub fn new(core: &mut Core) -> anyhow::Result<Winit> {
        let size = LogicalSize::new(core.config.winit.width.0, core.config.winit.height.0);
        let attributes = WinitWindow::default_attributes()
            .with_title("Quay")
            .with_inner_size(size)
            .with_visible(true);
        let (mut backend, event_loop) = winit::init_from_attributes::<GlesQuay>(attributes)
            .map_err(|e| anyhow::anyhow!("cannot open a winit window: {e}"))?;
        let software = display_is_software(backend.renderer().engine().egl_context().display())
            || renderer_is_software(backend.renderer().engine_mut());
        backend
            .renderer()
            .set_budget(crate::buffer::budget(&core.config.memory));
        // llvmpipe gets no client dma-bufs: they are uploaded.
        backend.renderer().set_egl_import(!software);
        info!(software, "winit: GLES through the import cache");

        let mode = Mode {
            size: backend.window_size(),
            refresh: REFRESH_MHZ,
        };
        let output = Output::new(
            "winit".into(),
            PhysicalProperties {
                size: (0, 0).into(),
                subpixel: Subpixel::Unknown,
                make: "Quay".into(),
                model: "Winit".into(),
            },
        );
        output.create_global::<State>(&core.display_handle);
        // GLES renders upside down relative to the window: smithay's winit
        // example uses Flipped180 for the same reason.
        output.change_current_state(Some(mode), Some(Transform::Flipped180), None, Some((0, 0).into()));
        output.set_preferred(mode);
        core.space.map_output(&output, (0, 0));
        info!(size = ?mode.size, "winit output");

        core.loop_handle
            .insert_source(event_loop, |event, _, state| state.winit_event(event))
            .map_err(|e| anyhow::anyhow!("cannot register the winit event loop: {e}"))?;

        let interval = Duration::from_micros(1_000_000_000 / REFRESH_MHZ as u64);
        core.loop_handle
            .insert_source(Timer::from_duration(interval), move |_, _, state| {
                if let Some(w) = state.backend.winit() {
                    w.backend.window().request_redraw();
                }
                TimeoutAction::ToDuration(interval)
            })
            .map_err(|e| anyhow::anyhow!("cannot register the frame timer: {e}"))?;

        Ok(Winit {
            damage_tracker: OutputDamageTracker::from_output(&output),
            changes: super::SceneChanges::new(&output),
            backend,
            output,
            seq: 0,
        })
    }

    pub fn output(&self) -> &Output {
        &self.output
    }

    pub fn dmabuf_formats(&mut self) -> Vec<Format> {
        self.backend.renderer().dmabuf_formats().into_iter().collect()
    }

    pub fn renderer_mut(&mut self) -> &mut GlesQuay {
        self.backend.renderer()
    }

    /// Render the window's output, swap, and count the frame as presented
    /// at the swap, through the one frame path (`crate::render`). Returns
    /// whether a frame was drawn.
    pub fn render(&mut self, core: &mut Core, output: &Output) -> bool {
        if output != &self.output {
            return false;
        }
        let started = std::time::Instant::now();
        let age = self.backend.buffer_age().unwrap_or(0);
        self.backend.renderer().prepare(core, &self.output);
        let (states, damage) = {
            let (renderer, mut fb) = match self.backend.bind() {
                Ok(b) => b,
                Err(err) => {
                    warn!("binding the winit window failed: {err:?}");
                    return false;
                }
            };
            match render_space(
                core,
                &self.output,
                renderer,
                &mut fb,
                age,
                &mut self.damage_tracker,
                Some(&mut self.changes),
            ) {
                Ok(r) => (r.states, r.damage.cloned()),
                Err(err) => {
                    warn!("rendering failed: {err:?}");
                    self.changes.forget(&self.output);
                    return false;
                }
            }
        };
        let damaged = damage.as_ref().is_some_and(|d| !d.is_empty());
        // With a buffer age over 1 this is the damage since that older
        // buffer: more than this frame changed, which capture may report.
        let changed = damage.clone().unwrap_or_default();
        // Before the swap, which may wait for the host's vsync.
        let took = started.elapsed();
        if let Some(damage) = damage {
            if let Err(err) = self.backend.submit(Some(&damage)) {
                warn!("swapping buffers failed: {err:?}");
                self.changes.forget(&self.output);
                return false;
            }
        }
        self.seq += 1;
        let refresh = super::refresh_interval(REFRESH_MHZ);
        let feedback = frame_rendered(
            core,
            self.backend.renderer(),
            Rendered {
                output: &self.output,
                states: &states,
                damage: &changed,
                took: damaged.then_some(took),
                refresh,
                // No vblank: the swap is all winit says.
                vblank: None,
            },
        );
        frame_presented(
            core,
            self.backend.renderer(),
            &self.output,
            Some(feedback),
            Presentation {
                time: core.now(),
                refresh,
                seq: self.seq,
                // No vblank, no hardware clock: the swap is all winit says.
                flags: wp_presentation_feedback::Kind::empty(),
            },
        );
        true
    }
}

impl State {
    fn winit_event(&mut self, event: WinitEvent) {
        match event {
            WinitEvent::Resized { size, .. } => {
                if let Some(w) = self.backend.winit() {
                    w.output.change_current_state(
                        Some(Mode {
                            size,
                            refresh: REFRESH_MHZ,
                        }),
                        None,
                        None,
                        None,
                    );
                }
            }
            WinitEvent::Input(event) => self.process_input_event(event),
            WinitEvent::Redraw => {
                let State { backend, core } = self;
                let output = backend.winit().map(|w| w.output.clone());
                if let Some(output) = output {
                    backend.render(core, &output);
                }
            }
            WinitEvent::CloseRequested => self.core.loop_signal.stop(),
            WinitEvent::Focus(_) => {}
        }
    }
}
