//! Request path normalisation.
//!
//! The gateway decides access on a path and then forwards a path to the app. If the two were
//! different spellings, an attacker could pick one the access rules read one way and the app's
//! router reads another (`/pub/../private`, `//private`, `/%70rivate`). So [`normalize_path`]
//! produces one canonical spelling, and that exact string is both what the rules of
//! [`crate::app_meta::AppMeta`] are matched against and what the transport forwards. Whatever the app
//! framework does afterwards, it starts from the path the gateway judged.
//!
//! The steps, in order (`docs/protocol.md` is the normative text):
//!
//! 1. The path must start with `/`. `*` (the `OPTIONS *` form) and relative forms are refused.
//! 2. Raw bytes: `\`, control characters (NUL included), non-ASCII bytes, space, `#` and `?` are
//!    refused. The transport has already cut the query at the first `?`, so a `?` here means it did
//!    not; `\` is a separator on some app frameworks; the others cannot appear in a valid request
//!    target, and an embedded parser that let them through must not get further.
//! 3. Percent-encodings are decoded when they encode an unreserved character (ALPHA DIGIT
//!    `-._~`), kept with uppercase hex otherwise, and refused when they encode `/`, `\` or NUL (an
//!    encoded separator would be a second path syntax) or are malformed.
//! 4. Runs of `/` collapse into one: many frameworks route `//private` to `/private`.
//! 5. Dot segments are resolved as in RFC 3986 §5.2.4, after decoding, so `%2e%2e` is `..`; `..`
//!    never climbs above the root. A segment that is `.` or `..` followed by `;` is refused: some
//!    servers (Tomcat) strip the `;…` path parameter and then treat it as a dot segment.
//! 6. A trailing slash stays: `/a/b/` and `/a/b` may be different resources to the app.
//!
//! The output never contains a `.` or `..` segment or `//`, and normalising it again returns it
//! unchanged ([`is_normalized`] states that form as a predicate).
//!
//! # Resource limits
//!
//! Every step removes or keeps bytes, never adds any, so the output is never longer than the input.
//! `out` must therefore hold at least `raw.len()` bytes; a shorter buffer is refused up front with
//! [`PathError::BufferTooSmall`], whatever the path would have shrunk to. The size of `out` is thus
//! the longest path a gateway accepts. Time is linear in the input; there is no recursion.

use crate::wire::wire_error;

/// Why a request path was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum PathError {
    /// The path does not start with `/` (this includes `*` and the empty path).
    NotAbsolute,
    /// The path contains `%2F`, an encoded `/`.
    EncodedSlash,
    /// The path contains `%5C`, an encoded `\`.
    EncodedBackslash,
    /// The path contains `%00`, an encoded NUL.
    EncodedNul,
    /// A `%` is not followed by two hex digits.
    InvalidPercentEncoding,
    /// The path contains a raw `\`.
    Backslash,
    /// The path contains a raw control character (0x00–0x1F or 0x7F).
    ControlCharacter,
    /// The path contains a byte outside ASCII.
    NonAscii,
    /// The path contains a raw space, `#` or `?`, none of which belong in a path.
    InvalidCharacter,
    /// A segment is `.` or `..` followed by a `;` parameter, which some servers read as a dot segment.
    DotSegmentParameter,
    /// `out` is shorter than the input path; `needed` bytes always suffice.
    BufferTooSmall {
        /// The input's length in bytes.
        needed: usize,
    },
}

