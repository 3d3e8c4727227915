//! The signature base (RFC 9421 §2.5): the exact bytes Ed25519 signs.
//!
//! Signer and verifier build it with the same function from the same input — the inner list
//! of `Signature-Input` — so they cannot disagree on it. The signer writes its own inner
//! list (see [`crate::sign`]) and parses it back first; the verifier passes the one it
//! received, and its parameters are serialised back in the order received, never re-ordered.
//!
//! # Resource limits
//! The base goes into a caller buffer; when it does not fit, the error says how many bytes
//! would have (`BufferTooSmall { needed }`). At most [`crate::sf::MAX_INNER_ITEMS`] components
//! are read; duplicate detection is quadratic in that bound. The first eight identifiers
//! (`PARSED_COMPONENTS`) are kept parsed on the stack while a base is built (about 100
//! bytes each), so each is parsed once; identifiers beyond them are parsed again each time
//! they are read, which costs time, never memory.

use crate::component::{self, Component, Derived, Name};
use crate::message::{Fields, Request, Response};
use crate::sf::{self, InnerIter, InnerList, Params, SfError};
use crate::sink::{BufferTooSmall, Sink};
use crate::wire::wire_error;

/// Why a signature base could not be built.
#[non_exhaustive]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BaseError {
    /// A component identifier is malformed, unknown, or has parameters that do not apply.
    InvalidComponent,
    /// A component identifier is covered twice.
    DuplicateComponent,
    /// A covered component is absent from the message (or `;req` without a request).
    MissingComponent,
    /// A valid component this implementation cannot compute exactly (`;tr`, `;sf` of an
    /// unknown field type), or one RFC 9421 forbids covering in this message (`@query-param`
    /// for a name the query has more than once, §2.2.8).
    UnsupportedComponent,
    /// A covered value contains CR, LF or NUL, or is not text where text is needed.
    InvalidFieldValue,
    /// A structured field covered with `;sf` or `;key` does not parse.
    Structured(SfError),
    /// The base does not fit the caller's buffer.
    BufferTooSmall {
        /// Bytes the complete base needs.
        needed: usize,
    },
}

wire_error!(BaseError {
    BaseError::InvalidComponent => (401, "component_invalid", "a covered component identifier is malformed or not allowed here"),
    BaseError::DuplicateComponent => (401, "component_duplicate", "a component identifier is covered twice"),
    BaseError::MissingComponent => (401, "component_missing", "a covered component is absent from the message"),
    BaseError::UnsupportedComponent => (401, "component_unsupported", "a covered component is not supported by this implementation"),
    BaseError::InvalidFieldValue => (401, "component_value_invalid", "a covered value contains a line break, NUL or non-text bytes"),
    BaseError::Structured(e) => (401, "component_sf_invalid", "a covered structured field does not parse: {}", e),
    BaseError::BufferTooSmall { needed } => (431, "signature_base_too_large", "signature base needs {} bytes", needed),
});

impl From<BufferTooSmall> for BaseError {
    fn from(e: BufferTooSmall) -> Self {
        BaseError::BufferTooSmall { needed: e.needed }
    }
}

/// The message a base is built for.
enum Target<'m, F: Fields + ?Sized, G: Fields + ?Sized> {
    Request(&'m Request<'m, F>),
    Response(&'m Response<'m, F, G>),
}

/// Builds the signature base of a request for the given `Signature-Input` inner list.
pub fn request_base<'o, F: Fields + ?Sized>(
    request: &Request<'_, F>,
    signature_params: &InnerList<'_>,
    out: &'o mut [u8],
) -> Result<&'o [u8], BaseError> {
    let components = Components::check(signature_params)?;
    write_base::<F, F>(Target::Request(request), &components, out)
}

/// Builds the signature base of a response (components with `;req` come from
/// `response.request`).
pub fn response_base<'o, F: Fields + ?Sized, G: Fields + ?Sized>(
    response: &Response<'_, F, G>,
    signature_params: &InnerList<'_>,
    out: &'o mut [u8],
) -> Result<&'o [u8], BaseError> {
    let components = Components::check(signature_params)?;
    write_base(Target::Response(response), &components, out)
}

