//! The fuzz harness of the HTTP/1.1 reader ([`crate::http`]): the bytes a peer sends on one
//! connection, read message by message through an [`Inbox`], and judged against a model.
//!
//! `http_request(data)` panics only when an oracle fails; an [`HttpError`] the reader returns
//! is an answer, not a failure. `fuzz/fuzz_targets/http_request.rs` is the libFuzzer shim,
//! `tests/fuzz_corpus.rs` replays the checked-in corpus (`fuzz/corpus/http_request/`) on the
//! stable toolchain, `fuzz/README.md` lists the oracles with the other targets'.
//!
//! Compiled only with the `fuzz-harness` feature or under `cfg(fuzzing)` (which `cargo fuzz`
//! sets): no dependency, no allocation, `no_std` like the rest of the crate. Oracles panic —
//! that is their job — so the crate's no-panic lints are allowed in this module only.
//!
//! # Input
//! The bytes of one connection as they arrive: requests in HTTP/1.1 wire form, pipelined one
//! after the other. An input starting with `HTTP/` is read as responses instead (the client
//! side of the same [`Inbox`], where a body may also run until the connection closes).
//!
//! # Oracles
//! The stream is read, as the gateway reads it (head, body, next message, until an error or
//! the end), in several buffer configurations ([`CONFIGS`] and one derived from the input)
//! and several segmentations: all at once, one byte per read, and reads of sizes drawn from a
//! generator seeded with a hash of the input. Every run must give exactly the messages and
//! verdicts of the model (`model`), an independent statement of what `http.rs` documents:
//!
//! - the head is what `httparse` finds in the first `buf.len() - STAGING` bytes
//!   (`HeadTooLarge` when it is not complete there; `Truncated` or `Closed` at the end of the
//!   stream); an HTTP/1.1 request has exactly one `Host`;
//! - framing (RFC 9112 §6.3, strictly): `Transfer-Encoding` with `Content-Length` is
//!   `AmbiguousLength`; anything but one `Transfer-Encoding: chunked` field is
//!   `UnsupportedTransferEncoding`; a `Content-Length` element that is not 1 to 19 digits, or
//!   two different values, is `BadContentLength`; neither field: an empty request body, or a
//!   response body up to the end of the stream; `HEAD` answers, 1xx, 204 and 304 have none;
//! - chunked bodies decoded here with its own chunk-size reader (1 to 16 hex digits, optional
//!   SP/HTAB, optional `;` extension, no CR); a line (chunk size, chunk end or trailer) whose
//!   line end is not within [`STAGING`] bytes is `BadChunk`; trailers are skipped up to the
//!   blank line; the decoded body equals the body the reader delivers;
//! - a body larger than the body buffer is `BodyTooLarge` (a declared length before any body
//!   byte is read, a chunk before it is copied, a response until close when one byte more
//!   arrives);
//! - `keep_alive` is HTTP/1.1 without a `close` token in `Connection`.
//!
//! Beyond the model: a head is never longer than the head limit and is exactly the stream's
//! bytes at the message's offset, parses again with [`parse_request`]/[`parse_response`] and is
//! left intact by reading the body; a body is never longer than the body buffer; after each
//! message the reader holds unread bytes exactly when the stream fed more than the message
//! ends at (it consumed neither more nor less than the message); the reader never asks the
//! stream for zero bytes (that answer means the end of the stream) and never waits on a stream
//! that is always ready.

#![allow(
    clippy::panic,
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing
)]

use crate::http::{
    Framing, HeadInfo, HttpError, Inbox, Kind, MAX_HEADERS, STAGING, parse_request, parse_response,
};
use core::future::Future;
use core::ops::Range;
use core::task::{Context, Poll, Waker};
use embassy_time::Instant;
use heapless::Vec;
use shardpeer_core::message::Fields;
use shardpeer_core::wire::WireError;

/// Longest input read (libFuzzer's default `-max_len`); longer inputs are ignored.
pub const MAX_INPUT: usize = 4096;
/// Most messages read from one input; a longer pipeline is read no further (in every run).
pub const MAX_MESSAGES: usize = MAX_INPUT / 16;

/// Inbox and body buffer sizes, in bytes.
#[derive(Debug, Clone, Copy)]
pub struct Config {
    /// The inbox buffer (heads get `inbox - STAGING`).
    pub inbox: usize,
    /// The body buffer.
    pub body: usize,
    /// Whether the one-byte-per-read segmentation runs too (quadratic in the head size, so
    /// only for small buffers).
    pub bytewise: bool,
}

