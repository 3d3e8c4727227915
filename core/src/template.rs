//! Header templates: plain `{{ variable }}` substitution, no template engine.
//!
//! An app's access rules may add headers to the request the gateway forwards, such as
//! `"X-Ptl-Client-Id": "{{ auth.client_id }}"`. freeshard renders these with a full template
//! engine inside its core; here the whole language is: literal text, and `{{ name }}` where `name`
//! is one of the seven [`Variable`]s (spaces or tabs around the name are allowed). There are no
//! filters, expressions or escapes, so a template can be checked completely when `app_meta.json`
//! is loaded ([`validate`]) and rendering can only fail on the values or the buffer.
//!
//! Rendered values never contain CR, LF or any other control character except HTAB: a header
//! value is a line in the forwarded request, and a value that breaks the line would let whoever
//! controls it (a peer's name, say) add headers of their choosing. A literal with such a character
//! is refused at load time; a context value with one is refused at render time with
//! [`TemplateError::UnsafeValue`]. The one value that is multi-line by nature,
//! `portal.public_key_pem`, has each line break (LF or CRLF) rendered as the two characters `\n`;
//! apps recover the PEM with `.replace("\\n", "\n")`, which is unambiguous because PEM text
//! contains no backslash. Bytes outside ASCII pass through unchanged (a transport built on the
//! `http` crate should build the value with `HeaderValue::from_bytes`).
//!
//! # Resource limits
//!
//! Rendering needs no memory beyond the caller's buffer; [`rendered_len`] tells how much that is,
//! and [`render`] refuses a short buffer with [`TemplateError::BufferTooSmall`] before writing.
//! Time is linear in the template plus the values it names.

use crate::wire::wire_error;

/// A variable a header template may name.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Variable {
    /// `auth.client_type`: `anonymous`, `terminal` or `peer`.
    ClientType,
    /// `auth.client_id`: the client's full ID (a peer's 48-character ID), empty for anonymous.
    ClientId,
    /// `auth.client_name`: the name the shard owner gave the client, empty for anonymous.
    ClientName,
    /// `portal.id`: this shard's full ID.
    PortalId,
    /// `portal.short_id`: this shard's short ID, as used in its domain.
    PortalShortId,
    /// `portal.domain`: this shard's domain.
    PortalDomain,
    /// `portal.public_key_pem`: this shard's public key as PEM, line breaks rendered as `\n`.
    PortalPublicKeyPem,
}

impl Variable {
    /// Every variable, in documentation order.
    pub const ALL: [Variable; 7] = [
        Variable::ClientType,
        Variable::ClientId,
        Variable::ClientName,
        Variable::PortalId,
        Variable::PortalShortId,
        Variable::PortalDomain,
        Variable::PortalPublicKeyPem,
    ];

    /// The name used inside `{{ }}`, e.g. `auth.client_id`.
    pub const fn name(self) -> &'static str {
        match self {
            Variable::ClientType => "auth.client_type",
            Variable::ClientId => "auth.client_id",
            Variable::ClientName => "auth.client_name",
            Variable::PortalId => "portal.id",
            Variable::PortalShortId => "portal.short_id",
            Variable::PortalDomain => "portal.domain",
            Variable::PortalPublicKeyPem => "portal.public_key_pem",
        }
    }

    /// The variable with this exact (case-sensitive) name.
    pub fn from_name(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|v| v.name() == name)
    }
}

/// The values templates are rendered with, for one request.
///
/// The `auth.*` values describe the client the access decision was made for; they are empty
/// strings for an anonymous client, and `client_type` is then `anonymous`
/// (see [`crate::acl::ClientKind::as_str`]). The `portal.*` values describe this shard.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct TemplateContext<'a> {
    /// `auth.client_type`.
    pub client_type: &'a str,
    /// `auth.client_id`: for a peer its full ID, never a prefix of it.
    pub client_id: &'a str,
    /// `auth.client_name`: the name this shard's owner gave the client, never a name the client
    /// chose for itself.
    pub client_name: &'a str,
    /// `portal.id`.
    pub portal_id: &'a str,
    /// `portal.short_id`.
    pub portal_short_id: &'a str,
    /// `portal.domain`.
    pub portal_domain: &'a str,
    /// `portal.public_key_pem`, with its line breaks as they are.
    pub portal_public_key_pem: &'a str,
}

