//! Signing (RFC 9421 §3.1) with Ed25519.
//!
//! # Driving contract
//! Input: the message view, the label, the covered components as the text of an inner list's
//! items (`"@method" "@path"`), the [`SignatureParams`], the signing [`Identity`] and a buffer
//! for the base. Output: the two field values, `Signature-Input` and `Signature`, to add to
//! the message unchanged. The base is left in the buffer for inspection.
//!
//! The signer writes its `Signature-Input` inner list, parses it back, and builds the base
//! from the parsed list with the same code the verifier uses: what is signed is by
//! construction what a verifier rebuilds. The `Signature-Input` member carries the list as
//! the base's last line serialises it, copied from there. Parameters are emitted only when
//! given, always in the order `created`, `expires`, `nonce`, `keyid`, `alg`, `tag`.

use crate::base::{self, BaseError};
use crate::identity::Identity;
use crate::message::{Fields, Request, Response};
use crate::sf::{self, SfError};
use crate::sink::Sink;
use crate::wire::wire_error;

/// Longest `Signature-Input` value the signer produces.
pub const MAX_SIGNATURE_INPUT: usize = 1024;
/// Length of a `Signature` value for one Ed25519 signature and a label of up to 32 bytes.
pub const MAX_SIGNATURE: usize = 128;
/// Longest label accepted.
pub const MAX_LABEL: usize = 32;

/// The signature parameters (RFC 9421 §2.3); each is emitted only when set.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct SignatureParams<'a> {
    /// `created`: seconds since the Unix epoch.
    pub created: Option<i64>,
    /// `expires`: seconds since the Unix epoch.
    pub expires: Option<i64>,
    /// `nonce`: printable ASCII.
    pub nonce: Option<&'a str>,
    /// `keyid`: printable ASCII.
    pub keyid: Option<&'a str>,
    /// Emit `alg="ed25519"`.
    pub alg: bool,
    /// `tag`: printable ASCII.
    pub tag: Option<&'a str>,
}

/// The field values a signer adds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SignedFields {
    /// The `Signature-Input` value, `label=(…);params`.
    pub signature_input: heapless::String<MAX_SIGNATURE_INPUT>,
    /// The `Signature` value, `label=:base64:`.
    pub signature: heapless::String<MAX_SIGNATURE>,
}

/// Why signing failed. These are the signer's own mistakes, so a transport answers 500.
#[non_exhaustive]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SignError {
    /// The label is not an RFC 8941 key of at most [`MAX_LABEL`] bytes.
    InvalidLabel,
    /// The components text is not a list of component identifiers.
    InvalidComponents(SfError),
    /// No component to cover: such a signature would prove nothing.
    NoComponents,
    /// A string parameter is not printable ASCII, or `expires` precedes `created`.
    InvalidParam,
    /// The `Signature-Input` would exceed [`MAX_SIGNATURE_INPUT`].
    TooLong,
    /// The base could not be built.
    Base(BaseError),
}

wire_error!(SignError {
    SignError::InvalidLabel => (500, "sign_label_invalid", "signature label must be an RFC 8941 key of at most {} bytes", MAX_LABEL),
    SignError::InvalidComponents(e) => (500, "sign_components_invalid", "covered components do not parse: {}", e),
    SignError::NoComponents => (500, "sign_no_components", "a signature must cover at least one component"),
    SignError::InvalidParam => (500, "sign_param_invalid", "a signature parameter is not printable ASCII or expires precedes created"),
    SignError::TooLong => (500, "sign_input_too_long", "Signature-Input would exceed {} bytes", MAX_SIGNATURE_INPUT),
    SignError::Base(e) => (500, "sign_base_failed", "signature base: {}", e),
});

impl From<BaseError> for SignError {
    fn from(e: BaseError) -> Self {
        SignError::Base(e)
    }
}

/// Signs a request.
pub fn sign_request<F: Fields + ?Sized>(
    identity: &Identity,
    label: &str,
    components: &str,
    params: &SignatureParams<'_>,
    request: &Request<'_, F>,
    base_buf: &mut [u8],
) -> Result<SignedFields, SignError> {
    let inner = inner_list_text(components, params)?;
    let list = sf::parse_inner_list(&inner).map_err(SignError::InvalidComponents)?;
    let base = base::request_base(request, &list, base_buf)?;
    finish(identity, label, &list, base)
}

