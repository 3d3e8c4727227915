//! The parts of RFC 8941 Structured Field Values that RFC 9421 and RFC 9530 need.
//!
//! # Design
//! Parsing validates the whole field value once and keeps only borrowed text. The values a
//! caller asks for ([`Dictionary::iter`], [`InnerList::items`], [`Params::iter`]) are produced
//! lazily by re-reading that validated text, so a dictionary of any size costs a few words of
//! memory and no heap — what a device with 64 KiB of RAM needs. Because the text was validated
//! first, the lazy readers never meet an error.
//!
//! Strings and byte sequences stay in their wire form: a string's content keeps its `\"` and
//! `\\` escapes (which are exactly the canonical serialisation, so it can be written back
//! as is and compared without unescaping), a byte sequence keeps its base64 text (decoded on
//! request with [`decode_byte_seq`]). Serialisation ([`serialize_dictionary`], [`serialize_item`], …)
//! produces the canonical form of RFC 8941 §4.1, which is what RFC 9421 signs.
//!
//! Repeated keys follow RFC 8941: the last value wins, at the position of the first
//! occurrence. [`Params::get`] and [`Dictionary::get`] answer that way and the serialisers
//! write that way; [`Params::has_duplicates`] lets stricter callers refuse them outright.
//!
//! # Resource limits
//! Every parse is linear in the input. A dictionary or list holds at most
//! [`MAX_MEMBERS`] members, an inner list at most [`MAX_INNER_ITEMS`] items, and one item or
//! inner list at most [`MAX_PARAMS`] parameters; more is [`SfError::TooManyMembers`] and friends,
//! which also bounds the quadratic work of merging repeated keys.
//!
//! Not supported: RFC 9651's Date (`@`) and Display String (`%"…"`) types; they are parse
//! errors here, as RFC 8941 says.

use crate::sink::Sink;
use crate::wire::wire_error;
use base64::Engine as _;
use base64::engine::{DecodePaddingMode, GeneralPurpose, GeneralPurposeConfig};

/// Most members in one dictionary or list.
pub const MAX_MEMBERS: usize = 64;
/// Most items in one inner list.
pub const MAX_INNER_ITEMS: usize = 64;
/// Most parameters on one item or inner list.
pub const MAX_PARAMS: usize = 32;

/// Why a structured field value did not parse.
#[non_exhaustive]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SfError {
    /// The value is not valid RFC 8941 text; `at` is the byte offset where parsing stopped.
    Syntax {
        /// Byte offset of the first byte that could not be accepted.
        at: usize,
    },
    /// More members than [`MAX_MEMBERS`] (or items than [`MAX_INNER_ITEMS`]).
    TooManyMembers,
    /// More parameters than [`MAX_PARAMS`].
    TooManyParams,
    /// A number with too many digits for RFC 8941.
    NumberOutOfRange {
        /// Byte offset where the number starts.
        at: usize,
    },
    /// A byte sequence whose base64 does not decode.
    BadBase64 {
        /// Byte offset where the byte sequence starts.
        at: usize,
    },
}

wire_error!(SfError {
    SfError::Syntax { at } => (400, "sf_syntax", "structured field syntax error at byte {}", at),
    SfError::TooManyMembers => (400, "sf_too_many_members", "structured field has more than {} members", MAX_MEMBERS),
    SfError::TooManyParams => (400, "sf_too_many_params", "structured field item has more than {} parameters", MAX_PARAMS),
    SfError::NumberOutOfRange { at } => (400, "sf_number_out_of_range", "structured field number out of range at byte {}", at),
    SfError::BadBase64 { at } => (400, "sf_bad_base64", "structured field byte sequence at byte {} is not valid base64", at),
});

/// A decimal with three fractional digits, stored as thousandths.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Decimal(pub i64);

/// A bare item, borrowed from the validated field text.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BareItem<'a> {
    /// An integer (at most 15 digits).
    Integer(i64),
    /// A decimal (at most 12 integer and 3 fractional digits).
    Decimal(Decimal),
    /// A string's content between the quotes, escapes (`\"`, `\\`) left in place.
    String(&'a str),
    /// A token.
    Token(&'a str),
    /// A byte sequence's base64 text between the colons (see [`decode_byte_seq`]).
    ByteSeq(&'a str),
    /// A boolean.
    Boolean(bool),
}

impl<'a> BareItem<'a> {
    /// The string content when this is a string without escapes (which is every string the
    /// protocol itself uses); `None` for other types or escaped content.
    pub fn as_plain_str(&self) -> Option<&'a str> {
        match self {
            BareItem::String(s) if !s.contains('\\') => Some(s),
            _ => None,
        }
    }

    /// Whether this is a string whose unescaped content equals `plain`.
    pub fn is_string_eq(&self, plain: &str) -> bool {
        match self {
            BareItem::String(s) => unescaped_eq(s, plain),
            _ => false,
        }
    }
}

/// Compares escaped string content with a plain string, without a buffer.
pub fn unescaped_eq(escaped: &str, plain: &str) -> bool {
    let mut e = escaped.bytes();
    let mut p = plain.bytes();
    loop {
        let a = match e.next() {
            Some(b'\\') => e.next(),
            other => other,
        };
        match (a, p.next()) {
            (None, None) => return true,
            (Some(x), Some(y)) if x == y => continue,
            _ => return false,
        }
    }
}

/// Parameters of an item or inner list, validated; iterate with [`Params::iter`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Params<'a> {
    src: &'a str,
}

