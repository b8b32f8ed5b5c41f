//! What goes on screen, and what happens after a frame is presented.
//!
//! Backends own their renderers and targets; this module gives them one way
//! to draw the `Space` ([`output_elements`], [`render_space`]) and one frame
//! path after it: [`frame_rendered`] once a frame is drawn,
//! [`frame_presented`] once it is on screen. Headless, winit and udev all go
//! through both (headless and winit present at render time, udev at the
//! page flip), so pins, frame clocks, deadlines, frame callbacks,
//! presentation and dma-buf feedback and screencopy work the same on each.

use std::time::Duration;

use smithay::{
    backend::renderer::{
        damage::{Error as DamageError, OutputDamageTracker, RenderOutputResult},
        element::memory::MemoryRenderBufferRenderElement,
        element::{
            default_primary_scanout_output_compare,
            surface::{render_elements_from_surface_tree, WaylandSurfaceRenderElement},
            Kind, RenderElementStates,
        },
        ImportAll, ImportMem, Renderer, Texture,
    },
    desktop::utils::{
        surface_presentation_feedback_flags_from_states, surface_primary_scanout_output,
        update_surface_primary_scanout_output, OutputPresentationFeedback,
    },
    output::Output,
    reexports::wayland_protocols::wp::presentation_time::server::wp_presentation_feedback,
    reexports::wayland_server::protocol::wl_surface::WlSurface,
    utils::{Monotonic, Physical, Rectangle},
    wayland::presentation::Refresh,
};

use crate::{buffer::import::Imports, state::Core};

/// Surfaces not on this output still get a frame callback at most this often,
/// so a hidden client does not spin but does not stall either.
const OFFSCREEN_FRAME_THROTTLE: Duration = Duration::from_secs(1);

/// Everything `output` shows, topmost first: the cursor, then (locked) the
/// lock surface alone, or a drag's icon, the top and overlay layers, the
/// windows (with their popups and subsurfaces) and the background and
/// bottom layers, as
/// smithay's `space_render_elements` orders them (smithay-0.7.0
/// src/desktop/space/mod.rs:596-657). One list for every backend.
pub fn output_elements<R>(core: &Core, output: &Output, renderer: &mut R) -> Vec<OverlayElement<R>>
where
    R: Renderer + ImportAll + ImportMem,
    R::TextureId: Clone + Texture + Send + 'static,
{
    let mut elements = cursor_elements(core, output, renderer);
    elements.extend(scene_elements(core, output, renderer));
    elements
}

/// [`output_elements`] without the cursor: what a frame draws when a
/// cursor plane shows the cursor (udev). Topmost first: a drag's icon,
/// the top and overlay layers, the windows, the bottom and background
/// layers; while locked, the lock surface alone.
pub fn scene_elements<R>(core: &Core, output: &Output, renderer: &mut R) -> Vec<OverlayElement<R>>
where
    R: Renderer + ImportAll + ImportMem,
    R::TextureId: Clone + Texture + Send + 'static,
{
    let mut elements = Vec::new();
    if core.lock.is_locked() {
        elements.extend(lock_elements::<R, OverlayElement<R>>(core, output, renderer));
        return elements;
    }
    let Some(geo) = core.space.output_geometry(output) else {
        return elements;
    };
    elements.extend(dnd_icon_elements(core, output, renderer));
    layer_elements(output, true, renderer, &mut elements);
    window_elements(core, output, geo, renderer, &mut elements);
    layer_elements(output, false, renderer, &mut elements);
    elements
}