/// [`request_base`] for components already checked (the verifier checks them first, at the
/// step its error order gives them).
pub(crate) fn request_base_checked<'o, F: Fields + ?Sized>(
    request: &Request<'_, F>,
    components: &Components<'_>,
    out: &'o mut [u8],
) -> Result<&'o [u8], BaseError> {
    write_base::<F, F>(Target::Request(request), components, out)
}

/// [`response_base`] for components already checked.
pub(crate) fn response_base_checked<'o, F: Fields + ?Sized, G: Fields + ?Sized>(
    response: &Response<'_, F, G>,
    components: &Components<'_>,
    out: &'o mut [u8],
) -> Result<&'o [u8], BaseError> {
    write_base(Target::Response(response), components, out)
}

/// Parses and checks every component identifier of an inner list: each valid, none twice.
/// Returns how many there are.
pub fn check_components(signature_params: &InnerList<'_>) -> Result<usize, BaseError> {
    Components::check(signature_params).map(|c| c.len())
}

/// How many component identifiers [`Components`] keeps parsed: the shardpeer profile covers
/// at most six, the RFC 9421 examples at most eight.
pub(crate) const PARSED_COMPONENTS: usize = 8;

/// The component identifiers of an inner list, checked as [`check_components`] says: each
/// valid, none twice. Checking parses each identifier; the first [`PARSED_COMPONENTS`] are
/// kept, so what reads them next (the verifier's coverage rules, the base) does not parse
/// them again. The others are parsed again when read, with the same (checked) result.
#[derive(Debug, Clone)]
pub(crate) struct Components<'a> {
    parsed: heapless::Vec<Component<'a>, PARSED_COMPONENTS>,
    /// The items after the parsed ones (at their end when all fit).
    rest: InnerIter<'a>,
    count: usize,
    /// The inner list's own parameters (`created`, `keyid`…).
    pub(crate) params: Params<'a>,
}

impl<'a> Components<'a> {
    /// Parses and checks the identifiers, in order: the first invalid or repeated one is the
    /// error.
    pub(crate) fn check(list: &InnerList<'a>) -> Result<Self, BaseError> {
        let mut parsed = heapless::Vec::<Component<'a>, PARSED_COMPONENTS>::new();
        let mut items = list.items();
        let mut rest = items.clone();
        let mut count = 0;
        while let Some(item) = items.next() {
            let c = Component::parse(item)?;
            // The earlier ones not kept are re-read from `rest`; they all parsed already.
            let unkept = count - parsed.len();
            let repeated = parsed.iter().any(|e| e.same_as(&c))
                || (unkept > 0
                    && rest
                        .clone()
                        .take(unkept)
                        .filter_map(|e| Component::parse(e).ok())
                        .any(|e| e.same_as(&c)));
            if repeated {
                return Err(BaseError::DuplicateComponent);
            }
            if parsed.push(c).is_ok() {
                rest = items.clone();
            }
            count += 1;
        }
        Ok(Components {
            parsed,
            rest,
            count,
            params: list.params,
        })
    }

    /// How many components are covered.
    pub(crate) fn len(&self) -> usize {
        self.count
    }

    /// The components in order.
    pub(crate) fn iter(&self) -> impl Iterator<Item = Component<'a>> + '_ {
        // `rest` yields nothing, without parsing, when every item was kept.
        let rest = self.rest.clone().filter_map(|i| Component::parse(i).ok());
        self.parsed.iter().copied().chain(rest)
    }
}

fn write_base<'o, F: Fields + ?Sized, G: Fields + ?Sized>(
    target: Target<'_, F, G>,
    components: &Components<'_>,
    out: &'o mut [u8],
) -> Result<&'o [u8], BaseError> {
    let mut sink = Sink::new(out);
    for c in components.iter() {
        write_component(&mut sink, &c, &target)?;
    }
    sink.push_str(SIGNATURE_PARAMS);
    // The items as received are the components' items: no need to read the list again.
    sf::write_inner_list_of(
        &mut sink,
        components.iter().map(|c| c.item),
        &components.params,
    );
    Ok(sink.finish()?)
}

/// What the last line of a base starts with; the rest of it is the canonical inner list.
const SIGNATURE_PARAMS: &str = "\"@signature-params\": ";

/// The canonical inner list a base built here ends with: the signer's `Signature-Input`
/// member is that same text. `None` for text that is not such a base.
pub(crate) fn signature_params_of(base: &[u8]) -> Option<&str> {
    // The list itself holds no line break: it is printable ASCII.
    let last = base.rsplit(|b| *b == b'\n').next()?;
    let list = last.strip_prefix(SIGNATURE_PARAMS.as_bytes())?;
    core::str::from_utf8(list).ok()
}