impl<'a> TemplateContext<'a> {
    /// The value of `variable` in this context.
    pub fn value(&self, variable: Variable) -> &'a str {
        match variable {
            Variable::ClientType => self.client_type,
            Variable::ClientId => self.client_id,
            Variable::ClientName => self.client_name,
            Variable::PortalId => self.portal_id,
            Variable::PortalShortId => self.portal_short_id,
            Variable::PortalDomain => self.portal_domain,
            Variable::PortalPublicKeyPem => self.portal_public_key_pem,
        }
    }
}

/// Why a template could not be checked or rendered.
///
/// Templates from an [`crate::app_meta::AppMeta`] were validated at load time, so rendering one
/// can only fail with `UnsafeValue` or `BufferTooSmall`; all variants are therefore the host's
/// problem (500), not the client's.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum TemplateError {
    /// A `{{` has no matching `}}`.
    UnclosedTag,
    /// The text between `{{` and `}}` is not one of the [`Variable`] names.
    UnknownVariable,
    /// The literal text contains a control character other than HTAB (CR, LF and NUL included).
    UnsafeLiteral,
    /// The value of `variable` contains a control character other than HTAB. Rendering it would
    /// break the header line; the value comes from the host's state (a peer name, a domain), so
    /// this is the host's bug or hostile data it stored, never something to pass on.
    UnsafeValue {
        /// The variable whose value was refused.
        variable: Variable,
    },
    /// `out` is too short; the rendered value takes `needed` bytes.
    BufferTooSmall {
        /// Length of the rendered value in bytes.
        needed: usize,
    },
}

wire_error!(TemplateError {
    TemplateError::UnclosedTag => (500, "template_unclosed_tag", "header template has '{{{{' without '}}}}'"),
    TemplateError::UnknownVariable => (500, "template_unknown_variable", "header template names an unknown variable"),
    TemplateError::UnsafeLiteral => (500, "template_unsafe_literal", "header template text contains a control character"),
    TemplateError::UnsafeValue { variable } => (500, "template_unsafe_value", "value of {} contains a control character", variable.name()),
    TemplateError::BufferTooSmall { needed } => (500, "template_buffer_too_small", "rendered header value needs {} bytes", needed),
});

/// Checks a template's syntax and literal text without rendering it.
pub fn validate(template: &str) -> Result<(), TemplateError> {
    Pieces { rest: template }.try_for_each(|piece| piece.map(drop))
}

/// The length in bytes of `template` rendered with `ctx`.
pub fn rendered_len(template: &str, ctx: &TemplateContext<'_>) -> Result<usize, TemplateError> {
    let mut len = 0usize;
    emit(template, ctx, &mut |bytes| {
        // Saturating is enough: a length near usize::MAX fits no buffer anyway.
        len = len.saturating_add(bytes.len());
        Ok(())
    })?;
    Ok(len)
}

