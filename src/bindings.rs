//! Key bindings: the config's `[bindings]` resolved to keysyms, and the
//! lookup the keyboard path does on every key press.
//!
//! A binding is matched on the pressed key's keysym at the layout's first
//! level, preferring a latin layout's (smithay's
//! `KeysymHandle::raw_latin_sym_or_raw_current_sym`,
//! smithay-0.7.0 src/input/keyboard/mod.rs:433), and on exactly the
//! modifiers it names: `Super+Shift+Q` is the Q key with Super and Shift
//! and nothing else, on a German or a Russian layout alike. Caps Lock and
//! Num Lock are ignored.

use quay_config::{Action, Config, KeyCombo, Mods};
use smithay::input::keyboard::{keysyms, xkb, Keysym, ModifiersState};

/// One binding, resolved.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Binding {
    pub combo: KeyCombo,
    pub sym: Keysym,
    pub action: Action,
}

/// The keysym a binding's key name means, lower-cased for letters (the
/// level a key press is matched on).
pub fn keysym_of(name: &str) -> Option<Keysym> {
    let mut sym = xkb::keysym_from_name(name, xkb::KEYSYM_NO_FLAGS);
    if sym.raw() == keysyms::KEY_NoSymbol {
        sym = xkb::keysym_from_name(name, xkb::KEYSYM_CASE_INSENSITIVE);
    }
    if sym.raw() == keysyms::KEY_NoSymbol {
        return None;
    }
    // Latin capitals to their lower case: a key's first level.
    let raw = sym.raw();
    if (keysyms::KEY_A..=keysyms::KEY_Z).contains(&raw) {
        sym = Keysym::new(raw + (keysyms::KEY_a - keysyms::KEY_A));
    }
    Some(sym)
}

/// The config's bindings resolved to keysyms; each that names no keysym is
/// left out and reported in the second list.
pub fn compile(config: &Config) -> (Vec<Binding>, Vec<String>) {
    let mut out = Vec::new();
    let mut errors = Vec::new();
    for (combo, action) in config.bindings() {
        match keysym_of(&combo.key) {
            Some(sym) => out.push(Binding { combo, sym, action }),
            None => errors.push(format!(
                "[bindings] {combo:?}: {:?} is not an XKB keysym name",
                combo.key
            )),
        }
    }
    (out, errors)
}

/// [`compile`], logging each binding left out.
pub fn compile_logged(config: &Config) -> Vec<Binding> {
    let (bindings, errors) = compile(config);
    for e in errors {
        tracing::warn!("{e}; that binding is ignored");
    }
    bindings
}

fn mods_of(state: &ModifiersState) -> Mods {
    Mods {
        logo: state.logo,
        ctrl: state.ctrl,
        alt: state.alt,
        shift: state.shift,
    }
}

/// The binding for a press of a key whose first-level keysym is `sym`
/// with `mods` held.
pub fn find<'a>(bindings: &'a [Binding], mods: &ModifiersState, sym: Keysym) -> Option<&'a Binding> {
    let mods = mods_of(mods);
    bindings.iter().find(|b| b.sym == sym && b.combo.mods == mods)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_resolve_like_xkbcommon() {
        assert_eq!(keysym_of("Return").map(|s| s.raw()), Some(keysyms::KEY_Return));
        assert_eq!(keysym_of("q").map(|s| s.raw()), Some(keysyms::KEY_q));
        assert_eq!(keysym_of("Q").map(|s| s.raw()), Some(keysyms::KEY_q));
        assert_eq!(keysym_of("return").map(|s| s.raw()), Some(keysyms::KEY_Return));
        assert_eq!(keysym_of("F1").map(|s| s.raw()), Some(keysyms::KEY_F1));
        assert_eq!(keysym_of("NoSuchKey"), None);
    }

    #[test]
    fn shipped_bindings_all_resolve_and_match_exact_modifiers() {
        let (bindings, errors) = compile(&Config::default());
        assert!(errors.is_empty(), "{errors:?}");
        assert!(bindings.len() >= 7);
        let super_only = ModifiersState {
            logo: true,
            ..Default::default()
        };
        let super_shift = ModifiersState {
            logo: true,
            shift: true,
            ..Default::default()
        };
        let ret = Keysym::new(keysyms::KEY_Return);
        let q = Keysym::new(keysyms::KEY_q);
        assert_eq!(
            find(&bindings, &super_only, ret).map(|b| &b.action),
            Some(&Action::Spawn("foot".into()))
        );
        assert_eq!(find(&bindings, &super_shift, ret), None);
        assert_eq!(
            find(&bindings, &super_shift, q).map(|b| &b.action),
            Some(&Action::Close)
        );
        assert_eq!(find(&bindings, &super_only, q), None);
        assert_eq!(find(&bindings, &ModifiersState::default(), ret), None);
        let with_caps = ModifiersState {
            caps_lock: true,
            ..super_only
        };
        assert!(find(&bindings, &with_caps, ret).is_some(), "Caps Lock is ignored");
    }

    #[test]
    fn an_unknown_keysym_is_reported_not_bound() {
        let c = Config::parse("[bindings]\n\"Super+Blorp\" = \"close\"\n", "t").unwrap();
        let (bindings, errors) = compile(&c);
        assert_eq!(errors.len(), 1, "{errors:?}");
        assert!(errors[0].contains("Blorp"));
        assert!(bindings.iter().all(|b| b.combo.key != "Blorp"));
    }
}
