//! Covered components (RFC 9421 §2): what an identifier such as `"@query-param";name="id"`
//! means, and the bytes it contributes to the signature base.
//!
//! Identifiers are checked strictly before any value is produced: a field name must be
//! lowercase token characters, derived names must be known, every component parameter must be
//! one RFC 9421 defines and allowed on that component, and no parameter may repeat. Anything
//! this implementation cannot compute exactly (`;tr`, `;sf` on a field whose structured type it
//! does not know) is [`BaseError::UnsupportedComponent`], never a guess.

use crate::base::BaseError;
use crate::message::{Fields, Request};
use crate::sf::{self, BareItem, Dictionary, Item, List, Member};
use crate::sink::Sink;

/// The derived components of RFC 9421 §2.2.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Derived {
    /// `@method`
    Method,
    /// `@target-uri`
    TargetUri,
    /// `@authority`
    Authority,
    /// `@scheme`
    Scheme,
    /// `@request-target`
    RequestTarget,
    /// `@path`
    Path,
    /// `@query`
    Query,
    /// `@query-param` (needs `;name`)
    QueryParam,
    /// `@status` (responses only)
    Status,
}

impl Derived {
    fn from_name(name: &str) -> Option<Derived> {
        Some(match name {
            "@method" => Derived::Method,
            "@target-uri" => Derived::TargetUri,
            "@authority" => Derived::Authority,
            "@scheme" => Derived::Scheme,
            "@request-target" => Derived::RequestTarget,
            "@path" => Derived::Path,
            "@query" => Derived::Query,
            "@query-param" => Derived::QueryParam,
            "@status" => Derived::Status,
            _ => return None,
        })
    }
}

/// A component's name: derived, or an HTTP field.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Name<'a> {
    /// A derived component.
    Derived(Derived),
    /// A field, by its lowercase name.
    Field(&'a str),
}

/// How a field's value is taken (RFC 9421 §2.1).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FieldForm<'a> {
    /// Trimmed values joined with `, `.
    Plain,
    /// `;sf`: re-serialised as a structured field.
    Structured,
    /// `;bs`: each value wrapped as a byte sequence.
    ByteSequence,
    /// `;key="k"`: one dictionary member's value (the key as escaped string content).
    Key(&'a str),
}

/// A validated component identifier.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Component<'a> {
    /// The identifier as received (serialised back canonically, parameters in their order).
    pub item: Item<'a>,
    /// What it names.
    pub name: Name<'a>,
    /// For fields, how the value is formed.
    pub form: FieldForm<'a>,
    /// `;req`: taken from the request a response answers.
    pub req: bool,
    /// For `@query-param`, the `name` parameter's content.
    pub query_name: Option<&'a str>,
}

