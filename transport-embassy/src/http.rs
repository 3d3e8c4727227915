//! A bounded HTTP/1.1 message reader and writer over any `embedded-io-async` stream.
//!
//! # Driving contract
//! One [`Inbox`] per connection holds the received bytes in the caller's buffer. For each
//! message: [`Inbox::read_head`] (the head stays at the start of the buffer, parsed again later
//! with [`parse_request`]/[`parse_response`] so no parsed headers live across an `await`),
//! then [`Inbox::read_body`] into the caller's body buffer, then [`Inbox::next_message`],
//! which moves any pipelined bytes to the front for the next head.
//!
//! The head is parsed with `httparse` (no_std, no allocation, headers parsed into a
//! caller-owned array). Framing is decided here, strictly: `Transfer-Encoding` other than a
//! single `chunked` is refused (501), `Transfer-Encoding` together with `Content-Length` is
//! refused (400, the request-smuggling ambiguity), differing `Content-Length` values are
//! refused (400). Chunk sizes are read with `httparse::parse_chunk_size`, after a check that
//! the line starts with a hex digit (httparse reads a line without digits as 0); chunk
//! extensions and trailers are read and ignored.
//!
//! # Resource limits
//! - The head (request or status line and fields) must fit in the inbox buffer less
//!   [`STAGING`] bytes, which are kept for chunk-size lines and trailers: otherwise
//!   [`HttpError::HeadTooLarge`] (431).
//! - At most [`MAX_HEADERS`] field lines ([`HttpError::TooManyHeaders`], 431).
//! - The body must fit in the caller's body buffer ([`HttpError::BodyTooLarge`], 413): a
//!   declared `Content-Length` over it is refused before any body byte is read.
//! - A chunk-size line, chunk end or trailer line longer than [`STAGING`] bytes, its line end
//!   included, is refused (400), however it arrived.
//! - Every read runs under the caller's deadline ([`HttpError::Timeout`]).

use embassy_time::{Instant, with_deadline};
use embedded_io_async::{Read, Write};
use shardpeer_core::wire::WireError;

/// Most field lines in a head.
pub const MAX_HEADERS: usize = 32;
/// Bytes of the inbox kept free after the head for chunk-size lines and trailers.
pub const STAGING: usize = 256;

/// Why a message could not be read.
#[non_exhaustive]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HttpError {
    /// The peer closed the connection before the first byte of a message (not an error to
    /// answer: the connection is simply done).
    Closed,
    /// The connection failed (reset, aborted).
    Io,
    /// The deadline passed.
    Timeout,
    /// The peer closed the connection in the middle of a message.
    Truncated,
    /// The head does not fit in the inbox.
    HeadTooLarge {
        /// Bytes available for the head.
        limit: usize,
    },
    /// More than [`MAX_HEADERS`] field lines.
    TooManyHeaders,
    /// The head is not valid HTTP/1.x.
    Malformed,
    /// `Content-Length` is not a number, or appears with different values.
    BadContentLength,
    /// Both `Transfer-Encoding` and `Content-Length`.
    AmbiguousLength,
    /// A transfer coding other than a single `chunked`.
    UnsupportedTransferEncoding,
    /// The body is larger than the body buffer.
    BodyTooLarge {
        /// The body buffer's size.
        limit: usize,
    },
    /// A chunk-size line, chunk terminator or trailer is malformed or too long.
    BadChunk,
    /// An HTTP/1.1 request without `Host`, or with several.
    MissingHost,
    /// The output buffer is too small for the message to write.
    OutputTooSmall,
}

impl core::fmt::Display for HttpError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            HttpError::Closed => f.write_str("connection closed"),
            HttpError::Io => f.write_str("connection failed"),
            HttpError::Timeout => f.write_str("the message did not arrive in time"),
            HttpError::Truncated => f.write_str("connection closed in the middle of a message"),
            HttpError::HeadTooLarge { limit } => {
                write!(f, "message head larger than {limit} bytes")
            }
            HttpError::TooManyHeaders => write!(f, "more than {MAX_HEADERS} header fields"),
            HttpError::Malformed => f.write_str("malformed HTTP/1.1 message head"),
            HttpError::BadContentLength => f.write_str("invalid or conflicting Content-Length"),
            HttpError::AmbiguousLength => {
                f.write_str("both Transfer-Encoding and Content-Length present")
            }
            HttpError::UnsupportedTransferEncoding => {
                f.write_str("only Transfer-Encoding: chunked is supported")
            }
            HttpError::BodyTooLarge { limit } => write!(f, "body larger than {limit} bytes"),
            HttpError::BadChunk => f.write_str("malformed chunked body"),
            HttpError::MissingHost => f.write_str("an HTTP/1.1 request needs one Host field"),
            HttpError::OutputTooSmall => f.write_str("output buffer too small"),
        }
    }
}

