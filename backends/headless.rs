//! Headless backend: virtual outputs rendered into memory, with pixman or
//! with GLES on an EGL device (Mesa's software device on hosts without a
//! GPU: `crate::buffer::gles::device_renderer`).
//!
//! Each output has an offscreen target as its "scanout" buffer (a pixman
//! image, or a GLES renderbuffer) and a frame clock:
//! a calloop timer at the configured refresh rate. Every tick renders the
//! space with damage tracking into the image and counts as a presented frame
//! (`wp_presentation_feedback` gets the tick's time on the monotonic clock,
//! the refresh interval and a per-output sequence number). Screenshots read
//! the image, so they show exactly what the last presented frame held.

use std::time::{Duration, Instant};

use smithay::{
    backend::{
        allocator::{Format, Fourcc},
        renderer::{
            damage::OutputDamageTracker, element::RenderElementStates, gles::GlesRenderbuffer, Bind,
            ImportDma, Offscreen,
        },
    },
    output::{Mode, Output, PhysicalProperties, Subpixel},
    reexports::{
        calloop::timer::{TimeoutAction, Timer},
        pixman,
        wayland_protocols::wp::presentation_time::server::wp_presentation_feedback,
    },
    utils::{Physical, Rectangle, Transform},
};
use tracing::{error, info, warn};

use super::Screenshot;
use crate::{
    buffer::{
        gles::GlesQuay,
        import::{Engine, Imports, QuayRenderer},
        pixman::PixmanQuay,
    },
    render::{frame_presented, frame_rendered, render_space, Presentation, Rendered},
    state::Core,
    State,
};

pub struct HeadlessOutput {
    pub output: Output,
    damage_tracker: OutputDamageTracker,
    /// Age of `target`'s contents for the damage tracker: 0 until the first
    /// frame, then 1 (the same image is drawn into every frame).
    age: usize,
    refresh: Duration,
    seq: u64,
    /// The virtual vblank of the last tick (when the timer was due; it
    /// fires at or after that): what frame pacing counts from
    /// (`Rendered::vblank`).
    last_vblank: Option<Instant>,
}

/// The renderer and one offscreen target per output, in output order.
enum Engines {
    Pixman(Box<PixmanQuay>, Vec<pixman::Image<'static, 'static>>),
    Gles(Box<GlesQuay>, Vec<GlesRenderbuffer>),
}

impl Engines {
    /// A new offscreen target of `w`x`h` for output `idx`: appended for a
    /// new output, in place of the old one for an existing one.
    fn set_target(&mut self, idx: usize, (w, h): (i32, i32)) -> Result<(), String> {
        fn put<T>(targets: &mut Vec<T>, idx: usize, target: T) {
            match targets.get_mut(idx) {
                Some(slot) => *slot = target,
                None => targets.push(target),
            }
        }
        let fail = |e: &dyn std::fmt::Debug| format!("cannot allocate a {w}x{h} output target: {e:?}");
        match self {
            Engines::Pixman(r, targets) => {
                let t = r
                    .create_buffer(Fourcc::Xrgb8888, (w, h).into())
                    .map_err(|e| fail(&e))?;
                put(targets, idx, t);
            }
            Engines::Gles(r, targets) => {
                let t = r
                    .create_buffer(Fourcc::Abgr8888, (w, h).into())
                    .map_err(|e| fail(&e))?;
                put(targets, idx, t);
            }
        }
        Ok(())
    }
}

pub struct Headless {
    engines: Engines,
    outputs: Vec<HeadlessOutput>,
}

/// Render `out` into `target`: the element states and whether anything
/// changed, on success.
fn draw<E, T>(
    renderer: &mut QuayRenderer<E>,
    target: &mut T,
    core: &mut Core,
    out: &mut HeadlessOutput,
) -> Option<(RenderElementStates, Vec<Rectangle<i32, Physical>>)>
where
    E: Engine,
    QuayRenderer<E>: Bind<T>
        + smithay::backend::renderer::RendererSuper<TextureId = crate::buffer::import::QuayTexture<E>>,
{
    renderer.prepare(core, &out.output);
    let mut fb = match renderer.bind(target) {
        Ok(fb) => fb,
        Err(err) => {
            error!("binding the headless target failed: {err:?}");
            return None;
        }
    };
    match render_space(
        core,
        &out.output,
        renderer,
        &mut fb,
        out.age,
        &mut out.damage_tracker,
        // Age 1 on one image: the tracker draws only what changed.
        None,
    ) {
        Ok(result) => {
            let damage = result.damage.cloned().unwrap_or_default();
            Some((result.states, damage))
        }
        Err(err) => {
            // A client buffer the renderer chokes on must not end the
            // session; the frame is skipped and retried next tick.
            warn!("rendering {} failed: {err:?}", out.output.name());
            None
        }
    }
}