impl<'a> Component<'a> {
    /// Checks an identifier from a `Signature-Input` inner list.
    pub fn parse(item: Item<'a>) -> Result<Component<'a>, BaseError> {
        let BareItem::String(raw) = item.bare else {
            return Err(BaseError::InvalidComponent);
        };
        if item.params.has_duplicates() {
            return Err(BaseError::InvalidComponent);
        }
        let name = if raw.starts_with('@') {
            match Derived::from_name(raw) {
                Some(d) => Name::Derived(d),
                // `@signature-params` is never covered; other `@` names are unknown to us.
                None => return Err(BaseError::InvalidComponent),
            }
        } else if !raw.is_empty() && raw.bytes().all(is_field_name_byte) {
            Name::Field(raw)
        } else {
            return Err(BaseError::InvalidComponent);
        };
        let mut c = Component {
            item,
            name,
            form: FieldForm::Plain,
            req: false,
            query_name: None,
        };
        let is_field = matches!(name, Name::Field(_));
        for (key, value) in item.params.iter() {
            match (key, value) {
                ("req", BareItem::Boolean(true)) => c.req = true,
                ("sf", BareItem::Boolean(true)) if is_field => c.set_form(FieldForm::Structured)?,
                ("bs", BareItem::Boolean(true)) if is_field => {
                    c.set_form(FieldForm::ByteSequence)?
                }
                ("key", BareItem::String(k)) if is_field => c.set_form(FieldForm::Key(k))?,
                ("name", BareItem::String(n)) if name == Name::Derived(Derived::QueryParam) => {
                    c.query_name = Some(n)
                }
                ("tr", BareItem::Boolean(true)) if is_field => {
                    return Err(BaseError::UnsupportedComponent);
                }
                // A parameter RFC 9421 defines but used where it does not apply, a wrong
                // value type, or an unknown parameter: the signer and we would disagree.
                _ => return Err(BaseError::InvalidComponent),
            }
        }
        if name == Name::Derived(Derived::QueryParam) && c.query_name.is_none() {
            return Err(BaseError::InvalidComponent);
        }
        if c.req && name == Name::Derived(Derived::Status) {
            return Err(BaseError::InvalidComponent);
        }
        Ok(c)
    }

    fn set_form(&mut self, form: FieldForm<'a>) -> Result<(), BaseError> {
        // `;sf`, `;bs` and `;key` each define the value differently; combined they are
        // ambiguous (RFC 9421 §2.1.3 forbids `bs` with `sf`/`key`).
        if self.form != FieldForm::Plain {
            return Err(BaseError::InvalidComponent);
        }
        self.form = form;
        Ok(())
    }

    /// Whether two identifiers name the same component: same name, same parameters in any
    /// order (RFC 9421 §2.5 forbids covering one twice).
    pub fn same_as(&self, other: &Component<'_>) -> bool {
        let (a, b) = (self.item, other.item);
        a.bare == b.bare
            && a.params.len() == b.params.len()
            && a.params.iter().all(|(k, v)| b.params.get(k) == Some(v))
    }

    /// The field name when this component is a field.
    pub fn field_name(&self) -> Option<&'a str> {
        match self.name {
            Name::Field(f) => Some(f),
            Name::Derived(_) => None,
        }
    }
}

fn is_field_name_byte(b: u8) -> bool {
    b.is_ascii_lowercase() || b.is_ascii_digit() || b"!#$%&'*+-.^_`|~".contains(&b)
}

/// Writes one base line's value for a derived component of a request.
pub(crate) fn write_derived<F: Fields + ?Sized>(
    sink: &mut Sink<'_>,
    c: &Component<'_>,
    d: Derived,
    req: &Request<'_, F>,
) -> Result<(), BaseError> {
    check_text(req.method)?;
    check_text(req.scheme)?;
    check_text(req.authority)?;
    check_text(req.path)?;
    if let Some(q) = req.query {
        check_text(q)?;
    }
    match d {
        Derived::Method => sink.push_str(req.method),
        Derived::TargetUri => {
            write_lower(sink, req.scheme);
            sink.push_str("://");
            write_authority(sink, req.scheme, req.authority);
            write_path(sink, req.path);
            write_query(sink, req.query);
        }
        Derived::Authority => write_authority(sink, req.scheme, req.authority),
        Derived::Scheme => write_lower(sink, req.scheme),
        Derived::RequestTarget => {
            write_path(sink, req.path);
            write_query(sink, req.query);
        }
        Derived::Path => write_path(sink, req.path),
        Derived::Query => {
            sink.push_byte(b'?');
            sink.push_str(req.query.unwrap_or(""));
        }
        // Written by the caller, one line per occurrence.
        Derived::QueryParam | Derived::Status => {
            let _ = c;
            return Err(BaseError::InvalidComponent);
        }
    }
    Ok(())
}

/// The base must never contain a raw line break: one would let a value forge further lines.
fn check_text(s: &str) -> Result<(), BaseError> {
    if s.bytes().any(|b| b == b'\r' || b == b'\n' || b == 0) {
        return Err(BaseError::InvalidFieldValue);
    }
    Ok(())
}

fn write_lower(sink: &mut Sink<'_>, s: &str) {
    for b in s.bytes() {
        sink.push_byte(b.to_ascii_lowercase());
    }
}

fn write_path(sink: &mut Sink<'_>, path: &str) {
    sink.push_str(if path.is_empty() { "/" } else { path });
}

fn write_query(sink: &mut Sink<'_>, query: Option<&str>) {
    if let Some(q) = query {
        sink.push_byte(b'?');
        sink.push_str(q);
    }
}

