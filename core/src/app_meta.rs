//! An app's `app_meta.json`, reduced to what the gateway needs: its name and its access rules.
//!
//! ```json
//! { "name": "echo",
//!   "paths": { "":      { "access": "private",
//!                         "headers": { "X-Ptl-Client-Id": "{{ auth.client_id }}" } },
//!              "/pub":  { "access": "public" },
//!              "/peer": { "access": "peer" } },
//!   "entrypoints": [ ... ], "lifecycle": { ... } }
//! ```
//!
//! Everything else in the file (entrypoints, lifecycle, store info, fields of later versions) is
//! skipped, at any depth. Everything kept is checked at load time, so a mistake in the file is
//! reported once, with the file, instead of on some later request: `""` must exist, `access` is
//! one of `public`/`private`/`peer`, keys are in normalised path form and unique, header names are
//! HTTP tokens and not hop-by-hop or framing headers, header templates only use the known
//! variables ([`crate::template`]). [`AppMeta::decide`] (in [`crate::acl`]) uses the result.
//!
//! # Storage
//!
//! [`AppMeta`] owns all its text in one byte arena (`heapless::String<ARENA>`); rules and headers
//! are small fixed-size records of `u16` offsets into it. One arena instead of a fixed-size string
//! per field means a long template costs what it is long, not what the longest allowed one would
//! be, and the capacities are three numbers a device build can tune. With the defaults
//! (16 rules, 32 headers, 2 KiB of text) an `AppMeta` takes 2 474 bytes, on 32- and 64-bit
//! targets alike (no pointer-sized fields). Capacity overflow is an error
//! ([`AppMetaError::TooManyPaths`], [`AppMetaError::TooManyHeaders`], [`AppMetaError::TooLong`]),
//! never truncation: a dropped rule would change who may access what.
//!
//! # Parsing
//!
//! Two passes over the input. The first is a small iterative checker of RFC 8259 syntax: it gives
//! byte offsets for syntax errors (serde-json-core reports none), refuses raw control characters
//! and unpaired surrogates in strings (serde-json-core accepts the first and cannot decode the
//! second), and bounds nesting, because serde-json-core skips unknown values by recursion and a
//! file of ten thousand `[` would otherwise overflow a device's stack. The second pass is a
//! `DeserializeSeed` visitor over serde-json-core that writes straight into the arena, detects
//! duplicate keys as it goes, and skips unknown fields with `IgnoredAny`. It reads strings raw
//! (no serde-json-core unescape buffer) and decodes JSON escapes itself, directly into the arena:
//! a scratch buffer would cap the length of every escaped string in the file, including the
//! unknown ones being skipped (a long store description with `\n` in it).
//!
//! # Resource limits
//!
//! - At most `PATHS` rules (≤ 255), `HEADERS` headers over all rules (≤ 65 535) and `ARENA` bytes
//!   of decoded text (≤ 65 535): the app name, every key, header name and template.
//! - JSON nesting at most [`MAX_JSON_DEPTH`] containers deep.
//! - No other memory: no scratch buffer, stack use bounded by the nesting limit. Time is linear in
//!   the input, plus a scan of earlier keys per key (quadratic in `PATHS`/`HEADERS`, which are small).

use heapless::{String, Vec};
use serde::de::{DeserializeSeed, IgnoredAny, MapAccess, Visitor};

use crate::acl::{Access, Rule};
use crate::path::is_valid_prefix;
use crate::template::{TemplateError, validate};
use crate::wire::wire_error;

/// How deeply objects and arrays may nest in `app_meta.json` (the top-level object counts as 1;
/// a header template sits at depth 4).
pub const MAX_JSON_DEPTH: usize = 16;

// The syntax checker keeps one bit per open container in a `u32`.
const _: () = assert!(MAX_JSON_DEPTH <= 32);

/// Why an `app_meta.json` was refused. All of these are the app's fault, found at load time.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum AppMetaError {
    /// The file is not well-formed JSON (RFC 8259) or not UTF-8.
    InvalidJson {
        /// Byte offset of the error in the file.
        offset: usize,
        /// What is wrong there.
        reason: &'static str,
    },
    /// Objects and arrays nest deeper than [`MAX_JSON_DEPTH`].
    TooDeep {
        /// Byte offset of the first container too deep.
        offset: usize,
    },
    /// A known field has the wrong JSON type (e.g. `"access": 1`, `"paths": []`, or the file is
    /// not an object). serde-json-core does not say where.
    WrongType,
    /// A known field appears twice in the same object (`name`, `paths`, `access`, `headers`).
    DuplicateField,
    /// There is no `name`.
    MissingName,
    /// `name` is empty or contains a control character.
    InvalidName,
    /// `paths` has no `""` key (or there is no `paths`).
    MissingDefaultPath,
    /// A key of `paths` appears twice.
    DuplicatePath,
    /// A key of `paths` is neither `""` nor in normalised path form (it starts with `/`, has no
    /// `//`, `.` or `..` segment, no percent-encoded unreserved character, uppercase hex), so it
    /// could never match a request path.
    InvalidPathPrefix,
    /// A rule has no `access`.
    MissingAccess,
    /// `access` is not `public`, `private` or `peer`.
    UnknownAccess,
    /// A header name is empty or not an HTTP token.
    InvalidHeaderName,
    /// A header name is one the gateway must control: `Host`, `Content-Length`,
    /// `Transfer-Encoding`, `Connection`, or another hop-by-hop header.
    ForbiddenHeaderName,
    /// A rule sets the same header twice (names compare case-insensitively).
    DuplicateHeader,
    /// A header template names a variable that does not exist.
    UnknownTemplateVariable,
    /// A header template has `{{` without `}}`.
    UnclosedTemplate,
    /// A header template's literal text has CR, LF, NUL or another control character but HTAB.
    UnsafeTemplateText,
    /// More than `PATHS` rules.
    TooManyPaths,
    /// More than `HEADERS` headers over all rules.
    TooManyHeaders,
    /// The name, keys, header names and templates together exceed `ARENA` bytes.
    TooLong,
}