/// The fixed configurations: the unit tests' small buffers (heads of 256 bytes, bodies of 64),
/// and buffers larger than any input. A third one per input comes from its hash.
pub const CONFIGS: [Config; 2] = [
    Config {
        inbox: 512,
        body: 64,
        bytewise: true,
    },
    Config {
        inbox: MAX_INPUT + STAGING,
        body: MAX_INPUT,
        bytewise: false,
    },
];

/// The harness: see the module documentation.
pub fn http_request(data: &[u8]) {
    if data.len() > MAX_INPUT {
        return;
    }
    let hash = fnv1a(data);
    let derived = Config {
        inbox: STAGING + 24 + (hash % 1024) as usize,
        body: ((hash >> 16) % 512) as usize,
        bytewise: false,
    };
    let response = data.starts_with(b"HTTP/");
    let kind = if response {
        Kind::Response {
            head_request: false,
        }
    } else {
        Kind::Request
    };
    for config in CONFIGS.iter().chain([&derived]) {
        check(data, kind, config, hash);
    }
    if response {
        let head = Kind::Response { head_request: true };
        check(data, head, &CONFIGS[0], hash);
    }
}

/// How the stream hands out its bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Split {
    /// As much as the reader asks for.
    Whole,
    /// One byte per read.
    Bytes,
    /// Reads of 1 to 256 bytes, sizes drawn from a generator seeded with the input's hash.
    Drawn,
}

/// One model run, then the reader under each segmentation against it.
fn check(data: &[u8], kind: Kind, config: &Config, hash: u64) {
    let mut arena = [0u8; MAX_INPUT];
    let expected = model(data, kind, config, &mut arena);
    // All at once first: a failure there is a disagreement with the model; a failure only in
    // a later run is a verdict that depends on how the bytes were segmented.
    let mut splits: Vec<Split, 3> = Vec::new();
    splits.push(Split::Whole).unwrap();
    if config.bytewise {
        splits.push(Split::Bytes).unwrap();
    }
    splits.push(Split::Drawn).unwrap();
    for split in splits {
        run(data, kind, config, split, hash, &expected, &arena);
    }
}

// ---------------------------------------------------------------------------------------------
// The stream.

/// The input as a stream that is always ready and hands out bytes as `split` says.
struct Feed<'a> {
    data: &'a [u8],
    /// Bytes handed out so far.
    fed: usize,
    split: Split,
    rng: u64,
}

impl embedded_io_async::ErrorType for Feed<'_> {
    type Error = core::convert::Infallible;
}

impl embedded_io_async::Read for Feed<'_> {
    async fn read(&mut self, buf: &mut [u8]) -> Result<usize, Self::Error> {
        // `Ok(0)` means the end of the stream: a reader that asks for nothing cannot tell.
        assert!(!buf.is_empty(), "the reader asked the stream for 0 bytes");
        let want = match self.split {
            Split::Whole => usize::MAX,
            Split::Bytes => 1,
            Split::Drawn => {
                self.rng ^= self.rng << 13;
                self.rng ^= self.rng >> 7;
                self.rng ^= self.rng << 17;
                let bits = (self.rng >> 40) % 9;
                1 + (self.rng as usize & ((1 << bits) - 1))
            }
        };
        let rest = &self.data[self.fed..];
        let n = want.min(buf.len()).min(rest.len());
        buf[..n].copy_from_slice(&rest[..n]);
        self.fed += n;
        Ok(n)
    }
}

/// Polls a future once: the stream is always ready, so every read completes at once.
fn ready<F: Future>(fut: F) -> F::Output {
    let mut fut = core::pin::pin!(fut);
    let mut cx = Context::from_waker(Waker::noop());
    match fut.as_mut().poll(&mut cx) {
        Poll::Ready(v) => v,
        Poll::Pending => panic!("the reader waits although the stream is always ready"),
    }
}

fn fnv1a(data: &[u8]) -> u64 {
    data.iter().fold(0xcbf2_9ce4_8422_2325, |h, &b| {
        (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3)
    })
}

// ---------------------------------------------------------------------------------------------
// The model.

/// What reading one message gives.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Expect {
    /// `read_head` fails (`Closed` at the end of the stream): the connection is done.
    Head(HttpError),
    /// A head at `at`, and its body (a range of the model's arena) or why the body failed.
    /// The message ends at `end` in the stream (when the body was read).
    Message {
        at: usize,
        info: HeadInfo,
        body: Result<Range<usize>, HttpError>,
        end: usize,
    },
}

type Expected = Vec<Expect, MAX_MESSAGES>;