impl core::error::Error for HttpError {}

impl WireError for HttpError {
    fn code(&self) -> &'static str {
        match self {
            HttpError::Closed => "http_closed",
            HttpError::Io => "http_io",
            HttpError::Timeout => "http_timeout",
            HttpError::Truncated => "http_truncated",
            HttpError::HeadTooLarge { .. } => "http_head_too_large",
            HttpError::TooManyHeaders => "http_too_many_headers",
            HttpError::Malformed => "http_malformed",
            HttpError::BadContentLength => "http_bad_content_length",
            HttpError::AmbiguousLength => "http_ambiguous_length",
            HttpError::UnsupportedTransferEncoding => "http_unsupported_transfer_encoding",
            HttpError::BodyTooLarge { .. } => "body_too_large",
            HttpError::BadChunk => "http_bad_chunk",
            HttpError::MissingHost => "http_missing_host",
            HttpError::OutputTooSmall => "http_output_too_small",
        }
    }

    fn http_status(&self) -> u16 {
        match self {
            HttpError::Timeout => 408,
            HttpError::HeadTooLarge { .. } | HttpError::TooManyHeaders => 431,
            HttpError::BodyTooLarge { .. } => 413,
            HttpError::UnsupportedTransferEncoding => 501,
            HttpError::OutputTooSmall => 500,
            _ => 400,
        }
    }
}

/// How the body of a message is delimited.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Framing {
    /// `Content-Length` bytes (0 when a request has neither field).
    Length(u64),
    /// `Transfer-Encoding: chunked`.
    Chunked,
    /// Until the connection closes (responses without a length).
    UntilClose,
}

/// What the transport needs to know about a head before reading the body.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HeadInfo {
    /// Length of the head in the inbox, blank line included.
    pub len: usize,
    /// Body framing.
    pub framing: Framing,
    /// Whether the connection may carry another message after this one.
    pub keep_alive: bool,
    /// The response status (0 for a request).
    pub status: u16,
}

/// Whether a head is a request's or a response's.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// A request (server side).
    Request,
    /// A response to a request with this method (client side); `HEAD` responses and
    /// 1xx/204/304 have no body.
    Response {
        /// The request was `HEAD`.
        head_request: bool,
    },
}

/// Header fields as parsed by httparse, seen through the core's [`Fields`] trait.
///
/// [`Fields`]: shardpeer_core::message::Fields
#[derive(Debug, Clone, Copy)]
pub struct HeaderList<'h, 'b>(pub &'h [httparse::Header<'b>]);

/// Values of one field name, in order.
#[derive(Debug, Clone)]
pub struct HeaderValues<'h, 'b> {
    iter: core::slice::Iter<'h, httparse::Header<'b>>,
    name: &'h str,
}

impl<'h, 'b: 'h> Iterator for HeaderValues<'h, 'b> {
    type Item = &'h [u8];
    fn next(&mut self) -> Option<&'h [u8]> {
        self.iter
            .by_ref()
            .find(|h| h.name.eq_ignore_ascii_case(self.name))
            .map(|h| h.value)
    }
}

impl<'h, 'b: 'h> shardpeer_core::message::Fields for HeaderList<'h, 'b> {
    type Values<'f>
        = HeaderValues<'f, 'b>
    where
        Self: 'f;

    fn values<'f>(&'f self, name: &'f str) -> HeaderValues<'f, 'b> {
        HeaderValues {
            iter: self.0.iter(),
            name,
        }
    }
}

impl<'h, 'b: 'h> HeaderList<'h, 'b> {
    /// The value of a field present exactly once, as trimmed text.
    pub fn single(&self, name: &str) -> Option<&'h str> {
        let mut it = self.0.iter().filter(|h| h.name.eq_ignore_ascii_case(name));
        let first = it.next()?;
        if it.next().is_some() {
            return None;
        }
        core::str::from_utf8(first.value)
            .ok()
            .map(|s| s.trim_matches([' ', '\t']))
    }
}

/// A parsed request head, borrowing the inbox.
#[derive(Debug)]
pub struct RequestHead<'h, 'b> {
    /// Method.
    pub method: &'b str,
    /// Request target as received (origin form expected).
    pub target: &'b str,
    /// 0 for HTTP/1.0, 1 for HTTP/1.1.
    pub version: u8,
    /// The field lines.
    pub headers: HeaderList<'h, 'b>,
}

/// A parsed response head, borrowing the inbox.
#[derive(Debug)]
pub struct ResponseHead<'h, 'b> {
    /// Status code.
    pub status: u16,
    /// The field lines.
    pub headers: HeaderList<'h, 'b>,
}