wire_error!(AppMetaError {
    AppMetaError::InvalidJson { offset, reason } => (422, "app_meta_invalid_json", "app_meta.json is not valid JSON at byte {}: {}", offset, reason),
    AppMetaError::TooDeep { offset } => (422, "app_meta_too_deep", "app_meta.json nests deeper than {} at byte {}", MAX_JSON_DEPTH, offset),
    AppMetaError::WrongType => (422, "app_meta_wrong_type", "app_meta.json has a field of the wrong type"),
    AppMetaError::DuplicateField => (422, "app_meta_duplicate_field", "app_meta.json repeats a field"),
    AppMetaError::MissingName => (422, "app_meta_missing_name", "app_meta.json has no name"),
    AppMetaError::InvalidName => (422, "app_meta_invalid_name", "app_meta.json name is empty or has a control character"),
    AppMetaError::MissingDefaultPath => (422, "app_meta_missing_default_path", "app_meta.json paths has no \"\" rule"),
    AppMetaError::DuplicatePath => (422, "app_meta_duplicate_path", "app_meta.json paths repeats a key"),
    AppMetaError::InvalidPathPrefix => (422, "app_meta_invalid_path_prefix", "app_meta.json paths has a key that is not a normalised path"),
    AppMetaError::MissingAccess => (422, "app_meta_missing_access", "app_meta.json rule has no access"),
    AppMetaError::UnknownAccess => (422, "app_meta_unknown_access", "app_meta.json access is not public, private or peer"),
    AppMetaError::InvalidHeaderName => (422, "app_meta_invalid_header_name", "app_meta.json header name is not an HTTP token"),
    AppMetaError::ForbiddenHeaderName => (422, "app_meta_forbidden_header_name", "app_meta.json sets a hop-by-hop or framing header"),
    AppMetaError::DuplicateHeader => (422, "app_meta_duplicate_header", "app_meta.json rule sets a header twice"),
    AppMetaError::UnknownTemplateVariable => (422, "app_meta_unknown_template_variable", "app_meta.json header template names an unknown variable"),
    AppMetaError::UnclosedTemplate => (422, "app_meta_unclosed_template", "app_meta.json header template has '{{{{' without '}}}}'"),
    AppMetaError::UnsafeTemplateText => (422, "app_meta_unsafe_template_text", "app_meta.json header template has a control character"),
    AppMetaError::TooManyPaths => (422, "app_meta_too_many_paths", "app_meta.json has more rules than this build holds"),
    AppMetaError::TooManyHeaders => (422, "app_meta_too_many_headers", "app_meta.json has more headers than this build holds"),
    AppMetaError::TooLong => (422, "app_meta_too_long", "app_meta.json strings exceed this build's capacity"),
});

/// Header names a rule may not set: the gateway and the HTTP layer own them (RFC 9110 §7.6.1
/// hop-by-hop headers, plus message framing and `Host`).
const FORBIDDEN_HEADERS: [&str; 9] = [
    "host",
    "content-length",
    "transfer-encoding",
    "connection",
    "keep-alive",
    "proxy-connection",
    "te",
    "trailer",
    "upgrade",
];

/// A range in the arena (text) or in the header table (indices).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct Span {
    start: u16,
    len: u16,
}

impl Span {
    fn range(self) -> core::ops::Range<usize> {
        let start = usize::from(self.start);
        start..start + usize::from(self.len)
    }

    /// The text this span covers in `strings`. Spans are only made by [`Loader::store`] for the
    /// same arena, so the fallback is never taken.
    pub(crate) fn get(self, strings: &str) -> &str {
        strings.get(self.range()).unwrap_or_default()
    }
}

#[derive(Debug, Clone, Copy)]
struct RuleEntry {
    prefix: Span,
    access: Access,
    /// Indices into [`AppMeta::headers`].
    headers: Span,
}

#[derive(Debug, Clone, Copy)]
pub(crate) struct HeaderEntry {
    pub(crate) name: Span,
    pub(crate) template: Span,
}

/// A parsed, validated `app_meta.json` (name and access rules), stored without heap.
///
/// `PATHS` bounds the number of rules, `HEADERS` the number of headers over all rules, `ARENA` the
/// bytes of text; see the module documentation for the footprint. Construct with
/// [`AppMeta::parse`]; use with [`AppMeta::decide`]. Because const-generic defaults do not apply
/// in expressions, name the type: `let meta: AppMeta = AppMeta::parse(json)?;`.
#[derive(Debug, Clone)]
pub struct AppMeta<const PATHS: usize = 16, const HEADERS: usize = 32, const ARENA: usize = 2048> {
    pub(crate) strings: String<ARENA, u16>,
    name: Span,
    rules: Vec<RuleEntry, PATHS, u8>,
    pub(crate) headers: Vec<HeaderEntry, HEADERS, u16>,
}

impl<const PATHS: usize, const HEADERS: usize, const ARENA: usize> AppMeta<PATHS, HEADERS, ARENA> {
    /// Parses and validates the contents of an `app_meta.json`.
    pub fn parse(json: &[u8]) -> Result<Self, AppMetaError> {
        check_json(json)?;
        let mut loader = Loader {
            meta: AppMeta {
                strings: String::new(),
                name: Span::default(),
                rules: Vec::new(),
                headers: Vec::new(),
            },
            failure: None,
            has_name: false,
        };
        let mut de = serde_json_core::de::Deserializer::new(json, None);
        let outcome = Root(&mut loader)
            .deserialize(&mut de)
            .and_then(|()| de.end().map(drop));
        if let Err(json_error) = outcome {
            return Err(loader.failure.unwrap_or(match json_error {
                serde_json_core::de::Error::InvalidType => AppMetaError::WrongType,
                // The syntax check passed, so serde-json-core has nothing else to object to.
                _ => AppMetaError::InvalidJson {
                    offset: 0,
                    reason: "refused by the JSON parser",
                },
            }));
        }
        if !loader.has_name {
            return Err(AppMetaError::MissingName);
        }
        let meta = loader.meta;
        if !meta.rules().any(|rule| rule.prefix().is_empty()) {
            return Err(AppMetaError::MissingDefaultPath);
        }
        Ok(meta)
    }

    /// The app's name.
    pub fn name(&self) -> &str {
        self.name.get(&self.strings)
    }

    /// The access rules, in file order.
    pub fn rules(&self) -> Rules<'_> {
        Rules {
            strings: &self.strings,
            headers: &self.headers,
            entries: self.rules.iter(),
        }
    }
}

/// Iterator over an app's [`Rule`]s, in file order.
#[derive(Debug, Clone)]
pub struct Rules<'a> {
    strings: &'a str,
    headers: &'a [HeaderEntry],
    entries: core::slice::Iter<'a, RuleEntry>,
}

impl<'a> Iterator for Rules<'a> {
    type Item = Rule<'a>;