impl<'a> Params<'a> {
    /// Every parameter in received order, repeated keys included.
    pub fn iter(&self) -> ParamIter<'a> {
        ParamIter {
            cur: Cursor::validated(self.src),
        }
    }

    /// The value of `key` (the last one when repeated, as RFC 8941 says).
    pub fn get(&self, key: &str) -> Option<BareItem<'a>> {
        self.iter()
            .filter(|(k, _)| *k == key)
            .last()
            .map(|(_, v)| v)
    }

    /// Whether any key appears more than once.
    pub fn has_duplicates(&self) -> bool {
        // The first few keys are kept as read, so each parameter is read once; past them
        // (rare), every key is compared with the earlier ones read again.
        let mut keys = heapless::Vec::<&str, 8>::new();
        for (key, _) in self.iter() {
            if keys.contains(&key) {
                return true;
            }
            if keys.push(key).is_err() {
                return self
                    .iter()
                    .enumerate()
                    .any(|(i, (k, _))| self.iter().take(i).any(|(k2, _)| k2 == k));
            }
        }
        false
    }

    /// Number of parameters as received.
    pub fn len(&self) -> usize {
        self.iter().count()
    }

    /// Whether there are no parameters.
    pub fn is_empty(&self) -> bool {
        self.src.is_empty()
    }

    /// The parameters' text as received (from the first `;`).
    pub fn as_str(&self) -> &'a str {
        self.src
    }
}

/// Iterator over [`Params`].
#[derive(Debug, Clone)]
pub struct ParamIter<'a> {
    cur: Cursor<'a>,
}

impl<'a> Iterator for ParamIter<'a> {
    type Item = (&'a str, BareItem<'a>);
    fn next(&mut self) -> Option<Self::Item> {
        if self.cur.peek() != Some(b';') {
            return None;
        }
        self.cur.parse_one_param().ok()
    }
}

/// An item: a bare item with parameters.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Item<'a> {
    /// The value.
    pub bare: BareItem<'a>,
    /// Its parameters.
    pub params: Params<'a>,
}

/// An inner list: items in parentheses, with parameters of its own.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct InnerList<'a> {
    /// The text between the parentheses.
    items_src: &'a str,
    /// The inner list's own parameters.
    pub params: Params<'a>,
}

impl<'a> InnerList<'a> {
    /// The items in order.
    pub fn items(&self) -> InnerIter<'a> {
        InnerIter {
            cur: Cursor::validated(self.items_src),
        }
    }
}

/// Iterator over an [`InnerList`]'s items.
#[derive(Debug, Clone)]
pub struct InnerIter<'a> {
    cur: Cursor<'a>,
}

impl<'a> Iterator for InnerIter<'a> {
    type Item = Item<'a>;
    fn next(&mut self) -> Option<Item<'a>> {
        self.cur.skip_sp();
        if self.cur.at_end() {
            return None;
        }
        self.cur.parse_item().ok()
    }
}

/// A dictionary or list member.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Member<'a> {
    /// A single item.
    Item(Item<'a>),
    /// An inner list.
    InnerList(InnerList<'a>),
}

/// A validated dictionary field value.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Dictionary<'a> {
    src: &'a str,
}

impl<'a> Dictionary<'a> {
    /// Parses and validates a dictionary (RFC 8941 §4.2.2).
    pub fn parse(input: &'a str) -> Result<Self, SfError> {
        let src = validate_members(input, |cur| cur.parse_dict_member().map(|_| ()))?;
        Ok(Dictionary { src })
    }

    /// Every member in received order, repeated keys included.
    pub fn iter(&self) -> DictIter<'a> {
        DictIter {
            cur: Cursor::validated(self.src),
        }
    }

    /// The member named `key` (the last one when repeated).
    pub fn get(&self, key: &str) -> Option<Member<'a>> {
        self.iter()
            .filter(|(k, _)| *k == key)
            .last()
            .map(|(_, m)| m)
    }

    /// Whether any key appears more than once.
    pub fn has_duplicates(&self) -> bool {
        self.iter()
            .enumerate()
            .any(|(i, (k, _))| self.iter().take(i).any(|(k2, _)| k2 == k))
    }

    /// Whether the dictionary has no members.
    pub fn is_empty(&self) -> bool {
        self.src.is_empty()
    }
}

/// Iterator over a [`Dictionary`].
#[derive(Debug, Clone)]
pub struct DictIter<'a> {
    cur: Cursor<'a>,
}

impl<'a> Iterator for DictIter<'a> {
    type Item = (&'a str, Member<'a>);
    fn next(&mut self) -> Option<Self::Item> {
        if self.cur.at_end() {
            return None;
        }
        let m = self.cur.parse_dict_member().ok()?;
        self.cur.after_member().ok()?;
        Some(m)
    }
}

/// A validated list field value.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct List<'a> {
    src: &'a str,
}

impl<'a> List<'a> {
    /// Parses and validates a list (RFC 8941 §4.2.1).
    pub fn parse(input: &'a str) -> Result<Self, SfError> {
        let src = validate_members(input, |cur| cur.parse_member().map(|_| ()))?;
        Ok(List { src })
    }

    /// Every member in order.
    pub fn iter(&self) -> ListIter<'a> {
        ListIter {
            cur: Cursor::validated(self.src),
        }
    }
}

/// Iterator over a [`List`].
#[derive(Debug, Clone)]
pub struct ListIter<'a> {
    cur: Cursor<'a>,
}

impl<'a> Iterator for ListIter<'a> {
    type Item = Member<'a>;
    fn next(&mut self) -> Option<Member<'a>> {
        if self.cur.at_end() {
            return None;
        }
        let m = self.cur.parse_member().ok()?;
        self.cur.after_member().ok()?;
        Some(m)
    }
}

/// Parses and validates a single item field value (RFC 8941 §4.2.3).
pub fn parse_item(input: &str) -> Result<Item<'_>, SfError> {
    let src = trim_sp(input);
    let offset = input.len() - input.trim_start_matches(' ').len();
    let mut cur = Cursor::new(src);
    let item = cur.parse_item().map_err(|e| shift(e, offset))?;
    if !cur.at_end() {
        return Err(SfError::Syntax {
            at: cur.pos + offset,
        });
    }
    Ok(item)
}