/// `@authority`: lowercase, and the port removed when it is the scheme's default or empty
/// (RFC 9421 §2.2.3, RFC 9110 §4.2.3, RFC 3986 §6.2.3: `host:` is `host`).
fn write_authority(sink: &mut Sink<'_>, scheme: &str, authority: &str) {
    let default_port = if scheme.eq_ignore_ascii_case("https") {
        "443"
    } else {
        "80"
    };
    let host = match split_port(authority) {
        Some((host, port)) if port.is_empty() || port == default_port => host,
        _ => authority,
    };
    write_lower(sink, host);
}

/// Splits `host:port`. Only a `:` after the host (or after `]` for IPv6 literals) followed by
/// digits only is a port delimiter.
fn split_port(authority: &str) -> Option<(&str, &str)> {
    let (host, port) = authority.rsplit_once(':')?;
    let host_ok = !host.is_empty() && (!host.contains(':') || host.ends_with(']'));
    (host_ok && port.bytes().all(|b| b.is_ascii_digit())).then_some((host, port))
}

/// The raw value of the query parameter whose re-encoded name is `name` (RFC 9421 §2.2.8): the
/// query is parsed as `application/x-www-form-urlencoded` and names and values are re-encoded
/// with that format's percent-encode set, spaces as `%20` (see [`write_reencoded`]).
///
/// A name that occurs more than once "MUST NOT be included" (RFC 9421 §2.2.8; applications
/// disagree on which of the values they read): covering it is
/// [`BaseError::UnsupportedComponent`]. An absent name is [`BaseError::MissingComponent`].
pub(crate) fn query_param<'q>(query: Option<&'q str>, name: &str) -> Result<&'q str, BaseError> {
    let mut found = None;
    for pair in query.unwrap_or("").split('&').filter(|p| !p.is_empty()) {
        let (n, v) = pair.split_once('=').unwrap_or((pair, ""));
        if reencoded(n).eq(name.bytes()) {
            if found.is_some() {
                return Err(BaseError::UnsupportedComponent);
            }
            found = Some(v);
        }
    }
    found.ok_or(BaseError::MissingComponent)
}

/// Writes a query value in re-encoded form.
pub(crate) fn write_reencoded(sink: &mut Sink<'_>, raw: &str) {
    for b in reencoded(raw) {
        sink.push_byte(b);
    }
}

/// The re-encoded bytes of a raw query name or value, produced lazily so that comparing and
/// writing need no buffer: WHATWG percent-decoding, "UTF-8 decode without BOM" (each invalid
/// sequence becomes U+FFFD), then percent-encoding with the `application/x-www-form-urlencoded`
/// set.
fn reencoded(raw: &str) -> impl Iterator<Item = u8> + '_ {
    Utf8Lossy::new(FormDecode {
        bytes: raw.as_bytes(),
        pos: 0,
    })
    .flat_map(|b| {
        let keep = b.is_ascii_alphanumeric() || b"*-._".contains(&b);
        let hex = b"0123456789ABCDEF";
        let enc = [
            b'%',
            hex.get(usize::from(b >> 4)).copied().unwrap_or(b'0'),
            hex.get(usize::from(b & 15)).copied().unwrap_or(b'0'),
        ];
        let (arr, n) = if keep { ([b, 0, 0], 1) } else { (enc, 3) };
        arr.into_iter().take(n)
    })
}

/// The UTF-8 encoding of U+FFFD REPLACEMENT CHARACTER.
const REPLACEMENT: [u8; 3] = [0xEF, 0xBF, 0xBD];

/// The WHATWG Encoding Standard's UTF-8 decoder followed by UTF-8 encoding, as a byte stream:
/// well-formed sequences pass through unchanged and every maximal ill-formed subpart becomes
/// U+FFFD, exactly as "UTF-8 decode without BOM" then "UTF-8 encode" would give.
struct Utf8Lossy<I> {
    inner: I,
    /// Bytes of the sequence being read (lead byte first).
    seq: [u8; 4],
    seq_len: usize,
    /// Continuation bytes the current sequence needs in all (0: no sequence started).
    needed: usize,
    lower: u8,
    upper: u8,
    /// A byte that ended an ill-formed sequence and must be read again.
    again: Option<u8>,
    /// Output waiting to be handed out.
    out: [u8; 4],
    out_pos: usize,
    out_len: usize,
}