    fn next(&mut self) -> Option<Rule<'a>> {
        let entry = self.entries.next()?;
        Some(Rule {
            prefix: entry.prefix.get(self.strings),
            access: entry.access,
            strings: self.strings,
            headers: self.headers.get(entry.headers.range()).unwrap_or_default(),
        })
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        self.entries.size_hint()
    }
}

impl ExactSizeIterator for Rules<'_> {}

/// Parsing state shared by the visitors. A visitor that finds the content wrong stores the typed
/// error here and aborts serde with a placeholder error, since serde-json-core's own errors can
/// carry no data.
struct Loader<const PATHS: usize, const HEADERS: usize, const ARENA: usize> {
    meta: AppMeta<PATHS, HEADERS, ARENA>,
    failure: Option<AppMetaError>,
    has_name: bool,
}

impl<const PATHS: usize, const HEADERS: usize, const ARENA: usize> Loader<PATHS, HEADERS, ARENA> {
    fn fail<E: serde::de::Error>(&mut self, error: AppMetaError) -> E {
        self.failure = Some(error);
        E::custom("app_meta")
    }

    fn check<T, E: serde::de::Error>(&mut self, result: Result<T, AppMetaError>) -> Result<T, E> {
        result.map_err(|error| self.fail(error))
    }

    /// Decodes a raw JSON string into the arena.
    fn store(&mut self, raw: &str) -> Result<Span, AppMetaError> {
        let strings = &mut self.meta.strings;
        let start = strings.len();
        unescape(raw, &mut |piece| {
            strings.push_str(piece).map_err(|_| AppMetaError::TooLong)
        })?;
        let len = strings.len().saturating_sub(start);
        Ok(Span {
            start: u16::try_from(start).map_err(|_| AppMetaError::TooLong)?,
            len: u16::try_from(len).map_err(|_| AppMetaError::TooLong)?,
        })
    }

    fn text(&self, span: Span) -> &str {
        span.get(&self.meta.strings)
    }
}

/// The top-level object.
struct Root<'l, const P: usize, const H: usize, const A: usize>(&'l mut Loader<P, H, A>);

impl<'de, const P: usize, const H: usize, const A: usize> DeserializeSeed<'de>
    for Root<'_, P, H, A>
{
    type Value = ();

    fn deserialize<D: serde::Deserializer<'de>>(self, deserializer: D) -> Result<(), D::Error> {
        deserializer.deserialize_map(self)
    }
}

impl<'de, const P: usize, const H: usize, const A: usize> Visitor<'de> for Root<'_, P, H, A> {
    type Value = ();

    fn expecting(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str("an app_meta object")
    }

    fn visit_map<M: MapAccess<'de>>(self, mut map: M) -> Result<(), M::Error> {
        let loader = self.0;
        let mut has_paths = false;
        while let Some(key) = map.next_key::<&'de str>()? {
            if loader.check(key_is(key, "name"))? {
                if loader.has_name {
                    return Err(loader.fail(AppMetaError::DuplicateField));
                }
                let raw = map.next_value::<&'de str>()?;
                let stored = loader.store(raw);
                let span = loader.check(stored)?;
                let name = loader.text(span);
                if name.is_empty() || name.bytes().any(|b| b.is_ascii_control()) {
                    return Err(loader.fail(AppMetaError::InvalidName));
                }
                loader.meta.name = span;
                loader.has_name = true;
            } else if loader.check(key_is(key, "paths"))? {
                if has_paths {
                    return Err(loader.fail(AppMetaError::DuplicateField));
                }
                has_paths = true;
                map.next_value_seed(Paths(&mut *loader))?;
            } else {
                map.next_value::<IgnoredAny>()?;
            }
        }
        Ok(())
    }
}

/// The `paths` object: one rule per key.
struct Paths<'l, const P: usize, const H: usize, const A: usize>(&'l mut Loader<P, H, A>);

impl<'de, const P: usize, const H: usize, const A: usize> DeserializeSeed<'de>
    for Paths<'_, P, H, A>
{
    type Value = ();

    fn deserialize<D: serde::Deserializer<'de>>(self, deserializer: D) -> Result<(), D::Error> {
        deserializer.deserialize_map(self)
    }
}

impl<'de, const P: usize, const H: usize, const A: usize> Visitor<'de> for Paths<'_, P, H, A> {
    type Value = ();

    fn expecting(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str("a paths object")
    }

    fn visit_map<M: MapAccess<'de>>(self, mut map: M) -> Result<(), M::Error> {
        let loader = self.0;
        while let Some(key) = map.next_key::<&'de str>()? {
            let stored = loader.store(key);
            let prefix = loader.check(stored)?;
            let text = loader.text(prefix);
            let problem = if !is_valid_prefix(text) {
                Some(AppMetaError::InvalidPathPrefix)
            } else if loader.meta.rules().any(|rule| rule.prefix() == text) {
                Some(AppMetaError::DuplicatePath)
            } else if loader.meta.rules.is_full() {
                Some(AppMetaError::TooManyPaths)
            } else {
                None
            };
            if let Some(problem) = problem {
                return Err(loader.fail(problem));
            }
            let (access, headers) = map.next_value_seed(RuleSeed(&mut *loader))?;
            let entry = RuleEntry {
                prefix,
                access,
                headers,
            };
            if loader.meta.rules.push(entry).is_err() {
                return Err(loader.fail(AppMetaError::TooManyPaths));
            }
        }
        Ok(())
    }
}

/// One rule: `{"access": ..., "headers": {...}}`.
struct RuleSeed<'l, const P: usize, const H: usize, const A: usize>(&'l mut Loader<P, H, A>);

impl<'de, const P: usize, const H: usize, const A: usize> DeserializeSeed<'de>
    for RuleSeed<'_, P, H, A>
{
    type Value = (Access, Span);

    fn deserialize<D: serde::Deserializer<'de>>(
        self,
        deserializer: D,
    ) -> Result<Self::Value, D::Error> {
        deserializer.deserialize_map(self)
    }
}