fn write_identifier(sink: &mut Sink<'_>, c: &Component<'_>) {
    sf::write_item(sink, &c.item);
    sink.push_str(": ");
}

fn write_component<F: Fields + ?Sized, G: Fields + ?Sized>(
    sink: &mut Sink<'_>,
    c: &Component<'_>,
    target: &Target<'_, F, G>,
) -> Result<(), BaseError> {
    match (target, c.req) {
        (Target::Request(req), false) => write_request_component(sink, c, req),
        (Target::Request(_), true) => Err(BaseError::InvalidComponent),
        (Target::Response(resp), true) => {
            let req = resp.request.ok_or(BaseError::MissingComponent)?;
            write_request_component(sink, c, req)
        }
        (Target::Response(resp), false) => match c.name {
            Name::Derived(Derived::Status) => {
                if !(100..=999).contains(&resp.status) {
                    return Err(BaseError::InvalidFieldValue);
                }
                write_identifier(sink, c);
                sink.push_u64(u64::from(resp.status));
                sink.push_byte(b'\n');
                Ok(())
            }
            Name::Derived(_) => Err(BaseError::InvalidComponent),
            Name::Field(f) => {
                write_identifier(sink, c);
                component::write_field(sink, c, f, resp.fields)?;
                sink.push_byte(b'\n');
                Ok(())
            }
        },
    }
}

