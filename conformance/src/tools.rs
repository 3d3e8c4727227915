//! The reference tools: `base`, `sign`, `verify` and `id`.
//!
//! Each command reads one HTTP message in wire form from stdin (see [`crate::wire`]), hands it
//! to the core exactly as a transport would, and prints what the core answers. The tools make
//! no protocol decision of their own: the signature base, the signature, every verification
//! check and every error code come from `shardpeer-core`.
//!
//! # Output and exit codes
//! - 0: success. `base` prints the base (LF, no trailing newline), `sign` the field lines,
//!   `verify` a report per signature, `id` the ID.
//! - 1: the core refused. `verify` prints its whole report on stdout, failures included, each
//!   failure as `error: <code>` then `  label: …` and `  message: …`; `base` and `sign` print
//!   `error: <code>` and `  message: …` on stderr.
//! - 2: bad usage or unreadable input (stdin, a file, a key), on stderr in the same form, with
//!   the tool's own codes `usage` and `input_unreadable` or the core's `key_*` codes.
//!
//! # Resource limits
//! stdin and every file are read whole, up to 16 MiB. Signature bases go into a 16 KiB buffer,
//! grown once to the size the core reports when a base is larger.

use crate::wire::{self, WireRequest, WireResponse};
use shardpeer_core::base::{self, BaseError};
use shardpeer_core::digest::{Digest, DigestAlg, DigestError};
use shardpeer_core::id::ShardId;
use shardpeer_core::identity::{Identity, KeyError, PublicKey};
use shardpeer_core::message::{Request, Response};
use shardpeer_core::profile;
use shardpeer_core::replay::FixedReplayCache;
use shardpeer_core::sf::{self, Dictionary, InnerList, Member, SfError};
use shardpeer_core::sign::{self, SignError, SignatureParams, SignedFields};
use shardpeer_core::verify::{KeySource, Policy, Verified, Verifier, VerifyError};
use shardpeer_core::whoareyou;
use shardpeer_core::wire::WireError;
use std::io::{IsTerminal as _, Read as _, Write as _};
use std::path::{Path, PathBuf};
use std::process::ExitCode;

/// Largest stdin or file read.
const MAX_INPUT: u64 = 16 << 20;
/// First size of a signature-base buffer.
const BASE_BUFFER: usize = 16 * 1024;

// ---------------------------------------------------------------------------------------
// Arguments.

/// Where the message comes from and how to read it (shared by `base`, `sign`, `verify`).
#[derive(clap::Args, Debug, Clone)]
pub struct MessageArgs {
    /// stdin holds a response (`HTTP/1.1 200 OK` …) instead of a request.
    #[arg(long)]
    pub response: bool,
    /// The request the response answers, in wire form: needed for `;req` components.
    #[arg(long, value_name = "FILE", requires = "response")]
    pub request: Option<PathBuf>,
    /// Scheme of origin-form request targets (used by `@scheme`, `@target-uri` and the
    /// default port of `@authority`); an absolute-form target brings its own.
    #[arg(long, value_name = "SCHEME", default_value = "https")]
    pub scheme: String,
}

/// A private key, for `sign`.
#[derive(clap::Args, Debug, Clone)]
#[group(required = true, multiple = false)]
pub struct PrivateKeyArgs {
    /// Private key file: PKCS#8 PEM (`-----BEGIN PRIVATE KEY-----`) or the 32-byte seed as
    /// 64 hex digits.
    #[arg(long, value_name = "FILE")]
    pub key: Option<PathBuf>,
    /// The 32-byte seed as 64 hex digits. It shows in the process list: test keys only.
    #[arg(long, value_name = "HEX", visible_alias = "seed-hex")]
    pub key_hex: Option<String>,
}

/// A public key, for `verify`.
#[derive(clap::Args, Debug, Clone)]
#[group(required = true, multiple = false)]
pub struct PublicKeyArgs {
    /// Public key file: SubjectPublicKeyInfo PEM (`-----BEGIN PUBLIC KEY-----`) or the 32-byte
    /// key as 64 hex digits.
    #[arg(long, value_name = "FILE")]
    pub public_key: Option<PathBuf>,
    /// The 32-byte public key as 64 hex digits.
    #[arg(long, value_name = "HEX")]
    pub public_key_hex: Option<String>,
}

/// Any key, for `id`.
#[derive(clap::Args, Debug, Clone)]
#[group(required = true, multiple = false)]
pub struct AnyKeyArgs {
    /// Public key file: SubjectPublicKeyInfo PEM or 64 hex digits.
    #[arg(long, value_name = "FILE")]
    pub public_key: Option<PathBuf>,
    /// The 32-byte public key as 64 hex digits.
    #[arg(long, value_name = "HEX")]
    pub public_key_hex: Option<String>,
    /// Private key file: PKCS#8 PEM or the seed as 64 hex digits.
    #[arg(long, value_name = "FILE")]
    pub key: Option<PathBuf>,
    /// The 32-byte private seed as 64 hex digits.
    #[arg(long, value_name = "HEX", visible_alias = "key-hex")]
    pub seed_hex: Option<String>,
}