impl<I: Iterator<Item = u8>> Utf8Lossy<I> {
    fn new(inner: I) -> Self {
        Utf8Lossy {
            inner,
            seq: [0; 4],
            seq_len: 0,
            needed: 0,
            lower: 0x80,
            upper: 0xBF,
            again: None,
            out: [0; 4],
            out_pos: 0,
            out_len: 0,
        }
    }

    fn queue(&mut self, bytes: &[u8]) {
        self.out = [0; 4];
        for (dst, src) in self.out.iter_mut().zip(bytes) {
            *dst = *src;
        }
        self.out_pos = 0;
        self.out_len = bytes.len().min(4);
    }

    fn reset(&mut self) {
        self.seq_len = 0;
        self.needed = 0;
        self.lower = 0x80;
        self.upper = 0xBF;
    }
}

impl<I: Iterator<Item = u8>> Iterator for Utf8Lossy<I> {
    type Item = u8;

    fn next(&mut self) -> Option<u8> {
        loop {
            if self.out_pos < self.out_len {
                let b = self.out.get(self.out_pos).copied();
                self.out_pos += 1;
                return b;
            }
            let Some(byte) = self.again.take().or_else(|| self.inner.next()) else {
                if self.needed != 0 {
                    self.reset();
                    self.queue(&REPLACEMENT);
                    continue;
                }
                return None;
            };
            if self.needed == 0 {
                self.needed = match byte {
                    0x00..=0x7F => return Some(byte),
                    0xC2..=0xDF => 1,
                    0xE0..=0xEF => {
                        match byte {
                            0xE0 => self.lower = 0xA0,
                            0xED => self.upper = 0x9F,
                            _ => {}
                        }
                        2
                    }
                    0xF0..=0xF4 => {
                        match byte {
                            0xF0 => self.lower = 0x90,
                            0xF4 => self.upper = 0x8F,
                            _ => {}
                        }
                        3
                    }
                    _ => {
                        self.queue(&REPLACEMENT);
                        continue;
                    }
                };
                self.seq = [byte, 0, 0, 0];
                self.seq_len = 1;
                continue;
            }
            if !(self.lower..=self.upper).contains(&byte) {
                self.reset();
                self.again = Some(byte);
                self.queue(&REPLACEMENT);
                continue;
            }
            self.lower = 0x80;
            self.upper = 0xBF;
            if let Some(slot) = self.seq.get_mut(self.seq_len) {
                *slot = byte;
            }
            self.seq_len += 1;
            if self.seq_len > self.needed {
                let seq = self.seq;
                let len = self.seq_len;
                self.reset();
                self.queue(seq.get(..len).unwrap_or(&REPLACEMENT));
            }
        }
    }
}

/// WHATWG urlencoded percent-decoding: `+` is a space, `%XX` a byte, a malformed `%` itself.
struct FormDecode<'a> {
    bytes: &'a [u8],
    pos: usize,
}

impl Iterator for FormDecode<'_> {
    type Item = u8;
    fn next(&mut self) -> Option<u8> {
        let b = *self.bytes.get(self.pos)?;
        self.pos += 1;
        match b {
            b'+' => Some(b' '),
            b'%' => {
                let hi = self
                    .bytes
                    .get(self.pos)
                    .and_then(|h| (*h as char).to_digit(16));
                let lo = self
                    .bytes
                    .get(self.pos + 1)
                    .and_then(|h| (*h as char).to_digit(16));
                match (hi, lo) {
                    (Some(h), Some(l)) => {
                        self.pos += 2;
                        Some((h * 16 + l) as u8)
                    }
                    _ => Some(b'%'),
                }
            }
            other => Some(other),
        }
    }
}