fn write_request_component<G: Fields + ?Sized>(
    sink: &mut Sink<'_>,
    c: &Component<'_>,
    req: &Request<'_, G>,
) -> Result<(), BaseError> {
    match c.name {
        Name::Derived(Derived::Status) => Err(BaseError::InvalidComponent),
        Name::Derived(Derived::QueryParam) => {
            let name = c.query_name.ok_or(BaseError::InvalidComponent)?;
            let value = component::query_param(req.query, name)?;
            if value.bytes().any(|b| b == b'\r' || b == b'\n' || b == 0) {
                return Err(BaseError::InvalidFieldValue);
            }
            write_identifier(sink, c);
            component::write_reencoded(sink, value);
            sink.push_byte(b'\n');
            Ok(())
        }
        Name::Derived(d) => {
            write_identifier(sink, c);
            component::write_derived(sink, c, d, req)?;
            sink.push_byte(b'\n');
            Ok(())
        }
        Name::Field(f) => {
            write_identifier(sink, c);
            component::write_field(sink, c, f, req.fields)?;
            sink.push_byte(b'\n');
            Ok(())
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sf::parse_inner_list;

    const B2_FIELDS: [(&str, &str); 5] = [
        ("Host", "example.com"),
        ("Date", "Tue, 20 Apr 2021 02:07:55 GMT"),
        ("Content-Type", "application/json"),
        (
            "Content-Digest",
            "sha-512=:WZDPaVn/7XgHaAy8pmojAkGWoRx2UFChF41A2svX+TaPm+AbwAgBWnrIiYllu7BNNyealdVLvRwEmTHWXvJwew==:",
        ),
        ("Content-Length", "18"),
    ];

    fn b2_request() -> Request<'static, [(&'static str, &'static str); 5]> {
        Request {
            method: "POST",
            scheme: "https",
            authority: "example.com",
            path: "/foo",
            query: Some("param=Value&Pet=dog"),
            fields: &B2_FIELDS,
        }
    }

    fn base_of(req: &Request<'_, impl Fields + ?Sized>, params: &str) -> Result<String, BaseError> {
        let list = parse_inner_list(params).unwrap();
        let mut buf = [0u8; 2048];
        request_base(req, &list, &mut buf).map(|b| String::from_utf8(b.to_vec()).unwrap())
    }

    extern crate std;
    use std::string::String;
    use std::vec::Vec;

    #[test]
    fn rfc9421_b26_base() {
        let base = base_of(
            &b2_request(),
            r#"("date" "@method" "@path" "@authority" "content-type" "content-length");created=1618884473;keyid="test-key-ed25519""#,
        )
        .unwrap();
        let expected = "\"date\": Tue, 20 Apr 2021 02:07:55 GMT\n\"@method\": POST\n\"@path\": /foo\n\"@authority\": example.com\n\"content-type\": application/json\n\"content-length\": 18\n\"@signature-params\": (\"date\" \"@method\" \"@path\" \"@authority\" \"content-type\" \"content-length\");created=1618884473;keyid=\"test-key-ed25519\"";
        assert_eq!(base, expected);
        assert_eq!(base.len(), 284);
    }

    #[test]
    fn derived_components() {
        let req = b2_request();
        let b = base_of(
            &req,
            r#"("@target-uri" "@request-target" "@scheme" "@query" "@query-param";name="Pet")"#,
        )
        .unwrap();
        let lines: Vec<&str> = b.lines().collect();
        assert_eq!(
            lines[0],
            "\"@target-uri\": https://example.com/foo?param=Value&Pet=dog"
        );
        assert_eq!(lines[1], "\"@request-target\": /foo?param=Value&Pet=dog");
        assert_eq!(lines[2], "\"@scheme\": https");
        assert_eq!(lines[3], "\"@query\": ?param=Value&Pet=dog");
        assert_eq!(lines[4], "\"@query-param\";name=\"Pet\": dog");
    }

    #[test]
    fn authority_lowercased_and_default_port_dropped() {
        let f: [(&str, &str); 0] = [];
        for (scheme, auth, want) in [
            ("https", "Example.COM:443", "example.com"),
            ("http", "example.com:80", "example.com"),
            ("http", "example.com:443", "example.com:443"),
            ("https", "[::1]:443", "[::1]"),
            ("https", "[::1]:8443", "[::1]:8443"),
            ("http", "h:8080", "h:8080"),
            // An empty port is the default port (RFC 3986 §6.2.3).
            ("https", "Example.com:", "example.com"),
            ("http", "[::1]:", "[::1]"),
            ("http", "[::1]", "[::1]"),
            ("http", "[::1]:80", "[::1]"),
        ] {
            let req = Request {
                method: "GET",
                scheme,
                authority: auth,
                path: "",
                query: None,
                fields: &f,
            };
            let b = base_of(&req, r#"("@authority" "@path" "@query")"#).unwrap();
            assert_eq!(
                b.lines().next().unwrap(),
                std::format!("\"@authority\": {want}")
            );
            assert_eq!(b.lines().nth(1).unwrap(), "\"@path\": /");
            assert_eq!(b.lines().nth(2).unwrap(), "\"@query\": ?");
        }
    }

    #[test]
    fn query_param_examples_from_rfc() {
        // RFC 9421 §2.2.8.
        let f: [(&str, &str); 0] = [];
        let q = "var=this%20is%20a%20big%0Avalue&bar=with+plus+whitespace&fa%C3%A7ade%22%3A%20=something";
        let req = Request {
            method: "GET",
            scheme: "https",
            authority: "e",
            path: "/p",
            query: Some(q),
            fields: &f,
        };
        let b = base_of(
            &req,
            r#"("@query-param";name="var" "@query-param";name="bar" "@query-param";name="fa%C3%A7ade%22%3A%20")"#,
        )
        .unwrap();
        let lines: Vec<&str> = b.lines().collect();
        assert_eq!(
            lines[0],
            "\"@query-param\";name=\"var\": this%20is%20a%20big%0Avalue"
        );
        assert_eq!(
            lines[1],
            "\"@query-param\";name=\"bar\": with%20plus%20whitespace"
        );
        assert_eq!(
            lines[2],
            "\"@query-param\";name=\"fa%C3%A7ade%22%3A%20\": something"
        );
        let q2 = "param=value&foo=bar&baz=batman&qux=";
        let req2 = Request {
            query: Some(q2),
            ..req
        };
        let b = base_of(
            &req2,
            r#"("@query-param";name="baz" "@query-param";name="qux")"#,
        )
        .unwrap();
        assert!(b.starts_with(
            "\"@query-param\";name=\"baz\": batman\n\"@query-param\";name=\"qux\": \n"
        ));
        // A repeated name "MUST NOT be included" (RFC 9421 §2.2.8); `%61` and `+` are
        // decoded before names are compared, so they repeat `a` and `a b` too.
        let req3 = Request {
            query: Some("a=1&b=2&%61=3&a+b=4&a%20b=5"),
            ..req
        };
        for name in ["a", "a%20b"] {
            assert_eq!(
                base_of(&req3, &std::format!(r#"("@query-param";name="{name}")"#)),
                Err(BaseError::UnsupportedComponent),
                "{name}"
            );
        }
        let b = base_of(&req3, r#"("@query-param";name="b")"#).unwrap();
        assert!(b.starts_with("\"@query-param\";name=\"b\": 2\n\"@signature-params\""));
        assert_eq!(
            base_of(&req3, r#"("@query-param";name="zz")"#),
            Err(BaseError::MissingComponent)
        );
    }

    #[test]
    fn query_param_invalid_utf8_becomes_replacement_character() {
        // WHATWG "UTF-8 decode without BOM": each maximal ill-formed subpart is one U+FFFD,
        // which re-encodes as %EF%BF%BD; well-formed sequences are kept.
        let f: [(&str, &str); 0] = [];
        let cases = [
            ("%FF", "%EF%BF%BD"),
            ("%C3%A9", "%C3%A9"),
            ("%C3", "%EF%BF%BD"),
            ("%E2%82", "%EF%BF%BD"),
            ("%E2%82x", "%EF%BF%BDx"),
            ("%E2%82%AC", "%E2%82%AC"),
            ("%F0%9F%98%80", "%F0%9F%98%80"),
            ("%C0%AF", "%EF%BF%BD%EF%BF%BD"),
            ("%ED%A0%80", "%EF%BF%BD%EF%BF%BD%EF%BF%BD"),
            ("%F4%90%80%80", "%EF%BF%BD%EF%BF%BD%EF%BF%BD%EF%BF%BD"),
            ("%E0%80a", "%EF%BF%BD%EF%BF%BDa"),
            ("%80%C3%A9%FE", "%EF%BF%BD%C3%A9%EF%BF%BD"),
            ("caf%C3%A9+%E2%82%AC", "caf%C3%A9%20%E2%82%AC"),
        ];
        for (raw, want) in cases {
            let q = std::format!("v={raw}");
            let req = Request {
                method: "GET",
                scheme: "https",
                authority: "e",
                path: "/p",
                query: Some(&q),
                fields: &f,
            };
            let b = base_of(&req, r#"("@query-param";name="v")"#).unwrap();
            assert_eq!(
                b.lines().next().unwrap(),
                std::format!("\"@query-param\";name=\"v\": {want}"),
                "{raw}"
            );
        }
        // Names are decoded the same way before they are compared.
        let req = Request {
            method: "GET",
            scheme: "https",
            authority: "e",
            path: "/p",
            query: Some("%FF=1"),
            fields: &f,
        };
        assert!(base_of(&req, r#"("@query-param";name="%EF%BF%BD")"#).is_ok());
    }

    #[test]
    fn fields_trimmed_and_joined() {
        let f = [
            ("Accept", "  application/json "),
            ("accept", "*/*"),
            ("X-Empty", ""),
        ];
        let req = Request {
            method: "GET",
            scheme: "https",
            authority: "e",
            path: "/",
            query: None,
            fields: &f,
        };
        let b = base_of(&req, r#"("accept" "x-empty")"#).unwrap();
        assert!(b.starts_with("\"accept\": application/json, */*\n\"x-empty\": \n"));
        assert_eq!(
            base_of(&req, r#"("x-missing")"#),
            Err(BaseError::MissingComponent)
        );
    }

    #[test]
    fn structured_fields_skip_empty_lines() {
        // An empty field line adds no member, so it must not add a separator either: the
        // value is the serialisation of the combined field, never `, a=1`.
        let f = [
            ("Example-Dict", ""),
            ("Example-Dict", "a=1"),
            ("Example-Dict", "  "),
            ("Example-Dict", "b=2"),
            ("Example-List", " "),
            ("Example-List", "x"),
        ];
        let req = Request {
            method: "GET",
            scheme: "https",
            authority: "e",
            path: "/",
            query: None,
            fields: &f,
        };
        let b = base_of(&req, r#"("example-dict";sf "example-list";sf)"#).unwrap();
        let lines: Vec<&str> = b.lines().collect();
        assert_eq!(lines[0], "\"example-dict\";sf: a=1, b=2");
        assert_eq!(lines[1], "\"example-list\";sf: x");
    }

    #[test]
    fn structured_and_byte_sequence_forms() {
        // RFC 9421 §2.1.1, §2.1.2, §2.1.3 examples.
        let f = [
            ("Example-Dict", " a=1,    b=2;x=1;y=2,   c=(a   b   c)"),
            ("Example-Header", "value, with, lots"),
            ("Example-Header", "of, commas"),
        ];
        let req = Request {
            method: "GET",
            scheme: "https",
            authority: "e",
            path: "/",
            query: None,
            fields: &f,
        };
        let b = base_of(
            &req,
            r#"("example-dict";sf "example-dict";key="a" "example-dict";key="c" "example-header";bs)"#,
        )
        .unwrap();
        let lines: Vec<&str> = b.lines().collect();
        assert_eq!(lines[0], "\"example-dict\";sf: a=1, b=2;x=1;y=2, c=(a b c)");
        assert_eq!(lines[1], "\"example-dict\";key=\"a\": 1");
        assert_eq!(lines[2], "\"example-dict\";key=\"c\": (a b c)");
        assert_eq!(
            lines[3],
            "\"example-header\";bs: :dmFsdWUsIHdpdGgsIGxvdHM=:, :b2YsIGNvbW1hcw==:"
        );
        assert_eq!(
            base_of(&req, r#"("example-dict";key="zz")"#),
            Err(BaseError::MissingComponent)
        );
        assert_eq!(
            base_of(&req, r#"("example-header";sf)"#),
            Err(BaseError::UnsupportedComponent)
        );
        assert_eq!(
            base_of(&req, r#"("example-dict";tr)"#),
            Err(BaseError::UnsupportedComponent)
        );
        assert_eq!(
            base_of(&req, r#"("example-dict";sf;bs)"#),
            Err(BaseError::InvalidComponent)
        );
    }

    #[test]
    fn identifiers_checked() {
        let req = b2_request();
        for bad in [
            r#"("Date")"#,
            r#"("@signature-params")"#,
            r#"("@unknown")"#,
            r#"("@query-param")"#,
            r#"("@method";name="x")"#,
            r#"("date";sf=?0)"#,
            r#"("date";foo)"#,
            r#"("date";bs;bs)"#,
            r#"(date)"#,
            r#"("")"#,
            r#"("da te")"#,
            r#"("@status")"#,
            r#"("@method";req)"#,
        ] {
            assert_eq!(
                base_of(&req, bad),
                Err(BaseError::InvalidComponent),
                "{bad}"
            );
        }
        for dup in [
            r#"("date" "date")"#,
            r#"("@query-param";name="Pet" "@query-param";name="Pet")"#,
        ] {
            assert_eq!(
                base_of(&req, dup),
                Err(BaseError::DuplicateComponent),
                "{dup}"
            );
        }
        // Different names or parameters are different components.
        assert!(base_of(&req, r#"("date" "date";bs)"#).is_ok());
    }

    /// What [`check_components`] is defined as: each identifier parsed, then compared with
    /// every earlier one parsed again.
    fn check_by_reparsing(list: &InnerList<'_>) -> Result<usize, BaseError> {
        let mut n = 0;
        for (i, item) in list.items().enumerate() {
            let c = Component::parse(item)?;
            for earlier in list.items().take(i) {
                if Component::parse(earlier)?.same_as(&c) {
                    return Err(BaseError::DuplicateComponent);
                }
            }
            n += 1;
        }
        Ok(n)
    }

    #[test]
    fn components_beyond_the_parsed_ones() {
        // Lists longer than PARSED_COMPONENTS: the ones not kept are read again, with the
        // same checks and the same base.
        let names: Vec<String> = (0..20).map(|i| std::format!("\"x{i}\"")).collect();
        let fields: Vec<(String, String)> = (0..20)
            .map(|i| (std::format!("X{i}"), std::format!("v{i}")))
            .collect();
        let fields: Vec<(&str, &str)> = fields
            .iter()
            .map(|(n, v)| (n.as_str(), v.as_str()))
            .collect();
        let req = Request {
            method: "GET",
            scheme: "https",
            authority: "e",
            path: "/",
            query: None,
            fields: fields.as_slice(),
        };
        for len in [0, 1, 7, 8, 9, 12, 20] {
            let text = std::format!("({});created=1", names[..len].join(" "));
            let list = parse_inner_list(&text).unwrap();
            assert_eq!(check_components(&list), Ok(len));
            let b = base_of(&req, &text).unwrap();
            let want: String = (0..len)
                .map(|i| std::format!("\"x{i}\": v{i}\n"))
                .chain([std::format!("\"@signature-params\": {text}")])
                .collect();
            assert_eq!(b, want);
        }
        // A repeat anywhere (both kept, one kept, neither kept), or an invalid identifier
        // after one: the first one in list order is the error, as reparsing says.
        for (dup_of, at) in [(0, 3), (2, 7), (3, 8), (5, 12), (8, 9), (9, 15), (14, 15)] {
            for invalid_at in [None, Some(at - 1), Some(at + 1)] {
                let mut items: Vec<String> = names[..17].to_vec();
                items[at] = names[dup_of].clone();
                if let Some(i) = invalid_at {
                    items[i] = "\"X\"".into();
                }
                let text = std::format!("({})", items.join(" "));
                let list = parse_inner_list(&text).unwrap();
                let want = check_by_reparsing(&list);
                assert!(want.is_err());
                assert_eq!(check_components(&list), want, "{text}");
                assert_eq!(base_of(&req, &text), want.map(|_| String::new()), "{text}");
            }
        }
    }

    #[test]
    fn line_breaks_never_reach_the_base() {
        let f = [("X", "a\nb")];
        let req = Request {
            method: "GET",
            scheme: "https",
            authority: "e",
            path: "/",
            query: None,
            fields: &f,
        };
        assert_eq!(base_of(&req, r#"("x")"#), Err(BaseError::InvalidFieldValue));
        let req2 = Request {
            method: "GET\n\"@path\": /x",
            ..req
        };
        assert_eq!(
            base_of(&req2, r#"("@method")"#),
            Err(BaseError::InvalidFieldValue)
        );
        // The scheme too: it is written by `@scheme` and `@target-uri`.
        let req3 = Request {
            scheme: "https\n\"@method\": POST",
            ..req
        };
        for c in [r#"("@scheme")"#, r#"("@target-uri")"#, r#"("@method")"#] {
            assert_eq!(base_of(&req3, c), Err(BaseError::InvalidFieldValue), "{c}");
        }
    }

    #[test]
    fn buffer_too_small_says_how_much() {
        let req = b2_request();
        let list = parse_inner_list(r#"("@method");created=1"#).unwrap();
        let mut small = [0u8; 10];
        let need = match request_base(&req, &list, &mut small) {
            Err(BaseError::BufferTooSmall { needed }) => needed,
            other => panic!("{other:?}"),
        };
        let mut exact = std::vec![0u8; need];
        assert_eq!(request_base(&req, &list, &mut exact).unwrap().len(), need);
    }

    #[test]
    fn response_components_with_req() {
        let rf = [
            ("Content-Type", "application/json"),
            ("Content-Length", "23"),
        ];
        let sig_req = [("Signature", "sig1=:AAAA:, other=:BBBB:")];
        let req = Request {
            method: "POST",
            scheme: "https",
            authority: "example.com",
            path: "/foo",
            query: None,
            fields: &sig_req,
        };
        let resp = Response {
            status: 200,
            fields: &rf,
            request: Some(&req),
        };
        let list = parse_inner_list(
            r#"("@status" "content-type" "signature";req;key="sig1" "@authority";req "@method";req)"#,
        )
        .unwrap();
        let mut buf = [0u8; 512];
        let b = std::str::from_utf8(response_base(&resp, &list, &mut buf).unwrap()).unwrap();
        let lines: Vec<&str> = b.lines().collect();
        assert_eq!(lines[0], "\"@status\": 200");
        assert_eq!(lines[2], "\"signature\";req;key=\"sig1\": :AAAA:");
        assert_eq!(lines[3], "\"@authority\";req: example.com");
        assert_eq!(lines[4], "\"@method\";req: POST");
        let no_req = Response::<_, [(&str, &str); 1]> {
            status: 200,
            fields: &rf,
            request: None,
        };
        assert_eq!(
            response_base(
                &no_req,
                &parse_inner_list(r#"("@method";req)"#).unwrap(),
                &mut buf
            ),
            Err(BaseError::MissingComponent)
        );
        assert_eq!(
            response_base(
                &no_req,
                &parse_inner_list(r#"("@method")"#).unwrap(),
                &mut buf
            ),
            Err(BaseError::InvalidComponent)
        );
    }
}