impl<'de, const P: usize, const H: usize, const A: usize> Visitor<'de> for RuleSeed<'_, P, H, A> {
    type Value = (Access, Span);

    fn expecting(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str("a rule object")
    }

    fn visit_map<M: MapAccess<'de>>(self, mut map: M) -> Result<Self::Value, M::Error> {
        let loader = self.0;
        let mut access = None;
        let mut headers = None;
        while let Some(key) = map.next_key::<&'de str>()? {
            if loader.check(key_is(key, "access"))? {
                let raw = map.next_value::<&'de str>()?;
                if access.is_some() {
                    return Err(loader.fail(AppMetaError::DuplicateField));
                }
                let value = loader.check(decode_small::<8>(raw))?;
                let parsed = value.as_deref().and_then(Access::from_name);
                access = Some(loader.check(parsed.ok_or(AppMetaError::UnknownAccess))?);
            } else if loader.check(key_is(key, "headers"))? {
                if headers.is_some() {
                    return Err(loader.fail(AppMetaError::DuplicateField));
                }
                headers = Some(map.next_value_seed(HeadersSeed(&mut *loader))?);
            } else {
                map.next_value::<IgnoredAny>()?;
            }
        }
        let Some(access) = access else {
            return Err(loader.fail(AppMetaError::MissingAccess));
        };
        Ok((access, headers.unwrap_or_default()))
    }
}

/// A rule's `headers` object: header name to template.
struct HeadersSeed<'l, const P: usize, const H: usize, const A: usize>(&'l mut Loader<P, H, A>);

impl<'de, const P: usize, const H: usize, const A: usize> DeserializeSeed<'de>
    for HeadersSeed<'_, P, H, A>
{
    type Value = Span;

    fn deserialize<D: serde::Deserializer<'de>>(self, deserializer: D) -> Result<Span, D::Error> {
        deserializer.deserialize_map(self)
    }
}

impl<'de, const P: usize, const H: usize, const A: usize> Visitor<'de>
    for HeadersSeed<'_, P, H, A>
{
    type Value = Span;

    fn expecting(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str("a headers object")
    }

    fn visit_map<M: MapAccess<'de>>(self, mut map: M) -> Result<Span, M::Error> {
        let loader = self.0;
        let first = loader.meta.headers.len();
        while let Some(key) = map.next_key::<&'de str>()? {
            let stored = loader.store(key);
            let name = loader.check(stored)?;
            let text = loader.text(name);
            let earlier = loader.meta.headers.get(first..).unwrap_or_default();
            let problem = if text.is_empty() || !text.bytes().all(is_tchar) {
                Some(AppMetaError::InvalidHeaderName)
            } else if FORBIDDEN_HEADERS
                .iter()
                .any(|f| f.eq_ignore_ascii_case(text))
            {
                Some(AppMetaError::ForbiddenHeaderName)
            } else if earlier
                .iter()
                .any(|h| loader.text(h.name).eq_ignore_ascii_case(text))
            {
                Some(AppMetaError::DuplicateHeader)
            } else {
                None
            };
            if let Some(problem) = problem {
                return Err(loader.fail(problem));
            }
            let raw = map.next_value::<&'de str>()?;
            let stored = loader.store(raw);
            let template = loader.check(stored)?;
            let checked = validate(loader.text(template)).map_err(|error| match error {
                TemplateError::UnclosedTag => AppMetaError::UnclosedTemplate,
                TemplateError::UnknownVariable => AppMetaError::UnknownTemplateVariable,
                _ => AppMetaError::UnsafeTemplateText,
            });
            loader.check(checked)?;
            if loader
                .meta
                .headers
                .push(HeaderEntry { name, template })
                .is_err()
            {
                return Err(loader.fail(AppMetaError::TooManyHeaders));
            }
        }
        let count = loader.meta.headers.len().saturating_sub(first);
        // Both fit: the header table's length type is u16.
        Ok(Span {
            start: u16::try_from(first).unwrap_or_default(),
            len: u16::try_from(count).unwrap_or_default(),
        })
    }
}

/// RFC 9110 §5.6.2 `tchar`.
fn is_tchar(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b)
}

/// Whether the raw JSON string `raw` decodes to `expected`.
fn key_is(raw: &str, expected: &str) -> Result<bool, AppMetaError> {
    if !raw.contains('\\') {
        return Ok(raw == expected);
    }
    Ok(decode_small::<16>(raw)?.as_deref() == Some(expected))
}

/// Decodes a short raw JSON string; `None` if it is longer than `N` bytes (then it is not one of
/// the short words we compare against).
fn decode_small<const N: usize>(raw: &str) -> Result<Option<String<N>>, AppMetaError> {
    let mut out = String::<N>::new();
    let mut fits = true;
    unescape(raw, &mut |piece| {
        fits = fits && out.push_str(piece).is_ok();
        Ok(())
    })?;
    Ok(fits.then_some(out))
}

/// Decodes the JSON escapes of a string's raw contents (between the quotes), feeding the decoded
/// text to `put` piece by piece. [`check_json`] has already checked every escape, so the error
/// only guards against a caller that skipped it.
fn unescape(
    raw: &str,
    put: &mut dyn FnMut(&str) -> Result<(), AppMetaError>,
) -> Result<(), AppMetaError> {
    const BAD: AppMetaError = AppMetaError::InvalidJson {
        offset: 0,
        reason: "invalid string escape",
    };
    let mut rest = raw;
    while let Some((plain, escaped)) = rest.split_once('\\') {
        put(plain)?;
        let mut chars = escaped.chars();
        let decoded = match chars.next() {
            Some('"') => '"',
            Some('\\') => '\\',
            Some('/') => '/',
            Some('b') => '\u{8}',
            Some('f') => '\u{c}',
            Some('n') => '\n',
            Some('r') => '\r',
            Some('t') => '\t',
            Some('u') => {
                let (unit, after) = hex4(chars.as_str()).ok_or(BAD)?;
                chars = after.chars();
                let code = if (0xD800..0xDC00).contains(&unit) {
                    let after = chars.as_str().strip_prefix("\\u").ok_or(BAD)?;
                    let (low, after) = hex4(after).ok_or(BAD)?;
                    if !(0xDC00..0xE000).contains(&low) {
                        return Err(BAD);
                    }
                    chars = after.chars();
                    0x10000 + ((unit - 0xD800) << 10) + (low - 0xDC00)
                } else {
                    unit
                };
                char::from_u32(code).ok_or(BAD)?
            }
            _ => return Err(BAD),
        };
        put(decoded.encode_utf8(&mut [0u8; 4]))?;
        rest = chars.as_str();
    }
    put(rest)
}