/// A signing/verification profile on top of plain RFC 9421.
#[derive(clap::ValueEnum, Debug, Clone, Copy, PartialEq, Eq)]
pub enum Profile {
    /// A peer request, or with `--response` the signed response to one (`docs/protocol.md`).
    Shardpeer,
    /// The signed `whoareyou` document (a response, bound to no request).
    Whoareyou,
}

/// `base`: print the signature base of a message.
#[derive(clap::Args, Debug)]
pub struct BaseArgs {
    /// Covered components, the items of the inner list: `'"@method" "@path" "content-type"'`.
    #[arg(long, value_name = "ITEMS", conflicts_with = "signature_input")]
    pub components: Option<String>,
    /// Signature parameters exactly as they follow the inner list:
    /// `';created=1618884473;keyid="k"'`.
    #[arg(long, value_name = "PARAMS", requires = "components")]
    pub params: Option<String>,
    /// A whole `Signature-Input` value (`label=(…);…`): its inner list gives the components
    /// and parameters. Without this and `--components`, the message's own `Signature-Input`
    /// is used.
    #[arg(long, value_name = "VALUE")]
    pub signature_input: Option<String>,
    /// Which label of the `Signature-Input` to use when it has several.
    #[arg(long, value_name = "LABEL", conflicts_with = "components")]
    pub label: Option<String>,
    /// The message.
    #[command(flatten)]
    pub message: MessageArgs,
}

/// `sign`: sign a message and print the `Signature-Input` and `Signature` lines.
#[derive(clap::Args, Debug)]
pub struct SignArgs {
    /// The signing key.
    #[command(flatten)]
    pub key: PrivateKeyArgs,
    /// Sign as a shard does: label, components and parameters from the profile (keyid = the
    /// key's full ID). Adds `Content-Digest` (sha-256 of the body) when the message has none.
    #[arg(long, value_enum)]
    pub profile: Option<Profile>,
    /// The signature label (an RFC 8941 key).
    #[arg(long, required_unless_present = "profile", conflicts_with = "profile")]
    pub label: Option<String>,
    /// Covered components, the items of the inner list: `'"@method" "@path"'`.
    #[arg(
        long,
        value_name = "ITEMS",
        required_unless_present = "profile",
        conflicts_with = "profile"
    )]
    pub components: Option<String>,
    /// `created` (seconds since the Unix epoch).
    #[arg(
        long,
        value_name = "N",
        allow_negative_numbers = true,
        conflicts_with = "profile"
    )]
    pub created: Option<i64>,
    /// `expires` (seconds since the Unix epoch).
    #[arg(
        long,
        value_name = "N",
        allow_negative_numbers = true,
        conflicts_with = "profile"
    )]
    pub expires: Option<i64>,
    /// `nonce`. With `--profile shardpeer`, default: 128 random bits in base64url.
    #[arg(long, value_name = "S")]
    pub nonce: Option<String>,
    /// `keyid`.
    #[arg(long, value_name = "S", conflicts_with = "profile")]
    pub keyid: Option<String>,
    /// Add `alg="ed25519"`.
    #[arg(long, conflicts_with = "profile")]
    pub alg: bool,
    /// `tag`.
    #[arg(long, value_name = "S", conflicts_with = "profile")]
    pub tag: Option<String>,
    /// The signer's clock for `--profile` (seconds since the Unix epoch); default: now.
    #[arg(long, value_name = "N", requires = "profile")]
    pub now: Option<u64>,
    /// Print the whole signed message (wire form, CRLF) instead of the added field lines.
    #[arg(long)]
    pub message: bool,
    /// The message.
    #[command(flatten)]
    pub input: MessageArgs,
}

/// `verify`: verify every signature of a message.
#[derive(clap::Args, Debug)]
pub struct VerifyArgs {
    /// The key to verify with.
    #[command(flatten)]
    pub key: PublicKeyArgs,
    /// Verify under a profile instead of plain RFC 9421 (only the profile's label is
    /// checked; the body must match `Content-Digest`; keyid must be the key's full ID).
    #[arg(long, value_enum)]
    pub profile: Option<Profile>,
    /// The verifier's clock (seconds since the Unix epoch); default: now.
    #[arg(long, value_name = "N")]
    pub now: Option<u64>,
    /// Check only this label (plain RFC 9421 only).
    #[arg(long, value_name = "LABEL", conflicts_with = "profile")]
    pub label: Option<String>,
    /// The message.
    #[command(flatten)]
    pub message: MessageArgs,
}

/// `id`: print the shard ID of a key.
#[derive(clap::Args, Debug)]
pub struct IdArgs {
    /// The key.
    #[command(flatten)]
    pub key: AnyKeyArgs,
    /// Also print the short ID (display only) and the public key in hex and PEM.
    #[arg(long, short)]
    pub verbose: bool,
}

// ---------------------------------------------------------------------------------------
// Failures.

/// Why a command stopped: exit code, stable code, human message.
#[derive(Debug)]
struct Failure {
    exit: u8,
    code: &'static str,
    message: String,
}

