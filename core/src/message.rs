//! A borrowed, transport-neutral view of an HTTP message.
//!
//! The core never owns a request: a transport describes the one it holds with [`Request`] or
//! [`Response`] and lends its header storage through the [`Fields`] trait. hyper's `HeaderMap`,
//! an embedded parser's `&[(&str, &[u8])]` and a test's `&[(&str, &str)]` all fit, and nothing is
//! copied.
//!
//! What goes in is what was on the wire: `path` and `query` exactly as received (not
//! normalised — the signature covers the bytes the signer sent), `authority` from the request
//! target or `Host` (never from a forwarding header, unless the deployment trusts the proxy
//! that set it and says so).

/// Header fields of a message, as the transport stores them.
pub trait Fields {
    /// Iterator over the values of one field name.
    type Values<'f>: Iterator<Item = &'f [u8]>
    where
        Self: 'f;

    /// The value of every field line named `name`, in the order received. `name` is
    /// lowercase; implementations compare case-insensitively.
    fn values<'f>(&'f self, name: &'f str) -> Self::Values<'f>;
}

/// Helpers every [`Fields`] gets.
pub trait FieldsExt: Fields {
    /// Whether at least one field line named `name` is present.
    fn contains(&self, name: &str) -> bool {
        self.values(name).next().is_some()
    }

    /// The value of a field that must appear exactly once, trimmed of SP/HTAB, as text.
    fn single<'f>(&'f self, name: &'f str) -> Result<&'f str, SingleFieldError> {
        let mut it = self.values(name);
        let first = it.next().ok_or(SingleFieldError::Missing)?;
        if it.next().is_some() {
            return Err(SingleFieldError::Repeated);
        }
        let text = core::str::from_utf8(first).map_err(|_| SingleFieldError::NotText)?;
        if !text
            .bytes()
            .all(|b| b == b'\t' || (0x20..0x7f).contains(&b))
        {
            return Err(SingleFieldError::NotText);
        }
        Ok(text.trim_matches([' ', '\t']))
    }
}

impl<T: Fields + ?Sized> FieldsExt for T {}

/// Why a field expected once was not usable.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SingleFieldError {
    /// No field line with that name.
    Missing,
    /// More than one field line with that name.
    Repeated,
    /// The value is not visible ASCII text.
    NotText,
}

/// Iterator for the slice implementations of [`Fields`].
#[derive(Debug, Clone)]
pub struct SliceValues<'f, V: ?Sized + 'f> {
    iter: core::slice::Iter<'f, (&'f str, &'f V)>,
    name: &'f str,
}

impl<'f, V: AsRef<[u8]> + ?Sized> Iterator for SliceValues<'f, V> {
    type Item = &'f [u8];
    fn next(&mut self) -> Option<&'f [u8]> {
        for (n, v) in self.iter.by_ref() {
            if n.eq_ignore_ascii_case(self.name) {
                return Some((*v).as_ref());
            }
        }
        None
    }
}

impl<'s, V: AsRef<[u8]> + ?Sized> Fields for [(&'s str, &'s V)] {
    type Values<'f>
        = SliceValues<'f, V>
    where
        Self: 'f;

    fn values<'f>(&'f self, name: &'f str) -> SliceValues<'f, V> {
        SliceValues {
            iter: self.iter(),
            name,
        }
    }
}

impl<'s, V: AsRef<[u8]> + ?Sized, const N: usize> Fields for [(&'s str, &'s V); N] {
    type Values<'f>
        = SliceValues<'f, V>
    where
        Self: 'f;

    fn values<'f>(&'f self, name: &'f str) -> SliceValues<'f, V> {
        SliceValues {
            iter: self.iter(),
            name,
        }
    }
}

/// A request, as received or about to be sent.
#[derive(Debug, Clone, Copy)]
pub struct Request<'a, F: Fields + ?Sized> {
    /// The method, case preserved (`POST`).
    pub method: &'a str,
    /// `http` or `https`. The shardpeer profile does not sign it (a gateway behind a TLS
    /// terminator cannot know it), but plain RFC 9421 components may.
    pub scheme: &'a str,
    /// Host and optional port from the request target or `Host` field, as received.
    pub authority: &'a str,
    /// The path as on the wire, without the query; empty means `/`.
    pub path: &'a str,
    /// The query without its `?`; `None` when the target had no `?`.
    pub query: Option<&'a str>,
    /// The header fields.
    pub fields: &'a F,
}

/// A response, with the request it answers (for `;req` components).
#[derive(Debug, Clone, Copy)]
pub struct Response<'a, F: Fields + ?Sized, G: Fields + ?Sized> {
    /// The status code.
    pub status: u16,
    /// The header fields.
    pub fields: &'a F,
    /// The request this response answers, when known.
    pub request: Option<&'a Request<'a, G>>,
}

/// Splits a request target in origin form (`/p?q`) into path and query.
pub fn split_target(target: &str) -> (&str, Option<&str>) {
    match target.split_once('?') {
        Some((p, q)) => (p, Some(q)),
        None => (target, None),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slice_fields_are_case_insensitive_and_ordered() {
        let f = [("Accept", "a"), ("x", "1"), ("accept", "b")];
        let v: heapless::Vec<&[u8], 4> = f.values("accept").collect();
        assert_eq!(v.as_slice(), [b"a" as &[u8], b"b"]);
        assert_eq!(f.single("x"), Ok("1"));
        assert_eq!(f.single("accept"), Err(SingleFieldError::Repeated));
        assert_eq!(f.single("y"), Err(SingleFieldError::Missing));
        let g: [(&str, &[u8]); 1] = [("x", b" \xff ")];
        assert_eq!(g.single("x"), Err(SingleFieldError::NotText));
    }

    #[test]
    fn targets() {
        assert_eq!(split_target("/a?b?c"), ("/a", Some("b?c")));
        assert_eq!(split_target("/a?"), ("/a", Some("")));
        assert_eq!(split_target("/a"), ("/a", None));
    }
}
