//! Protocols smithay does not implement, one module per protocol in
//! smithay's `XState` + `Dispatch` shape, generic over the compositor state.

pub mod explicit_sync;
pub mod export_dmabuf;
pub mod foreign_toplevel;
pub mod output_management;
pub mod screencopy;
pub mod virtual_pointer;

/// Global data that decides which clients see a global (`GlobalDispatch::can_view`):
/// the privileged globals are hidden from clients that connected through a
/// sandbox's `wp_security_context_v1`.
pub struct GlobalFilter(pub Box<dyn Fn(&smithay::reexports::wayland_server::Client) -> bool + Send + Sync>);

impl std::fmt::Debug for GlobalFilter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("GlobalFilter")
    }
}