wire_error!(PathError {
    PathError::NotAbsolute => (400, "path_not_absolute", "request path does not start with '/'"),
    PathError::EncodedSlash => (400, "path_encoded_slash", "request path contains an encoded '/' (%2F)"),
    PathError::EncodedBackslash => (400, "path_encoded_backslash", "request path contains an encoded '\\' (%5C)"),
    PathError::EncodedNul => (400, "path_encoded_nul", "request path contains an encoded NUL (%00)"),
    PathError::InvalidPercentEncoding => (400, "path_invalid_percent_encoding", "request path contains a malformed percent-encoding"),
    PathError::Backslash => (400, "path_backslash", "request path contains a '\\'"),
    PathError::ControlCharacter => (400, "path_control_character", "request path contains a control character"),
    PathError::NonAscii => (400, "path_non_ascii", "request path contains a non-ASCII byte"),
    PathError::InvalidCharacter => (400, "path_invalid_character", "request path contains a space, '#' or '?'"),
    PathError::DotSegmentParameter => (400, "path_dot_segment_parameter", "request path contains a dot segment with a ';' parameter"),
    // The caller sizes `out` to the longest path it accepts, so not fitting is an over-long URI.
    PathError::BufferTooSmall { needed } => (414, "path_too_long", "request path is {} bytes, longer than the buffer", needed),
});

/// Normalises a request path (without its query) into `out` and returns the normalised path.
///
/// The result is what access rules are matched against and what is forwarded to the app. See the
/// module documentation for the steps. `out` must be at least `raw.len()` bytes long; on error its
/// contents are unspecified.
///
/// ```
/// use shardpeer_core::path::normalize_path;
/// let mut buf = [0u8; 64];
/// assert_eq!(normalize_path("/pub/../%70rivate//x/", &mut buf), Ok("/private/x/"));
/// ```
pub fn normalize_path<'b>(raw: &str, out: &'b mut [u8]) -> Result<&'b str, PathError> {
    let input = raw.as_bytes();
    let Some(rest) = input.strip_prefix(b"/") else {
        return Err(PathError::NotAbsolute);
    };
    let needed = input.len();
    let Some(buf) = out.get_mut(..needed) else {
        return Err(PathError::BufferTooSmall { needed });
    };
    check_bytes(rest)?;
    let mut w = Writer {
        buf,
        len: 0,
        needed,
    };
    w.push(b'/')?;

    // Invariant: `w` holds the resolved path so far and ends in `/` whenever a segment is about to
    // be decoded, so a segment always starts right after a `/`.
    let mut segments = rest.split(|&b| b == b'/').peekable();
    while let Some(segment) = segments.next() {
        let more = segments.peek().is_some();
        let start = w.len;
        decode_segment(segment, &mut w)?;
        match w.since(start) {
            // Empty segment: `//` or the end after a trailing slash. Nothing to keep.
            b"" => {}
            b"." => w.len = start,
            b".." => {
                // Drop the segment before this one too; at the root there is none.
                let parent = w.buf.get(..start.saturating_sub(1)).unwrap_or_default();
                w.len = parent
                    .iter()
                    .rposition(|&b| b == b'/')
                    .map_or(1, |slash| slash + 1);
            }
            s if s.starts_with(b".;") || s.starts_with(b"..;") => {
                return Err(PathError::DotSegmentParameter);
            }
            _ => {
                if more {
                    w.push(b'/')?;
                }
            }
        }
    }

    let Writer { buf, len, needed } = w;
    let buf: &'b [u8] = buf;
    let bytes = buf.get(..len).ok_or(PathError::BufferTooSmall { needed })?;
    // Only ASCII bytes were written, so this cannot fail; the error arm only avoids a panic path.
    core::str::from_utf8(bytes).map_err(|_| PathError::NonAscii)
}

/// Whether `path` is in normalised form, i.e. [`normalize_path`] would return it unchanged.
///
/// Useful to assert that a path handed to [`crate::app_meta::AppMeta::decide`] went through
/// normalisation.
pub fn is_normalized(path: &str) -> bool {
    check_normalized(path.as_bytes(), false)
}

/// Whether `prefix` is a sensible access-rule key: `""`, or a string that every normalised path
/// starting with it shares, so the rule can match at all.
///
/// The last segment may be an incomplete `.` or `..` (`/a/.` is a prefix of `/a/.well-known`);
/// anything else must already be in normalised form. A key like `/%70ub` or `//pub` could never
/// match a normalised path, and a rule that silently never applies is a hole.
pub(crate) fn is_valid_prefix(prefix: &str) -> bool {
    prefix.is_empty() || check_normalized(prefix.as_bytes(), true)
}