/// Renders `template` with `ctx` into `out` and returns the rendered header value.
///
/// Fails without writing if the template or a value it names is unsafe, or if `out` is shorter
/// than [`rendered_len`].
///
/// ```
/// use shardpeer_core::template::{TemplateContext, render};
/// let ctx = TemplateContext { client_type: "peer", client_id: "abc", ..Default::default() };
/// let mut buf = [0u8; 64];
/// assert_eq!(render("{{auth.client_type}}:{{ auth.client_id }}", &ctx, &mut buf), Ok("peer:abc"));
/// ```
pub fn render<'o>(
    template: &str,
    ctx: &TemplateContext<'_>,
    out: &'o mut [u8],
) -> Result<&'o str, TemplateError> {
    let needed = rendered_len(template, ctx)?;
    let Some(out) = out.get_mut(..needed) else {
        return Err(TemplateError::BufferTooSmall { needed });
    };
    let mut len = 0usize;
    emit(template, ctx, &mut |bytes| {
        let end = len.checked_add(bytes.len());
        let slot = end.and_then(|end| out.get_mut(len..end));
        // Cannot fail: the measuring pass emitted the same bytes.
        let slot = slot.ok_or(TemplateError::BufferTooSmall { needed })?;
        slot.copy_from_slice(bytes);
        len += bytes.len();
        Ok(())
    })?;
    let out: &'o [u8] = out;
    // Whole `&str`s and ASCII `\n` were copied, so this cannot fail.
    core::str::from_utf8(out).map_err(|_| TemplateError::BufferTooSmall { needed })
}

/// Feeds the rendered bytes of `template` to `sink`, piece by piece. Measuring and writing both
/// go through here so they cannot disagree.
fn emit(
    template: &str,
    ctx: &TemplateContext<'_>,
    sink: &mut dyn FnMut(&[u8]) -> Result<(), TemplateError>,
) -> Result<(), TemplateError> {
    for piece in (Pieces { rest: template }) {
        match piece? {
            Piece::Literal(text) => sink(text.as_bytes())?,
            Piece::Variable(Variable::PortalPublicKeyPem) => {
                emit_multiline(ctx.portal_public_key_pem.as_bytes(), sink)
                    .map_err(|()| unsafe_value(Variable::PortalPublicKeyPem))?;
            }
            Piece::Variable(variable) => {
                let value = ctx.value(variable).as_bytes();
                if !value.iter().all(|&b| is_safe(b)) {
                    return Err(unsafe_value(variable));
                }
                sink(value)?;
            }
        }
    }
    Ok(())
}

fn unsafe_value(variable: Variable) -> TemplateError {
    TemplateError::UnsafeValue { variable }
}

/// Emits a multi-line value with each LF or CRLF as the two characters `\n`. A CR that does not
/// end a line is still refused. The outer `Err(())` means "unsafe"; sink errors are passed as is,
/// which cannot happen for a sink that only counts and cannot happen for the writer either.
fn emit_multiline(
    value: &[u8],
    sink: &mut dyn FnMut(&[u8]) -> Result<(), TemplateError>,
) -> Result<(), ()> {
    let mut lines = value.split(|&b| b == b'\n').peekable();
    while let Some(line) = lines.next() {
        let line_break = lines.peek().is_some();
        let line = if line_break {
            line.strip_suffix(b"\r").unwrap_or(line)
        } else {
            line
        };
        if !line.iter().all(|&b| is_safe(b)) {
            return Err(());
        }
        sink(line).map_err(drop)?;
        if line_break {
            sink(b"\\n").map_err(drop)?;
        }
    }
    Ok(())
}

/// Bytes allowed in a header value line: HTAB, visible ASCII, space, and anything non-ASCII.
fn is_safe(b: u8) -> bool {
    b == b'\t' || (b >= 0x20 && b != 0x7F)
}

enum Piece<'t> {
    Literal(&'t str),
    Variable(Variable),
}

/// Splits a template into literal text and variables, checking both. Stops after an error.
struct Pieces<'t> {
    rest: &'t str,
}

impl<'t> Iterator for Pieces<'t> {
    type Item = Result<Piece<'t>, TemplateError>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.rest.is_empty() {
            return None;
        }
        let result = match self.rest.find("{{") {
            Some(0) => self.variable(),
            Some(open) => self.literal(open),
            None => self.literal(self.rest.len()),
        };
        if result.is_err() {
            self.rest = "";
        }
        Some(result)
    }
}