/// The messages of `data` read with `config`'s buffers: bodies decoded into `arena`.
fn model(data: &[u8], kind: Kind, config: &Config, arena: &mut [u8; MAX_INPUT]) -> Expected {
    let mut out = Expected::new();
    let mut at = 0;
    let mut used = 0;
    while !out.is_full() {
        let info = match model_head(&data[at..], kind, config.inbox) {
            Ok(info) => info,
            Err(e) => {
                out.push(Expect::Head(e)).unwrap();
                break;
            }
        };
        let mut pos = at + info.len;
        let body = model_body(data, &mut pos, info.framing, config.body, arena, &mut used);
        let stop = body.is_err() || info.framing == Framing::UntilClose;
        out.push(Expect::Message {
            at,
            info,
            body,
            end: pos,
        })
        .unwrap();
        if stop {
            break;
        }
        at = pos;
    }
    out
}

/// A complete head as `httparse` parsed it: length, version, status (0 for a request), fields.
type Parsed<'h, 'b> = (usize, Option<u8>, u16, &'h [httparse::Header<'b>]);

/// The head at the start of `rest`, as documented: what `httparse` finds in the first
/// `inbox - STAGING` bytes.
fn model_head(rest: &[u8], kind: Kind, inbox: usize) -> Result<HeadInfo, HttpError> {
    let limit = inbox.saturating_sub(STAGING);
    let window = &rest[..rest.len().min(limit)];
    let mut storage = [httparse::EMPTY_HEADER; MAX_HEADERS];
    let parsed: Result<Option<Parsed<'_, '_>>, _> = match kind {
        Kind::Request => {
            let mut req = httparse::Request::new(&mut storage);
            match req.parse(window) {
                Ok(httparse::Status::Complete(n)) => Ok(Some((n, req.version, 0, req.headers))),
                Ok(httparse::Status::Partial) => Ok(None),
                Err(e) => Err(e),
            }
        }
        Kind::Response { .. } => {
            let mut resp = httparse::Response::new(&mut storage);
            match resp.parse(window) {
                Ok(httparse::Status::Complete(n)) => {
                    let status = resp.code.expect("a complete response head has a status");
                    Ok(Some((n, resp.version, status, resp.headers)))
                }
                Ok(httparse::Status::Partial) => Ok(None),
                Err(e) => Err(e),
            }
        }
    };
    let (len, version, status, headers) = match parsed {
        Err(httparse::Error::TooManyHeaders) => return Err(HttpError::TooManyHeaders),
        Err(_) => return Err(HttpError::Malformed),
        Ok(None) => {
            return Err(if rest.len() >= limit {
                HttpError::HeadTooLarge { limit }
            } else if rest.is_empty() {
                HttpError::Closed
            } else {
                HttpError::Truncated
            });
        }
        Ok(Some(done)) => done,
    };
    let named = |name: &'static str| {
        headers
            .iter()
            .filter(move |h| h.name.eq_ignore_ascii_case(name))
    };
    if kind == Kind::Request && version == Some(1) {
        let mut hosts = named("host");
        let one = hosts.next();
        if hosts.next().is_some() || one.is_none_or(|h| core::str::from_utf8(h.value).is_err()) {
            return Err(HttpError::MissingHost);
        }
    }
    let no_body = match kind {
        Kind::Request => false,
        Kind::Response { head_request } => {
            head_request || (100..200).contains(&status) || status == 204 || status == 304
        }
    };
    let framing = if no_body {
        Framing::Length(0)
    } else {
        // Every Content-Length element is 1 to 19 digits, and all are the same number.
        let mut length: Option<u64> = None;
        for h in named("content-length") {
            for element in h.value.split(|&b| b == b',') {
                let digits = trim_ows(element);
                if digits.is_empty() || digits.len() > 19 || !digits.iter().all(u8::is_ascii_digit)
                {
                    return Err(HttpError::BadContentLength);
                }
                let n = digits
                    .iter()
                    .fold(0u64, |n, d| n * 10 + u64::from(d - b'0'));
                if length.is_some_and(|m| m != n) {
                    return Err(HttpError::BadContentLength);
                }
                length = Some(n);
            }
        }
        let codings = named("transfer-encoding").count();
        match (codings, length) {
            (0, Some(n)) => Framing::Length(n),
            (0, None) if kind == Kind::Request => Framing::Length(0),
            (0, None) => Framing::UntilClose,
            (_, Some(_)) => return Err(HttpError::AmbiguousLength),
            (1, None) => {
                let value = named("transfer-encoding").next().unwrap().value;
                if !trim_ows(value).eq_ignore_ascii_case(b"chunked") {
                    return Err(HttpError::UnsupportedTransferEncoding);
                }
                Framing::Chunked
            }
            (_, None) => return Err(HttpError::UnsupportedTransferEncoding),
        }
    };
    let close = named("connection")
        .flat_map(|h| h.value.split(|&b| b == b','))
        .any(|token| trim_ows(token).eq_ignore_ascii_case(b"close"));
    Ok(HeadInfo {
        len,
        framing,
        keep_alive: version == Some(1) && !close,
        status,
    })
}