impl Failure {
    fn usage(message: impl Into<String>) -> Self {
        Failure {
            exit: 2,
            code: "usage",
            message: message.into(),
        }
    }

    fn input(message: impl Into<String>) -> Self {
        Failure {
            exit: 2,
            code: "input_unreadable",
            message: message.into(),
        }
    }

    /// A core refusal (exit 1), with the core's code.
    fn core(e: &impl WireError) -> Self {
        Failure {
            exit: 1,
            code: e.code(),
            message: e.to_string(),
        }
    }

    /// A key the core would not read (exit 2: unreadable input).
    fn key(what: &str, e: KeyError) -> Self {
        Failure {
            exit: 2,
            code: e.code(),
            message: format!("{what}: {e}"),
        }
    }

    /// A signing failure; a base error is reported with its own `component_*` code.
    fn sign(e: SignError) -> Self {
        match e {
            SignError::Base(b) => Failure::core(&b),
            other => Failure::core(&other),
        }
    }

    fn print(&self) {
        eprintln!("error: {}\n  message: {}", self.code, self.message);
    }
}

fn finish(result: Result<(), Failure>) -> ExitCode {
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(f) => {
            f.print();
            ExitCode::from(f.exit)
        }
    }
}

// ---------------------------------------------------------------------------------------
// Input.

fn read_limited(mut r: impl std::io::Read, what: &str) -> Result<Vec<u8>, Failure> {
    let mut out = Vec::new();
    r.by_ref()
        .take(MAX_INPUT + 1)
        .read_to_end(&mut out)
        .map_err(|e| Failure::input(format!("{what}: {e}")))?;
    if out.len() as u64 > MAX_INPUT {
        return Err(Failure::input(format!(
            "{what}: larger than {MAX_INPUT} bytes"
        )));
    }
    Ok(out)
}

fn read_file(path: &Path) -> Result<Vec<u8>, Failure> {
    let what = path.display().to_string();
    let file = std::fs::File::open(path).map_err(|e| Failure::input(format!("{what}: {e}")))?;
    read_limited(file, &what)
}

fn read_text_file(path: &Path) -> Result<String, Failure> {
    String::from_utf8(read_file(path)?)
        .map_err(|_| Failure::input(format!("{}: not UTF-8 text", path.display())))
}

fn read_stdin() -> Result<Vec<u8>, Failure> {
    let stdin = std::io::stdin();
    if stdin.is_terminal() {
        eprintln!("(reading the message from stdin; end it with Ctrl-D)");
    }
    read_limited(stdin.lock(), "stdin")
}

/// The message a command works on.
enum Message {
    Request(WireRequest),
    Response {
        response: WireResponse,
        request: Option<WireRequest>,
    },
}

impl Message {
    fn load(args: &MessageArgs) -> Result<Message, Failure> {
        let bytes = read_stdin()?;
        if args.response {
            let response =
                wire::parse_response(&bytes).map_err(|e| Failure::input(format!("stdin: {e}")))?;
            warn_length("stdin", &response.fields, &response.body);
            let request = match &args.request {
                Some(path) => Some(load_request(path, &args.scheme)?),
                None => None,
            };
            Ok(Message::Response { response, request })
        } else {
            let request = wire::parse_request(&bytes, &args.scheme)
                .map_err(|e| Failure::input(format!("stdin: {e}")))?;
            warn_length("stdin", &request.fields, &request.body);
            Ok(Message::Request(request))
        }
    }

    fn fields(&self) -> &[(String, Vec<u8>)] {
        match self {
            Message::Request(r) => &r.fields,
            Message::Response { response, .. } => &response.fields,
        }
    }

    fn body(&self) -> &[u8] {
        match self {
            Message::Request(r) => &r.body,
            Message::Response { response, .. } => &response.body,
        }
    }

    fn push_field(&mut self, name: &str, value: &str) {
        let field = (name.to_string(), value.as_bytes().to_vec());
        match self {
            Message::Request(r) => r.fields.push(field),
            Message::Response { response, .. } => response.fields.push(field),
        }
    }

    fn to_wire(&self) -> Vec<u8> {
        match self {
            Message::Request(r) => r.to_wire(),
            Message::Response { response, .. } => response.to_wire(),
        }
    }

    /// The values of every field line named `name` (any case), in order.
    fn values<'a>(&'a self, name: &'a str) -> impl Iterator<Item = &'a [u8]> + 'a {
        self.fields()
            .iter()
            .filter(move |(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_slice())
    }
}

fn load_request(path: &Path, scheme: &str) -> Result<WireRequest, Failure> {
    let bytes = read_file(path)?;
    let what = path.display().to_string();
    let request =
        wire::parse_request(&bytes, scheme).map_err(|e| Failure::input(format!("{what}: {e}")))?;
    warn_length(&what, &request.fields, &request.body);
    Ok(request)
}