fn map_parse_error(e: httparse::Error) -> HttpError {
    match e {
        httparse::Error::TooManyHeaders => HttpError::TooManyHeaders,
        _ => HttpError::Malformed,
    }
}

/// Parses a complete request head (as left by [`Inbox::read_head`]).
pub fn parse_request<'h, 'b>(
    head: &'b [u8],
    storage: &'h mut [httparse::Header<'b>; MAX_HEADERS],
) -> Result<RequestHead<'h, 'b>, HttpError> {
    let mut req = httparse::Request::new(storage);
    match req.parse(head).map_err(map_parse_error)? {
        httparse::Status::Complete(_) => {}
        httparse::Status::Partial => return Err(HttpError::Malformed),
    }
    let (Some(method), Some(target), Some(version)) = (req.method, req.path, req.version) else {
        return Err(HttpError::Malformed);
    };
    Ok(RequestHead {
        method,
        target,
        version,
        headers: HeaderList(req.headers),
    })
}

/// Parses a complete response head.
pub fn parse_response<'h, 'b>(
    head: &'b [u8],
    storage: &'h mut [httparse::Header<'b>; MAX_HEADERS],
) -> Result<ResponseHead<'h, 'b>, HttpError> {
    let mut resp = httparse::Response::new(storage);
    match resp.parse(head).map_err(map_parse_error)? {
        httparse::Status::Complete(_) => {}
        httparse::Status::Partial => return Err(HttpError::Malformed),
    }
    let Some(status) = resp.code else {
        return Err(HttpError::Malformed);
    };
    Ok(ResponseHead {
        status,
        headers: HeaderList(resp.headers),
    })
}

/// Whether a comma-separated field (`Connection`) lists `token`, case-insensitively.
fn lists_token(headers: &HeaderList<'_, '_>, name: &str, token: &str) -> bool {
    headers
        .0
        .iter()
        .filter(|h| h.name.eq_ignore_ascii_case(name))
        .flat_map(|h| h.value.split(|&b| b == b','))
        .any(|t| t.trim_ascii().eq_ignore_ascii_case(token.as_bytes()))
}

/// Body framing from the fields (RFC 9112 §6.3, strictly).
fn framing(headers: &HeaderList<'_, '_>, kind: Kind, status: u16) -> Result<Framing, HttpError> {
    if let Kind::Response { head_request } = kind
        && (head_request || (100..200).contains(&status) || status == 204 || status == 304)
    {
        return Ok(Framing::Length(0));
    }
    let mut te = headers
        .0
        .iter()
        .filter(|h| h.name.eq_ignore_ascii_case("transfer-encoding"));
    let mut length: Option<u64> = None;
    for h in headers
        .0
        .iter()
        .filter(|h| h.name.eq_ignore_ascii_case("content-length"))
    {
        for part in h.value.split(|&b| b == b',') {
            let part = part.trim_ascii();
            if part.is_empty() || part.len() > 19 || !part.iter().all(u8::is_ascii_digit) {
                return Err(HttpError::BadContentLength);
            }
            let n = part
                .iter()
                .fold(0u64, |acc, d| acc * 10 + u64::from(d - b'0'));
            match length {
                Some(prev) if prev != n => return Err(HttpError::BadContentLength),
                _ => length = Some(n),
            }
        }
    }
    match (te.next(), length) {
        (Some(_), Some(_)) => Err(HttpError::AmbiguousLength),
        (Some(first), None) => {
            if te.next().is_some() || !first.value.trim_ascii().eq_ignore_ascii_case(b"chunked") {
                return Err(HttpError::UnsupportedTransferEncoding);
            }
            Ok(Framing::Chunked)
        }
        (None, Some(n)) => Ok(Framing::Length(n)),
        (None, None) => Ok(match kind {
            Kind::Request => Framing::Length(0),
            Kind::Response { .. } => Framing::UntilClose,
        }),
    }
}

/// The receive side of one connection, in the caller's buffer.
#[derive(Debug)]
pub struct Inbox<'b> {
    buf: &'b mut [u8],
    /// Length of the current head at the start of `buf` (0 before one is read).
    head_len: usize,
    /// Unconsumed bytes are `buf[start..end]`.
    start: usize,
    end: usize,
}

impl<'b> Inbox<'b> {
    /// An empty inbox over `buf`. Heads may take `buf.len() - STAGING` bytes.
    pub fn new(buf: &'b mut [u8]) -> Self {
        Inbox {
            buf,
            head_len: 0,
            start: 0,
            end: 0,
        }
    }

    /// The current head's bytes (valid after [`Inbox::read_head`]).
    pub fn head(&self) -> &[u8] {
        self.buf.get(..self.head_len).unwrap_or_default()
    }