/// Signs a response; `;req` components are taken from `response.request`.
pub fn sign_response<F: Fields + ?Sized, G: Fields + ?Sized>(
    identity: &Identity,
    label: &str,
    components: &str,
    params: &SignatureParams<'_>,
    response: &Response<'_, F, G>,
    base_buf: &mut [u8],
) -> Result<SignedFields, SignError> {
    let inner = inner_list_text(components, params)?;
    let list = sf::parse_inner_list(&inner).map_err(SignError::InvalidComponents)?;
    let base = base::response_base(response, &list, base_buf)?;
    finish(identity, label, &list, base)
}

fn finish(
    identity: &Identity,
    label: &str,
    list: &sf::InnerList<'_>,
    base: &[u8],
) -> Result<SignedFields, SignError> {
    if !is_label(label) {
        return Err(SignError::InvalidLabel);
    }
    if list.items().next().is_none() {
        return Err(SignError::NoComponents);
    }
    let sig = identity.sign(base);

    let mut input = [0u8; MAX_SIGNATURE_INPUT];
    let mut sink = Sink::new(&mut input);
    sink.push_str(label);
    sink.push_byte(b'=');
    // The base ends with this very serialisation of the list: copy it rather than write it
    // again (the fallback is for a base this crate did not build, which cannot happen).
    match base::signature_params_of(base) {
        Some(list_text) => sink.push_str(list_text),
        None => sf::write_inner_list(&mut sink, list),
    }
    let input = sink.finish_str().map_err(|_| SignError::TooLong)?;

    let mut sig_buf = [0u8; MAX_SIGNATURE];
    let mut sink = Sink::new(&mut sig_buf);
    sink.push_str(label);
    sink.push_byte(b'=');
    sf::write_bytes(&mut sink, &sig);
    let signature = sink.finish_str().map_err(|_| SignError::InvalidLabel)?;

    let mut out = SignedFields {
        signature_input: heapless::String::new(),
        signature: heapless::String::new(),
    };
    out.signature_input
        .push_str(input)
        .map_err(|_| SignError::TooLong)?;
    out.signature
        .push_str(signature)
        .map_err(|_| SignError::InvalidLabel)?;
    Ok(out)
}

/// Whether `s` is an RFC 8941 key, which is what a dictionary label must be.
pub fn is_label(s: &str) -> bool {
    let mut bytes = s.bytes();
    let first_ok = matches!(bytes.next(), Some(b'a'..=b'z' | b'*'));
    first_ok
        && s.len() <= MAX_LABEL
        && bytes.all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b"_-.*".contains(&b))
}

/// Writes `(components);created=…;…` in the fixed parameter order.
fn inner_list_text(
    components: &str,
    p: &SignatureParams<'_>,
) -> Result<heapless::String<MAX_SIGNATURE_INPUT>, SignError> {
    if let (Some(c), Some(e)) = (p.created, p.expires)
        && e < c
    {
        return Err(SignError::InvalidParam);
    }
    let mut buf = [0u8; MAX_SIGNATURE_INPUT];
    let mut sink = Sink::new(&mut buf);
    sink.push_byte(b'(');
    sink.push_str(components.trim_matches(' '));
    sink.push_byte(b')');
    if let Some(c) = p.created {
        sink.push_str(";created=");
        sink.push_i64(c);
    }
    if let Some(e) = p.expires {
        sink.push_str(";expires=");
        sink.push_i64(e);
    }
    write_string_param(&mut sink, "nonce", p.nonce)?;
    write_string_param(&mut sink, "keyid", p.keyid)?;
    if p.alg {
        sink.push_str(";alg=\"ed25519\"");
    }
    write_string_param(&mut sink, "tag", p.tag)?;
    let text = sink.finish_str().map_err(|_| SignError::TooLong)?;
    let mut out = heapless::String::new();
    out.push_str(text).map_err(|_| SignError::TooLong)?;
    Ok(out)
}

fn write_string_param(
    sink: &mut Sink<'_>,
    key: &str,
    value: Option<&str>,
) -> Result<(), SignError> {
    let Some(v) = value else { return Ok(()) };
    if !v.bytes().all(|b| (0x20..0x7f).contains(&b)) {
        return Err(SignError::InvalidParam);
    }
    sink.push_byte(b';');
    sink.push_str(key);
    sink.push_str("=\"");
    for b in v.bytes() {
        if b == b'"' || b == b'\\' {
            sink.push_byte(b'\\');
        }
        sink.push_byte(b);
    }
    sink.push_byte(b'"');
    Ok(())
}