/// Warns when `Content-Length` disagrees with the body read: usually a newline an editor
/// added at the end of the file, which is part of the body.
fn warn_length(what: &str, fields: &[(String, Vec<u8>)], body: &[u8]) {
    let declared = fields
        .iter()
        .find(|(n, _)| n.eq_ignore_ascii_case("content-length"))
        .and_then(|(_, v)| std::str::from_utf8(v).ok())
        .and_then(|v| v.trim().parse::<usize>().ok());
    if let Some(n) = declared
        && n != body.len()
    {
        eprintln!(
            "warning: {what}: Content-Length is {n} but the body has {} bytes (the body is \
             every byte after the blank line, a final newline included)",
            body.len()
        );
    }
}

type FieldSlice<'a> = [(&'a str, &'a [u8])];

/// Calls `on_request` or `on_response` with the core's view of the message.
fn with_view<T>(
    msg: &Message,
    on_request: impl FnOnce(&Request<'_, FieldSlice<'_>>) -> T,
    on_response: impl FnOnce(&Response<'_, FieldSlice<'_>, FieldSlice<'_>>) -> T,
) -> T {
    match msg {
        Message::Request(r) => {
            let fields = wire::field_refs(&r.fields);
            on_request(&r.view(&fields))
        }
        Message::Response { response, request } => {
            let fields = wire::field_refs(&response.fields);
            let request_fields = request.as_ref().map(|r| wire::field_refs(&r.fields));
            let request_view = request
                .as_ref()
                .zip(request_fields.as_ref())
                .map(|(r, f)| r.view(f));
            on_response(&response.view(&fields, request_view.as_ref()))
        }
    }
}

/// Runs `f` with a base buffer, once more with a larger one if the core says it needs it.
fn with_buffer<T, E>(
    needed: impl Fn(&E) -> Option<usize>,
    mut f: impl FnMut(&mut [u8]) -> Result<T, E>,
) -> Result<T, E> {
    let mut size = BASE_BUFFER;
    loop {
        let mut buf = vec![0u8; size];
        match f(&mut buf) {
            Err(e) => match needed(&e) {
                Some(n) if n > size => size = n,
                _ => return Err(e),
            },
            done => return done,
        }
    }
}

fn base_needed(e: &BaseError) -> Option<usize> {
    match e {
        BaseError::BufferTooSmall { needed } => Some(*needed),
        _ => None,
    }
}

fn sign_needed(e: &SignError) -> Option<usize> {
    match e {
        SignError::Base(b) => base_needed(b),
        _ => None,
    }
}

fn verify_needed(e: &VerifyError) -> Option<usize> {
    match e {
        VerifyError::Base(b) => base_needed(b),
        _ => None,
    }
}

fn load_identity(args: &PrivateKeyArgs) -> Result<Identity, Failure> {
    match (&args.key, &args.key_hex) {
        (Some(path), _) => identity_from_text(&read_text_file(path)?, &path.display().to_string()),
        (None, Some(hex)) => Identity::from_seed_hex(hex).map_err(|e| Failure::key("--key-hex", e)),
        (None, None) => Err(Failure::usage("give --key FILE or --key-hex HEX")),
    }
}

fn identity_from_text(text: &str, what: &str) -> Result<Identity, Failure> {
    if text.contains("-----BEGIN") {
        Identity::from_pkcs8_pem(text)
    } else {
        Identity::from_seed_hex(text)
    }
    .map_err(|e| Failure::key(what, e))
}

fn public_key_from_text(text: &str, what: &str) -> Result<PublicKey, Failure> {
    if text.contains("-----BEGIN") {
        PublicKey::from_pem(text)
    } else {
        PublicKey::from_hex(text)
    }
    .map_err(|e| Failure::key(what, e))
}

fn load_public_key(args: &PublicKeyArgs) -> Result<PublicKey, Failure> {
    match (&args.public_key, &args.public_key_hex) {
        (Some(path), _) => {
            public_key_from_text(&read_text_file(path)?, &path.display().to_string())
        }
        (None, Some(hex)) => {
            PublicKey::from_hex(hex).map_err(|e| Failure::key("--public-key-hex", e))
        }
        (None, None) => Err(Failure::usage(
            "give --public-key FILE or --public-key-hex HEX",
        )),
    }
}

fn now_secs() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

fn write_stdout(bytes: &[u8]) -> Result<(), Failure> {
    let mut out = std::io::stdout().lock();
    out.write_all(bytes)
        .and_then(|()| out.flush())
        .map_err(|e| Failure::input(format!("stdout: {e}")))
}

/// `"@method" "@path"` from `--components`; enclosing parentheses are tolerated.
fn component_items(text: &str) -> &str {
    let t = text.trim_matches(' ');
    t.strip_prefix('(')
        .and_then(|t| t.strip_suffix(')'))
        .unwrap_or(t)
}

/// Parses a field value line as a dictionary.
fn parse_dictionary(line: &[u8]) -> Result<Dictionary<'_>, SfError> {
    let text = std::str::from_utf8(line).map_err(|e| SfError::Syntax {
        at: e.valid_up_to(),
    })?;
    Dictionary::parse(text)
}

