//! HTTP messages in their plain wire form (`POST /foo HTTP/1.1`, fields, blank line, body),
//! as the reference tools read them from files or stdin and as the vectors store them.
//!
//! CRLF or bare LF line endings are accepted (hand-written files use LF). The body is every
//! byte after the blank line; `Content-Length` is not enforced, so a file is what it shows.

use shardpeer_core::message::{Request, Response, split_target};

/// A parsed request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WireRequest {
    /// Method.
    pub method: String,
    /// Request target as written (origin form `/p?q`, or absolute form).
    pub target: String,
    /// Scheme: from an absolute-form target, else the caller's default.
    pub scheme: String,
    /// Authority: from an absolute-form target, else the `Host` field.
    pub authority: String,
    /// Fields in order, names as written.
    pub fields: Vec<(String, Vec<u8>)>,
    /// Body.
    pub body: Vec<u8>,
}

/// A parsed response.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WireResponse {
    /// Status code.
    pub status: u16,
    /// Fields in order.
    pub fields: Vec<(String, Vec<u8>)>,
    /// Body.
    pub body: Vec<u8>,
}

/// Why a message could not be read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WireError(pub String);

impl std::fmt::Display for WireError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for WireError {}

/// Most fields in one message.
const MAX_FIELDS: usize = 128;

/// Splits head and body at the first empty line (CRLF CRLF or LF LF).
fn split_head(bytes: &[u8]) -> Result<(Vec<u8>, &[u8]), WireError> {
    let mut i = 0;
    let mut line_start = 0;
    while i < bytes.len() {
        if bytes[i] == b'\n' {
            let line = &bytes[line_start..i];
            let line = line.strip_suffix(b"\r").unwrap_or(line);
            if line.is_empty() && line_start > 0 {
                // Normalise the head to CRLF for httparse.
                let head = &bytes[..line_start];
                let mut out = Vec::with_capacity(head.len() + 64);
                for l in head.split(|b| *b == b'\n').filter(|l| !l.is_empty()) {
                    out.extend_from_slice(l.strip_suffix(b"\r").unwrap_or(l));
                    out.extend_from_slice(b"\r\n");
                }
                out.extend_from_slice(b"\r\n");
                return Ok((out, &bytes[i + 1..]));
            }
            line_start = i + 1;
        }
        i += 1;
    }
    // No blank line: the whole input is the head, no body.
    let mut out = Vec::new();
    for l in bytes.split(|b| *b == b'\n').filter(|l| !l.is_empty()) {
        out.extend_from_slice(l.strip_suffix(b"\r").unwrap_or(l));
        out.extend_from_slice(b"\r\n");
    }
    out.extend_from_slice(b"\r\n");
    Ok((out, &[]))
}

/// Reads a request. `default_scheme` applies to origin-form targets.
pub fn parse_request(bytes: &[u8], default_scheme: &str) -> Result<WireRequest, WireError> {
    let (head, body) = split_head(bytes)?;
    let mut headers = [httparse::EMPTY_HEADER; MAX_FIELDS];
    let mut req = httparse::Request::new(&mut headers);
    match req.parse(&head) {
        Ok(httparse::Status::Complete(_)) => {}
        Ok(httparse::Status::Partial) => return Err(WireError("incomplete request head".into())),
        Err(e) => return Err(WireError(format!("bad request head: {e}"))),
    }
    let method = req.method.unwrap_or("").to_string();
    let target = req.path.unwrap_or("").to_string();
    let fields: Vec<(String, Vec<u8>)> = req
        .headers
        .iter()
        .map(|h| (h.name.to_string(), h.value.to_vec()))
        .collect();
    let (scheme, authority) = if let Some(rest) = target.split_once("://") {
        let auth = rest.1.split(['/', '?']).next().unwrap_or("");
        (rest.0.to_string(), auth.to_string())
    } else {
        let host = fields
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case("host"))
            .map(|(_, v)| String::from_utf8_lossy(v).trim().to_string())
            .ok_or_else(|| WireError("no Host field and no absolute-form target".into()))?;
        (default_scheme.to_string(), host)
    };
    Ok(WireRequest {
        method,
        target,
        scheme,
        authority,
        fields,
        body: body.to_vec(),
    })
}

/// Reads a response.
pub fn parse_response(bytes: &[u8]) -> Result<WireResponse, WireError> {
    let (head, body) = split_head(bytes)?;
    let mut headers = [httparse::EMPTY_HEADER; MAX_FIELDS];
    let mut resp = httparse::Response::new(&mut headers);
    match resp.parse(&head) {
        Ok(httparse::Status::Complete(_)) => {}
        Ok(httparse::Status::Partial) => return Err(WireError("incomplete response head".into())),
        Err(e) => return Err(WireError(format!("bad response head: {e}"))),
    }
    let fields = resp
        .headers
        .iter()
        .map(|h| (h.name.to_string(), h.value.to_vec()))
        .collect();
    Ok(WireResponse {
        status: resp.code.unwrap_or(0),
        fields,
        body: body.to_vec(),
    })
}