/// The four hex digits at the start of `s`, and what follows them.
fn hex4(s: &str) -> Option<(u32, &str)> {
    let (digits, rest) = s.split_at_checked(4)?;
    if !digits.bytes().all(|b| b.is_ascii_hexdigit()) {
        return None;
    }
    Some((u32::from_str_radix(digits, 16).ok()?, rest))
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Expect {
    Value,
    /// A value or `]`: right after `[`.
    ValueOrEnd,
    Key,
    /// A key or `}`: right after `{`.
    KeyOrEnd,
    Colon,
    CommaOrEnd,
    Done,
}

fn syntax(offset: usize, reason: &'static str) -> AppMetaError {
    AppMetaError::InvalidJson { offset, reason }
}

/// Checks that `json` is one well-formed RFC 8259 JSON text, nested at most [`MAX_JSON_DEPTH`]
/// deep, without recursion. Once this passes, serde-json-core's view of the structure is the true
/// one (it is lenient only on malformed input), so its recursion is bounded too.
fn check_json(json: &[u8]) -> Result<(), AppMetaError> {
    if let Err(error) = core::str::from_utf8(json) {
        return Err(syntax(error.valid_up_to(), "invalid UTF-8"));
    }
    let mut pos = 0usize;
    let mut depth = 0usize;
    // Bit n is set when the container at depth n + 1 is an object.
    let mut objects = 0u32;
    let mut expect = Expect::Value;
    loop {
        while let Some(b' ' | b'\t' | b'\n' | b'\r') = json.get(pos) {
            pos += 1;
        }
        let Some(&b) = json.get(pos) else { break };
        let in_object = depth > 0 && objects & (1 << (depth - 1)) != 0;
        let after_value = if depth == 0 {
            Expect::Done
        } else {
            Expect::CommaOrEnd
        };
        expect = match (expect, b) {
            (Expect::Value | Expect::ValueOrEnd, b'{' | b'[') => {
                if depth >= MAX_JSON_DEPTH {
                    return Err(AppMetaError::TooDeep { offset: pos });
                }
                if b == b'{' {
                    objects |= 1 << depth;
                } else {
                    objects &= !(1 << depth);
                }
                depth += 1;
                pos += 1;
                if b == b'{' {
                    Expect::KeyOrEnd
                } else {
                    Expect::ValueOrEnd
                }
            }
            (Expect::ValueOrEnd, b']')
            | (Expect::KeyOrEnd, b'}')
            | (Expect::CommaOrEnd, b']' | b'}') => {
                if (b == b'}') != in_object {
                    return Err(syntax(pos, "mismatched closing bracket"));
                }
                depth = depth.saturating_sub(1);
                pos += 1;
                if depth == 0 {
                    Expect::Done
                } else {
                    Expect::CommaOrEnd
                }
            }
            (Expect::Value | Expect::ValueOrEnd, b'"') => {
                pos = skip_string(json, pos)?;
                after_value
            }
            (Expect::Value | Expect::ValueOrEnd, b'-' | b'0'..=b'9') => {
                pos = skip_number(json, pos)?;
                after_value
            }
            (Expect::Value | Expect::ValueOrEnd, b't' | b'f' | b'n') => {
                let word: &[u8] = match b {
                    b't' => b"true",
                    b'f' => b"false",
                    _ => b"null",
                };
                if json.get(pos..pos + word.len()) != Some(word) {
                    return Err(syntax(pos, "expected true, false or null"));
                }
                pos += word.len();
                after_value
            }
            (Expect::Key | Expect::KeyOrEnd, b'"') => {
                pos = skip_string(json, pos)?;
                Expect::Colon
            }
            (Expect::Colon, b':') => {
                pos += 1;
                Expect::Value
            }
            (Expect::CommaOrEnd, b',') => {
                pos += 1;
                if in_object {
                    Expect::Key
                } else {
                    Expect::Value
                }
            }
            (Expect::Done, _) => {
                return Err(syntax(pos, "trailing characters after the JSON value"));
            }
            (Expect::Key | Expect::KeyOrEnd, _) => {
                return Err(syntax(pos, "expected a string key"));
            }
            (Expect::Colon, _) => return Err(syntax(pos, "expected ':'")),
            (Expect::CommaOrEnd, _) if in_object => return Err(syntax(pos, "expected ',' or '}'")),
            (Expect::CommaOrEnd, _) => return Err(syntax(pos, "expected ',' or ']'")),
            (Expect::Value | Expect::ValueOrEnd, _) => return Err(syntax(pos, "expected a value")),
        };
    }
    if expect == Expect::Done {
        Ok(())
    } else {
        Err(syntax(json.len(), "unexpected end of input"))
    }
}

/// Skips the string starting with the `"` at `start`; returns the offset after its closing quote.
fn skip_string(json: &[u8], start: usize) -> Result<usize, AppMetaError> {
    let mut pos = start + 1;
    loop {
        match json.get(pos) {
            None => return Err(syntax(start, "unterminated string")),
            Some(b'"') => return Ok(pos + 1),
            Some(0x00..=0x1F) => return Err(syntax(pos, "control character in string")),
            Some(b'\\') => match json.get(pos + 1) {
                Some(b'"' | b'\\' | b'/' | b'b' | b'f' | b'n' | b'r' | b't') => pos += 2,
                Some(b'u') => pos = skip_unicode_escape(json, pos)?,
                _ => return Err(syntax(pos, "invalid escape")),
            },
            Some(_) => pos += 1,
        }
    }
}

/// Skips `\uXXXX` at `pos`, or a surrogate pair `\uD8XX\uDCXX`; refuses unpaired surrogates,
/// which are not text.
fn skip_unicode_escape(json: &[u8], pos: usize) -> Result<usize, AppMetaError> {
    let unit = |at: usize| -> Option<u32> {
        let digits = json.get(at..at + 4)?;
        let digits = core::str::from_utf8(digits).ok()?;
        if !digits.bytes().all(|b| b.is_ascii_hexdigit()) {
            return None;
        }
        u32::from_str_radix(digits, 16).ok()
    };
    let high = unit(pos + 2).ok_or(syntax(pos, "invalid \\u escape"))?;
    if (0xDC00..0xE000).contains(&high) {
        return Err(syntax(pos, "unpaired surrogate"));
    }
    if !(0xD800..0xDC00).contains(&high) {
        return Ok(pos + 6);
    }
    let low = match json.get(pos + 6..pos + 8) {
        Some(b"\\u") => unit(pos + 8),
        _ => None,
    };
    match low {
        Some(low) if (0xDC00..0xE000).contains(&low) => Ok(pos + 12),
        _ => Err(syntax(pos, "unpaired surrogate")),
    }
}

/// Skips the number starting at `start` (RFC 8259 §6 grammar); returns the offset after it.
fn skip_number(json: &[u8], start: usize) -> Result<usize, AppMetaError> {
    let digits = |mut pos: usize| {
        while json.get(pos).is_some_and(u8::is_ascii_digit) {
            pos += 1;
        }
        pos
    };
    let bad = syntax(start, "invalid number");
    let mut pos = start;
    if json.get(pos) == Some(&b'-') {
        pos += 1;
    }
    match json.get(pos) {
        Some(b'0') => pos += 1,
        Some(b'1'..=b'9') => pos = digits(pos + 1),
        _ => return Err(bad),
    }
    if json.get(pos) == Some(&b'.') {
        let end = digits(pos + 1);
        if end == pos + 1 {
            return Err(bad);
        }
        pos = end;
    }
    if let Some(b'e' | b'E') = json.get(pos) {
        pos += 1;
        if let Some(b'+' | b'-') = json.get(pos) {
            pos += 1;
        }
        let end = digits(pos);
        if end == pos {
            return Err(bad);
        }
        pos = end;
    }
    Ok(pos)
}

#[cfg(test)]
mod tests {
    extern crate alloc;
    extern crate std;

    use super::*;
    use crate::acl::{Access, ClientKind};

    /// Shaped like a real freeshard app_meta.json: many fields the gateway does not use.
    const REALISTIC: &str = r#"{
        "v": "1.1",
        "app_version": "2.4.1",
        "name": "filebrowser",
        "pretty_name": "File Browser",
        "icon": "icon.svg",
        "entrypoints": [
            {"container_name": "filebrowser", "container_port": 80, "entrypoint_port": "http"},
            {"container_name": "filebrowser-sync", "container_port": 22000, "entrypoint_port": "tcp", "extra": [1, 2.5e3, -0.5, true, false, null, [], {}]}
        ],
        "paths": {
            "": {
                "access": "private",
                "headers": {
                    "X-Ptl-Client-Id": "{{ auth.client_id }}",
                    "X-Ptl-Client-Name": "{{ auth.client_name }}",
                    "X-Ptl-Client-Type": "{{ auth.client_type }}",
                    "X-Ptl-ID": "{{ portal.id }}"
                },
                "comment": {"why": ["nested", {"deep": [[["x"]]]}]}
            },
            "/share": {"access": "public", "headers": {"X-Ptl-Client-Type": "{{auth.client_type}}"}},
            "/api/peer": {"access": "peer", "headers": {}}
        },
        "lifecycle": {"always_on": false, "idle_time_for_shutdown": 3600},
        "minimum_portal_size": "xs",
        "store_info": {
            "description_short": "Browse your files",
            "description_long": "Line one\nLine \"two\" with \\ and \u00e9 and \ud83d\ude00",
            "hint": ["a", "b"],
            "is_featured": true,
            "paths": "this is not the paths you are looking for",
            "name": "nor this name"
        }
    }"#;

    type Meta = AppMeta;

    fn parse(json: &str) -> Result<Meta, AppMetaError> {
        Meta::parse(json.as_bytes())
    }

    fn minimal_with(paths: &str) -> heapless::String<1024> {
        let mut s = heapless::String::new();
        for part in [r#"{"name": "x", "paths": {"#, paths, "}}"] {
            s.push_str(part).unwrap();
        }
        s
    }

    fn paths(paths: &str) -> Result<Meta, AppMetaError> {
        parse(&minimal_with(paths))
    }

    #[test]
    fn realistic_file_parses_and_ignores_unknown_fields() {
        let meta = parse(REALISTIC).unwrap();
        assert_eq!(meta.name(), "filebrowser");
        let rules: alloc::vec::Vec<_> = meta.rules().map(|r| (r.prefix(), r.access())).collect();
        assert_eq!(
            rules,
            [
                ("", Access::Private),
                ("/share", Access::Public),
                ("/api/peer", Access::Peer)
            ]
        );
        let default = meta.rules().next().unwrap();
        let headers: alloc::vec::Vec<_> = default
            .headers()
            .map(|h| (h.name(), h.template()))
            .collect();
        assert_eq!(headers[0], ("X-Ptl-Client-Id", "{{ auth.client_id }}"));
        assert_eq!(headers.len(), 4);
        assert_eq!(meta.rules().nth(1).unwrap().headers().len(), 1);
        assert_eq!(meta.rules().nth(2).unwrap().headers().len(), 0);
    }

    #[test]
    fn long_escaped_unknown_string_is_fine() {
        // An unknown field with a long escaped string: no scratch buffer limits it.
        let mut json = alloc::string::String::from(r#"{"description": ""#);
        for _ in 0..2000 {
            json.push_str("line\\n");
        }
        json.push_str(r#"", "name": "x", "paths": {"": {"access": "public"}}}"#);
        assert!(parse(&json).is_ok());
    }

    #[test]
    fn memory_footprint() {
        let size = core::mem::size_of::<AppMeta>();
        std::println!("size_of::<AppMeta>() = {size}");
        assert_eq!(size, 2474);
        assert!(core::mem::size_of::<AppMeta<4, 8, 512>>() < 700);
    }

    #[test]
    fn missing_default_path() {
        assert_eq!(
            paths(r#""/pub": {"access": "public"}"#).unwrap_err(),
            AppMetaError::MissingDefaultPath
        );
        assert_eq!(
            parse(r#"{"name": "x"}"#).unwrap_err(),
            AppMetaError::MissingDefaultPath
        );
        assert_eq!(paths("").unwrap_err(), AppMetaError::MissingDefaultPath);
    }

    #[test]
    fn missing_or_bad_name() {
        assert_eq!(
            parse(r#"{"paths": {"": {"access": "public"}}}"#).unwrap_err(),
            AppMetaError::MissingName
        );
        assert_eq!(
            parse(r#"{"name": "", "paths": {"": {"access": "public"}}}"#).unwrap_err(),
            AppMetaError::InvalidName
        );
        assert_eq!(
            parse(r#"{"name": "a\nb", "paths": {"": {"access": "public"}}}"#).unwrap_err(),
            AppMetaError::InvalidName
        );
    }

    #[test]
    fn unknown_access_value() {
        for bad in ["Public", "everyone", "", "peers", "privateX"] {
            let rule = alloc::format!(r#""": {{"access": "{bad}"}}"#);
            assert_eq!(
                paths(&rule).unwrap_err(),
                AppMetaError::UnknownAccess,
                "{bad}"
            );
        }
        assert_eq!(
            paths(r#""": {"access": 1}"#).unwrap_err(),
            AppMetaError::WrongType
        );
        assert_eq!(
            paths(r#""": {"headers": {}}"#).unwrap_err(),
            AppMetaError::MissingAccess
        );
    }

    #[test]
    fn escaped_keys_and_values_decoded() {
        let meta = paths(
            r#""": {"\u0061ccess": "pub\u006cic"}, "\/pub": {"access": "peer", "headers": {"X-\u0041": "\u007b{ auth.client_id }}"}}"#,
        )
        .unwrap();
        let rule = meta.decide("/pub", ClientKind::Peer).unwrap();
        assert_eq!(rule.prefix(), "/pub");
        let h = rule.headers().next().unwrap();
        assert_eq!((h.name(), h.template()), ("X-A", "{{ auth.client_id }}"));
        let escaped_name = parse(
            r#"{"n\u0061me": "caf\u00e9 \ud83d\ude00", "paths": {"": {"access": "public"}}}"#,
        )
        .unwrap();
        assert_eq!(escaped_name.name(), "café 😀");
    }

    #[test]
    fn duplicate_path_keys() {
        assert_eq!(
            paths(r#""": {"access": "public"}, "/a": {"access": "public"}, "/a": {"access": "private"}"#).unwrap_err(),
            AppMetaError::DuplicatePath
        );
        // Same key, spelled differently in JSON.
        assert_eq!(
            paths(r#""": {"access": "public"}, "/a": {"access": "public"}, "\/a": {"access": "private"}"#).unwrap_err(),
            AppMetaError::DuplicatePath
        );
        assert_eq!(
            paths(r#""": {"access": "public"}, "": {"access": "private"}"#).unwrap_err(),
            AppMetaError::DuplicatePath
        );
    }

    #[test]
    fn duplicate_fields() {
        assert_eq!(
            parse(r#"{"name": "x", "name": "y", "paths": {"": {"access": "public"}}}"#)
                .unwrap_err(),
            AppMetaError::DuplicateField
        );
        assert_eq!(
            parse(r#"{"name": "x", "paths": {"": {"access": "public"}}, "paths": {"": {"access": "public"}}}"#).unwrap_err(),
            AppMetaError::DuplicateField
        );
        assert_eq!(
            paths(r#""": {"access": "public", "access": "private"}"#).unwrap_err(),
            AppMetaError::DuplicateField
        );
        assert_eq!(
            paths(r#""": {"access": "public", "headers": {}, "headers": {}}"#).unwrap_err(),
            AppMetaError::DuplicateField
        );
    }

    #[test]
    fn path_keys_must_be_normalised() {
        for bad in [
            "pub",
            "//pub",
            "/%70ub",
            "/a/../b",
            "/a/./b",
            "/a%2fb",
            "/a\\\\b",
            "/caf%c3%a9",
            "/a b",
        ] {
            let rule =
                alloc::format!(r#""": {{"access": "public"}}, "{bad}": {{"access": "public"}}"#);
            assert_eq!(
                paths(&rule).unwrap_err(),
                AppMetaError::InvalidPathPrefix,
                "{bad}"
            );
        }
        for good in ["/", "/pub/", "/.well-known", "/caf%C3%A9"] {
            let rule =
                alloc::format!(r#""": {{"access": "public"}}, "{good}": {{"access": "public"}}"#);
            assert!(paths(&rule).is_ok(), "{good}");
        }
    }

    #[test]
    fn header_name_validation() {
        let with_header = |name: &str| {
            let rule =
                alloc::format!(r#""": {{"access": "public", "headers": {{"{name}": "v"}}}}"#);
            paths(&rule)
        };
        for bad in ["", "X Ptl", "X-Ptl:", "X-Ptl\\n", "Ünï", "X(1)", "a/b"] {
            assert_eq!(
                with_header(bad).unwrap_err(),
                AppMetaError::InvalidHeaderName,
                "{bad:?}"
            );
        }
        for forbidden in [
            "Host",
            "content-length",
            "Transfer-Encoding",
            "CONNECTION",
            "Upgrade",
            "TE",
        ] {
            assert_eq!(
                with_header(forbidden).unwrap_err(),
                AppMetaError::ForbiddenHeaderName,
                "{forbidden}"
            );
        }
        for good in ["X-Ptl-Client-Id", "x-custom", "Forwarded-By~!#$%&'*+.^_`|"] {
            assert!(with_header(good).is_ok(), "{good}");
        }
        assert_eq!(
            paths(r#""": {"access": "public", "headers": {"X-A": "1", "x-a": "2"}}"#).unwrap_err(),
            AppMetaError::DuplicateHeader
        );
        // The same header in two rules is fine.
        assert!(paths(r#""": {"access": "public", "headers": {"X-A": "1"}}, "/b": {"access": "public", "headers": {"X-A": "2"}}"#).is_ok());
    }

    #[test]
    fn template_errors_at_load_time() {
        let with_template = |template: &str| {
            let rule =
                alloc::format!(r#""": {{"access": "public", "headers": {{"X-A": "{template}"}}}}"#);
            paths(&rule)
        };
        assert_eq!(
            with_template("{{ auth.password }}").unwrap_err(),
            AppMetaError::UnknownTemplateVariable
        );
        assert_eq!(
            with_template("{{ auth.client_id").unwrap_err(),
            AppMetaError::UnclosedTemplate
        );
        assert_eq!(
            with_template("a\\r\\nX-Evil: 1").unwrap_err(),
            AppMetaError::UnsafeTemplateText
        );
        assert_eq!(
            with_template("a\\nb").unwrap_err(),
            AppMetaError::UnsafeTemplateText
        );
        assert_eq!(
            with_template("a\\u0000b").unwrap_err(),
            AppMetaError::UnsafeTemplateText
        );
        assert!(with_template("Bearer {{auth.client_id}}\\t{{ portal.domain }}").is_ok());
        assert_eq!(
            paths(r#""": {"access": "public", "headers": {"X-A": 5}}"#).unwrap_err(),
            AppMetaError::WrongType
        );
    }

    #[test]
    fn capacity_errors() {
        let rules =
            r#""": {"access": "public"}, "/a": {"access": "public"}, "/b": {"access": "public"}"#;
        assert_eq!(
            AppMeta::<2, 4, 256>::parse(minimal_with(rules).as_bytes()).unwrap_err(),
            AppMetaError::TooManyPaths
        );
        assert!(AppMeta::<3, 4, 256>::parse(minimal_with(rules).as_bytes()).is_ok());

        let headers = r#""": {"access": "public", "headers": {"A": "1", "B": "2"}}, "/a": {"access": "public", "headers": {"C": "3"}}"#;
        assert_eq!(
            AppMeta::<4, 2, 256>::parse(minimal_with(headers).as_bytes()).unwrap_err(),
            AppMetaError::TooManyHeaders
        );
        assert!(AppMeta::<4, 3, 256>::parse(minimal_with(headers).as_bytes()).is_ok());

        // name "x" + "" + "/a" + "/b" = 5 bytes of text.
        assert_eq!(
            AppMeta::<4, 4, 4>::parse(minimal_with(rules).as_bytes()).unwrap_err(),
            AppMetaError::TooLong
        );
        assert!(AppMeta::<4, 4, 5>::parse(minimal_with(rules).as_bytes()).is_ok());
    }

    #[test]
    fn json_syntax_errors_carry_offsets() {
        let cases: &[(&str, usize)] = &[
            ("", 0),
            ("{", 1),
            (r#"{"name": "x",}"#, 13),
            (r#"{"name" "x"}"#, 8),
            (r#"{"a": [1, 2,]}"#, 12),
            (r#"{"a": tru}"#, 6),
            (r#"{"a": 01}"#, 7),
            (r#"{"a": "\q"}"#, 7),
            (r#"{"a": "\ud800"}"#, 7),
            (r#"{"a": "\udc00\ud800"}"#, 7),
            ("{\"a\": \"x\ny\"}", 8),
            (r#"{"a": 1} x"#, 9),
            (r#"{"a": [1}"#, 8),
            (r#"{"a": -}"#, 6),
            (r#"{"a": 1.}"#, 6),
            (r#"{"a": 1e}"#, 6),
            (r#"{"a": "x"#, 6),
            (r#"{1: 2}"#, 1),
            (r#"{"a": 'x'}"#, 6),
        ];
        for &(json, offset) in cases {
            let err = Meta::parse(json.as_bytes()).unwrap_err();
            match err {
                AppMetaError::InvalidJson { offset: at, .. } => {
                    assert_eq!(at, offset, "{json:?}: {err}")
                }
                other => panic!("{json:?}: {other:?}"),
            }
        }
        assert_eq!(
            Meta::parse(b"{\"a\": \"\xff\"}").unwrap_err(),
            AppMetaError::InvalidJson {
                offset: 7,
                reason: "invalid UTF-8"
            }
        );
    }

    #[test]
    fn valid_json_numbers_and_literals_in_unknown_fields() {
        let json = r#"{"n": [0, -0, 1.5, -2.5e-3, 1E+9, 123456789012345678901234567890], "t": [true, false, null], "paths": {"": {"access": "public"}}, "name": "x"}"#;
        assert!(parse(json).is_ok());
    }

    #[test]
    fn wrong_types() {
        assert_eq!(parse("[]").unwrap_err(), AppMetaError::WrongType);
        assert_eq!(parse(r#""x""#).unwrap_err(), AppMetaError::WrongType);
        assert_eq!(
            parse(r#"{"name": 1, "paths": {}}"#).unwrap_err(),
            AppMetaError::WrongType
        );
        assert_eq!(
            parse(r#"{"name": "x", "paths": []}"#).unwrap_err(),
            AppMetaError::WrongType
        );
        assert_eq!(
            paths(r#""": "public""#).unwrap_err(),
            AppMetaError::WrongType
        );
        assert_eq!(
            paths(r#""": {"access": "public", "headers": []}"#).unwrap_err(),
            AppMetaError::WrongType
        );
    }

    #[test]
    fn nesting_is_bounded() {
        let mut deep = alloc::string::String::from(
            r#"{"name": "x", "paths": {"": {"access": "public"}}, "junk": "#,
        );
        for _ in 0..100_000 {
            deep.push('[');
        }
        let err = parse(&deep).unwrap_err();
        assert!(matches!(err, AppMetaError::TooDeep { .. }), "{err:?}");
        // Brackets inside strings are text, not nesting.
        let mut text = alloc::string::String::from(
            r#"{"name": "x", "paths": {"": {"access": "public"}}, "junk": ""#,
        );
        for _ in 0..1000 {
            text.push('[');
        }
        text.push_str("\"}");
        assert!(parse(&text).is_ok());
        // Exactly at the limit is fine.
        let mut ok = alloc::string::String::from(
            r#"{"name": "x", "paths": {"": {"access": "public"}}, "junk": "#,
        );
        ok.push_str(&"[".repeat(MAX_JSON_DEPTH - 1));
        ok.push_str(&"]".repeat(MAX_JSON_DEPTH - 1));
        ok.push('}');
        assert!(parse(&ok).is_ok());
        ok.insert(ok.len() - MAX_JSON_DEPTH, '[');
        ok.insert(ok.len() - 1, ']');
        assert!(matches!(
            parse(&ok).unwrap_err(),
            AppMetaError::TooDeep { .. }
        ));
    }

    #[test]
    fn garbage_never_panics() {
        // Truncations and single-byte corruptions of a realistic file.
        let base = REALISTIC.as_bytes();
        for cut in 0..base.len() {
            let _ = Meta::parse(base.get(..cut).unwrap());
        }
        let mut copy = base.to_vec();
        for i in 0..copy.len() {
            let saved = copy[i];
            for b in [
                b'"', b'\\', b'{', b'}', b'[', b']', b',', b':', 0, 0xff, b'u',
            ] {
                copy[i] = b;
                let _ = Meta::parse(&copy);
            }
            copy[i] = saved;
        }
    }

    #[test]
    fn errors_are_422() {
        use crate::wire::WireError;
        let errors = [
            AppMetaError::MissingDefaultPath,
            AppMetaError::UnknownAccess,
            AppMetaError::TooManyPaths,
            AppMetaError::InvalidJson {
                offset: 3,
                reason: "x",
            },
        ];
        for e in errors {
            assert_eq!(e.http_status(), 422);
            assert!(e.code().starts_with("app_meta_"));
        }
        assert_eq!(
            AppMetaError::UnknownTemplateVariable.code(),
            "app_meta_unknown_template_variable"
        );
    }
}