    /// The largest head accepted.
    pub fn head_limit(&self) -> usize {
        self.buf.len().saturating_sub(STAGING)
    }

    /// Whether bytes of a next message are already buffered.
    pub fn has_pending(&self) -> bool {
        self.end > self.start
    }

    /// Forgets the current message; pipelined bytes move to the front.
    pub fn next_message(&mut self) {
        self.buf.copy_within(self.start..self.end, 0);
        self.end -= self.start;
        self.start = 0;
        self.head_len = 0;
    }

    /// Reads more bytes into `buf[end..limit]`; `Ok(0)` at end of stream.
    async fn fill<S: Read>(
        &mut self,
        io: &mut S,
        limit: usize,
        deadline: Instant,
    ) -> Result<usize, HttpError> {
        let Some(space) = self.buf.get_mut(self.end..limit) else {
            return Ok(0);
        };
        if space.is_empty() {
            return Ok(0);
        }
        let n = with_deadline(deadline, io.read(space))
            .await
            .map_err(|_| HttpError::Timeout)?
            .map_err(|_| HttpError::Io)?;
        self.end += n;
        Ok(n)
    }

    /// Reads a complete head. The previous message must have been finished with
    /// [`Inbox::next_message`].
    pub async fn read_head<S: Read>(
        &mut self,
        io: &mut S,
        kind: Kind,
        deadline: Instant,
    ) -> Result<HeadInfo, HttpError> {
        let limit = self.head_limit();
        loop {
            let scanned = {
                let mut storage = [httparse::EMPTY_HEADER; MAX_HEADERS];
                let bytes = self.buf.get(..self.end.min(limit)).unwrap_or_default();
                match kind {
                    Kind::Request => {
                        let mut req = httparse::Request::new(&mut storage);
                        match req.parse(bytes).map_err(map_parse_error)? {
                            httparse::Status::Complete(n) => {
                                let headers = HeaderList(req.headers);
                                if req.version == Some(1) && headers.single("host").is_none() {
                                    return Err(HttpError::MissingHost);
                                }
                                let keep_alive = req.version == Some(1)
                                    && !lists_token(&headers, "connection", "close");
                                Some(HeadInfo {
                                    len: n,
                                    framing: framing(&headers, kind, 0)?,
                                    keep_alive,
                                    status: 0,
                                })
                            }
                            httparse::Status::Partial => None,
                        }
                    }
                    Kind::Response { .. } => {
                        let mut resp = httparse::Response::new(&mut storage);
                        match resp.parse(bytes).map_err(map_parse_error)? {
                            httparse::Status::Complete(n) => {
                                let headers = HeaderList(resp.headers);
                                let status = resp.code.unwrap_or(0);
                                let keep_alive = resp.version == Some(1)
                                    && !lists_token(&headers, "connection", "close");
                                Some(HeadInfo {
                                    len: n,
                                    framing: framing(&headers, kind, status)?,
                                    keep_alive,
                                    status,
                                })
                            }
                            httparse::Status::Partial => None,
                        }
                    }
                }
            };
            if let Some(info) = scanned {
                self.head_len = info.len;
                self.start = info.len;
                return Ok(info);
            }
            if self.end >= limit {
                return Err(HttpError::HeadTooLarge { limit });
            }
            if self.fill(io, limit, deadline).await? == 0 {
                return Err(if self.end == 0 {
                    HttpError::Closed
                } else {
                    HttpError::Truncated
                });
            }
        }
    }

    /// Takes up to `out.len()` buffered bytes.
    fn take_buffered(&mut self, out: &mut [u8]) -> usize {
        let avail = self.end - self.start;
        let n = avail.min(out.len());
        if let (Some(dst), Some(src)) = (out.get_mut(..n), self.buf.get(self.start..self.start + n))
        {
            dst.copy_from_slice(src);
        }
        self.start += n;
        n
    }

    /// Fills `out` completely from the buffer, then the stream.
    async fn read_exact<S: Read>(
        &mut self,
        io: &mut S,
        out: &mut [u8],
        deadline: Instant,
    ) -> Result<(), HttpError> {
        let mut got = self.take_buffered(out);
        while let Some(rest) = out.get_mut(got..) {
            if rest.is_empty() {
                break;
            }
            let n = with_deadline(deadline, io.read(rest))
                .await
                .map_err(|_| HttpError::Timeout)?
                .map_err(|_| HttpError::Io)?;
            if n == 0 {
                return Err(HttpError::Truncated);
            }
            got += n;
        }
        Ok(())
    }

