//! Protocols smithay does not implement, one module per protocol in
//! smithay's `XState` + `Dispatch` shape, generic over the compositor state.

pub mod explicit_sync;
pub mod export_dmabuf;
pub mod screencopy;
