//! hyper's `HeaderMap` seen through the core's [`Fields`] trait, and the header hygiene rules
//! every hop applies.

use http::header::{self, HeaderMap, HeaderName, HeaderValue};
use shardpeer_core::message::Fields;

/// A borrowed `HeaderMap` as core [`Fields`]: no copy, case-insensitive lookups.
#[derive(Debug, Clone, Copy)]
pub struct Headers<'a>(pub &'a HeaderMap);

fn value_bytes(v: &HeaderValue) -> &[u8] {
    v.as_bytes()
}

impl Fields for Headers<'_> {
    type Values<'f>
        = core::iter::Map<header::ValueIter<'f, HeaderValue>, fn(&HeaderValue) -> &[u8]>
    where
        Self: 'f;

    fn values<'f>(&'f self, name: &'f str) -> Self::Values<'f> {
        // An invalid name matches nothing: `get_all` with a `&str` parses it.
        self.0
            .get_all(name)
            .iter()
            .map(value_bytes as fn(&HeaderValue) -> &[u8])
    }
}

/// Hop-by-hop fields (RFC 9110 §7.6.1) and framing fields: never forwarded, the next hop
/// sets its own.
const HOP_BY_HOP: &[&str] = &[
    "connection",
    "keep-alive",
    "proxy-connection",
    "proxy-authenticate",
    "proxy-authorization",
    "te",
    "trailer",
    "transfer-encoding",
    "upgrade",
    "host",
    "content-length",
];

/// Removes hop-by-hop fields, including those a `Connection` field names.
pub fn strip_hop_by_hop(headers: &mut HeaderMap) {
    let named: Vec<HeaderName> = headers
        .get_all(header::CONNECTION)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .filter_map(|n| HeaderName::from_bytes(n.trim().as_bytes()).ok())
        .collect();
    for n in named {
        headers.remove(n);
    }
    for n in HOP_BY_HOP {
        headers.remove(*n);
    }
}

/// Whether `name` is one of ours: `X-Ptl-*` headers carry the gateway's verdict to apps, so
/// no client may send one.
pub fn is_ptl(name: &HeaderName) -> bool {
    name.as_str().starts_with("x-ptl-")
}

/// Removes every client-sent field that could impersonate the gateway's verdict or that
/// belongs to the signature layer.
pub fn strip_client_verdicts(headers: &mut HeaderMap, also_reserved: impl Fn(&str) -> bool) {
    let doomed: Vec<HeaderName> = headers
        .keys()
        .filter(|n| is_ptl(n) || also_reserved(n.as_str()))
        .cloned()
        .collect();
    for n in doomed {
        headers.remove(n);
    }
}

/// The signature layer's own fields.
pub const SIGNATURE_FIELDS: &[&str] = &["signature", "signature-input", "content-digest"];

/// Removes the signature layer's fields.
pub fn strip_signature_fields(headers: &mut HeaderMap) {
    for n in SIGNATURE_FIELDS {
        headers.remove(*n);
    }
}

/// The value of a header as trimmed text, when present once and ASCII.
pub fn single_str<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    let mut all = headers.get_all(name).iter();
    let first = all.next()?;
    if all.next().is_some() {
        return None;
    }
    first.to_str().ok().map(str::trim)
}

/// The bearer token of an `Authorization` field, if any.
pub fn bearer(headers: &HeaderMap) -> Option<&str> {
    let v = single_str(headers, "authorization")?;
    let (scheme, token) = v.split_once(' ')?;
    scheme.eq_ignore_ascii_case("bearer").then(|| token.trim())
}

/// The value of cookie `name` in the `Cookie` fields, if any.
pub fn cookie<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|c| c.trim().split_once('='))
        .find(|(k, _)| *k == name)
        .map(|(_, v)| v)
}

/// Removes cookie `name` from the `Cookie` fields, keeping the others.
pub fn remove_cookie(headers: &mut HeaderMap, name: &str) {
    let kept: Vec<String> = headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .map(str::trim)
        .filter(|c| !c.is_empty() && c.split_once('=').is_none_or(|(k, _)| k != name))
        .map(str::to_string)
        .collect();
    headers.remove(header::COOKIE);
    if !kept.is_empty()
        && let Ok(v) = HeaderValue::from_str(&kept.join("; "))
    {
        headers.insert(header::COOKIE, v);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use shardpeer_core::message::FieldsExt;

    #[test]
    fn fields_view() {
        let mut h = HeaderMap::new();
        h.append("accept", HeaderValue::from_static("a"));
        h.append("Accept", HeaderValue::from_static("b"));
        let f = Headers(&h);
        assert_eq!(f.values("accept").count(), 2);
        assert!(f.contains("accept"));
        assert!(!f.contains("bad name"));
    }

    #[test]
    fn hop_by_hop_and_connection_named_fields_go() {
        let mut h = HeaderMap::new();
        h.insert("connection", HeaderValue::from_static("close, x-secret"));
        h.insert("x-secret", HeaderValue::from_static("1"));
        h.insert("te", HeaderValue::from_static("trailers"));
        h.insert("x-keep", HeaderValue::from_static("1"));
        strip_hop_by_hop(&mut h);
        assert_eq!(h.len(), 1);
        assert!(h.contains_key("x-keep"));
    }

    #[test]
    fn cookies() {
        let mut h = HeaderMap::new();
        h.insert(
            "cookie",
            HeaderValue::from_static("a=1; shardpeer_owner=tok; b=2"),
        );
        assert_eq!(cookie(&h, "shardpeer_owner"), Some("tok"));
        remove_cookie(&mut h, "shardpeer_owner");
        assert_eq!(h.get("cookie").unwrap(), "a=1; b=2");
        h.insert("authorization", HeaderValue::from_static("Bearer  xyz "));
        assert_eq!(bearer(&h), Some("xyz"));
    }
}