impl Headless {
    /// Create the renderer and one virtual output per `[[headless.output]]`,
    /// laid out left to right, each with its own frame-clock timer.
    /// `gles`: a GLES renderer on an EGL device, if the caller chose one;
    /// pixman otherwise.
    pub fn new(
        core: &mut Core,
        gles: Option<(smithay::backend::renderer::gles::GlesRenderer, bool)>,
    ) -> anyhow::Result<Headless> {
        let budget = crate::buffer::budget(&core.config.memory);
        let mut engines = match gles {
            // A software device gets no client dma-bufs (module doc of
            // crate::buffer::gles): they are uploaded.
            Some((renderer, software)) => Engines::Gles(
                Box::new(GlesQuay::new_gles(renderer, budget, !software)),
                Vec::new(),
            ),
            None => Engines::Pixman(
                Box::new(
                    PixmanQuay::new_pixman(budget).map_err(|e| anyhow::anyhow!("pixman renderer: {e:?}"))?,
                ),
                Vec::new(),
            ),
        };
        let mut outputs = Vec::new();
        let mut x = 0;
        for (i, cfg) in core.config.headless.outputs.clone().iter().enumerate() {
            let name = cfg.name.clone().unwrap_or_else(|| format!("HEADLESS-{}", i + 1));
            // `[[output]] mode` over `[[headless.output]]`'s size and refresh.
            let configured = core.config.output_settings(&name).and_then(|s| s.mode);
            let (w, h) = match configured {
                Some(m) => (m.width as i32, m.height as i32),
                None => (cfg.width.0 as i32, cfg.height.0 as i32),
            };
            let refresh_mhz = configured
                .and_then(|m| m.refresh_mhz())
                .unwrap_or_else(|| cfg.refresh.millihertz());
            let output = Output::new(
                name.clone(),
                PhysicalProperties {
                    size: (0, 0).into(),
                    subpixel: Subpixel::Unknown,
                    make: "Quay".into(),
                    model: "Headless".into(),
                },
            );
            let mode = Mode {
                size: (w, h).into(),
                refresh: refresh_mhz,
            };
            output.create_global::<State>(&core.display_handle);
            output.change_current_state(Some(mode), Some(Transform::Normal), None, Some((x, 0).into()));
            output.set_preferred(mode);
            core.space.map_output(&output, (x, 0));
            core.configure_new_output(&output);
            x += w;

            engines.set_target(i, (w, h)).map_err(|e| anyhow::anyhow!(e))?;
            let refresh = super::refresh_interval(mode.refresh);
            info!(output = name, w, h, refresh_mhz, "headless output");
            outputs.push(HeadlessOutput {
                damage_tracker: OutputDamageTracker::from_output(&output),
                output,
                age: 0,
                refresh,
                seq: 0,
                last_vblank: None,
            });

            let idx = i;
            core.loop_handle
                .insert_source(Timer::from_duration(refresh), move |deadline, _, state| {
                    if let Some(o) = state.backend.headless().and_then(|h| h.outputs.get_mut(idx)) {
                        o.last_vblank = Some(deadline);
                    }
                    state.headless_frame(idx);
                    // The output's refresh now (a mode switch changes it).
                    let refresh = state
                        .backend
                        .headless()
                        .and_then(|h| h.outputs.get(idx))
                        .map_or(refresh, |o| o.refresh);
                    // Next virtual vblank; after a stall (debugger, loaded
                    // host) skip missed ones instead of rendering a burst.
                    let now = Instant::now();
                    let mut next = deadline + refresh;
                    while next <= now {
                        next += refresh;
                    }
                    TimeoutAction::ToInstant(next)
                })
                .map_err(|e| anyhow::anyhow!("cannot register the frame clock: {e}"))?;
        }
        Ok(Headless { engines, outputs })
    }

    pub fn outputs(&self) -> impl Iterator<Item = &Output> {
        self.outputs.iter().map(|o| &o.output)
    }

    pub fn dmabuf_formats(&mut self) -> Vec<Format> {
        match &self.engines {
            Engines::Pixman(r, _) => r.dmabuf_formats().into_iter().collect(),
            Engines::Gles(r, _) => r.dmabuf_formats().into_iter().collect(),
        }
    }