/// Parses and validates a single inner list such as `("@method" "@path");created=1`.
pub fn parse_inner_list(input: &str) -> Result<InnerList<'_>, SfError> {
    let src = trim_sp(input);
    let offset = input.len() - input.trim_start_matches(' ').len();
    let mut cur = Cursor::new(src);
    let list = cur.parse_inner_list().map_err(|e| shift(e, offset))?;
    if !cur.at_end() {
        return Err(SfError::Syntax {
            at: cur.pos + offset,
        });
    }
    Ok(list)
}

/// Parses the items of an inner list given without its parentheses, such as
/// `"@method" "@path"` — the form in which callers name covered components.
pub fn parse_inner_list_items(input: &str) -> Result<InnerList<'_>, SfError> {
    let mut cur = Cursor::new(input);
    let mut n = 0usize;
    loop {
        cur.skip_sp();
        if cur.at_end() {
            break;
        }
        n += 1;
        if n > MAX_INNER_ITEMS {
            return Err(SfError::TooManyMembers);
        }
        cur.parse_item()?;
        if !matches!(cur.peek(), Some(b' ') | None) {
            return Err(cur.err());
        }
    }
    Ok(InnerList {
        items_src: input,
        params: Params::default(),
    })
}

/// Validates a comma-separated sequence of members (a dictionary's or a list's), at most
/// [`MAX_MEMBERS`], and returns the text without surrounding SP. Error offsets are relative
/// to `input`.
fn validate_members<'a>(
    input: &'a str,
    mut member: impl FnMut(&mut Cursor<'a>) -> Result<(), SfError>,
) -> Result<&'a str, SfError> {
    let src = trim_sp(input);
    let offset = input.len() - input.trim_start_matches(' ').len();
    let mut cur = Cursor::new(src);
    let mut n = 0usize;
    while !cur.at_end() {
        n += 1;
        if n > MAX_MEMBERS {
            return Err(SfError::TooManyMembers);
        }
        member(&mut cur).map_err(|e| shift(e, offset))?;
        cur.after_member().map_err(|e| shift(e, offset))?;
    }
    Ok(src)
}

fn trim_sp(s: &str) -> &str {
    s.trim_matches(' ')
}

fn shift(e: SfError, by: usize) -> SfError {
    match e {
        SfError::Syntax { at } => SfError::Syntax { at: at + by },
        SfError::NumberOutOfRange { at } => SfError::NumberOutOfRange { at: at + by },
        SfError::BadBase64 { at } => SfError::BadBase64 { at: at + by },
        other => other,
    }
}

/// A reading position in validated or unvalidated field text.
#[derive(Debug, Clone)]
struct Cursor<'a> {
    src: &'a str,
    pos: usize,
    /// The text was validated when it was parsed, so checks that only look for errors the
    /// validation already ruled out (decoding a byte sequence's base64) are skipped: the lazy
    /// readers re-read the same text many times, and must give the same answer each time.
    validated: bool,
}

fn is_lcalpha(b: u8) -> bool {
    b.is_ascii_lowercase()
}

fn is_tchar(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b)
}

fn is_base64_char(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b == b'+' || b == b'/' || b == b'='
}

impl<'a> Cursor<'a> {
    /// A cursor that validates everything it reads.
    fn new(src: &'a str) -> Self {
        Cursor {
            src,
            pos: 0,
            validated: false,
        }
    }

    /// A cursor over text a [`Cursor::new`] parse already accepted (for the lazy readers).
    fn validated(src: &'a str) -> Self {
        Cursor {
            src,
            pos: 0,
            validated: true,
        }
    }

    fn peek(&self) -> Option<u8> {
        self.src.as_bytes().get(self.pos).copied()
    }

    fn at_end(&self) -> bool {
        self.pos >= self.src.len()
    }

    fn bump(&mut self) {
        self.pos += 1;
    }

    fn err(&self) -> SfError {
        SfError::Syntax { at: self.pos }
    }

    fn expect(&mut self, b: u8) -> Result<(), SfError> {
        if self.peek() == Some(b) {
            self.bump();
            Ok(())
        } else {
            Err(self.err())
        }
    }

    fn skip_sp(&mut self) {
        while self.peek() == Some(b' ') {
            self.bump();
        }
    }

    fn skip_ows(&mut self) {
        while matches!(self.peek(), Some(b' ' | b'\t')) {
            self.bump();
        }
    }