    /// Makes room in the staging area: buffered bytes move to just after the head.
    fn compact_staging(&mut self) {
        if self.start > self.head_len {
            self.buf.copy_within(self.start..self.end, self.head_len);
            self.end -= self.start - self.head_len;
            self.start = self.head_len;
        }
    }

    /// One line (without its CRLF) from the staging area, read as needed. A line of more than
    /// [`STAGING`] bytes, its LF included, is [`HttpError::BadChunk`].
    async fn read_line<S: Read>(
        &mut self,
        io: &mut S,
        deadline: Instant,
    ) -> Result<(usize, usize), HttpError> {
        loop {
            let window = self.buf.get(self.start..self.end).unwrap_or_default();
            if let Some(i) = window.iter().position(|&b| b == b'\n') {
                if i >= STAGING {
                    // Longer than the staging area, its LF included: refused however the line
                    // arrived. Only a line read a piece at a time used to be; one already in the
                    // buffer with the head passed (fuzz/corpus/http_request/chunk-trailer-too-long).
                    return Err(HttpError::BadChunk);
                }
                let line_end = if i > 0 && window.get(i - 1) == Some(&b'\r') {
                    i - 1
                } else {
                    i
                };
                let at = self.start;
                self.start += i + 1;
                return Ok((at, at + line_end));
            }
            self.compact_staging();
            let limit = self.buf.len();
            if self.end - self.start >= STAGING || self.end >= limit {
                return Err(HttpError::BadChunk);
            }
            if self.fill(io, limit, deadline).await? == 0 {
                return Err(HttpError::Truncated);
            }
        }
    }

    /// Reads the body announced by `framing` into `out`; returns its length.
    pub async fn read_body<S: Read>(
        &mut self,
        io: &mut S,
        framing: Framing,
        out: &mut [u8],
        deadline: Instant,
    ) -> Result<usize, HttpError> {
        let limit = out.len();
        match framing {
            Framing::Length(n) => {
                let n = usize::try_from(n)
                    .ok()
                    .filter(|&n| n <= limit)
                    .ok_or(HttpError::BodyTooLarge { limit })?;
                let dst = out.get_mut(..n).ok_or(HttpError::BodyTooLarge { limit })?;
                self.read_exact(io, dst, deadline).await?;
                Ok(n)
            }
            Framing::UntilClose => {
                let mut got = self.take_buffered(out);
                if self.has_pending() {
                    // More body already buffered than `out` holds: without this check the
                    // probe below asked the stream, found its end, and a truncated body passed
                    // for the whole one (fuzz/corpus/http_request/response-until-close-long).
                    return Err(HttpError::BodyTooLarge { limit });
                }
                loop {
                    let Some(rest) = out.get_mut(got..) else {
                        return Err(HttpError::BodyTooLarge { limit });
                    };
                    if rest.is_empty() {
                        // Full: one more byte means too large.
                        let mut probe = [0u8; 1];
                        let n = with_deadline(deadline, io.read(&mut probe))
                            .await
                            .map_err(|_| HttpError::Timeout)?
                            .map_err(|_| HttpError::Io)?;
                        return if n == 0 {
                            Ok(got)
                        } else {
                            Err(HttpError::BodyTooLarge { limit })
                        };
                    }
                    let n = with_deadline(deadline, io.read(rest))
                        .await
                        .map_err(|_| HttpError::Timeout)?
                        .map_err(|_| HttpError::Io)?;
                    if n == 0 {
                        return Ok(got);
                    }
                    got += n;
                }
            }
            Framing::Chunked => {
                let mut got = 0usize;
                loop {
                    let (a, b) = self.read_line(io, deadline).await?;
                    let line = self.buf.get(a..b).unwrap_or_default();
                    let size = chunk_size(line)?;
                    if size == 0 {
                        // Trailers, ignored, up to the blank line.
                        loop {
                            let (a, b) = self.read_line(io, deadline).await?;
                            if a == b {
                                return Ok(got);
                            }
                        }
                    }
                    let end = usize::try_from(size)
                        .ok()
                        .and_then(|s| got.checked_add(s))
                        .filter(|&e| e <= limit)
                        .ok_or(HttpError::BodyTooLarge { limit })?;
                    let dst = out
                        .get_mut(got..end)
                        .ok_or(HttpError::BodyTooLarge { limit })?;
                    self.read_exact(io, dst, deadline).await?;
                    got = end;
                    let (a, b) = self.read_line(io, deadline).await?;
                    if a != b {
                        return Err(HttpError::BadChunk);
                    }
                }
            }
        }
    }
}