impl<'t> Pieces<'t> {
    fn literal(&mut self, end: usize) -> Result<Piece<'t>, TemplateError> {
        let (text, rest) = self.rest.split_at_checked(end).unwrap_or((self.rest, ""));
        self.rest = rest;
        if text.bytes().all(is_safe) {
            Ok(Piece::Literal(text))
        } else {
            Err(TemplateError::UnsafeLiteral)
        }
    }

    /// `self.rest` starts with `{{`.
    fn variable(&mut self) -> Result<Piece<'t>, TemplateError> {
        let inside = self.rest.get(2..).unwrap_or_default();
        let Some((name, rest)) = inside.split_once("}}") else {
            return Err(TemplateError::UnclosedTag);
        };
        self.rest = rest;
        Variable::from_name(name.trim_matches([' ', '\t']))
            .map(Piece::Variable)
            .ok_or(TemplateError::UnknownVariable)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const PEM: &str = "-----BEGIN PUBLIC KEY-----\nMCowBQYDK2VwAyEA\n-----END PUBLIC KEY-----\n";

    fn ctx() -> TemplateContext<'static> {
        TemplateContext {
            client_type: "peer",
            client_id: "q3kzv7x2m4n8p5r6t9w2y4b7c3d8f6g5h2j9k4l7m3n8p5r6",
            client_name: "Alice's shard",
            portal_id: "a2b3c4d5e6f7g8h9j2k3l4m5n6p7q8r9s2t3u4v5w6x7y8z9",
            portal_short_id: "a2b3c4",
            portal_domain: "a2b3c4.shard.example",
            portal_public_key_pem: PEM,
        }
    }

    fn r(
        template: &str,
        ctx: &TemplateContext<'_>,
    ) -> Result<heapless::String<512>, TemplateError> {
        let mut buf = [0u8; 512];
        render(template, ctx, &mut buf).map(|s| heapless::String::try_from(s).unwrap())
    }

    #[test]
    fn renders_every_variable() {
        let c = ctx();
        for v in Variable::ALL {
            let spaced = r(&format_tag(v, " "), &c).unwrap();
            let tight = r(&format_tag(v, ""), &c).unwrap();
            assert_eq!(spaced, tight);
            if v != Variable::PortalPublicKeyPem {
                assert_eq!(spaced.as_str(), c.value(v), "{}", v.name());
            }
        }
    }

    fn format_tag(v: Variable, pad: &str) -> heapless::String<64> {
        let mut s = heapless::String::new();
        for part in ["{{", pad, v.name(), pad, "}}"] {
            s.push_str(part).unwrap();
        }
        s
    }

    #[test]
    fn literal_text_and_tabs_inside_braces() {
        assert_eq!(
            r("id={{\tportal.short_id\t}};", &ctx()).unwrap().as_str(),
            "id=a2b3c4;"
        );
        assert_eq!(
            r("no tags at all", &ctx()).unwrap().as_str(),
            "no tags at all"
        );
        assert_eq!(r("", &ctx()).unwrap().as_str(), "");
        assert_eq!(r("{ } }} {x}", &ctx()).unwrap().as_str(), "{ } }} {x}");
    }

    #[test]
    fn pem_line_breaks_become_backslash_n() {
        let out = r("{{ portal.public_key_pem }}", &ctx()).unwrap();
        assert_eq!(
            out.as_str(),
            "-----BEGIN PUBLIC KEY-----\\nMCowBQYDK2VwAyEA\\n-----END PUBLIC KEY-----\\n"
        );
        assert!(!out.contains('\n') && !out.contains('\r'));
        let crlf = TemplateContext {
            portal_public_key_pem: "A\r\nB",
            ..ctx()
        };
        assert_eq!(
            r("{{portal.public_key_pem}}", &crlf).unwrap().as_str(),
            "A\\nB"
        );
    }

    #[test]
    fn pem_with_lone_cr_is_unsafe() {
        let c = TemplateContext {
            portal_public_key_pem: "A\rB",
            ..ctx()
        };
        assert_eq!(
            r("{{portal.public_key_pem}}", &c),
            Err(TemplateError::UnsafeValue {
                variable: Variable::PortalPublicKeyPem
            })
        );
    }

    #[test]
    fn unsafe_values_rejected() {
        for bad in [
            "evil\r\nX-Admin: 1",
            "a\nb",
            "a\rb",
            "a\0b",
            "a\x1bb",
            "a\x7fb",
        ] {
            let c = TemplateContext {
                client_name: bad,
                ..ctx()
            };
            assert_eq!(
                r("{{ auth.client_name }}", &c),
                Err(TemplateError::UnsafeValue {
                    variable: Variable::ClientName
                }),
                "{bad:?}"
            );
        }
        // Values not named by the template are not looked at.
        let c = TemplateContext {
            client_name: "a\nb",
            ..ctx()
        };
        assert!(r("{{ auth.client_id }}", &c).is_ok());
    }

    #[test]
    fn tab_and_non_ascii_values_allowed() {
        let c = TemplateContext {
            client_name: "José\tand Ana",
            ..ctx()
        };
        assert_eq!(
            r("{{auth.client_name}}", &c).unwrap().as_str(),
            "José\tand Ana"
        );
    }

    #[test]
    fn anonymous_context_renders_empty() {
        let c = TemplateContext {
            client_type: "anonymous",
            ..Default::default()
        };
        assert_eq!(r("[{{auth.client_id}}]", &c).unwrap().as_str(), "[]");
    }

    #[test]
    fn syntax_errors() {
        assert_eq!(
            validate("{{ auth.client_id"),
            Err(TemplateError::UnclosedTag)
        );
        assert_eq!(validate("x {{"), Err(TemplateError::UnclosedTag));
        assert_eq!(
            validate("{{ auth.client_id } }"),
            Err(TemplateError::UnclosedTag)
        );
        assert_eq!(
            validate("{{ auth.secret }}"),
            Err(TemplateError::UnknownVariable)
        );
        assert_eq!(validate("{{ }}"), Err(TemplateError::UnknownVariable));
        assert_eq!(
            validate("{{ AUTH.CLIENT_ID }}"),
            Err(TemplateError::UnknownVariable)
        );
        assert_eq!(
            validate("{{ auth.client_id | upper }}"),
            Err(TemplateError::UnknownVariable)
        );
        assert_eq!(
            validate("{{{ auth.client_id }}}"),
            Err(TemplateError::UnknownVariable)
        );
        assert_eq!(validate("{{ auth.client_id }}}"), Ok(()));
    }

    #[test]
    fn unsafe_literals() {
        for bad in ["a\rb", "a\nb", "a\0b", "x\x0b", "\x7f"] {
            assert_eq!(validate(bad), Err(TemplateError::UnsafeLiteral), "{bad:?}");
        }
        assert_eq!(validate("a\tb"), Ok(()));
    }

    #[test]
    fn buffer_too_small_reports_exact_need_and_writes_nothing() {
        let c = ctx();
        let need = rendered_len("id={{portal.short_id}}", &c).unwrap();
        assert_eq!(need, 9);
        let mut buf = [b'#'; 8];
        assert_eq!(
            render("id={{portal.short_id}}", &c, &mut buf),
            Err(TemplateError::BufferTooSmall { needed: 9 })
        );
        assert_eq!(buf, [b'#'; 8]);
        let mut exact = [0u8; 9];
        assert_eq!(
            render("id={{portal.short_id}}", &c, &mut exact),
            Ok("id=a2b3c4")
        );
    }

    #[test]
    fn variable_names_round_trip() {
        for v in Variable::ALL {
            assert_eq!(Variable::from_name(v.name()), Some(v));
        }
        assert_eq!(Variable::from_name("auth"), None);
    }

    #[test]
    fn wire_codes() {
        use crate::wire::WireError;
        let e = TemplateError::UnsafeValue {
            variable: Variable::ClientName,
        };
        assert_eq!(e.http_status(), 500);
        assert_eq!(e.code(), "template_unsafe_value");
    }
}