fn check_normalized(path: &[u8], partial_last_segment: bool) -> bool {
    let Some(rest) = path.strip_prefix(b"/") else {
        return false;
    };
    let mut segments = rest.split(|&b| b == b'/').peekable();
    while let Some(segment) = segments.next() {
        let last = segments.peek().is_none();
        if segment.is_empty() && !last {
            return false;
        }
        let dot = segment == b"." || segment == b"..";
        if dot && !(last && partial_last_segment) {
            return false;
        }
        if segment.starts_with(b".;") || segment.starts_with(b"..;") {
            return false;
        }
        if !segment_is_canonical(segment) {
            return false;
        }
    }
    true
}

/// Whether a segment's bytes are exactly what [`decode_segment`] would write for them.
fn segment_is_canonical(segment: &[u8]) -> bool {
    let mut bytes = segment.iter();
    while let Some(&b) = bytes.next() {
        if b == b'%' {
            let (Some(&hi), Some(&lo)) = (bytes.next(), bytes.next()) else {
                return false;
            };
            let (Some(h), Some(l)) = (hex_value(hi), hex_value(lo)) else {
                return false;
            };
            let decoded = (h << 4) | l;
            if hi != hex_upper(h) || lo != hex_upper(l) || is_unreserved(decoded) {
                return false;
            }
            if matches!(decoded, b'/' | b'\\' | 0) {
                return false;
            }
        } else if check_raw(b).is_err() {
            return false;
        }
    }
    true
}

/// Steps 2 and 3 over the whole path, before any segment is resolved, so that a path with
/// several faults is refused for the earliest step that fails, wherever the faults are: every
/// raw byte (step 2) before any percent-encoding (step 3), and both before a dot segment with
/// a parameter (step 6). [`decode_segment`] then meets no error of its own.
fn check_bytes(path: &[u8]) -> Result<(), PathError> {
    let encoded = |i: usize| -> Option<u8> {
        let hi = path.get(i.checked_add(1)?).copied().and_then(hex_value)?;
        let lo = path.get(i.checked_add(2)?).copied().and_then(hex_value)?;
        Some((hi << 4) | lo)
    };
    // Step 2: every byte that is not part of a percent-encoding (a `%` without two hex
    // digits is a raw byte, and so are the bytes after it).
    let mut i = 0;
    while let Some(&b) = path.get(i) {
        if b == b'%' && encoded(i).is_some() {
            i += 3;
            continue;
        }
        check_raw(b)?;
        i += 1;
    }
    // Step 3: every `%` is a well-formed encoding of an allowed octet.
    for (i, &b) in path.iter().enumerate() {
        if b != b'%' {
            continue;
        }
        match encoded(i) {
            None => return Err(PathError::InvalidPercentEncoding),
            Some(b'/') => return Err(PathError::EncodedSlash),
            Some(b'\\') => return Err(PathError::EncodedBackslash),
            Some(0) => return Err(PathError::EncodedNul),
            Some(_) => {}
        }
    }
    Ok(())
}

/// Decodes one segment (the bytes between two raw `/`) onto the end of `w`.
fn decode_segment(segment: &[u8], w: &mut Writer<'_>) -> Result<(), PathError> {
    let mut bytes = segment.iter();
    while let Some(&b) = bytes.next() {
        if b != b'%' {
            check_raw(b)?;
            w.push(b)?;
            continue;
        }
        let (Some(&hi), Some(&lo)) = (bytes.next(), bytes.next()) else {
            return Err(PathError::InvalidPercentEncoding);
        };
        let (Some(h), Some(l)) = (hex_value(hi), hex_value(lo)) else {
            return Err(PathError::InvalidPercentEncoding);
        };
        match (h << 4) | l {
            b'/' => return Err(PathError::EncodedSlash),
            b'\\' => return Err(PathError::EncodedBackslash),
            0 => return Err(PathError::EncodedNul),
            decoded if is_unreserved(decoded) => w.push(decoded)?,
            _ => {
                w.push(b'%')?;
                w.push(hex_upper(h))?;
                w.push(hex_upper(l))?;
            }
        }
    }
    Ok(())
}