    /// The text from `start` to the current position. Positions only ever stop on ASCII
    /// bytes, so the slice is always on a char boundary; `get` keeps that a non-panicking fact.
    fn since(&self, start: usize) -> &'a str {
        self.src.get(start..self.pos).unwrap_or("")
    }

    /// After a dictionary or list member: OWS, then end of input or `,` OWS and more.
    fn after_member(&mut self) -> Result<(), SfError> {
        self.skip_ows();
        if self.at_end() {
            return Ok(());
        }
        self.expect(b',')?;
        self.skip_ows();
        if self.at_end() {
            return Err(self.err());
        }
        Ok(())
    }

    fn parse_dict_member(&mut self) -> Result<(&'a str, Member<'a>), SfError> {
        let key = self.parse_key()?;
        if self.peek() == Some(b'=') {
            self.bump();
            Ok((key, self.parse_member()?))
        } else {
            let params = self.parse_params()?;
            Ok((
                key,
                Member::Item(Item {
                    bare: BareItem::Boolean(true),
                    params,
                }),
            ))
        }
    }

    fn parse_member(&mut self) -> Result<Member<'a>, SfError> {
        if self.peek() == Some(b'(') {
            Ok(Member::InnerList(self.parse_inner_list()?))
        } else {
            Ok(Member::Item(self.parse_item()?))
        }
    }

    fn parse_inner_list(&mut self) -> Result<InnerList<'a>, SfError> {
        self.expect(b'(')?;
        let start = self.pos;
        let mut n = 0usize;
        loop {
            self.skip_sp();
            match self.peek() {
                Some(b')') => {
                    let items_src = self.since(start);
                    self.bump();
                    let params = self.parse_params()?;
                    return Ok(InnerList { items_src, params });
                }
                None => return Err(self.err()),
                Some(_) => {
                    n += 1;
                    if n > MAX_INNER_ITEMS {
                        return Err(SfError::TooManyMembers);
                    }
                    self.parse_item()?;
                    if !matches!(self.peek(), Some(b' ' | b')')) {
                        return Err(self.err());
                    }
                }
            }
        }
    }

    fn parse_item(&mut self) -> Result<Item<'a>, SfError> {
        let bare = self.parse_bare_item()?;
        let params = self.parse_params()?;
        Ok(Item { bare, params })
    }

    fn parse_params(&mut self) -> Result<Params<'a>, SfError> {
        let start = self.pos;
        let mut n = 0usize;
        while self.peek() == Some(b';') {
            n += 1;
            if n > MAX_PARAMS {
                return Err(SfError::TooManyParams);
            }
            self.parse_one_param()?;
        }
        Ok(Params {
            src: self.since(start),
        })
    }

    fn parse_one_param(&mut self) -> Result<(&'a str, BareItem<'a>), SfError> {
        self.expect(b';')?;
        self.skip_sp();
        let key = self.parse_key()?;
        if self.peek() == Some(b'=') {
            self.bump();
            Ok((key, self.parse_bare_item()?))
        } else {
            Ok((key, BareItem::Boolean(true)))
        }
    }

    fn parse_key(&mut self) -> Result<&'a str, SfError> {
        let start = self.pos;
        match self.peek() {
            Some(b) if is_lcalpha(b) || b == b'*' => self.bump(),
            _ => return Err(self.err()),
        }
        while let Some(b) = self.peek() {
            if is_lcalpha(b) || b.is_ascii_digit() || b"_-.*".contains(&b) {
                self.bump();
            } else {
                break;
            }
        }
        Ok(self.since(start))
    }

    fn parse_bare_item(&mut self) -> Result<BareItem<'a>, SfError> {
        match self.peek() {
            Some(b'-' | b'0'..=b'9') => self.parse_number(),
            Some(b'"') => self.parse_string(),
            Some(b'*' | b'a'..=b'z' | b'A'..=b'Z') => self.parse_token(),
            Some(b':') => self.parse_byte_seq(),
            Some(b'?') => self.parse_boolean(),
            _ => Err(self.err()),
        }
    }

    fn parse_number(&mut self) -> Result<BareItem<'a>, SfError> {
        let start = self.pos;
        let negative = self.peek() == Some(b'-');
        if negative {
            self.bump();
        }
        if !matches!(self.peek(), Some(b'0'..=b'9')) {
            return Err(self.err());
        }
        let mut int_part: i64 = 0;
        let mut int_digits = 0usize;
        while let Some(d @ b'0'..=b'9') = self.peek() {
            int_digits += 1;
            if int_digits > 15 {
                return Err(SfError::NumberOutOfRange { at: start });
            }
            int_part = int_part * 10 + i64::from(d - b'0');
            self.bump();
        }
        let sign = if negative { -1 } else { 1 };
        if self.peek() != Some(b'.') {
            return Ok(BareItem::Integer(sign * int_part));
        }
        if int_digits > 12 {
            return Err(SfError::NumberOutOfRange { at: start });
        }
        self.bump();
        let mut frac: i64 = 0;
        let mut frac_digits = 0u32;
        while let Some(d @ b'0'..=b'9') = self.peek() {
            frac_digits += 1;
            if frac_digits > 3 {
                return Err(SfError::NumberOutOfRange { at: start });
            }
            frac = frac * 10 + i64::from(d - b'0');
            self.bump();
        }
        if frac_digits == 0 {
            return Err(self.err());
        }
        let frac = frac * 10i64.pow(3 - frac_digits);
        Ok(BareItem::Decimal(Decimal(sign * (int_part * 1000 + frac))))
    }

    fn parse_string(&mut self) -> Result<BareItem<'a>, SfError> {
        self.expect(b'"')?;
        let start = self.pos;
        loop {
            match self.peek() {
                None => return Err(self.err()),
                Some(b'"') => {
                    let s = self.since(start);
                    self.bump();
                    return Ok(BareItem::String(s));
                }
                Some(b'\\') => {
                    self.bump();
                    match self.peek() {
                        Some(b'"' | b'\\') => self.bump(),
                        _ => return Err(self.err()),
                    }
                }
                Some(0x20..=0x7e) => self.bump(),
                Some(_) => return Err(self.err()),
            }
        }
    }

    fn parse_token(&mut self) -> Result<BareItem<'a>, SfError> {
        let start = self.pos;
        self.bump();
        while let Some(b) = self.peek() {
            if is_tchar(b) || b == b':' || b == b'/' {
                self.bump();
            } else {
                break;
            }
        }
        Ok(BareItem::Token(self.since(start)))
    }

    fn parse_byte_seq(&mut self) -> Result<BareItem<'a>, SfError> {
        let at = self.pos;
        self.expect(b':')?;
        let start = self.pos;
        loop {
            match self.peek() {
                Some(b':') => break,
                Some(b) if is_base64_char(b) => self.bump(),
                _ => return Err(self.err()),
            }
        }
        let b64 = self.since(start);
        self.bump();
        if !self.validated && for_each_decoded_chunk(b64, |_| {}).is_err() {
            return Err(SfError::BadBase64 { at });
        }
        Ok(BareItem::ByteSeq(b64))
    }

    fn parse_boolean(&mut self) -> Result<BareItem<'a>, SfError> {
        self.expect(b'?')?;
        let v = match self.peek() {
            Some(b'1') => true,
            Some(b'0') => false,
            _ => return Err(self.err()),
        };
        self.bump();
        Ok(BareItem::Boolean(v))
    }
}

