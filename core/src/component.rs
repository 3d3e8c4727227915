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

/// `@authority`: lowercase, default port for the scheme removed (RFC 9421 §2.2.3).
fn write_authority(sink: &mut Sink<'_>, scheme: &str, authority: &str) {
    let default_port = if scheme.eq_ignore_ascii_case("https") {
        ":443"
    } else {
        ":80"
    };
    // Only a port after the host (or after `]` for IPv6 literals) is a port.
    let host = match authority.strip_suffix(default_port) {
        Some(h) if !h.is_empty() && (!h.contains(':') || h.ends_with(']')) => h,
        _ => authority,
    };
    write_lower(sink, host);
}

/// One line per occurrence of the named query parameter (RFC 9421 §2.2.8): the query is
/// parsed as `application/x-www-form-urlencoded` and names and values are re-encoded with
/// that format's percent-encode set, spaces as `%20`.
pub(crate) fn for_each_query_param(
    query: Option<&str>,
    name: &str,
    mut f: impl FnMut(&str),
) -> usize {
    let mut count = 0;
    for pair in query.unwrap_or("").split('&').filter(|p| !p.is_empty()) {
        let (n, v) = pair.split_once('=').unwrap_or((pair, ""));
        if reencoded(n).eq(name.bytes()) {
            count += 1;
            f(v);
        }
    }
    count
}

/// Writes a query value in re-encoded form.
pub(crate) fn write_reencoded(sink: &mut Sink<'_>, raw: &str) {
    for b in reencoded(raw) {
        sink.push_byte(b);
    }
}

/// The re-encoded bytes of a raw query name or value, produced lazily so that comparing and
/// writing need no buffer.
fn reencoded(raw: &str) -> impl Iterator<Item = u8> + '_ {
    FormDecode {
        bytes: raw.as_bytes(),
        pos: 0,
    }
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
            // across them, which we refuse rather than get subtly wrong.
            for (i, v) in fields.values(name).enumerate() {
                let d = Dictionary::parse(as_text(v)?).map_err(BaseError::Structured)?;
                for earlier in fields.values(name).take(i) {
                    let e = Dictionary::parse(as_text(earlier)?).map_err(BaseError::Structured)?;
                    if d.iter().any(|(k, _)| e.get(k).is_some()) {
                        return Err(BaseError::UnsupportedComponent);
                    }
                }
                if i > 0 && !d.is_empty() {
                    sink.push_str(", ");
                }
                sf::write_dictionary(sink, &d);
            }
        }
        SfType::List => {
            for (i, v) in fields.values(name).enumerate() {
                let l = List::parse(as_text(v)?).map_err(BaseError::Structured)?;
                if i > 0 && l.iter().next().is_some() {
                    sink.push_str(", ");
                }
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