/// Checks a byte that appears unencoded in the path.
fn check_raw(b: u8) -> Result<(), PathError> {
    match b {
        b'\\' => Err(PathError::Backslash),
        0x00..=0x1F | 0x7F => Err(PathError::ControlCharacter),
        0x80..=0xFF => Err(PathError::NonAscii),
        b' ' | b'#' | b'?' => Err(PathError::InvalidCharacter),
        _ => Ok(()),
    }
}

/// RFC 3986 §2.3.
fn is_unreserved(b: u8) -> bool {
    b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~')
}

fn hex_value(b: u8) -> Option<u8> {
    match b {
        b'0'..=b'9' => Some(b - b'0'),
        b'a'..=b'f' => Some(b - b'a' + 10),
        b'A'..=b'F' => Some(b - b'A' + 10),
        _ => None,
    }
}

/// `nibble` is at most 15 here: it comes from [`hex_value`].
fn hex_upper(nibble: u8) -> u8 {
    if nibble < 10 {
        b'0' + nibble
    } else {
        b'A' + (nibble - 10)
    }
}

/// Appends to the caller's buffer; `len` only moves back when a dot segment is resolved.
struct Writer<'b> {
    buf: &'b mut [u8],
    len: usize,
    needed: usize,
}

impl Writer<'_> {
    fn push(&mut self, b: u8) -> Result<(), PathError> {
        // Cannot fail: the buffer holds the whole input and output never outgrows input.
        let slot = self
            .buf
            .get_mut(self.len)
            .ok_or(PathError::BufferTooSmall {
                needed: self.needed,
            })?;
        *slot = b;
        self.len += 1;
        Ok(())
    }

    fn since(&self, start: usize) -> &[u8] {
        self.buf.get(start..self.len).unwrap_or_default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn norm(raw: &str) -> Result<heapless::String<256>, PathError> {
        let mut buf = [0u8; 256];
        normalize_path(raw, &mut buf).map(|s| heapless::String::try_from(s).unwrap())
    }

    fn ok(raw: &str, expected: &str) {
        assert_eq!(norm(raw).as_deref(), Ok(expected), "input {raw:?}");
    }

    fn err(raw: &str, expected: PathError) {
        assert_eq!(norm(raw), Err(expected), "input {raw:?}");
    }

    #[test]
    fn plain_paths_unchanged() {
        ok("/", "/");
        ok("/pub", "/pub");
        ok("/a/b/c", "/a/b/c");
        ok("/a/b/", "/a/b/");
        ok("/a-b_c.d~e/f:g@h!$&'()*+,;=", "/a-b_c.d~e/f:g@h!$&'()*+,;=");
    }

    #[test]
    fn dot_dot_goes_up() {
        ok("/pub/../private", "/private");
        ok("/a/b/../c", "/a/c");
        ok("/a/b/c/../../d", "/a/d");
    }

    #[test]
    fn single_dot_removed() {
        ok("/a/./b", "/a/b");
        ok("/./a", "/a");
        ok("/a/.", "/a/");
        ok("/.", "/");
    }

    #[test]
    fn dot_dot_never_above_root() {
        ok("/..", "/");
        ok("/../", "/");
        ok("/../../x", "/x");
        ok("/a/../../b", "/b");
    }

    #[test]
    fn trailing_dot_dot_keeps_directory_slash() {
        ok("/a/b/..", "/a/");
        ok("/a/b/../", "/a/");
    }

    #[test]
    fn trailing_slash_preserved() {
        ok("/a/b/", "/a/b/");
        ok("/a/", "/a/");
    }

    #[test]
    fn slash_runs_collapse() {
        ok("//private", "/private");
        ok("/a//b///c", "/a/b/c");
        ok("/a//", "/a/");
        ok("//", "/");
        ok("/a/.//../b", "/b");
    }

    #[test]
    fn unreserved_encodings_decoded() {
        ok("/%70ub", "/pub");
        ok("/%7e", "/~");
        ok("/%7E", "/~");
        ok("/%41%5a%30%2D%5F", "/AZ0-_");
    }

    #[test]
    fn encoded_dots_are_dot_segments() {
        ok("/%2e%2e/x", "/x");
        ok("/pub/%2E%2E/private", "/private");
        ok("/pub/.%2e/private", "/private");
        ok("/a/%2e/b", "/a/b");
        ok("/%2e%2e%2e", "/...");
    }

    #[test]
    fn reserved_encodings_kept_uppercase() {
        ok("/%20", "/%20");
        ok("/caf%c3%a9", "/caf%C3%A9");
        ok("/a%3fb", "/a%3Fb");
        ok("/%25", "/%25");
        ok("/%2541", "/%2541");
        ok("/%0a", "/%0A");
    }

    #[test]
    fn encoded_separators_rejected() {
        err("/a%2Fb", PathError::EncodedSlash);
        err("/a%2fb", PathError::EncodedSlash);
        err("/a%5Cb", PathError::EncodedBackslash);
        err("/a%5cb", PathError::EncodedBackslash);
        err("/a%00b", PathError::EncodedNul);
    }

    #[test]
    fn malformed_encodings_rejected() {
        err("/%zz", PathError::InvalidPercentEncoding);
        err("/%GZ", PathError::InvalidPercentEncoding);
        err("/a%", PathError::InvalidPercentEncoding);
        err("/a%4", PathError::InvalidPercentEncoding);
        err("/%4/", PathError::InvalidPercentEncoding);
        err("/%", PathError::InvalidPercentEncoding);
    }

    #[test]
    fn several_faults_give_the_earliest_step() {
        // docs/protocol.md checks raw bytes (step 2) before percent-encodings (step 3), and
        // both before dot segments with parameters (step 6), wherever the faults are.
        err("/%2F/\\", PathError::Backslash);
        err("/%zz/x y", PathError::InvalidCharacter);
        err("/%00%7F/\x7F", PathError::ControlCharacter);
        err("/..;/%2F", PathError::EncodedSlash);
        err("/..;/\\", PathError::Backslash);
        err("/.;/%", PathError::InvalidPercentEncoding);
        // A `%` without two hex digits is raw, so what follows it is checked as raw bytes.
        err("/%4\\", PathError::Backslash);
        err("/%%41", PathError::InvalidPercentEncoding);
        // Within a step, the first fault in the path decides.
        err("/%5C%2F", PathError::EncodedBackslash);
        err("/%2F%", PathError::EncodedSlash);
    }

    #[test]
    fn must_be_absolute() {
        err("", PathError::NotAbsolute);
        err("*", PathError::NotAbsolute);
        err("pub", PathError::NotAbsolute);
        err("%2Fpub", PathError::NotAbsolute);
        err("http://x/", PathError::NotAbsolute);
    }

    #[test]
    fn raw_bad_bytes_rejected() {
        err("/a\\b", PathError::Backslash);
        err("/a\0b", PathError::ControlCharacter);
        err("/a\nb", PathError::ControlCharacter);
        err("/a\rb", PathError::ControlCharacter);
        err("/a\tb", PathError::ControlCharacter);
        err("/a\x7fb", PathError::ControlCharacter);
        err("/café", PathError::NonAscii);
        err("/a b", PathError::InvalidCharacter);
        err("/a#b", PathError::InvalidCharacter);
        err("/a?b", PathError::InvalidCharacter);
    }

    #[test]
    fn dot_segment_with_parameter_rejected() {
        err("/pub/..;/private", PathError::DotSegmentParameter);
        err("/pub/.;/x", PathError::DotSegmentParameter);
        err("/pub/%2e%2e;x/private", PathError::DotSegmentParameter);
        ok("/pub/a;b/x", "/pub/a;b/x");
        ok("/pub/...;/x", "/pub/...;/x");
    }

    #[test]
    fn buffer_must_hold_input() {
        let mut small = [0u8; 4];
        assert_eq!(
            normalize_path("/abcd", &mut small),
            Err(PathError::BufferTooSmall { needed: 5 })
        );
        // Refused up front even when the result would fit.
        assert_eq!(
            normalize_path("/a/../", &mut small),
            Err(PathError::BufferTooSmall { needed: 6 })
        );
        let mut exact = [0u8; 5];
        assert_eq!(normalize_path("/abcd", &mut exact), Ok("/abcd"));
        let mut one = [0u8; 1];
        assert_eq!(normalize_path("/", &mut one), Ok("/"));
    }

    const TRICKY: &[&str] = &[
        "/",
        "/pub/../private",
        "/%2e%2e/%2e%2e/x",
        "//a//b//",
        "/a/./b/../c/.",
        "/a/b/..",
        "/..",
        "/.../x",
        "/a/%2e%2e%2f",
        "/%2e./%2E/x/",
        "/x%25%32%65%25%32%65/y",
        "/caf%c3%a9/%7euser/%20",
        "/.well-known/./x",
        "/a/..b/c..",
        "/a/.../../b",
        "/a/b/c/../../../../../..",
        "/%2E%2E",
        "/a/%2E/",
    ];

    #[test]
    fn normalising_is_idempotent() {
        for raw in TRICKY {
            let Ok(once) = norm(raw) else { continue };
            assert_eq!(norm(&once).as_deref(), Ok(once.as_str()), "input {raw:?}");
            assert!(is_normalized(&once), "{once:?} from {raw:?}");
        }
    }

    #[test]
    fn output_never_has_dot_segments_or_double_slash() {
        for raw in TRICKY {
            let Ok(out) = norm(raw) else { continue };
            assert!(!out.contains("/../"), "{out:?}");
            assert!(!out.contains("/./"), "{out:?}");
            assert!(!out.contains("//"), "{out:?}");
            assert!(!out.ends_with("/.."), "{out:?}");
            assert!(!out.ends_with("/."), "{out:?}");
            assert!(out.len() <= raw.len());
        }
    }

    #[test]
    fn is_normalized_agrees_with_normalize() {
        let samples = [
            "/", "/a", "/a/", "//a", "/a/.", "/a/..", "/./a", "/%70", "/%2f", "/%2F", "/%20",
            "/%c3", "/%C3", "/a\\", "/a b", "", "a", "/..;", "/a;b", "/%", "/%2",
        ];
        for s in samples {
            assert_eq!(is_normalized(s), norm(s).as_deref() == Ok(s), "{s:?}");
        }
    }

    #[test]
    fn prefix_validity() {
        for good in [
            "",
            "/",
            "/pub",
            "/pub/",
            "/a/.",
            "/a/..",
            "/.well-known",
            "/%20x",
        ] {
            assert!(is_valid_prefix(good), "{good:?}");
        }
        for bad in [
            "pub", "//pub", "/%70ub", "/a/./b", "/a/../b", "/a%", "/a%2", "/%2f", "/a\\",
        ] {
            assert!(!is_valid_prefix(bad), "{bad:?}");
        }
    }

    #[test]
    fn errors_map_to_400() {
        use crate::wire::WireError;
        assert_eq!(PathError::EncodedSlash.http_status(), 400);
        assert_eq!(PathError::EncodedSlash.code(), "path_encoded_slash");
        assert_eq!(
            PathError::InvalidPercentEncoding.code(),
            "path_invalid_percent_encoding"
        );
        assert_eq!(PathError::BufferTooSmall { needed: 1 }.http_status(), 414);
    }
}
