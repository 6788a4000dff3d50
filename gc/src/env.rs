//! Environment overrides of a heap's configuration, read by `Heap::new`
//! (an operator's switch, like Go's `GOGC` and `GODEBUG=gctrace=1`: no
//! recompiling). An override wins over what the program set; a malformed
//! value is a clear `HeapError::Env`, never ignored.
//!
//! Invariants: [`SETTINGS`] names exactly the variables `apply_with`
//! reads (a test checks it); the first `Heap::new` of the process warns
//! once of every other `TMGC_*` variable, save the workspace's tools'
//! prefixes, and never fails for one.
//!
//! The table of variables is in the docs of `Config` (gc/src/heap.rs).

use crate::error::HeapError;
use crate::heap::{Config, MarkerKind};

/// Every override `apply_with` reads (a test checks the two agree).
pub(crate) const SETTINGS: [&str; 12] = [
    "TMGC_GCTRACE",
    "TMGC_GROWTH_FACTOR",
    "TMGC_MIN_TRIGGER_BYTES",
    "TMGC_HEAP_LIMIT",
    "TMGC_VERIFY",
    "TMGC_MARKER",
    "TMGC_GENERATIONAL",
    "TMGC_NURSERY_BYTES",
    "TMGC_SOLO",
    "TMGC_OWNED",
    "TMGC_GIVE_WAY",
    "TMGC_MARK_ASSISTS",
];

/// Prefixes of this workspace's tools' variables (the benchmarks', the
/// loom scripts'): not the heap's, and not typos.
const TOOL_PREFIXES: [&str; 2] = ["TMGC_BENCH_", "TMGC_LOOM_"];

/// `config` with every `TMGC_*` override of the table applied. The first
/// heap of the process also warns (`log::warn!`) of each `TMGC_*` variable
/// that is no setting: a misspelt override would otherwise do nothing.
pub(crate) fn apply(mut config: Config) -> Result<Config, HeapError> {
    static WARNED: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);
    if !WARNED.swap(true, std::sync::atomic::Ordering::Relaxed) {
        let names: Vec<String> = std::env::vars_os().filter_map(|(k, _)| k.into_string().ok()).collect();
        for name in unknown(names.iter().map(String::as_str)) {
            log::warn!("tmgc: {name} is not a setting and is ignored (the settings: {})", SETTINGS.join(", "));
        }
    }
    apply_with(&mut config, |k| std::env::var(k).ok())?;
    Ok(config)
}

/// The names among `names` that look like settings (`TMGC_`) but are none.
pub(crate) fn unknown<'a>(names: impl Iterator<Item = &'a str>) -> Vec<&'a str> {
    names
        .filter(|n| n.starts_with("TMGC_") && !SETTINGS.contains(n) && !TOOL_PREFIXES.iter().any(|p| n.starts_with(p)))
        .collect()
}

/// The same, reading variables through `get` (tests pass their own).
pub(crate) fn apply_with(config: &mut Config, get: impl Fn(&str) -> Option<String>) -> Result<(), HeapError> {
    let bad = |var: &'static str, value: &str, want: &'static str| HeapError::Env {
        var,
        value: value.to_string(),
        expected: want,
    };
    let flag = |var: &'static str| -> Result<Option<bool>, HeapError> {
        match get(var).as_deref().map(str::trim) {
            None => Ok(None),
            Some("1" | "true" | "on") => Ok(Some(true)),
            Some("0" | "false" | "off") => Ok(Some(false)),
            Some(v) => Err(bad(var, v, "1 or 0")),
        }
    };
    let bytes = |var: &'static str| -> Result<Option<u64>, HeapError> {
        let Some(v) = get(var) else { return Ok(None) };
        parse_bytes(v.trim()).map(Some).ok_or_else(|| bad(var, &v, "a byte count such as 67108864, 64M or 1G"))
    };
    if let Some(b) = flag("TMGC_GCTRACE")? {
        *config = config.clone().gctrace(b);
    }
    if let Some(v) = get("TMGC_GROWTH_FACTOR") {
        let f: f64 = v.trim().parse().map_err(|_| bad("TMGC_GROWTH_FACTOR", &v, "a positive number"))?;
        if !(f.is_finite() && f > 0.0) {
            return Err(bad("TMGC_GROWTH_FACTOR", &v, "a positive number"));
        }
        *config = config.clone().growth_factor(f);
    }
    if let Some(b) = bytes("TMGC_MIN_TRIGGER_BYTES")? {
        *config = config.clone().min_trigger_bytes(b);
    }
    if let Some(b) = bytes("TMGC_HEAP_LIMIT")? {
        *config = config.clone().heap_limit(b as usize);
    }
    if let Some(b) = flag("TMGC_VERIFY")? {
        *config = config.clone().verify(b);
    }
    if let Some(v) = get("TMGC_MARKER") {
        let m = match v.trim() {
            "serial" => MarkerKind::Serial,
            "assisted" => MarkerKind::Assisted,
            "parallel" => MarkerKind::Parallel(0),
            p => match p.strip_prefix("parallel:").and_then(|n| n.parse().ok()) {
                Some(n) => MarkerKind::Parallel(n),
                None => return Err(bad("TMGC_MARKER", &v, "serial, parallel, parallel:N or assisted")),
            },
        };
        *config = config.clone().marker(m);
    }
    if let Some(b) = flag("TMGC_GENERATIONAL")? {
        *config = config.clone().generational(b);
    }
    if let Some(b) = bytes("TMGC_NURSERY_BYTES")? {
        *config = config.clone().nursery_bytes(b);
    }
    if let Some(b) = flag("TMGC_SOLO")? {
        *config = config.clone().solo(b);
    }
    if let Some(b) = flag("TMGC_OWNED")? {
        *config = config.clone().owned(b);
    }
    if let Some(b) = flag("TMGC_GIVE_WAY")? {
        *config = config.clone().give_way(b);
    }
    if let Some(b) = flag("TMGC_MARK_ASSISTS")? {
        *config = config.clone().mark_assists(b);
    }
    Ok(())
}