/// Without leading and trailing SP and HTAB (the only whitespace `httparse` lets into a value).
fn trim_ows(mut s: &[u8]) -> &[u8] {
    while let [b' ' | b'\t', rest @ ..] = s {
        s = rest;
    }
    while let [rest @ .., b' ' | b'\t'] = s {
        s = rest;
    }
    s
}

/// The body at `*pos`, decoded into `arena[*used..]`; `*pos` moves past it.
fn model_body(
    data: &[u8],
    pos: &mut usize,
    framing: Framing,
    limit: usize,
    arena: &mut [u8; MAX_INPUT],
    used: &mut usize,
) -> Result<Range<usize>, HttpError> {
    let start = *used;
    let mut copy = |from: usize, n: usize, used: &mut usize| {
        arena[*used..*used + n].copy_from_slice(&data[from..from + n]);
        *used += n;
    };
    match framing {
        Framing::Length(n) => {
            if n > limit as u64 {
                return Err(HttpError::BodyTooLarge { limit });
            }
            let n = n as usize;
            if data.len() - *pos < n {
                return Err(HttpError::Truncated);
            }
            copy(*pos, n, used);
            *pos += n;
        }
        Framing::UntilClose => {
            let n = data.len() - *pos;
            if n > limit {
                return Err(HttpError::BodyTooLarge { limit });
            }
            copy(*pos, n, used);
            *pos += n;
        }
        Framing::Chunked => loop {
            let size = chunk_size(model_line(data, pos)?).ok_or(HttpError::BadChunk)?;
            if size == 0 {
                // Trailers, up to the blank line.
                while !model_line(data, pos)?.is_empty() {}
                break;
            }
            if size > (limit - (*used - start)) as u64 {
                return Err(HttpError::BodyTooLarge { limit });
            }
            let size = size as usize;
            if data.len() - *pos < size {
                return Err(HttpError::Truncated);
            }
            copy(*pos, size, used);
            *pos += size;
            if !model_line(data, pos)?.is_empty() {
                return Err(HttpError::BadChunk);
            }
        },
    }
    Ok(start..*used)
}

/// The line at `*pos` without its line end (LF, or CRLF); `*pos` moves past it. The line end
/// must come within `STAGING` bytes.
fn model_line<'d>(data: &'d [u8], pos: &mut usize) -> Result<&'d [u8], HttpError> {
    let rest = &data[*pos..];
    let window = &rest[..rest.len().min(STAGING)];
    let Some(lf) = window.iter().position(|&b| b == b'\n') else {
        return Err(if rest.len() >= STAGING {
            HttpError::BadChunk
        } else {
            HttpError::Truncated
        });
    };
    *pos += lf + 1;
    let line = &rest[..lf];
    Ok(line.strip_suffix(b"\r").unwrap_or(line))
}

/// A chunk-size line: 1 to 16 hex digits, then optional SP/HTAB, then optionally `;` and an
/// extension of any bytes but CR (`httparse::parse_chunk_size`'s grammar, which `http.rs`
/// names, less its acceptance of a line without digits).
fn chunk_size(line: &[u8]) -> Option<u64> {
    let digits = line.iter().take_while(|b| b.is_ascii_hexdigit()).count();
    if digits == 0 || digits > 16 {
        return None;
    }
    let size = line[..digits].iter().fold(0u64, |n, &d| {
        n << 4 | u64::from((d as char).to_digit(16).unwrap())
    });
    let rest = trim_ows_start(&line[digits..]);
    match rest {
        [] => Some(size),
        [b';', ext @ ..] if !ext.contains(&b'\r') => Some(size),
        _ => None,
    }
}

fn trim_ows_start(mut s: &[u8]) -> &[u8] {
    while let [b' ' | b'\t', rest @ ..] = s {
        s = rest;
    }
    s
}

// ---------------------------------------------------------------------------------------------
// The reader against the model.