/// The layer surfaces of `output` above the windows (`upper`: top and
/// overlay) or below them (bottom and background), topmost first.
fn layer_elements<R>(output: &Output, upper: bool, renderer: &mut R, elements: &mut Vec<OverlayElement<R>>)
where
    R: Renderer + ImportAll + ImportMem,
    R::TextureId: Clone + Texture + Send + 'static,
{
    use smithay::{
        backend::renderer::element::AsRenderElements, utils::Scale, wayland::shell::wlr_layer::Layer,
    };
    let scale = output.current_scale().fractional_scale();
    let layers = crate::layers::layer_map_for_output(output);
    for surface in layers.layers().rev() {
        if matches!(surface.layer(), Layer::Background | Layer::Bottom) == upper {
            continue;
        }
        let Some(at) = layers.layer_geometry(surface).map(|g| g.loc) else {
            continue;
        };
        elements.extend(
            AsRenderElements::<R>::render_elements::<WaylandSurfaceRenderElement<R>>(
                surface,
                renderer,
                at.to_physical_precise_round(scale),
                Scale::from(scale),
                1.0,
            )
            .into_iter()
            .map(OverlayElement::Surface),
        );
    }
}

/// The space's windows on `output` (at `geo`), topmost first, as
/// `Space::render_elements_for_region` draws them (smithay-0.7.0
/// src/desktop/space/mod.rs:395), but an X11 window from the wl_surface
/// Quay found for it (`Core::x11_wl_surface`): smithay draws one only once
/// it paired the two itself.
fn window_elements<R>(
    core: &Core,
    output: &Output,
    geo: Rectangle<i32, smithay::utils::Logical>,
    renderer: &mut R,
    elements: &mut Vec<OverlayElement<R>>,
) where
    R: Renderer + ImportAll + ImportMem,
    R::TextureId: Clone + Texture + Send + 'static,
{
    use smithay::{backend::renderer::element::AsRenderElements, utils::Scale};
    let scale = output.current_scale().fractional_scale();
    for window in core.space.elements().rev() {
        let Some(loc) = core.space.element_location(window) else {
            continue;
        };
        if let Some(x11) = window.x11_surface() {
            let Some(wl) = core.x11_wl_surface(x11) else {
                continue;
            };
            if !geo.overlaps(Rectangle::new(loc, x11.geometry().size)) {
                continue;
            }
            elements.extend(
                render_elements_from_surface_tree::<R, WaylandSurfaceRenderElement<R>>(
                    renderer,
                    &wl,
                    (loc - geo.loc).to_physical_precise_round(scale),
                    Scale::from(scale),
                    1.0,
                    Kind::Unspecified,
                )
                .into_iter()
                .map(OverlayElement::Surface),
            );
            continue;
        }
        if !core.space.element_bbox(window).is_some_and(|b| geo.overlaps(b)) {
            continue;
        }
        let at = loc - window.geometry().loc - geo.loc;
        elements.extend(
            AsRenderElements::<R>::render_elements::<WaylandSurfaceRenderElement<R>>(
                window,
                renderer,
                at.to_physical_precise_round(scale),
                Scale::from(scale),
                1.0,
            )
            .into_iter()
            .map(OverlayElement::Surface),
        );
    }
}

/// What a frame's damage is cleared to: the lock's colour while locked,
/// else the configured background.
pub fn clear_colour(core: &Core) -> [f32; 4] {
    if core.lock.is_locked() {
        crate::lock::LOCKED_COLOUR
    } else {
        core.config.background.to_f32()
    }
}

/// Draw everything `output` shows ([`output_elements`]) into `framebuffer`,
/// with damage tracking. With `changes` (a target of several buffers drawn
/// at their age), nothing is drawn when nothing changed since the last
/// frame drawn ([`crate::backends::SceneChanges`]).
pub fn render_space<'d, R>(
    core: &Core,
    output: &Output,
    renderer: &mut R,
    framebuffer: &mut R::Framebuffer<'_>,
    age: usize,
    damage_tracker: &'d mut OutputDamageTracker,
    changes: Option<&mut crate::backends::SceneChanges>,
) -> Result<RenderOutputResult<'d>, DamageError<R::Error>>
where
    R: Renderer + ImportAll + ImportMem,
    R::TextureId: Clone + Texture + Send + 'static,
{
    let elements = output_elements(core, output, renderer);
    let clear = clear_colour(core);
    if let Some(changes) = changes {
        let (changed, states) = changes.changed(&elements, clear);
        if !changed {
            return Ok(RenderOutputResult {
                sync: smithay::backend::renderer::sync::SyncPoint::signaled(),
                damage: None,
                states,
            });
        }
    }
    damage_tracker.render_output(renderer, framebuffer, age, &elements, clear)
}