/// `123`, `64K`, `64M`, `1G` (powers of 1,024).
fn parse_bytes(s: &str) -> Option<u64> {
    let (num, shift) = match s.as_bytes().last()? {
        b'K' | b'k' => (&s[..s.len() - 1], 10),
        b'M' | b'm' => (&s[..s.len() - 1], 20),
        b'G' | b'g' => (&s[..s.len() - 1], 30),
        _ => (s, 0),
    };
    num.parse::<u64>().ok()?.checked_mul(1 << shift)
}

#[cfg(all(test, not(tmgc_loom)))]
mod tests {
    use super::*;

    fn with(vars: &[(&str, &str)]) -> Result<Config, HeapError> {
        let mut c = Config::default();
        apply_with(&mut c, |k| vars.iter().find(|(n, _)| *n == k).map(|(_, v)| v.to_string()))?;
        Ok(c)
    }

    #[test]
    fn overrides_apply_and_bad_values_are_errors() {
        let c = with(&[
            ("TMGC_GROWTH_FACTOR", "2.5"),
            ("TMGC_MIN_TRIGGER_BYTES", "64M"),
            ("TMGC_MARKER", "parallel:3"),
            ("TMGC_GENERATIONAL", "1"),
            ("TMGC_VERIFY", "0"),
            ("TMGC_GCTRACE", "1"),
        ])
        .unwrap();
        assert_eq!(c.get_growth_factor(), 2.5);
        assert_eq!(c.get_min_trigger_bytes(), 64 << 20);
        assert_eq!(c.get_marker(), MarkerKind::Parallel(3));
        assert!(c.get_generational() && !c.get_verify() && c.get_gctrace());
        assert_eq!(parse_bytes("1G"), Some(1 << 30));
        let e = with(&[("TMGC_MARKER", "fast")]).unwrap_err();
        assert_eq!(e.to_string(), "TMGC_MARKER=fast: expected serial, parallel, parallel:N or assisted");
        assert!(with(&[("TMGC_GROWTH_FACTOR", "-1")]).is_err());
        assert!(with(&[("TMGC_HEAP_LIMIT", "lots")]).is_err());
        assert!(with(&[("TMGC_SOLO", "yes")]).is_err());
        assert!(with(&[]).is_ok());
    }

    #[test]
    fn the_settings_list_is_what_is_read_and_unknown_names_are_found() {
        let read = std::cell::RefCell::new(Vec::new());
        apply_with(&mut Config::default(), |k| {
            read.borrow_mut().push(k.to_string());
            None
        })
        .unwrap();
        let mut read = read.into_inner();
        read.sort();
        let mut listed: Vec<String> = SETTINGS.iter().map(|s| s.to_string()).collect();
        listed.sort();
        assert_eq!(read, listed);
        let names = ["TMGC_HEAP_LIMT", "TMGC_HEAP_LIMIT", "TMGC_BENCH_PUBLISH", "TMGC_LOOM_FULL", "PATH", "TMGC_"];
        assert_eq!(unknown(names.into_iter()), ["TMGC_HEAP_LIMT", "TMGC_"]);
    }
}