/// RFC 8941 asks parsers to accept missing padding and non-zero trailing bits.
const LENIENT_B64: GeneralPurpose = GeneralPurpose::new(
    &base64::alphabet::STANDARD,
    GeneralPurposeConfig::new()
        .with_decode_padding_mode(DecodePaddingMode::Indifferent)
        .with_decode_allow_trailing_bits(true),
);

const CANONICAL_B64: GeneralPurpose = base64::engine::general_purpose::STANDARD;

/// Base64 characters decoded per call: a multiple of 4, so each block is whole quads and
/// decodes to a multiple of 3 bytes (re-encoding blocks one by one then gives the same text
/// as encoding the whole). An Ed25519 signature's 88 characters take three calls, not 22.
const DECODE_BLOCK: usize = 64;

/// Decodes base64 text a block at a time, so no buffer proportional to the input is needed.
/// `=` may only appear in the last quad (four characters).
///
/// The result is by definition that of decoding quad by quad, handing out each quad's bytes:
/// the last quad (maybe padded or partial) is decoded on its own, and the complete quads
/// before it, which must decode to three bytes each, in blocks of [`DECODE_BLOCK`] — one call
/// instead of sixteen. A block that does not decode cleanly is decoded again quad by quad, so
/// even on error the bytes handed out are the same.
fn for_each_decoded_chunk(b64: &str, mut f: impl FnMut(&[u8])) -> Result<(), ()> {
    let bytes = b64.as_bytes();
    let body_len = bytes.len().saturating_sub(1) / 4 * 4;
    let (body, last) = bytes.split_at_checked(body_len).unwrap_or((&[], bytes));
    for block in body.chunks(DECODE_BLOCK) {
        let mut out = [0u8; DECODE_BLOCK / 4 * 3];
        match LENIENT_B64.decode_slice(block, &mut out) {
            Ok(n) if !block.contains(&b'=') => f(out.get(..n).unwrap_or(&[])),
            _ => {
                for quad in block.chunks(4) {
                    decode_quad(quad, false, &mut f)?;
                }
            }
        }
    }
    if !last.is_empty() {
        decode_quad(last, true, &mut f)?;
    }
    Ok(())
}

/// Decodes one quad; `=` is only allowed in the `last` one.
fn decode_quad(quad: &[u8], last: bool, f: &mut impl FnMut(&[u8])) -> Result<(), ()> {
    if !last && quad.contains(&b'=') {
        return Err(());
    }
    let mut out = [0u8; 3];
    let n = LENIENT_B64.decode_slice(quad, &mut out).map_err(|_| ())?;
    f(out.get(..n).unwrap_or(&[]));
    Ok(())
}

/// Decodes a byte sequence's base64 text into `out`, returning the decoded bytes.
pub fn decode_byte_seq<'o>(b64: &str, out: &'o mut [u8]) -> Result<&'o [u8], ByteSeqError> {
    let mut n = 0usize;
    let mut overflow = false;
    for_each_decoded_chunk(b64, |chunk| {
        match out.get_mut(n..n + chunk.len()) {
            Some(dst) => dst.copy_from_slice(chunk),
            None => overflow = true,
        }
        n += chunk.len();
    })
    .map_err(|()| ByteSeqError::BadBase64)?;
    if overflow {
        return Err(ByteSeqError::TooLong { len: n });
    }
    Ok(out.get(..n).unwrap_or(&[]))
}

/// Why [`decode_byte_seq`] failed.
#[non_exhaustive]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ByteSeqError {
    /// Not base64.
    BadBase64,
    /// Longer than the output buffer.
    TooLong {
        /// Decoded length.
        len: usize,
    },
}

wire_error!(ByteSeqError {
    ByteSeqError::BadBase64 => (400, "sf_bad_base64", "byte sequence is not valid base64"),
    ByteSeqError::TooLong { len } => (400, "sf_byte_seq_length", "byte sequence has unexpected length {}", len),
});

/// Writes a byte sequence `:<base64>:` for raw bytes.
pub(crate) fn write_bytes(sink: &mut Sink<'_>, bytes: &[u8]) {
    sink.push_byte(b':');
    // Blocks of whole 3-byte groups encode exactly as the whole input would, padding only in
    // the last block.
    for chunk in bytes.chunks(DECODE_BLOCK / 4 * 3) {
        let mut enc = [0u8; DECODE_BLOCK];
        let n = CANONICAL_B64.encode_slice(chunk, &mut enc).unwrap_or(0);
        sink.push(enc.get(..n).unwrap_or(&[]));
    }
    sink.push_byte(b':');
}

