//! The glue between protocol handlers and each client's budget
//! (`crate::limits`): find a client's budget, charge it or disconnect the
//! client, give a charge back. All on the event-loop thread.

use smithay::reexports::wayland_server::{backend::ClientId, Client, DisplayHandle};

use crate::{
    limits::{BudgetExceeded, ClientBudget},
    state::ClientState,
    State,
};

/// The budget of `client`: every client is inserted with `ClientState`,
/// but Xwayland, whose budget is in smithay's client data
/// (`crate::xwayland`).
pub(crate) fn budget(client: &Client) -> Option<&ClientBudget> {
    if let Some(x) = client.get_data::<smithay::xwayland::XWaylandClientData>() {
        return x.user_data().get::<ClientBudget>();
    }
    client.get_data::<ClientState>().map(|d| &d.budget)
}

/// `f` on the budget of the client `id`, if it is still there (a client
/// that is gone took its budget with it).
pub(crate) fn with_budget_of(dh: &DisplayHandle, id: &ClientId, f: impl FnOnce(&ClientBudget)) {
    if let Ok(data) = dh.backend_handle().get_client_data(id.clone()) {
        if let Some(c) = data.downcast_ref::<ClientState>() {
            f(&c.budget);
        } else if let Some(b) = data
            .downcast_ref::<smithay::xwayland::XWaylandClientData>()
            .and_then(|x| x.user_data().get::<ClientBudget>())
        {
            f(b);
        }
    }
}

/// Give back a charge of the client `id`.
pub(crate) fn release_by_id(dh: &DisplayHandle, id: &ClientId, fds: u64, bytes: u64) {
    with_budget_of(dh, id, |b| b.release(fds, bytes));
}

/// Give back one object of the client `id`.
pub(crate) fn release_object_by_id(dh: &DisplayHandle, id: &ClientId) {
    with_budget_of(dh, id, |b| b.release_object());
}

/// Run a charge (or check) `f` on `client`'s budget; if it passes a limit,
/// disconnect the client for it. `false`: the request must not be carried out.
pub(crate) fn charge_with(
    state: &mut State,
    client: &Client,
    f: impl FnOnce(&ClientBudget) -> Result<(), BudgetExceeded>,
) -> bool {
    charge_core_with(&mut state.core, client, f)
}

/// [`charge_with`] where only `Core` is at hand.
pub(crate) fn charge_core_with(
    core: &mut crate::state::Core,
    client: &Client,
    f: impl FnOnce(&ClientBudget) -> Result<(), BudgetExceeded>,
) -> bool {
    let Some(budget) = budget(client) else {
        return true;
    };
    match f(budget) {
        Ok(()) => true,
        Err(err) => {
            core.stats.clients_over_budget_total += 1;
            crate::limits::disconnect_over_budget(client, &core.display_handle, &err);
            false
        }
    }
}

/// Charge `fds` and `bytes` to `client` (see [`charge_with`]).
pub(crate) fn charge(state: &mut State, client: &Client, what: &'static str, fds: u64, bytes: u64) -> bool {
    charge_with(state, client, |b| b.try_charge(what, fds, bytes))
}

/// Charge one object to `client` (see [`charge_with`]).
pub(crate) fn charge_object(state: &mut State, client: &Client, what: &'static str) -> bool {
    charge_with(state, client, |b| b.try_charge_object(what))
}