/// The inner list of `label` (or of the only label) in a `Signature-Input` spread over
/// `lines`.
fn select_inner_list<'t>(
    lines: impl Iterator<Item = &'t [u8]>,
    label: Option<&str>,
) -> Result<(&'t str, InnerList<'t>), Failure> {
    let mut members: Vec<(&'t str, Member<'t>)> = Vec::new();
    for line in lines {
        let dict = parse_dictionary(line).map_err(|e| Failure::core(&e))?;
        members.extend(dict.iter());
    }
    if members.is_empty() {
        return Err(Failure::usage(
            "no Signature-Input to take the components from",
        ));
    }
    let wanted = match label {
        Some(l) => l,
        None => {
            let first = members.first().map_or("", |m| m.0);
            if members.iter().any(|(k, _)| *k != first) {
                let labels: Vec<&str> = members.iter().map(|(k, _)| *k).collect();
                return Err(Failure::usage(format!(
                    "Signature-Input has several labels ({}): choose one with --label",
                    labels.join(", ")
                )));
            }
            first
        }
    };
    let mut found = members.iter().filter(|(k, _)| *k == wanted);
    let (key, member) = found
        .next()
        .ok_or_else(|| Failure::usage(format!("no label {wanted:?} in Signature-Input")))?;
    if found.next().is_some() {
        return Err(Failure::usage(format!(
            "label {wanted:?} appears more than once in Signature-Input"
        )));
    }
    match member {
        Member::InnerList(list) => Ok((key, *list)),
        Member::Item(_) => Err(Failure::usage(format!(
            "the Signature-Input member {wanted:?} is not an inner list"
        ))),
    }
}

/// The canonical text of a list's items, `"@method" "@path"`.
fn items_text(list: &InnerList<'_>) -> String {
    let mut out = Vec::new();
    for item in list.items() {
        let mut buf = vec![0u8; 4096];
        if let Ok(s) = sf::serialize_item(&item, &mut buf) {
            out.push(s.to_string());
        }
    }
    out.join(" ")
}

// ---------------------------------------------------------------------------------------
// base

/// Prints the signature base of the message on stdin.
pub fn base(args: &BaseArgs) -> ExitCode {
    finish(run_base(args))
}

fn run_base(args: &BaseArgs) -> Result<(), Failure> {
    let msg = Message::load(&args.message)?;
    let own;
    let list = if let Some(components) = &args.components {
        own = inner_list_text(components, args.params.as_deref());
        sf::parse_inner_list(&own).map_err(|e| Failure::core(&e))?
    } else if let Some(value) = &args.signature_input {
        let value = strip_field_name(value, "signature-input");
        select_inner_list(std::iter::once(value.as_bytes()), args.label.as_deref())?.1
    } else {
        select_inner_list(msg.values("signature-input"), args.label.as_deref())?.1
    };
    let bytes = with_view(
        &msg,
        |req| {
            with_buffer(base_needed, |buf| {
                base::request_base(req, &list, buf).map(<[u8]>::to_vec)
            })
        },
        |resp| {
            with_buffer(base_needed, |buf| {
                base::response_base(resp, &list, buf).map(<[u8]>::to_vec)
            })
        },
    )
    .map_err(|e| Failure::core(&e))?;
    write_stdout(&bytes)
}

/// `(items)params`, the inner list `--components` and `--params` describe.
fn inner_list_text(components: &str, params: Option<&str>) -> String {
    let params = params.unwrap_or("").trim_matches(' ');
    let sep = if params.is_empty() || params.starts_with(';') {
        ""
    } else {
        ";"
    };
    format!("({}){sep}{params}", component_items(components))
}

/// `Signature-Input: v` → `v`, so a whole field line can be pasted.
fn strip_field_name<'a>(value: &'a str, name: &str) -> &'a str {
    let v = value.trim();
    match v.split_once(':') {
        Some((n, rest)) if n.trim().eq_ignore_ascii_case(name) => rest.trim(),
        _ => v,
    }
}

// ---------------------------------------------------------------------------------------
// sign

/// Signs the message on stdin and prints the fields to add.
pub fn sign(args: &SignArgs) -> ExitCode {
    finish(run_sign(args))
}