/// Reads `data` as the gateway does, in `config`'s buffers, fed as `split` says, and checks
/// every message against `expected`.
fn run(
    data: &[u8],
    kind: Kind,
    config: &Config,
    split: Split,
    hash: u64,
    expected: &Expected,
    arena: &[u8; MAX_INPUT],
) {
    let mut inbox_buf = [0u8; MAX_INPUT + STAGING];
    let mut body_buf = [0u8; MAX_INPUT];
    let out = &mut body_buf[..config.body];
    let mut inbox = Inbox::new(&mut inbox_buf[..config.inbox]);
    let mut io = Feed {
        data,
        fed: 0,
        split,
        rng: hash | 1,
    };
    let deadline = Instant::MAX;
    let whose = |i: usize| (split, config.inbox, config.body, kind, i);
    for (i, want) in expected.iter().enumerate() {
        let got = ready(inbox.read_head(&mut io, kind, deadline));
        let (at, info, body, end) = match (want, got) {
            (Expect::Head(e), Err(g)) => {
                assert_eq!(
                    g,
                    *e,
                    "head verdict, (split, inbox, body, kind, message) {:?}",
                    whose(i)
                );
                assert!(g.http_status() >= 400 && !g.code().is_empty());
                if g == HttpError::Closed {
                    assert_eq!(io.fed, data.len(), "closed before the end of the stream");
                }
                return;
            }
            (
                Expect::Message {
                    at,
                    info,
                    body,
                    end,
                },
                Ok(got),
            ) => {
                assert_eq!(
                    got,
                    *info,
                    "head, (split, inbox, body, kind, message) {:?}",
                    whose(i)
                );
                (*at, got, body, *end)
            }
            (want, got) => panic!(
                "model: {want:?}, reader: {got:?}; (split, inbox, body, kind, message) {:?}",
                whose(i)
            ),
        };
        // The head: within the limit, the stream's bytes at the message, parsed again.
        assert!(info.len <= inbox.head_limit(), "head beyond the limit");
        assert_eq!(inbox.head(), &data[at..at + info.len], "head bytes");
        check_head(inbox.head(), kind, &info);
        let got = ready(inbox.read_body(&mut io, info.framing, out, deadline));
        assert_eq!(
            inbox.head(),
            &data[at..at + info.len],
            "reading the body changed the head"
        );
        match (got, body) {
            (Ok(n), Ok(range)) => {
                assert!(n <= out.len(), "body longer than its buffer");
                assert_eq!(
                    &out[..n],
                    &arena[range.clone()],
                    "body, (split, inbox, body, kind, message) {:?}",
                    whose(i)
                );
                if let Framing::Length(declared) = info.framing {
                    assert_eq!(n as u64, declared);
                }
            }
            (Err(g), Err(e)) => {
                assert_eq!(
                    g,
                    *e,
                    "body verdict, (split, inbox, body, kind, message) {:?}",
                    whose(i)
                );
                assert!(g.http_status() >= 400 && !g.code().is_empty());
                return;
            }
            (got, want) => panic!(
                "body: model {want:?}, reader {got:?}; (split, inbox, body, kind, message) {:?}",
                whose(i)
            ),
        }
        // It consumed exactly the message: what was fed beyond its end is still pending.
        assert!(io.fed >= end, "the message ends after the bytes fed");
        assert_eq!(
            inbox.has_pending(),
            io.fed > end,
            "pending bytes after the message, (split, inbox, body, kind, message) {:?}",
            whose(i)
        );
        inbox.next_message();
    }
}

/// A head the reader returned parses again, as the transport parses it later.
fn check_head(head: &[u8], kind: Kind, info: &HeadInfo) {
    let mut storage = [httparse::EMPTY_HEADER; MAX_HEADERS];
    match kind {
        Kind::Request => {
            let req = parse_request(head, &mut storage).expect("a head read parses again");
            assert!(req.version <= 1);
            if req.version == 1 {
                assert!(
                    req.headers.single("host").is_some(),
                    "HTTP/1.1 without one Host"
                );
            }
            // `Fields::values` sees the field lines `httparse` parsed, in any case.
            let cl = req.headers.values("Content-Length").count();
            let te = req.headers.values("TRANSFER-encoding").count();
            let named = |n: &str| {
                req.headers
                    .0
                    .iter()
                    .filter(|h| h.name.eq_ignore_ascii_case(n))
                    .count()
            };
            assert_eq!(
                (cl, te),
                (named("content-length"), named("transfer-encoding"))
            );
            match (cl, te) {
                (0, 0) => assert_eq!(info.framing, Framing::Length(0)),
                (_, 0) => assert!(matches!(info.framing, Framing::Length(_))),
                (0, _) => assert_eq!(info.framing, Framing::Chunked),
                _ => panic!("accepted with both Content-Length and Transfer-Encoding"),
            }
        }
        Kind::Response { .. } => {
            let resp = parse_response(head, &mut storage).expect("a head read parses again");
            assert_eq!(resp.status, info.status);
        }
    }
}