/// The size of a chunk-size line (extensions allowed and ignored).
fn chunk_size(line: &[u8]) -> Result<u64, HttpError> {
    // chunk-size = 1*HEXDIG (RFC 9112 §7.1). httparse reads a line without digits (empty, or
    // only whitespace and an extension) as size 0, which would take an empty line for the last
    // chunk and what follows for trailers (fuzz/corpus/http_request/chunk-size-empty).
    if !line.first().is_some_and(u8::is_ascii_hexdigit) {
        return Err(HttpError::BadChunk);
    }
    // httparse wants the line with its CRLF.
    let mut tmp = [0u8; STAGING + 2];
    let n = line.len();
    let dst = tmp.get_mut(..n).ok_or(HttpError::BadChunk)?;
    dst.copy_from_slice(line);
    if let Some(crlf) = tmp.get_mut(n..n + 2) {
        crlf.copy_from_slice(b"\r\n");
    }
    match httparse::parse_chunk_size(tmp.get(..n + 2).unwrap_or_default()) {
        Ok(httparse::Status::Complete((_, size))) => Ok(size),
        _ => Err(HttpError::BadChunk),
    }
}

/// Writes all of `bytes` before `deadline`.
pub async fn write_all<S: Write>(
    io: &mut S,
    bytes: &[u8],
    deadline: Instant,
) -> Result<(), HttpError> {
    with_deadline(deadline, io.write_all(bytes))
        .await
        .map_err(|_| HttpError::Timeout)?
        .map_err(|_| HttpError::Io)?;
    with_deadline(deadline, io.flush())
        .await
        .map_err(|_| HttpError::Timeout)?
        .map_err(|_| HttpError::Io)
}

/// A `core::fmt::Write` over a byte buffer that remembers an overflow.
#[derive(Debug)]
pub struct BufWriter<'b> {
    buf: &'b mut [u8],
    len: usize,
    overflow: bool,
}

impl<'b> BufWriter<'b> {
    /// Writes into `buf` from the start.
    pub fn new(buf: &'b mut [u8]) -> Self {
        BufWriter {
            buf,
            len: 0,
            overflow: false,
        }
    }

    /// Appends bytes.
    pub fn push(&mut self, bytes: &[u8]) {
        match self.buf.get_mut(self.len..self.len + bytes.len()) {
            Some(dst) => {
                dst.copy_from_slice(bytes);
                self.len += bytes.len();
            }
            None => self.overflow = true,
        }
    }

    /// Appends text.
    pub fn push_str(&mut self, s: &str) {
        self.push(s.as_bytes());
    }

    /// Appends a decimal number.
    pub fn push_u64(&mut self, mut n: u64) {
        let mut digits = [0u8; 20];
        let mut i = digits.len();
        loop {
            i -= 1;
            if let Some(d) = digits.get_mut(i) {
                *d = b'0' + (n % 10) as u8;
            }
            n /= 10;
            if n == 0 || i == 0 {
                break;
            }
        }
        self.push(digits.get(i..).unwrap_or_default());
    }

    /// Appends text as the content of a JSON string (quotes not included).
    pub fn push_json_str(&mut self, s: &str) {
        for c in s.chars() {
            match c {
                '"' => self.push_str("\\\""),
                '\\' => self.push_str("\\\\"),
                '\n' => self.push_str("\\n"),
                '\r' => self.push_str("\\r"),
                '\t' => self.push_str("\\t"),
                c if (c as u32) < 0x20 || c as u32 == 0x7f => {
                    let v = c as u32;
                    let hex = b"0123456789abcdef";
                    let esc = [
                        b'\\',
                        b'u',
                        b'0',
                        b'0',
                        hex.get((v >> 4) as usize).copied().unwrap_or(b'0'),
                        hex.get((v & 15) as usize).copied().unwrap_or(b'0'),
                    ];
                    self.push(&esc);
                }
                c => {
                    let mut tmp = [0u8; 4];
                    self.push(c.encode_utf8(&mut tmp).as_bytes());
                }
            }
        }
    }

    /// The bytes written, or the overflow.
    pub fn finish(self) -> Result<&'b [u8], HttpError> {
        if self.overflow {
            return Err(HttpError::OutputTooSmall);
        }
        let buf: &'b [u8] = self.buf;
        buf.get(..self.len).ok_or(HttpError::OutputTooSmall)
    }

    /// Bytes written so far.
    pub fn len(&self) -> usize {
        self.len
    }

    /// Whether nothing was written.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }
}

impl core::fmt::Write for BufWriter<'_> {
    fn write_str(&mut self, s: &str) -> core::fmt::Result {
        self.push_str(s);
        Ok(())
    }
}

