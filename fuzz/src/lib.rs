//! Harnesses that need more than shardpeer-core: differential oracles against `sfv` (RFC 8941)
//! and `serde_json` (the JSON of `app_meta.json`).
//!
//! The other harnesses live in `shardpeer_core::fuzz_harness` (core/src/fuzz_harness.rs); these
//! cannot, because the core takes no dependency for fuzzing and both references need `std`.

#[cfg(test)]
mod seeds;

use serde_json::Value;
use sfv::{FieldType, Parser, Version};
use shardpeer_core::app_meta::{AppMeta, AppMetaError};
use shardpeer_core::sf::{self, Dictionary, List, SfError};

/// Longest input read (libFuzzer's default `-max_len`).
pub const MAX_INPUT: usize = 4096;

/// What one parser made of the input.
enum Verdict {
    /// Accepted, with the canonical serialisation.
    Accept(String),
    /// Refused, with the reason.
    Reject(String),
    /// Beyond shardpeer-core's documented limits (64 members, 64 inner-list items, 32
    /// parameters), which `sfv` does not have: no verdict to compare.
    OverLimit,
}

/// shardpeer-core's RFC 8941 parser against `sfv` (in its RFC 8941 mode, so RFC 9651 Dates and
/// Display Strings are errors in both) on the same bytes, as a dictionary, a list and an item:
/// both accept or both refuse, and when both accept, the canonical serialisations are equal.
/// Known, deliberate differences are filtered here narrowly and listed in fuzz/README.md.
pub fn sf_differential(data: &[u8]) {
    if data.len() > MAX_INPUT {
        return;
    }
    let text = std::str::from_utf8(data).ok();
    compare(
        "dictionary",
        data,
        ours(text, |t, out| {
            Dictionary::parse(t).map(|d| sf::serialize_dictionary(&d, out).map(str::to_owned))
        }),
        theirs::<sfv::Dictionary>(data),
    );
    compare(
        "list",
        data,
        ours(text, |t, out| {
            List::parse(t).map(|l| sf::serialize_list(&l, out).map(str::to_owned))
        }),
        theirs::<sfv::List>(data),
    );
    compare(
        "item",
        data,
        ours(text, |t, out| {
            sf::parse_item(t).map(|i| sf::serialize_item(&i, out).map(str::to_owned))
        }),
        theirs::<sfv::Item>(data),
    );
}

type Serialized = Result<String, shardpeer_core::sink::BufferTooSmall>;

fn ours(
    text: Option<&str>,
    parse: impl Fn(&str, &mut [u8]) -> Result<Serialized, SfError>,
) -> Verdict {
    // Bytes that are not UTF-8 are not ASCII either: never RFC 8941 text.
    let Some(text) = text else {
        return Verdict::Reject("not UTF-8".into());
    };
    let mut out = vec![0u8; 4 * text.len() + 64];
    match parse(text, &mut out) {
        Ok(canon) => Verdict::Accept(canon.expect("4 bytes per input byte suffice")),
        Err(SfError::TooManyMembers | SfError::TooManyParams) => Verdict::OverLimit,
        Err(e) => Verdict::Reject(format!("{e:?}")),
    }
}

fn theirs<T: FieldType>(data: &[u8]) -> Verdict {
    match Parser::new(data)
        .with_version(Version::Rfc8941)
        .parse::<T>()
    {
        // An empty list or dictionary serialises to nothing (`None`), as ours gives "".
        Ok(v) => Verdict::Accept(v.serialize().into().unwrap_or_default()),
        Err(e) => Verdict::Reject(e.to_string()),
    }
}

impl Verdict {
    fn describe(&self) -> String {
        match self {
            Verdict::Accept(canon) => format!("accepted, canonical {canon:?}"),
            Verdict::Reject(why) => format!("refused: {why}"),
            Verdict::OverLimit => "over shardpeer-core's limits".into(),
        }
    }
}

fn compare(kind: &str, data: &[u8], ours: Verdict, theirs: Verdict) {
    match (&ours, &theirs) {
        (Verdict::OverLimit, _) | (Verdict::Reject(_), Verdict::Reject(_)) => {}
        (Verdict::Accept(a), Verdict::Accept(b)) if a == b => {}
        _ => panic!(
            "{kind}: shardpeer-core and sfv disagree on {:?}\n  ours:   {}\n  theirs: {}",
            String::from_utf8_lossy(data),
            ours.describe(),
            theirs.describe()
        ),
    }
}

/// `AppMeta::parse` against `serde_json` (with `arbitrary_precision`, so that numbers beyond `f64`
/// are valid JSON as RFC 8259 says). Input: the JSON up to the first NUL (the format of the
/// `app_meta_acl` target, whose corpus this one shares).
///
/// - what shardpeer-core accepts is valid JSON, and its name, rule keys, access values, header
///   names and templates are exactly the strings `serde_json` decodes (escapes, surrogate pairs);
/// - what shardpeer-core calls invalid JSON (`InvalidJson`), `serde_json` refuses too, and what
///   `serde_json` refuses, shardpeer-core refuses (with any error).
///
/// Not compared: `TooDeep` (shardpeer-core stops at 16 levels, `serde_json` at 128) and the
/// other refusals, which are about content, not syntax.
pub fn app_meta_differential(data: &[u8]) {
    if data.len() > MAX_INPUT {
        return;
    }
    let json = data.split(|&b| b == 0).next().unwrap_or_default();
    let ours = AppMeta::<16, 32, 2048>::parse(json);
    let theirs = serde_json::from_slice::<Value>(json);
    let shown = || String::from_utf8_lossy(json).into_owned();
    match (&ours, &theirs) {
        (Ok(meta), Ok(v)) => {
            assert_eq!(v["name"].as_str(), Some(meta.name()), "name of {}", shown());
            let paths = v["paths"].as_object().expect("accepted paths is an object");
            assert_eq!(paths.len(), meta.rules().len(), "rules of {}", shown());
            for rule in meta.rules() {
                let r = &paths[rule.prefix()];
                assert_eq!(
                    r["access"].as_str(),
                    Some(rule.access().as_str()),
                    "{}",
                    shown()
                );
                let headers = r.get("headers").and_then(Value::as_object);
                assert_eq!(headers.map_or(0, |h| h.len()), rule.headers().len());
                for h in rule.headers() {
                    let template = headers
                        .and_then(|m| m.get(h.name()))
                        .and_then(Value::as_str);
                    assert_eq!(
                        template,
                        Some(h.template()),
                        "header {:?} of {}",
                        h.name(),
                        shown()
                    );
                }
            }
        }
        (Ok(_), Err(e)) => panic!(
            "shardpeer-core accepted JSON serde_json refuses ({e}): {}",
            shown()
        ),
        (Err(AppMetaError::InvalidJson { offset, reason }), Ok(_)) => panic!(
            "shardpeer-core calls valid JSON invalid at {offset} ({reason}): {}",
            shown()
        ),
        (Err(_), _) => {}
    }
}