    pub fn imports(&mut self) -> &mut dyn Imports {
        match &mut self.engines {
            Engines::Pixman(r, _) => r.as_mut(),
            Engines::Gles(r, _) => r.as_mut(),
        }
    }

    /// Render `output` and present it at once (the tick is this backend's
    /// vblank), through the one frame path (`crate::render`). Returns
    /// whether a frame was drawn.
    pub fn render(&mut self, core: &mut Core, output: &Output) -> bool {
        let Some(idx) = self.outputs.iter().position(|o| &o.output == output) else {
            return false;
        };
        let out = &mut self.outputs[idx];
        let started = std::time::Instant::now();
        let (imports, drawn): (&mut dyn Imports, _) = match &mut self.engines {
            Engines::Pixman(r, targets) => {
                let Some(target) = targets.get_mut(idx) else {
                    return false;
                };
                let drawn = draw(r, target, core, out);
                (r.as_mut(), drawn)
            }
            Engines::Gles(r, targets) => {
                let Some(target) = targets.get_mut(idx) else {
                    return false;
                };
                let drawn = draw(r, target, core, out);
                (r.as_mut(), drawn)
            }
        };
        let Some((states, damage)) = drawn else {
            return false;
        };
        out.age = 1;
        out.seq += 1;
        // The tick's vblank on the presentation clock.
        let vblank = out.last_vblank.map(|v| {
            core.now()
                .saturating_sub(Instant::now().saturating_duration_since(v))
        });
        let feedback = frame_rendered(
            core,
            imports,
            Rendered {
                output: &out.output,
                states: &states,
                damage: &damage,
                took: (!damage.is_empty()).then(|| started.elapsed()),
                refresh: out.refresh,
                vblank,
            },
        );
        frame_presented(
            core,
            imports,
            &out.output,
            Some(feedback),
            Presentation {
                time: core.now(),
                refresh: out.refresh,
                seq: out.seq,
                // Paced by Quay's own clock at the output's refresh: that is
                // this backend's vsync. No hardware clock, no zero-copy.
                flags: wp_presentation_feedback::Kind::Vsync,
            },
        );
        true
    }

    /// Switch `output` to `mode`: any size and refresh (the custom modes
    /// wlr-randr asks for too); a new target of that size, drawn whole next
    /// tick. `test_only`: only say whether it could.
    pub fn set_mode(&mut self, output: &Output, mode: Mode, test_only: bool) -> Result<(), String> {
        let idx = self
            .outputs
            .iter()
            .position(|o| &o.output == output)
            .ok_or_else(|| format!("no output {}", output.name()))?;
        let (w, h) = (mode.size.w, mode.size.h);
        if !(1..=16384).contains(&w) || !(1..=16384).contains(&h) || !(1..=1_000_000).contains(&mode.refresh)
        {
            return Err(format!("{}: no mode {w}x{h}@{} mHz", output.name(), mode.refresh));
        }
        if test_only {
            return Ok(());
        }
        self.engines.set_target(idx, (w, h))?;
        if !output.modes().contains(&mode) {
            output.add_mode(mode);
        }
        output.change_current_state(Some(mode), None, None, None);
        let out = &mut self.outputs[idx];
        out.damage_tracker = OutputDamageTracker::from_output(output);
        out.age = 0;
        out.refresh = super::refresh_interval(mode.refresh);
        info!(
            output = output.name(),
            w,
            h,
            refresh_mhz = mode.refresh,
            "mode set"
        );
        Ok(())
    }

    pub fn screenshot(&mut self, output: Option<&str>) -> Result<Screenshot, String> {
        let idx = match output {
            Some(name) => self.outputs.iter().position(|o| o.output.name() == name),
            None => (!self.outputs.is_empty()).then_some(0),
        }
        .ok_or_else(|| format!("no output named {output:?}"))?;
        let missing = || "the output has no target".to_string();
        match &mut self.engines {
            Engines::Pixman(r, targets) => super::read_target(r, targets.get_mut(idx).ok_or_else(missing)?),
            Engines::Gles(r, targets) => super::read_target(r, targets.get_mut(idx).ok_or_else(missing)?),
        }
    }
}

impl State {
    /// One tick of a headless output's frame clock.
    fn headless_frame(&mut self, idx: usize) {
        let State { backend, core } = self;
        let output = backend
            .headless()
            .and_then(|h| h.outputs.get(idx))
            .map(|o| o.output.clone());
        if let Some(output) = output {
            backend.render(core, &output);
        }
    }
}