fn run_sign(args: &SignArgs) -> Result<(), Failure> {
    let identity = load_identity(&args.key)?;
    let mut msg = Message::load(&args.input)?;
    let mut added: Vec<(&'static str, String)> = Vec::new();
    let signed = match args.profile {
        None => sign_plain(args, &identity, &msg)?,
        Some(profile) => {
            ensure_digest(&mut msg, &mut added);
            let now = args.now.unwrap_or_else(now_secs);
            sign_profile(args, profile, &identity, &msg, now)?
        }
    };
    added.push(("Signature-Input", signed.signature_input.to_string()));
    added.push(("Signature", signed.signature.to_string()));
    if args.message {
        for (name, value) in &added {
            if *name != "Content-Digest" {
                msg.push_field(name, value);
            }
        }
        write_stdout(&msg.to_wire())
    } else {
        let mut out = String::new();
        for (name, value) in &added {
            out.push_str(&format!("{name}: {value}\n"));
        }
        write_stdout(out.as_bytes())
    }
}

fn sign_plain(
    args: &SignArgs,
    identity: &Identity,
    msg: &Message,
) -> Result<SignedFields, Failure> {
    let (Some(label), Some(components)) = (&args.label, &args.components) else {
        return Err(Failure::usage(
            "give --label and --components, or --profile",
        ));
    };
    let params = SignatureParams {
        created: args.created,
        expires: args.expires,
        nonce: args.nonce.as_deref(),
        keyid: args.keyid.as_deref(),
        alg: args.alg,
        tag: args.tag.as_deref(),
    };
    let components = component_items(components);
    with_view(
        msg,
        |req| {
            with_buffer(sign_needed, |buf| {
                sign::sign_request(identity, label, components, &params, req, buf)
            })
        },
        |resp| {
            with_buffer(sign_needed, |buf| {
                sign::sign_response(identity, label, components, &params, resp, buf)
            })
        },
    )
    .map_err(Failure::sign)
}

/// Adds `Content-Digest: sha-256=…` over the body when the message has none, as a shard does
/// before signing; warns when an existing one does not match the body.
fn ensure_digest(msg: &mut Message, added: &mut Vec<(&'static str, String)>) {
    let existing: Vec<&[u8]> = msg.values("content-digest").collect();
    if existing.is_empty() {
        let value = Digest::of(DigestAlg::Sha256, msg.body())
            .header_value()
            .to_string();
        msg.push_field("Content-Digest", &value);
        added.push(("Content-Digest", value));
        return;
    }
    let check = match existing.as_slice() {
        [one] => std::str::from_utf8(one)
            .map_err(|_| DigestError::Malformed)
            .and_then(|v| Digest::parse_header(v.trim()))
            .and_then(|d| d.check_body(msg.body())),
        _ => Err(DigestError::Malformed),
    };
    if let Err(e) = check {
        eprintln!(
            "warning: the message's Content-Digest is signed as it is, but: {} ({e})",
            e.code()
        );
    }
}

fn sign_profile(
    args: &SignArgs,
    profile: Profile,
    identity: &Identity,
    msg: &Message,
    now: u64,
) -> Result<SignedFields, Failure> {
    match (profile, msg) {
        (Profile::Shardpeer, Message::Request(_)) => {
            let nonce = match &args.nonce {
                Some(n) => n.clone(),
                None => random_nonce()?,
            };
            with_view(
                msg,
                |req| {
                    with_buffer(sign_needed, |buf| {
                        profile::sign_request(identity, req, now, &nonce, buf)
                    })
                },
                |_| Err(SignError::InvalidParam),
            )
            .map_err(Failure::sign)
        }
        (Profile::Shardpeer, Message::Response { request, .. }) => {
            if args.nonce.is_some() {
                return Err(Failure::usage(
                    "a shardpeer response signature has no nonce",
                ));
            }
            if request.is_none() {
                return Err(Failure::usage(
                    "a shardpeer response covers the request's signature: give --request FILE",
                ));
            }
            with_view(
                msg,
                |_| Err(SignError::InvalidParam),
                |resp| {
                    with_buffer(sign_needed, |buf| {
                        profile::sign_response(identity, resp, now, buf)
                    })
                },
            )
            .map_err(Failure::sign)
        }
        (Profile::Whoareyou, Message::Response { .. }) => {
            if args.nonce.is_some() {
                return Err(Failure::usage("a whoareyou signature has no nonce"));
            }
            with_view(
                msg,
                |_| Err(SignError::InvalidParam),
                |resp| {
                    with_buffer(sign_needed, |buf| {
                        whoareyou::sign(identity, resp.status, resp.fields, now, buf)
                    })
                },
            )
            .map_err(Failure::sign)
        }
        (Profile::Whoareyou, Message::Request(_)) => Err(Failure::usage(
            "the whoareyou document is a response: add --response",
        )),
    }
}

fn random_nonce() -> Result<String, Failure> {
    let mut random = [0u8; 16];
    getrandom::fill(&mut random).map_err(|e| Failure::input(format!("random source: {e}")))?;
    Ok(profile::nonce_from_random(&random).to_string())
}

// ---------------------------------------------------------------------------------------
// verify

/// Verifies every signature of the message on stdin (or the profile's one).
pub fn verify(args: &VerifyArgs) -> ExitCode {
    match run_verify(args) {
        Ok(true) => ExitCode::SUCCESS,
        Ok(false) => ExitCode::from(1),
        Err(f) => {
            f.print();
            ExitCode::from(f.exit)
        }
    }
}

/// A key source that knows one peer: the key answers only for its own full ID, as a peers
/// list holding that one peer would.
struct OnePeer {
    id: ShardId,
    key: PublicKey,
}

impl KeySource for OnePeer {
    fn key_for(&self, keyid: Option<&str>) -> Option<PublicKey> {
        (keyid == Some(self.id.as_str())).then_some(self.key)
    }
}

/// A verified signature, owned.
struct Report {
    label: String,
    keyid: Option<String>,
    nonce: Option<String>,
    tag: Option<String>,
    created: Option<i64>,
    expires: Option<i64>,
    content_digest: Option<Digest>,
}

impl From<Verified<'_>> for Report {
    fn from(v: Verified<'_>) -> Report {
        Report {
            label: v.label.to_string(),
            keyid: v.keyid.map(str::to_string),
            nonce: v.nonce.map(str::to_string),
            tag: v.tag.map(str::to_string),
            created: v.created,
            expires: v.expires,
            content_digest: v.content_digest,
        }
    }
}

fn run_verify(args: &VerifyArgs) -> Result<bool, Failure> {
    let key = load_public_key(&args.key)?;
    let now = args.now.unwrap_or_else(now_secs);
    let msg = Message::load(&args.message)?;
    match (args.profile, &msg) {
        (Some(Profile::Whoareyou), Message::Request(_)) => {
            return Err(Failure::usage(
                "the whoareyou document is a response: add --response",
            ));
        }
        (Some(Profile::Shardpeer), Message::Response { request: None, .. }) => {
            return Err(Failure::usage(
                "a shardpeer response covers the request's signature: give --request FILE",
            ));
        }
        _ => {}
    }
    let rules = match args.profile {
        None => "plain RFC 9421",
        Some(Profile::Shardpeer) => "shardpeer profile",
        Some(Profile::Whoareyou) => "shardpeer whoareyou",
    };
    let mut out = format!(
        "rules: {rules}\nkey: {} (ID {})\nnow: {now}\n",
        hex::encode(key.as_bytes()),
        key.id()
    );
    let labels: Vec<Option<String>> = match (args.profile, &args.label) {
        (Some(_), _) => vec![Some(profile::LABEL.to_string())],
        (None, Some(l)) => vec![Some(l.clone())],
        (None, None) => signature_labels(&msg),
    };
    let mut all_ok = true;
    for label in &labels {
        let result = verify_one(&msg, &key, args.profile, label.as_deref(), now);
        match result {
            Ok(report) => describe_success(&mut out, &msg, &report, args.profile.is_some()),
            Err((code, message)) => {
                all_ok = false;
                out.push_str(&format!("error: {code}\n"));
                if let Some(l) = label {
                    out.push_str(&format!("  label: {l}\n"));
                }
                out.push_str(&format!("  message: {message}\n"));
            }
        }
    }
    if args.profile.is_some() {
        let others: Vec<String> = signature_labels(&msg)
            .into_iter()
            .flatten()
            .filter(|l| l != profile::LABEL)
            .collect();
        if !others.is_empty() {
            out.push_str(&format!(
                "not checked (not the profile's label): {}\n",
                others.join(", ")
            ));
        }
    }
    write_stdout(out.as_bytes())?;
    Ok(all_ok)
}

/// Every label of `Signature-Input` and `Signature`, in order of appearance. When a field
/// does not parse or there is none, one unnamed entry: the core then reports why.
fn signature_labels(msg: &Message) -> Vec<Option<String>> {
    let mut labels: Vec<Option<String>> = Vec::new();
    for name in ["signature-input", "signature"] {
        for line in msg.values(name) {
            let Ok(dict) = parse_dictionary(line) else {
                return vec![None];
            };
            for (k, _) in dict.iter() {
                if !labels.iter().flatten().any(|l| l == k) {
                    labels.push(Some(k.to_string()));
                }
            }
        }
    }
    if labels.is_empty() {
        labels.push(None);
    }
    labels
}

fn verify_one(
    msg: &Message,
    key: &PublicKey,
    profile: Option<Profile>,
    label: Option<&str>,
    now: u64,
) -> Result<Report, (&'static str, String)> {
    let id = key.id();
    let report = match profile {
        None => {
            let verifier = Verifier::new(Policy {
                label,
                ..Policy::RFC9421
            });
            with_view(
                msg,
                |req| {
                    with_buffer(verify_needed, |buf| {
                        let mut cache = FixedReplayCache::<1>::new();
                        verifier
                            .verify_request(req, key, &mut cache, now, buf)
                            .map(Report::from)
                    })
                },
                |resp| {
                    with_buffer(verify_needed, |buf| {
                        let mut cache = FixedReplayCache::<1>::new();
                        verifier
                            .verify_response(resp, key, &mut cache, now, buf)
                            .map(Report::from)
                    })
                },
            )
        }
        Some(Profile::Shardpeer) => {
            let peer = OnePeer { id, key: *key };
            with_view(
                msg,
                |req| {
                    with_buffer(verify_needed, |buf| {
                        let mut cache = FixedReplayCache::<1>::new();
                        profile::request_verifier()
                            .verify_request(req, &peer, &mut cache, now, buf)
                            .map(Report::from)
                    })
                },
                |resp| {
                    with_buffer(verify_needed, |buf| {
                        let mut cache = FixedReplayCache::<1>::new();
                        profile::response_verifier(id.as_str())
                            .verify_response(resp, key, &mut cache, now, buf)
                            .map(Report::from)
                    })
                },
            )
        }
        Some(Profile::Whoareyou) => with_view(
            msg,
            |_| Err(VerifyError::Missing),
            |resp| {
                with_buffer(verify_needed, |buf| {
                    let mut cache = FixedReplayCache::<1>::new();
                    whoareyou::verifier(id.as_str())
                        .verify_response(resp, key, &mut cache, now, buf)
                        .map(Report::from)
                })
            },
        ),
    }
    .map_err(|e| fail(&e))?;
    if profile.is_some() {
        // Step 18: the body received must match the covered digest.
        let digest = report.content_digest.ok_or((
            "content_digest_malformed",
            "content-digest is not covered".to_string(),
        ))?;
        digest.check_body(msg.body()).map_err(|e| fail(&e))?;
    }
    Ok(report)
}

fn fail(e: &impl WireError) -> (&'static str, String) {
    (e.code(), e.to_string())
}

fn describe_success(out: &mut String, msg: &Message, r: &Report, profile: bool) {
    let covered = select_inner_list(msg.values("signature-input"), Some(&r.label))
        .map(|(_, list)| items_text(&list))
        .unwrap_or_default();
    let quoted = |v: &Option<String>| {
        v.as_ref()
            .map_or_else(|| "(absent)".to_string(), |s| format!("\"{s}\""))
    };
    let number = |v: Option<i64>| v.map_or_else(|| "(absent)".to_string(), |n| n.to_string());
    out.push_str(&format!("ok: {}\n", r.label));
    out.push_str(&format!("  covered: {covered}\n"));
    out.push_str(&format!("  keyid: {}\n", quoted(&r.keyid)));
    out.push_str(&format!("  created: {}\n", number(r.created)));
    out.push_str(&format!("  expires: {}\n", number(r.expires)));
    out.push_str(&format!("  nonce: {}\n", quoted(&r.nonce)));
    out.push_str(&format!("  tag: {}\n", quoted(&r.tag)));
    if let Some(d) = r.content_digest {
        let alg = d.alg().key();
        let line = match (d.check_body(msg.body()), profile) {
            (Ok(()), _) => format!("covered; the body matches ({alg})"),
            (Err(_), true) => format!("covered; the body does NOT match ({alg})"),
            (Err(_), false) => format!(
                "covered; the body does NOT match ({alg}): plain RFC 9421 does not check it"
            ),
        };
        out.push_str(&format!("  content-digest: {line}\n"));
    }
}

// ---------------------------------------------------------------------------------------
// id

/// Prints the shard ID of a key.
pub fn id(args: &IdArgs) -> ExitCode {
    finish(run_id(args))
}

fn run_id(args: &IdArgs) -> Result<(), Failure> {
    let k = &args.key;
    let key = if let Some(path) = &k.public_key {
        public_key_from_text(&read_text_file(path)?, &path.display().to_string())?
    } else if let Some(hex) = &k.public_key_hex {
        PublicKey::from_hex(hex).map_err(|e| Failure::key("--public-key-hex", e))?
    } else if let Some(path) = &k.key {
        identity_from_text(&read_text_file(path)?, &path.display().to_string())?.public_key()
    } else if let Some(hex) = &k.seed_hex {
        Identity::from_seed_hex(hex)
            .map_err(|e| Failure::key("--seed-hex", e))?
            .public_key()
    } else {
        return Err(Failure::usage("give a key"));
    };
    let id = key.id();
    let text = if args.verbose {
        format!(
            "id: {id}\nshort_id: {}\npublic_key_hex: {}\npublic_key_pem:\n{}",
            id.short_id(),
            hex::encode(key.as_bytes()),
            key.to_pem()
        )
    } else {
        format!("{id}\n")
    };
    write_stdout(text.as_bytes())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn inner_list_text_from_flags() {
        assert_eq!(
            inner_list_text(r#""@method" "@path""#, Some(r#";created=1;keyid="k""#)),
            r#"("@method" "@path");created=1;keyid="k""#
        );
        assert_eq!(
            inner_list_text(r#"("@method")"#, Some("created=1")),
            r#"("@method");created=1"#
        );
        assert_eq!(inner_list_text(r#""@method""#, None), r#"("@method")"#);
    }

    #[test]
    fn field_name_is_stripped() {
        assert_eq!(
            strip_field_name("Signature-Input: a=(\"@method\")", "signature-input"),
            "a=(\"@method\")"
        );
        assert_eq!(
            strip_field_name(" a=(\"@method\") ", "signature-input"),
            "a=(\"@method\")"
        );
    }

    #[test]
    fn labels_selected() {
        let lines: [&[u8]; 2] = [b"a=(\"@method\")", b"b=(\"@path\");created=1"];
        let (label, list) = select_inner_list(lines.into_iter(), Some("b")).unwrap();
        assert_eq!(label, "b");
        assert_eq!(items_text(&list), "\"@path\"");
        assert_eq!(
            select_inner_list(lines.into_iter(), None).unwrap_err().code,
            "usage"
        );
        assert_eq!(
            select_inner_list([&b"a=("[..]].into_iter(), None)
                .unwrap_err()
                .code,
            "sf_syntax"
        );
    }
}