/// The reason phrase sent with a status code.
pub fn reason(status: u16) -> &'static str {
    match status {
        200 => "OK",
        201 => "Created",
        204 => "No Content",
        400 => "Bad Request",
        401 => "Unauthorized",
        403 => "Forbidden",
        404 => "Not Found",
        405 => "Method Not Allowed",
        408 => "Request Timeout",
        413 => "Content Too Large",
        414 => "URI Too Long",
        422 => "Unprocessable Content",
        431 => "Request Header Fields Too Large",
        500 => "Internal Server Error",
        501 => "Not Implemented",
        502 => "Bad Gateway",
        503 => "Service Unavailable",
        504 => "Gateway Timeout",
        _ => "Status",
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use embassy_time::Duration;
    use std::prelude::rust_2024::*;
    use std::{format, vec};

    /// A stream that hands out its input `step` bytes at a time.
    struct Mem<'a> {
        data: &'a [u8],
        step: usize,
    }

    impl embedded_io_async::ErrorType for Mem<'_> {
        type Error = core::convert::Infallible;
    }

    impl Read for Mem<'_> {
        async fn read(&mut self, buf: &mut [u8]) -> Result<usize, Self::Error> {
            let n = self.step.min(buf.len()).min(self.data.len());
            buf[..n].copy_from_slice(&self.data[..n]);
            self.data = &self.data[n..];
            Ok(n)
        }
    }

    fn read_all(
        input: &[u8],
        step: usize,
        buf_len: usize,
        body_len: usize,
    ) -> Vec<Result<Vec<u8>, HttpError>> {
        read_all_as(Kind::Request, input, step, buf_len, body_len)
    }

    fn read_all_as(
        kind: Kind,
        input: &[u8],
        step: usize,
        buf_len: usize,
        body_len: usize,
    ) -> Vec<Result<Vec<u8>, HttpError>> {
        let mut io = Mem { data: input, step };
        let mut buf = vec![0u8; buf_len];
        let mut body = vec![0u8; body_len];
        let mut inbox = Inbox::new(&mut buf);
        let mut out = Vec::new();
        futures_executor::block_on(async {
            loop {
                let deadline = Instant::now() + Duration::from_secs(5);
                let info = match inbox.read_head(&mut io, kind, deadline).await {
                    Ok(i) => i,
                    Err(HttpError::Closed) => break,
                    Err(e) => {
                        out.push(Err(e));
                        break;
                    }
                };
                match inbox
                    .read_body(&mut io, info.framing, &mut body, deadline)
                    .await
                {
                    Ok(n) => out.push(Ok(body[..n].to_vec())),
                    Err(e) => {
                        out.push(Err(e));
                        break;
                    }
                }
                inbox.next_message();
            }
        });
        out
    }

    #[test]
    fn bodies_in_every_framing_and_any_segmentation() {
        let input = b"POST /a HTTP/1.1\r\nHost: h\r\nContent-Length: 5\r\n\r\nhelloPOST /b HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n3;x=y\r\nabc\r\n10\r\n0123456789abcdef\r\n0\r\nT: 1\r\n\r\nGET /c HTTP/1.1\r\nHost: h\r\n\r\n";
        for step in [1, 2, 7, 64, 4096] {
            let got = read_all(input, step, 512, 64);
            assert_eq!(
                got,
                vec![
                    Ok(b"hello".to_vec()),
                    Ok(b"abc0123456789abcdef".to_vec()),
                    Ok(Vec::new())
                ],
                "step {step}"
            );
        }
    }

    #[test]
    fn limits_and_framing_errors() {
        let cases: &[(&[u8], HttpError)] = &[
            (b"GET / HTTP/1.1\r\nHost: h\r\nX: aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\r\n\r\n", HttpError::HeadTooLarge { limit: 256 }),
            (b"POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 65\r\n\r\n", HttpError::BodyTooLarge { limit: 64 }),
            (b"POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 99999999999999999999\r\n\r\n", HttpError::BadContentLength),
            (b"POST / HTTP/1.1\r\nHost: h\r\nContent-Length: -1\r\n\r\n", HttpError::BadContentLength),
            (b"POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 1, 2\r\n\r\n", HttpError::BadContentLength),
            (b"POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n\r\n", HttpError::UnsupportedTransferEncoding),
            (b"POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n41\r\n", HttpError::BodyTooLarge { limit: 64 }),
            (b"POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\nffffffffffffffffff\r\n", HttpError::BadChunk),
            (b"POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nabX\r\n", HttpError::BadChunk),
            (b"POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nab", HttpError::Truncated),
            (b"POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 4\r\n\r\nab", HttpError::Truncated),
            (b"GET / HTTP/1.1\r\nHost: h\r\n", HttpError::Truncated),
            (b"GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n", HttpError::MissingHost),
            (b"GET / HTTP/2.0\r\nHost: a\r\n\r\n", HttpError::Malformed),
        ];
        for (input, want) in cases {
            for step in [1, 3, 4096] {
                let got = read_all(input, step, 512, 64);
                assert_eq!(
                    got.last(),
                    Some(&Err(*want)),
                    "{:?} step {step}",
                    String::from_utf8_lossy(input)
                );
            }
        }
        // A chunk line longer than the staging area.
        let mut long =
            b"POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n1;".to_vec();
        long.extend(std::iter::repeat_n(b'x', 400));
        long.extend_from_slice(b"\r\na\r\n0\r\n\r\n");
        assert_eq!(
            read_all(&long, 5, 1024, 64).last(),
            Some(&Err(HttpError::BadChunk))
        );
    }

    // Regressions found by the `http_request` fuzz target (fuzz/corpus/http_request/).

    #[test]
    fn a_chunk_size_line_without_digits_is_refused() {
        // httparse::parse_chunk_size reads "" and " ;x" as 0: the empty line was taken for the
        // last chunk and the request after it for trailers.
        for line in ["", " ", " ;x", ";x", "\t3"] {
            let input = format!(
                "POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n{line}\r\n\r\nGET /smuggled HTTP/1.1\r\nHost: h\r\n\r\n"
            );
            for step in [1, 3, 4096] {
                assert_eq!(
                    read_all(input.as_bytes(), step, 512, 64),
                    vec![Err(HttpError::BadChunk)],
                    "{line:?} step {step}"
                );
            }
        }
    }

    #[test]
    fn a_long_chunk_line_is_refused_however_it_arrives() {
        let head = "POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n";
        // Lines of STAGING bytes, CRLF included, pass; one byte more does not, whether the
        // line came with the head (step 4096) or a few bytes at a time.
        let size_line = |n: usize| format!("1;{}\r\n", "x".repeat(n - 4));
        let trailer = |n: usize| format!("T: {}\r\n", "y".repeat(n - 5));
        for step in [1, 5, 4096] {
            for (len, want) in [
                (STAGING, Ok(b"a".to_vec())),
                (STAGING + 1, Err(HttpError::BadChunk)),
            ] {
                let chunk = format!("{head}{}a\r\n0\r\n\r\n", size_line(len));
                assert_eq!(
                    read_all(chunk.as_bytes(), step, 1024, 64),
                    vec![want.clone()],
                    "size line {len} step {step}"
                );
                let trail = format!("{head}1\r\na\r\n0\r\n{}\r\n", trailer(len));
                assert_eq!(
                    read_all(trail.as_bytes(), step, 1024, 64),
                    vec![want],
                    "trailer {len} step {step}"
                );
            }
        }
    }

    #[test]
    fn a_response_until_close_over_the_body_buffer_is_refused() {
        // All of it buffered with the head: the body buffer took 64 bytes, the stream was at
        // its end, and the truncated body passed for the whole one.
        let input = format!("HTTP/1.1 200 OK\r\n\r\n{}", "z".repeat(200));
        let kind = Kind::Response {
            head_request: false,
        };
        for step in [1, 7, 4096] {
            assert_eq!(
                read_all_as(kind, input.as_bytes(), step, 512, 64),
                vec![Err(HttpError::BodyTooLarge { limit: 64 })],
                "step {step}"
            );
        }
        let fits = format!("HTTP/1.1 200 OK\r\n\r\n{}", "z".repeat(64));
        assert_eq!(
            read_all_as(kind, fits.as_bytes(), 4096, 512, 64),
            vec![Ok(vec![b'z'; 64])]
        );
    }

    #[test]
    fn every_error_has_a_wire_answer() {
        let all = [
            HttpError::Timeout,
            HttpError::HeadTooLarge { limit: 1 },
            HttpError::BodyTooLarge { limit: 1 },
            HttpError::UnsupportedTransferEncoding,
            HttpError::AmbiguousLength,
        ];
        let statuses: Vec<u16> = all.iter().map(WireError::http_status).collect();
        assert_eq!(statuses, [408, 431, 413, 501, 400]);
        assert!(
            all.iter()
                .all(|e| !e.code().is_empty() && !format!("{e}").is_empty())
        );
    }

    #[test]
    fn json_strings_are_escaped() {
        let mut buf = [0u8; 64];
        let mut w = BufWriter::new(&mut buf);
        w.push_json_str("a\"b\\c\nd\u{1}é");
        assert_eq!(w.finish().unwrap(), "a\\\"b\\\\c\\nd\\u0001é".as_bytes());
        let mut small = [0u8; 2];
        let mut w = BufWriter::new(&mut small);
        w.push_str("abc");
        assert_eq!(w.finish(), Err(HttpError::OutputTooSmall));
    }
}