smithay::backend::renderer::element::render_elements! {
    /// What is drawn above the space: the cursor (a client's surface or a
    /// theme image) and, while locked, the lock surface.
    pub OverlayElement<R> where R: ImportAll + ImportMem;
    Surface=WaylandSurfaceRenderElement<R>,
    Memory=MemoryRenderBufferRenderElement<R>,
}

/// The pointer's cursor on `output`, topmost first: the surface the focused
/// client set (`wl_pointer.set_cursor`) at the pointer less its hotspot, or
/// the cursor theme's picture of a named shape (`wp_cursor_shape_v1`, the
/// default arrow). Nothing for a hidden cursor, a pointer on another
/// output, or before the pointer ever moved (a headless Quay has no cursor
/// until something moves it).
pub fn cursor_elements<R>(core: &Core, output: &Output, renderer: &mut R) -> Vec<OverlayElement<R>>
where
    R: Renderer + ImportAll + ImportMem,
    R::TextureId: Clone + Texture + Send + 'static,
{
    use smithay::input::pointer::CursorImageStatus;
    use smithay::reexports::wayland_server::Resource;
    let Some(local) = crate::cursor::pointer_on(core, output) else {
        return Vec::new();
    };
    let scale = output.current_scale().fractional_scale();
    match &core.pointer.cursor {
        CursorImageStatus::Hidden => Vec::new(),
        CursorImageStatus::Surface(surface) => {
            if !surface.is_alive() {
                return Vec::new();
            }
            let hotspot = crate::cursor::surface_hotspot(surface);
            surface_tree_at(
                renderer,
                surface,
                local - hotspot.to_f64(),
                scale,
                smithay::backend::renderer::element::Kind::Cursor,
            )
        }
        CursorImageStatus::Named(icon) => {
            let Some(image) = core.pointer.theme.image(*icon) else {
                return Vec::new();
            };
            let at = (local - image.hotspot.to_f64()).to_physical(scale);
            match MemoryRenderBufferRenderElement::from_buffer(
                renderer,
                at,
                &image.buffer,
                None,
                None,
                None,
                smithay::backend::renderer::element::Kind::Cursor,
            ) {
                Ok(e) => vec![OverlayElement::Memory(e)],
                Err(err) => {
                    tracing::debug!("cursor image not drawn: {err:?}");
                    Vec::new()
                }
            }
        }
    }
}

/// The icon of the drag in progress, at the pointer plus its offset, above
/// every window and layer (under the cursor). Not while locked: a lock
/// taken mid-drag shows nothing but the lock.
fn dnd_icon_elements<R>(core: &Core, output: &Output, renderer: &mut R) -> Vec<OverlayElement<R>>
where
    R: Renderer + ImportAll + ImportMem,
    R::TextureId: Clone + Texture + Send + 'static,
{
    use smithay::reexports::wayland_server::Resource;
    let Some(icon) = core.selection.dnd_icon.as_ref().filter(|i| i.surface.is_alive()) else {
        return Vec::new();
    };
    let Some(local) = crate::cursor::pointer_on(core, output) else {
        return Vec::new();
    };
    let scale = output.current_scale().fractional_scale();
    surface_tree_at(
        renderer,
        &icon.surface,
        local + icon.offset.to_f64(),
        scale,
        smithay::backend::renderer::element::Kind::Unspecified,
    )
}

/// A client surface tree with its top left at `at` (output-local, logical):
/// the cursor surface and a drag's icon, both placed from the pointer.
fn surface_tree_at<R>(
    renderer: &mut R,
    surface: &WlSurface,
    at: smithay::utils::Point<f64, smithay::utils::Logical>,
    scale: f64,
    kind: smithay::backend::renderer::element::Kind,
) -> Vec<OverlayElement<R>>
where
    R: Renderer + ImportAll + ImportMem,
    R::TextureId: Clone + Texture + Send + 'static,
{
    smithay::backend::renderer::element::surface::render_elements_from_surface_tree(
        renderer,
        surface,
        at.to_physical_precise_round(scale),
        scale,
        1.0,
        kind,
    )
}

