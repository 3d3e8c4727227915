//! A byte sink over a caller's buffer that keeps counting when the buffer is full.
//!
//! Every writer in the core (signature bases, structured-field serialisation, header values)
//! goes through `Sink`, so "how much room would this need?" has one answer everywhere: write
//! as usual, then `Sink::finish` either returns the bytes or `BufferTooSmall { needed }`.
//! The caller's buffer may hold a partial write after an overflow; nothing else changes.

/// The caller's buffer was too small; `needed` bytes would have fitted the whole output.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BufferTooSmall {
    /// Bytes the complete output needs.
    pub needed: usize,
}

impl core::fmt::Display for BufferTooSmall {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        write!(f, "output buffer too small: {} bytes needed", self.needed)
    }
}
impl core::error::Error for BufferTooSmall {}
impl crate::wire::WireError for BufferTooSmall {
    fn code(&self) -> &'static str {
        "buffer_too_small"
    }
    fn http_status(&self) -> u16 {
        // A local capacity limit, not the peer's fault: answered as "too large".
        431
    }
}

/// Writes into a borrowed buffer, counting every byte offered.
pub(crate) struct Sink<'b> {
    buf: &'b mut [u8],
    len: usize,
}

impl<'b> Sink<'b> {
    pub(crate) fn new(buf: &'b mut [u8]) -> Self {
        Sink { buf, len: 0 }
    }

    pub(crate) fn push(&mut self, bytes: &[u8]) {
        let start = self.len;
        self.len = self.len.saturating_add(bytes.len());
        if let Some(dst) = self.buf.get_mut(start..self.len) {
            dst.copy_from_slice(bytes);
        }
    }

    pub(crate) fn push_str(&mut self, s: &str) {
        self.push(s.as_bytes());
    }

    pub(crate) fn push_byte(&mut self, b: u8) {
        self.push(&[b]);
    }

    /// Decimal digits of `n`, with a leading `-` when negative.
    pub(crate) fn push_i64(&mut self, n: i64) {
        if n < 0 {
            self.push_byte(b'-');
        }
        self.push_u64(n.unsigned_abs());
    }

    pub(crate) fn push_u64(&mut self, mut n: u64) {
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
        self.push(digits.get(i..).unwrap_or(&[]));
    }

    pub(crate) fn finish(self) -> Result<&'b [u8], BufferTooSmall> {
        let needed = self.len;
        match self.buf.get(..needed) {
            Some(_) => Ok(self.buf.split_at(needed).0),
            None => Err(BufferTooSmall { needed }),
        }
    }

    /// Like [`Sink::finish`], for output that is ASCII by construction.
    pub(crate) fn finish_str(self) -> Result<&'b str, BufferTooSmall> {
        let bytes = self.finish()?;
        // Every writer pushes ASCII only; a failure here would be a bug in the core, reported
        // as an empty string rather than a panic.
        Ok(core::str::from_utf8(bytes).unwrap_or(""))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_past_the_end() {
        let mut buf = [0u8; 4];
        let mut s = Sink::new(&mut buf);
        s.push_str("hello");
        assert_eq!(s.finish(), Err(BufferTooSmall { needed: 5 }));
    }

    #[test]
    fn numbers() {
        let mut buf = [0u8; 64];
        let mut s = Sink::new(&mut buf);
        s.push_i64(0);
        s.push_byte(b' ');
        s.push_i64(-42);
        s.push_byte(b' ');
        s.push_i64(i64::MIN);
        s.push_byte(b' ');
        s.push_u64(u64::MAX);
        assert_eq!(
            s.finish_str().unwrap(),
            "0 -42 -9223372036854775808 18446744073709551615"
        );
    }
}