/// Writes a bare item in canonical form (RFC 8941 §4.1.3).
pub(crate) fn write_bare_item(sink: &mut Sink<'_>, item: &BareItem<'_>) {
    match *item {
        BareItem::Integer(n) => sink.push_i64(n),
        BareItem::Decimal(Decimal(thousandths)) => {
            if thousandths < 0 {
                sink.push_byte(b'-');
            }
            let abs = thousandths.unsigned_abs();
            sink.push_u64(abs / 1000);
            sink.push_byte(b'.');
            let frac = abs % 1000;
            // Canonical form drops trailing zeros but keeps at least one digit.
            let (digits, len) = match frac {
                f if f % 100 == 0 => (f / 100, 1),
                f if f % 10 == 0 => (f / 10, 2),
                f => (f, 3),
            };
            let mut buf = [b'0'; 3];
            let mut d = digits;
            for i in (0..len).rev() {
                if let Some(slot) = buf.get_mut(i) {
                    *slot = b'0' + (d % 10) as u8;
                }
                d /= 10;
            }
            sink.push(buf.get(..len).unwrap_or(&[]));
        }
        BareItem::String(escaped) => {
            sink.push_byte(b'"');
            sink.push_str(escaped);
            sink.push_byte(b'"');
        }
        BareItem::Token(t) => sink.push_str(t),
        BareItem::ByteSeq(b64) => {
            sink.push_byte(b':');
            // Re-encoding canonicalises padding and trailing bits; parse already validated it.
            // Each chunk but the last is whole 3-byte groups, so encoding chunk by chunk
            // pads only at the end.
            let _ = for_each_decoded_chunk(b64, |chunk| {
                let mut enc = [0u8; DECODE_BLOCK];
                let n = CANONICAL_B64.encode_slice(chunk, &mut enc).unwrap_or(0);
                sink.push(enc.get(..n).unwrap_or(&[]));
            });
            sink.push_byte(b':');
        }
        BareItem::Boolean(b) => sink.push_str(if b { "?1" } else { "?0" }),
    }
}

/// Writes parameters in canonical form: each key once, at its first position, with its last
/// value; `;key` alone for a true boolean.
pub(crate) fn write_params(sink: &mut Sink<'_>, params: &Params<'_>) {
    // Without a repeated key (the usual case; RFC 9421 refuses them in what it reads) that is
    // every parameter in order, in one pass instead of a lookup per key.
    if !params.has_duplicates() {
        for (key, value) in params.iter() {
            write_param(sink, key, &value);
        }
        return;
    }
    for (i, (key, _)) in params.iter().enumerate() {
        if params.iter().take(i).any(|(k, _)| k == key) {
            continue;
        }
        let Some(value) = params.get(key) else {
            continue;
        };
        write_param(sink, key, &value);
    }
}

/// Writes one `;key[=value]`.
pub(crate) fn write_param(sink: &mut Sink<'_>, key: &str, value: &BareItem<'_>) {
    sink.push_byte(b';');
    sink.push_str(key);
    if *value != BareItem::Boolean(true) {
        sink.push_byte(b'=');
        write_bare_item(sink, value);
    }
}

/// Writes an item in canonical form.
pub(crate) fn write_item(sink: &mut Sink<'_>, item: &Item<'_>) {
    write_bare_item(sink, &item.bare);
    write_params(sink, &item.params);
}

/// Writes an inner list in canonical form.
pub(crate) fn write_inner_list(sink: &mut Sink<'_>, list: &InnerList<'_>) {
    write_inner_list_of(sink, list.items(), &list.params);
}

/// Writes an inner list in canonical form from its items (`list.items()`, or the same items
/// a caller already holds) and its parameters.
pub(crate) fn write_inner_list_of<'i>(
    sink: &mut Sink<'_>,
    items: impl Iterator<Item = Item<'i>>,
    params: &Params<'_>,
) {
    sink.push_byte(b'(');
    for (i, item) in items.enumerate() {
        if i > 0 {
            sink.push_byte(b' ');
        }
        write_item(sink, &item);
    }
    sink.push_byte(b')');
    write_params(sink, params);
}

/// Writes a member in canonical form.
pub(crate) fn write_member(sink: &mut Sink<'_>, member: &Member<'_>) {
    match member {
        Member::Item(item) => write_item(sink, item),
        Member::InnerList(list) => write_inner_list(sink, list),
    }
}

/// Writes a dictionary in canonical form (repeated keys merged as RFC 8941 says).
pub(crate) fn write_dictionary(sink: &mut Sink<'_>, dict: &Dictionary<'_>) {
    let mut first = true;
    for (i, (key, _)) in dict.iter().enumerate() {
        if dict.iter().take(i).any(|(k, _)| k == key) {
            continue;
        }
        let Some(member) = dict.get(key) else {
            continue;
        };
        if !first {
            sink.push_str(", ");
        }
        first = false;
        sink.push_str(key);
        match member {
            Member::Item(item) if item.bare == BareItem::Boolean(true) => {
                write_params(sink, &item.params)
            }
            other => {
                sink.push_byte(b'=');
                write_member(sink, &other);
            }
        }
    }
}

/// Writes a list in canonical form.
pub(crate) fn write_list(sink: &mut Sink<'_>, list: &List<'_>) {
    for (i, member) in list.iter().enumerate() {
        if i > 0 {
            sink.push_str(", ");
        }
        write_member(sink, &member);
    }
}

/// The canonical serialisation of a dictionary into `out` (for tests, tools and fuzzing).
pub fn serialize_dictionary<'o>(
    dict: &Dictionary<'_>,
    out: &'o mut [u8],
) -> Result<&'o str, crate::sink::BufferTooSmall> {
    let mut sink = Sink::new(out);
    write_dictionary(&mut sink, dict);
    sink.finish_str()
}

/// The canonical serialisation of a list into `out`.
pub fn serialize_list<'o>(
    list: &List<'_>,
    out: &'o mut [u8],
) -> Result<&'o str, crate::sink::BufferTooSmall> {
    let mut sink = Sink::new(out);
    write_list(&mut sink, list);
    sink.finish_str()
}