/// While the session is locked: what `output` shows, its lock surface (on
/// [`crate::lock::LOCKED_COLOUR`]), or nothing.
pub fn lock_elements<R, E>(core: &Core, output: &Output, renderer: &mut R) -> Vec<E>
where
    R: Renderer + ImportAll,
    R::TextureId: Clone + Texture + 'static,
    E: From<WaylandSurfaceRenderElement<R>>,
{
    let Some(surface) = core.lock.surface_for(output) else {
        return Vec::new();
    };
    smithay::backend::renderer::element::surface::render_elements_from_surface_tree(
        renderer,
        surface.wl_surface(),
        (0, 0),
        output.current_scale().fractional_scale(),
        1.0,
        smithay::backend::renderer::element::Kind::Unspecified,
    )
}

/// One rendered frame on one output, as every backend reports it to
/// [`frame_rendered`].
pub struct Rendered<'a> {
    pub output: &'a Output,
    /// Which elements were drawn and how (from the render result).
    pub states: &'a RenderElementStates,
    /// The pixels the frame changed, in the output's coordinates (empty:
    /// none). Screen capture reports it, and `copy_with_damage` waits for
    /// some. A superset is fine (winit's buffer age, udev's whole output);
    /// a subset would leave stale pixels in a recording.
    pub damage: &'a [Rectangle<i32, Physical>],
    /// How long Quay took to draw it, for the frame clock's estimate: `None`
    /// when nothing was drawn, or when the backend gives the clock the
    /// frame's whole lead once it is queued (udev, `Core::frame_clock_lead`).
    pub took: Option<Duration>,
    /// The output's refresh interval.
    pub refresh: Duration,
    /// The vblank this frame is for (presentation clock): udev's target
    /// vblank, headless's tick. The next frame is shown a refresh later, so
    /// frame pacing releases the commit timers due by then
    /// (`Core::release_paced`). `None` (winit): now.
    pub vblank: Option<Duration>,
}

/// When and how a frame turned into light, for [`frame_presented`].
pub struct Presentation {
    /// On the presentation clock (`CLOCK_MONOTONIC`).
    pub time: Duration,
    pub refresh: Duration,
    /// Monotonic per-output frame counter (the vblank sequence on KMS).
    pub seq: u64,
    pub flags: wp_presentation_feedback::Kind,
}

/// The one post-render step of every backend, right after a frame for
/// `r.output` was drawn (whether or not it had damage): the frame clock's
/// render estimate, each surface's primary output, frame callbacks, the
/// fifo barriers and commit timers this frame releases (`crate::pacing`),
/// the presentation feedback to answer later, per-surface dma-buf feedback,
/// the output's pins on what it shows, and the screencopies waiting for
/// damage. Returns the feedback for [`frame_presented`]: at once on
/// headless and winit, at the page flip on udev; a udev frame with nothing
/// to draw flips nothing and ends in [`frame_skipped`] instead.
pub fn frame_rendered(
    core: &mut Core,
    imports: &mut dyn Imports,
    r: Rendered<'_>,
) -> OutputPresentationFeedback {
    let name = r.output.name();
    core.frame_clock_rendered(&name, r.refresh, r.took);
    let time = core.now();
    let feedback = after_render(core, r.output, r.states, time);
    core.release_paced(r.output, r.refresh, r.vblank);
    send_surface_feedback(core, r.output);
    imports.pin_shown(core, r.output);
    if !r.damage.is_empty() {
        core.output_damaged(r.output, r.damage);
    }
    // What is on screen may have changed: idle inhibitors count only there.
    core.update_idle_inhibit();
    feedback
}