/// Field pairs borrowed for the core's `Fields` trait.
pub fn field_refs(fields: &[(String, Vec<u8>)]) -> Vec<(&str, &[u8])> {
    fields
        .iter()
        .map(|(n, v)| (n.as_str(), v.as_slice()))
        .collect()
}

impl WireRequest {
    /// Path and query of the target (origin part of an absolute-form target).
    pub fn path_and_query(&self) -> &str {
        match self.target.split_once("://") {
            Some((_, rest)) => rest.find(['/', '?']).map_or("/", |i| &rest[i..]),
            None => &self.target,
        }
    }

    /// A core view of this request over `fields` (from [`field_refs`]).
    pub fn view<'a>(
        &'a self,
        fields: &'a [(&'a str, &'a [u8])],
    ) -> Request<'a, [(&'a str, &'a [u8])]> {
        let (path, query) = split_target(self.path_and_query());
        Request {
            method: &self.method,
            scheme: &self.scheme,
            authority: &self.authority,
            path,
            query,
            fields,
        }
    }

    /// Adds fields at the end.
    pub fn with_fields(mut self, extra: &[(&str, &str)]) -> Self {
        for (n, v) in extra {
            self.fields.push((n.to_string(), v.as_bytes().to_vec()));
        }
        self
    }

    /// The message in wire form (CRLF).
    pub fn to_wire(&self) -> Vec<u8> {
        let mut out = format!("{} {} HTTP/1.1\r\n", self.method, self.target).into_bytes();
        for (n, v) in &self.fields {
            out.extend_from_slice(n.as_bytes());
            out.extend_from_slice(b": ");
            out.extend_from_slice(v);
            out.extend_from_slice(b"\r\n");
        }
        out.extend_from_slice(b"\r\n");
        out.extend_from_slice(&self.body);
        out
    }
}

impl WireResponse {
    /// A core view of this response, with `request` for `;req` components.
    pub fn view<'a, G: shardpeer_core::message::Fields + ?Sized>(
        &'a self,
        fields: &'a [(&'a str, &'a [u8])],
        request: Option<&'a Request<'a, G>>,
    ) -> Response<'a, [(&'a str, &'a [u8])], G> {
        Response {
            status: self.status,
            fields,
            request,
        }
    }

    /// The message in wire form (CRLF).
    pub fn to_wire(&self) -> Vec<u8> {
        let mut out = format!("HTTP/1.1 {} {}\r\n", self.status, reason(self.status)).into_bytes();
        for (n, v) in &self.fields {
            out.extend_from_slice(n.as_bytes());
            out.extend_from_slice(b": ");
            out.extend_from_slice(v);
            out.extend_from_slice(b"\r\n");
        }
        out.extend_from_slice(b"\r\n");
        out.extend_from_slice(&self.body);
        out
    }
}

fn reason(status: u16) -> &'static str {
    http::StatusCode::from_u16(status)
        .ok()
        .and_then(|s| s.canonical_reason())
        .unwrap_or("")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc_request_with_lf_or_crlf() {
        let text = "POST /foo?param=Value&Pet=dog HTTP/1.1\nHost: example.com\nContent-Length: 18\n\n{\"hello\": \"world\"}";
        let r = parse_request(text.as_bytes(), "https").unwrap();
        assert_eq!(r.method, "POST");
        assert_eq!(r.authority, "example.com");
        assert_eq!(r.path_and_query(), "/foo?param=Value&Pet=dog");
        assert_eq!(r.body, b"{\"hello\": \"world\"}");
        let again = parse_request(&r.to_wire(), "https").unwrap();
        assert_eq!(again, r);
    }

    #[test]
    fn absolute_form_and_responses() {
        let r = parse_request(b"GET http://h.example:8080/a?b HTTP/1.1\r\n\r\n", "https").unwrap();
        assert_eq!(
            (r.scheme.as_str(), r.authority.as_str(), r.path_and_query()),
            ("http", "h.example:8080", "/a?b")
        );
        let s = parse_response(b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\n\r\nhi").unwrap();
        assert_eq!(s.status, 200);
        assert_eq!(s.body, b"hi");
        assert!(
            parse_request(b"GET /x HTTP/1.1\r\n\r\n", "https").is_err(),
            "no Host"
        );
        assert!(parse_request(b"garbage", "https").is_err());
    }
}