/// Structured types of the fields we can re-serialise for `;sf`. RFC 9421 requires the
/// signer and verifier to know the type; a field not listed here is unsupported.
fn structured_type(name: &str) -> Option<SfType> {
    Some(match name {
        "signature"
        | "signature-input"
        | "content-digest"
        | "repr-digest"
        | "want-content-digest"
        | "want-repr-digest"
        | "accept-signature"
        | "priority"
        | "example-dict" => SfType::Dictionary,
        "cache-status" | "proxy-status" | "accept-ch" | "example-list" => SfType::List,
        "example-item" => SfType::Item,
        _ => return None,
    })
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum SfType {
    Dictionary,
    List,
    Item,
}

/// Writes a field component's value. Returns `MissingComponent` when the field is absent.
pub(crate) fn write_field<F: Fields + ?Sized>(
    sink: &mut Sink<'_>,
    c: &Component<'_>,
    name: &str,
    fields: &F,
) -> Result<(), BaseError> {
    let mut lines = fields.values(name).peekable();
    if lines.peek().is_none() {
        return Err(BaseError::MissingComponent);
    }
    for v in fields.values(name) {
        if v.iter().any(|b| *b == b'\r' || *b == b'\n' || *b == 0) {
            return Err(BaseError::InvalidFieldValue);
        }
    }
    match c.form {
        FieldForm::Plain => {
            for (i, v) in fields.values(name).enumerate() {
                if i > 0 {
                    sink.push_str(", ");
                }
                sink.push(trim_ows(v));
            }
        }
        FieldForm::ByteSequence => {
            for (i, v) in fields.values(name).enumerate() {
                if i > 0 {
                    sink.push_str(", ");
                }
                sf::write_bytes(sink, trim_ows(v));
            }
        }
        FieldForm::Structured => write_structured(sink, name, fields)?,
        FieldForm::Key(key) => write_dict_key(sink, key, name, fields)?,
    }
    Ok(())
}

fn trim_ows(v: &[u8]) -> &[u8] {
    let start = v
        .iter()
        .position(|b| *b != b' ' && *b != b'\t')
        .unwrap_or(v.len());
    let end = v
        .iter()
        .rposition(|b| *b != b' ' && *b != b'\t')
        .map_or(start, |e| e + 1);
    v.get(start..end).unwrap_or(&[])
}

fn as_text(v: &[u8]) -> Result<&str, BaseError> {
    core::str::from_utf8(v).map_err(|_| BaseError::InvalidFieldValue)
}

fn write_structured<F: Fields + ?Sized>(
    sink: &mut Sink<'_>,
    name: &str,
    fields: &F,
) -> Result<(), BaseError> {
    let ty = structured_type(name).ok_or(BaseError::UnsupportedComponent)?;
    match ty {
        SfType::Dictionary => {
            // Lines are parsed one by one; a key repeated across lines would need merging
            // across them, which we refuse rather than get subtly wrong. Empty lines add no
            // member, so they add no separator either.
            let mut wrote = false;
            for (i, v) in fields.values(name).enumerate() {
                let d = Dictionary::parse(as_text(v)?).map_err(BaseError::Structured)?;
                for earlier in fields.values(name).take(i) {
                    let e = Dictionary::parse(as_text(earlier)?).map_err(BaseError::Structured)?;
                    if d.iter().any(|(k, _)| e.get(k).is_some()) {
                        return Err(BaseError::UnsupportedComponent);
                    }
                }
                if d.is_empty() {
                    continue;
                }
                if wrote {
                    sink.push_str(", ");
                }
                wrote = true;
                sf::write_dictionary(sink, &d);
            }
        }
        SfType::List => {
            let mut wrote = false;
            for v in fields.values(name) {
                let l = List::parse(as_text(v)?).map_err(BaseError::Structured)?;
                if l.iter().next().is_none() {
                    continue;
                }
                if wrote {
                    sink.push_str(", ");
                }
                wrote = true;
                sf::write_list(sink, &l);
            }
        }
        SfType::Item => {
            let mut it = fields.values(name);
            let (Some(v), None) = (it.next(), it.next()) else {
                return Err(BaseError::InvalidFieldValue);
            };
            let item = sf::parse_item(as_text(v)?).map_err(BaseError::Structured)?;
            sf::write_item(sink, &item);
        }
    }
    Ok(())
}

fn write_dict_key<F: Fields + ?Sized>(
    sink: &mut Sink<'_>,
    key: &str,
    name: &str,
    fields: &F,
) -> Result<(), BaseError> {
    let mut found: Option<Member<'_>> = None;
    for v in fields.values(name) {
        let d = Dictionary::parse(as_text(v)?).map_err(BaseError::Structured)?;
        // The last occurrence wins, across lines as within one (RFC 8941 §4.2.2).
        if let Some(m) = d.iter().filter(|(k, _)| sf::unescaped_eq(key, k)).last() {
            found = Some(m.1);
        }
    }
    let member = found.ok_or(BaseError::MissingComponent)?;
    sf::write_member(sink, &member);
    Ok(())
}