/// The canonical serialisation of an item into `out`.
pub fn serialize_item<'o>(
    item: &Item<'_>,
    out: &'o mut [u8],
) -> Result<&'o str, crate::sink::BufferTooSmall> {
    let mut sink = Sink::new(out);
    write_item(&mut sink, item);
    sink.finish_str()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn dict_roundtrip(input: &str) -> String {
        let d = Dictionary::parse(input).unwrap();
        let mut buf = [0u8; 1024];
        serialize_dictionary(&d, &mut buf).unwrap().to_string()
    }

    extern crate std;
    use std::string::{String, ToString};

    #[test]
    fn signature_input_dictionary() {
        let v = r#"sig-b26=("date" "@method" "@path" "@authority" "content-type" "content-length");created=1618884473;keyid="test-key-ed25519""#;
        let d = Dictionary::parse(v).unwrap();
        let (label, m) = d.iter().next().unwrap();
        assert_eq!(label, "sig-b26");
        let Member::InnerList(l) = m else { panic!() };
        let names: std::vec::Vec<_> = l.items().map(|i| i.bare).collect();
        assert_eq!(names.len(), 6);
        assert_eq!(names[0], BareItem::String("date"));
        assert_eq!(l.params.get("created"), Some(BareItem::Integer(1618884473)));
        assert_eq!(
            l.params.get("keyid"),
            Some(BareItem::String("test-key-ed25519"))
        );
        assert_eq!(dict_roundtrip(v), v);
    }

    #[test]
    fn canonical_serialisation() {
        assert_eq!(
            dict_roundtrip("a=1,  b=2;x=?1;y=?0 ,c"),
            "a=1, b=2;x;y=?0, c"
        );
        assert_eq!(dict_roundtrip("a=( 1  2 )"), "a=(1 2)");
        assert_eq!(
            dict_roundtrip("a=1.500, b=-0.05, c=2.0"),
            "a=1.5, b=-0.05, c=2.0"
        );
        assert_eq!(dict_roundtrip("a=:aGVsbG8:"), "a=:aGVsbG8=:");
        assert_eq!(dict_roundtrip("a=1, b=2, a=3"), "a=3, b=2");
        assert_eq!(dict_roundtrip("a=1;p=1;q;p=2"), "a=1;p=2;q");
        assert_eq!(dict_roundtrip("a=\"x\\\"y\\\\z\""), "a=\"x\\\"y\\\\z\"");
        assert_eq!(dict_roundtrip("t=foo/bar:baz, u=*x"), "t=foo/bar:baz, u=*x");
    }

    #[test]
    fn syntax_errors_carry_position() {
        assert_eq!(Dictionary::parse("a=1,"), Err(SfError::Syntax { at: 4 }));
        assert_eq!(Dictionary::parse("A=1"), Err(SfError::Syntax { at: 0 }));
        assert_eq!(
            Dictionary::parse("a=\"\\x\""),
            Err(SfError::Syntax { at: 4 })
        );
        assert_eq!(
            Dictionary::parse("a=\"open"),
            Err(SfError::Syntax { at: 7 })
        );
        assert_eq!(Dictionary::parse("a=(1 2"), Err(SfError::Syntax { at: 6 }));
        assert_eq!(Dictionary::parse("a=(1,2)"), Err(SfError::Syntax { at: 4 }));
        assert_eq!(Dictionary::parse("a=1 b=2"), Err(SfError::Syntax { at: 4 }));
        assert_eq!(Dictionary::parse("a=?2"), Err(SfError::Syntax { at: 3 }));
        assert_eq!(Dictionary::parse("a=1."), Err(SfError::Syntax { at: 4 }));
        assert_eq!(Dictionary::parse("a=\"é\""), Err(SfError::Syntax { at: 3 }));
        assert!(
            Dictionary::parse("a=@123").is_err(),
            "RFC 9651 dates are not RFC 8941"
        );
        assert!(Dictionary::parse("a=%\"x\"").is_err());
    }

    #[test]
    fn numbers_are_bounded() {
        assert!(parse_item("999999999999999").is_ok());
        assert_eq!(
            parse_item("1000000000000000"),
            Err(SfError::NumberOutOfRange { at: 0 })
        );
        assert!(parse_item("-999999999999.999").is_ok());
        assert_eq!(
            parse_item("1000000000000.1"),
            Err(SfError::NumberOutOfRange { at: 0 })
        );
        assert_eq!(
            parse_item("1.0001"),
            Err(SfError::NumberOutOfRange { at: 0 })
        );
        assert_eq!(parse_item("-"), Err(SfError::Syntax { at: 1 }));
        assert_eq!(
            parse_item("-999999999999.999").unwrap().bare,
            BareItem::Decimal(Decimal(-999_999_999_999_999))
        );
    }

    #[test]
    fn byte_sequences() {
        let item = parse_item(":cHJldGVuZCB0aGlzIGlzIGJpbmFyeSBjb250ZW50Lg==:").unwrap();
        let BareItem::ByteSeq(b64) = item.bare else {
            panic!()
        };
        let mut out = [0u8; 64];
        assert_eq!(
            decode_byte_seq(b64, &mut out).unwrap(),
            b"pretend this is binary content."
        );
        let mut small = [0u8; 4];
        assert_eq!(
            decode_byte_seq(b64, &mut small),
            Err(ByteSeqError::TooLong { len: 31 })
        );
        assert_eq!(parse_item(":a=bc:"), Err(SfError::BadBase64 { at: 0 }));
        assert_eq!(parse_item(":a:"), Err(SfError::BadBase64 { at: 0 }));
        assert_eq!(parse_item(":ab$:"), Err(SfError::Syntax { at: 3 }));
        assert!(parse_item("::").is_ok());
    }

    #[test]
    fn limits() {
        let mut s = String::new();
        for i in 0..=MAX_MEMBERS {
            if i > 0 {
                s.push_str(", ");
            }
            s.push_str(&std::format!("k{i}=1"));
        }
        assert_eq!(Dictionary::parse(&s), Err(SfError::TooManyMembers));
        let mut p = String::from("a");
        for i in 0..=MAX_PARAMS {
            p.push_str(&std::format!(";p{i}"));
        }
        assert_eq!(parse_item(&p), Err(SfError::TooManyParams));
        let mut l = String::from("(");
        for _ in 0..=MAX_INNER_ITEMS {
            l.push_str("1 ");
        }
        l.push(')');
        assert_eq!(parse_inner_list(&l), Err(SfError::TooManyMembers));
    }

    #[test]
    fn lists_and_items() {
        let l = List::parse("sugar, tea;x=1, (a b);y").unwrap();
        assert_eq!(l.iter().count(), 3);
        let mut buf = [0u8; 64];
        assert_eq!(
            serialize_list(&l, &mut buf).unwrap(),
            "sugar, tea;x=1, (a b);y"
        );
        assert!(List::parse("").unwrap().iter().next().is_none());
        assert!(List::parse("a,,b").is_err());
    }

    #[test]
    fn whitespace_rules() {
        // Leading/trailing SP allowed at top level; tabs only around commas.
        assert!(Dictionary::parse("  a=1  ").is_ok());
        assert!(Dictionary::parse("a=1\t,\tb=2").is_ok());
        assert!(Dictionary::parse("\ta=1").is_err());
        assert!(parse_item("a; b").is_ok());
        assert!(parse_item("a ;b").is_err());
    }

    /// The decoding `for_each_decoded_chunk` is defined as: quad by quad, `=` only in the
    /// last quad.
    fn quad_by_quad(b64: &str) -> (Result<(), ()>, std::vec::Vec<u8>) {
        let mut got = std::vec::Vec::new();
        let bytes = b64.as_bytes();
        let mut chunks = bytes.chunks(4).peekable();
        while let Some(chunk) = chunks.next() {
            let last = chunks.peek().is_none();
            if !last && chunk.contains(&b'=') {
                return (Err(()), got);
            }
            let mut out = [0u8; 3];
            match LENIENT_B64.decode_slice(chunk, &mut out) {
                Ok(n) => got.extend_from_slice(&out[..n]),
                Err(_) => return (Err(()), got),
            }
        }
        (Ok(()), got)
    }

    #[test]
    fn block_decoding_is_quad_by_quad_decoding() {
        // Mostly valid text of every length around the block size, with the odd `=` or
        // invalid byte anywhere: same verdict, and the same bytes handed out, even on error.
        let mut state = 0x2545_f491_4f6c_dd1du64;
        let mut next = || {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            state
        };
        let alphabet = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
        for round in 0..20_000 {
            let len = (next() % 200) as usize;
            let mut text = String::new();
            for _ in 0..len {
                let r = next();
                let c = match r % 400 {
                    0..=3 => '=',
                    4 => '$',
                    5 => '-',
                    _ => char::from(alphabet[(r >> 16) as usize % 64]),
                };
                text.push(c);
            }
            // Every fourth round, pad the end as a sender would.
            if round % 4 == 0 {
                while !text.len().is_multiple_of(4) {
                    text.push('=');
                }
            }
            let mut got = std::vec::Vec::new();
            let verdict = for_each_decoded_chunk(&text, |c| got.extend_from_slice(c));
            assert_eq!((verdict, got), quad_by_quad(&text), "{text:?}");
            // And the canonical re-encoding is that of the bytes.
            if verdict.is_ok() {
                let mut a = [0u8; 512];
                let mut sink = Sink::new(&mut a);
                write_bare_item(&mut sink, &BareItem::ByteSeq(&text));
                let a = sink.finish_str().unwrap().to_string();
                let (_, bytes) = quad_by_quad(&text);
                let mut b = [0u8; 512];
                let mut sink = Sink::new(&mut b);
                write_bytes(&mut sink, &bytes);
                assert_eq!(a, sink.finish_str().unwrap());
                assert_eq!(
                    a,
                    std::format!(":{}:", CANONICAL_B64.encode(&bytes)),
                    "{text:?}"
                );
            }
        }
    }

    #[test]
    fn repeated_parameters_found_among_many() {
        for n in [0, 1, 7, 8, 9, 20] {
            let keys: std::vec::Vec<String> = (0..n).map(|i| std::format!("k{i}")).collect();
            let text: String = keys.iter().map(|k| std::format!(";{k}=1")).collect();
            let full = std::format!("a{text}");
            assert!(
                !parse_item(&full).unwrap().params.has_duplicates(),
                "{full}"
            );
            for (i, j) in [(0, 1), (0, 7), (3, 8), (8, 9), (2, 15), (12, 19)] {
                if j >= n {
                    continue;
                }
                let mut k = keys.clone();
                k[j] = k[i].clone();
                let text: String = k.iter().map(|k| std::format!(";{k}=1")).collect();
                let full = std::format!("a{text}");
                assert!(parse_item(&full).unwrap().params.has_duplicates(), "{full}");
            }
        }
    }

    #[test]
    fn parameters_written_in_one_pass_or_merged() {
        // Without repeats each parameter is written as received; with them, the first
        // position and the last value.
        for (input, want) in [
            ("a;x=1;y;z=\"s\";w=:AQID:", "a;x=1;y;z=\"s\";w=:AQID:"),
            ("a;x=1;y=2;x=3", "a;x=3;y=2"),
            ("a;x;x=?0", "a;x=?0"),
            ("a", "a"),
        ] {
            let item = parse_item(input).unwrap();
            let mut buf = [0u8; 64];
            assert_eq!(serialize_item(&item, &mut buf).unwrap(), want, "{input}");
        }
    }

    #[test]
    fn unescaped_comparison() {
        assert!(unescaped_eq("a\\\"b", "a\"b"));
        assert!(!unescaped_eq("a\\\"b", "a\\\"b"));
        assert!(BareItem::String("x").is_string_eq("x"));
        assert!(!BareItem::Token("x").is_string_eq("x"));
    }
}