/// The second half of the frame path: the frame drawn for `output` is on
/// screen. Answers its presentation feedback (`None` when the frame that
/// flipped carried none), moves the output's frame clock (which sends the
/// deadline hints for the next vblank) and lets the cache drop what the
/// frame before no longer holds.
pub fn frame_presented(
    core: &mut Core,
    imports: &mut dyn Imports,
    output: &Output,
    feedback: Option<OutputPresentationFeedback>,
    p: Presentation,
) {
    if let Some(mut feedback) = feedback {
        feedback.presented::<_, Monotonic>(p.time, Refresh::Fixed(p.refresh), p.seq, p.flags);
    }
    core.frame_clock_presented(&output.name(), p.refresh, p.time);
    core.stats.frames_presented_total += 1;
    imports.cleanup();
}

/// The end of a frame that [`frame_rendered`] saw but that will not be
/// presented (udev: nothing to draw, or queueing it failed): the cache's
/// cleanup [`frame_presented`] would have run.
pub fn frame_skipped(imports: &mut dyn Imports) {
    imports.cleanup();
}

/// Per-surface dma-buf feedback after a render: a fullscreen toplevel is a
/// direct-scanout candidate and gets the scanout tranche first; everything
/// else the default (render) feedback. Only udev has a scanout tranche
/// (`DmabufFeedbacks::surface`); elsewhere there is nothing to send. A
/// surface's first feedback (on `get_surface_feedback`) is always the
/// default: weston-simple-dmabuf-feedback asserts exactly that, then
/// reallocates from the scanout tranche. smithay only sends when the
/// choice changed (smithay-0.7.0 src/wayland/dmabuf/mod.rs:513
/// `set_feedback`).
fn send_surface_feedback(core: &Core, output: &Output) {
    let Some(fbs) = core.dmabuf.feedbacks.as_ref() else {
        return;
    };
    let Some(scanout) = fbs.surface.as_ref() else {
        return;
    };
    for window in core.space.elements() {
        let fullscreen = window.toplevel().is_some_and(|t| {
            t.current_state().states.contains(
                smithay::reexports::wayland_protocols::xdg::shell::server::xdg_toplevel::State::Fullscreen,
            )
        });
        let chosen = if fullscreen { scanout } else { &fbs.default };
        window.send_dmabuf_feedback(output, surface_primary_scanout_output, |_, _| chosen);
    }
}

/// After a frame was rendered for `output`: record each surface's primary
/// output, fire the frame callbacks of the surfaces shown there (once per
/// frame), and collect the presentation feedback of the surfaces in it, to be
/// answered when the frame turns into light ([`OutputPresentationFeedback::presented`]).
///
/// Part of [`frame_rendered`].
fn after_render(
    core: &mut Core,
    output: &Output,
    states: &RenderElementStates,
    time: Duration,
) -> OutputPresentationFeedback {
    let mut feedback = OutputPresentationFeedback::new(output);
    windows_after_render(core, output, states, time, &mut feedback);
    layers_after_render(output, states, time, &mut feedback);
    x11_after_render(core, output, states, time);
    if core.lock.is_locked() {
        let outputs: Vec<Output> = core.space.outputs().cloned().collect();
        core.lock.drawn(output, &outputs);
    }
    // Surfaces drawn on this output alone, unthrottled: the cursor, a drag's
    // icon, the lock surface.
    let on_this_output = |surface: &WlSurface| {
        smithay::desktop::utils::send_frames_surface_tree(surface, output, time, None, |_, _| {
            Some(output.clone())
        });
    };
    if let smithay::input::pointer::CursorImageStatus::Surface(cursor) = &core.pointer.cursor {
        on_this_output(cursor);
    }
    if let Some(icon) = &core.selection.dnd_icon {
        on_this_output(&icon.surface);
    }
    if let Some(lock) = core.lock.surface_for(output) {
        on_this_output(lock.wl_surface());
    }
    feedback
}

/// [`after_render`] for the windows: primary outputs, the presentation
/// feedback of those on `output`, frame callbacks.
fn windows_after_render(
    core: &Core,
    output: &Output,
    states: &RenderElementStates,
    time: Duration,
    feedback: &mut OutputPresentationFeedback,
) {
    for window in core.space.elements() {
        window.with_surfaces(|surface, data| {
            update_surface_primary_scanout_output(
                surface,
                output,
                data,
                states,
                default_primary_scanout_output_compare,
            );
        });
    }
    for window in core.space.elements() {
        if core.space.outputs_for_element(window).contains(output) {
            window.take_presentation_feedback(feedback, surface_primary_scanout_output, |surface, _| {
                surface_presentation_feedback_flags_from_states(surface, states)
            });
        }
    }
    for window in core.space.elements() {
        window.send_frame(
            output,
            time,
            Some(OFFSCREEN_FRAME_THROTTLE),
            surface_primary_scanout_output,
        );
    }
}

/// [`after_render`] for the output's layer surfaces (panels, wallpapers,
/// launchers) and their popups, as for the windows: a GTK panel draws its
/// next frame only when it is called back (WLCS's layer-shell tests wait
/// for that callback).
fn layers_after_render(
    output: &Output,
    states: &RenderElementStates,
    time: Duration,
    feedback: &mut OutputPresentationFeedback,
) {
    let layers = crate::layers::layer_map_for_output(output);
    for layer in layers.layers() {
        layer.with_surfaces(|surface, data| {
            update_surface_primary_scanout_output(
                surface,
                output,
                data,
                states,
                default_primary_scanout_output_compare,
            );
        });
        layer.take_presentation_feedback(feedback, surface_primary_scanout_output, |surface, _| {
            surface_presentation_feedback_flags_from_states(surface, states)
        });
        layer.send_frame(
            output,
            time,
            Some(OFFSCREEN_FRAME_THROTTLE),
            surface_primary_scanout_output,
        );
    }
}

/// [`after_render`] for X11 windows whose surface smithay has not paired
/// (drawn by Quay's own pairing, [`Core::x11_wl_surface`]).
fn x11_after_render(core: &Core, output: &Output, states: &RenderElementStates, time: Duration) {
    let x11: Vec<WlSurface> = core
        .space
        .elements()
        .filter_map(|w| w.x11_surface())
        .filter(|x| x.wl_surface().is_none())
        .filter_map(|x| core.x11_wl_surface(x))
        .collect();
    for wl in &x11 {
        smithay::desktop::utils::with_surfaces_surface_tree(wl, |surface, data| {
            update_surface_primary_scanout_output(
                surface,
                output,
                data,
                states,
                default_primary_scanout_output_compare,
            );
        });
        smithay::desktop::utils::send_frames_surface_tree(
            wl,
            output,
            time,
            Some(OFFSCREEN_FRAME_THROTTLE),
            surface_primary_scanout_output,
        );
    }
}

impl crate::buffer::import::ShownSurfaces for Core {
    /// What [`output_elements`] draws from client surfaces: the windows on
    /// the output (X11 ones through Quay's own pairing), its layer
    /// surfaces, its lock surface, the cursor surface, a drag's icon.
    fn for_each_shown(&self, output: &Output, f: &mut dyn FnMut(&smithay::wayland::compositor::SurfaceData)) {
        use smithay::desktop::utils::with_surfaces_surface_tree;
        let mut walk = |surface: &WlSurface| with_surfaces_surface_tree(surface, |_, data| f(data));
        for window in self.space.elements_for_output(output) {
            match window.x11_surface() {
                Some(x11) => {
                    if let Some(wl) = self.x11_wl_surface(x11) {
                        walk(&wl);
                    }
                }
                None => {
                    if let Some(t) = window.toplevel() {
                        walk(t.wl_surface());
                    }
                    // Popups are their own surface trees.
                    if let Some(t) = window.toplevel() {
                        for (popup, _) in smithay::desktop::PopupManager::popups_for_surface(t.wl_surface()) {
                            walk(popup.wl_surface());
                        }
                    }
                }
            }
        }
        let layers = crate::layers::layer_map_for_output(output);
        for layer in layers.layers() {
            walk(layer.wl_surface());
        }
        drop(layers);
        if let Some(lock) = self.lock.surface_for(output) {
            walk(lock.wl_surface());
        }
        if let smithay::input::pointer::CursorImageStatus::Surface(cursor) = &self.pointer.cursor {
            walk(cursor);
        }
        if let Some(icon) = &self.selection.dnd_icon {
            walk(&icon.surface);
        }
    }
}
