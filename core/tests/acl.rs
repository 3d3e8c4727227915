//! End-to-end access control, and differential checks of the path normaliser and the
//! app_meta.json syntax checker against independent implementations.

use shardpeer_core::acl::{Access, ClientKind};
use shardpeer_core::app_meta::{AppMeta, AppMetaError};
use shardpeer_core::path::{PathError, is_normalized, normalize_path};
use shardpeer_core::template::{TemplateContext, TemplateError, Variable};
use shardpeer_core::wire::WireError;

const APP_META: &str = r#"{
    "v": "1.2",
    "name": "echo",
    "entrypoints": [{"container_name": "echo", "container_port": 8080, "entrypoint_port": "http"}],
    "paths": {
        "": {"access": "private", "headers": {
            "X-Ptl-Client-Id": "{{ auth.client_id }}",
            "X-Ptl-Client-Name": "{{ auth.client_name }}",
            "X-Ptl-Client-Type": "{{ auth.client_type }}",
            "X-Ptl-ID": "{{ portal.id }}",
            "X-Ptl-Key": "{{portal.public_key_pem}}"
        }},
        "/pub": {"access": "public", "headers": {"X-Ptl-Client-Type": "{{ auth.client_type }}"}},
        "/peer": {"access": "peer", "headers": {"X-Ptl-Client-Id": "{{ auth.client_id }}", "X-App-Shard": "{{ portal.short_id }}.{{ portal.domain }}"}}
    },
    "lifecycle": {"always_on": false, "idle_time_for_shutdown": 60},
    "store_info": {"description_long": ["many", {"nested": "things"}]}
}"#;

const PEER_ID: &str = "q3kzv7x2m4n8p5r6t9w2y4b7c3d8f6g5h2j9k4l7m3n8p5r6";

fn meta() -> AppMeta {
    AppMeta::parse(APP_META.as_bytes()).expect("valid app_meta")
}

/// What the gateway does for one request: normalise, decide, and list the headers to add.
fn gateway(
    meta: &AppMeta,
    raw_path: &str,
    client: ClientKind,
    ctx: &TemplateContext<'_>,
) -> Result<(String, Vec<(String, String)>), u16> {
    let mut path_buf = [0u8; 256];
    let path = normalize_path(raw_path, &mut path_buf).map_err(|e| e.http_status())?;
    let rule = meta.decide(path, client).map_err(|e| e.http_status())?;
    let mut headers = Vec::new();
    for header in rule.headers() {
        let mut value = [0u8; 256];
        let value = header
            .render(ctx, &mut value)
            .map_err(|e| e.http_status())?;
        headers.push((header.name().to_owned(), value.to_owned()));
    }
    Ok((path.to_owned(), headers))
}

fn peer_ctx() -> TemplateContext<'static> {
    TemplateContext {
        client_type: ClientKind::Peer.as_str(),
        client_id: PEER_ID,
        client_name: "Alice (named by me)",
        portal_id: "a2b3c4d5e6f7g8h9j2k3l4m5n6p7q8r9s2t3u4v5w6x7y8z9",
        portal_short_id: "a2b3c4",
        portal_domain: "a2b3c4.shard.example",
        portal_public_key_pem: "-----BEGIN PUBLIC KEY-----\nMCow\n-----END PUBLIC KEY-----\n",
    }
}

#[test]
fn peer_request_gets_full_id_and_composed_header() {
    let (path, headers) =
        gateway(&meta(), "/peer/./inbox//new", ClientKind::Peer, &peer_ctx()).unwrap();
    assert_eq!(path, "/peer/inbox/new");
    assert_eq!(
        headers,
        [
            ("X-Ptl-Client-Id".to_owned(), PEER_ID.to_owned()),
            (
                "X-App-Shard".to_owned(),
                "a2b3c4.a2b3c4.shard.example".to_owned()
            ),
        ]
    );
}

#[test]
fn traversal_out_of_public_is_judged_on_the_real_target() {
    let anon = TemplateContext {
        client_type: ClientKind::Anonymous.as_str(),
        ..Default::default()
    };
    for sneaky in [
        "/pub/../private",
        "/pub/%2e%2e/private",
        "/pub/.%2E/admin",
        "//private",
        "/pub/../../../etc",
    ] {
        assert_eq!(
            gateway(&meta(), sneaky, ClientKind::Anonymous, &anon),
            Err(401),
            "{sneaky}"
        );
    }
    for refused in ["/pub/..%2Fprivate", "/pub\\..\\private", "/pub/..;/private"] {
        assert_eq!(
            gateway(&meta(), refused, ClientKind::Anonymous, &anon),
            Err(400),
            "{refused}"
        );
    }
    let (path, headers) = gateway(&meta(), "/%70ublic/x", ClientKind::Anonymous, &anon).unwrap();
    assert_eq!(path, "/public/x");
    assert_eq!(
        headers,
        [("X-Ptl-Client-Type".to_owned(), "anonymous".to_owned())]
    );
}

#[test]
fn owner_terminal_gets_pem_as_one_line() {
    let ctx = TemplateContext {
        client_type: ClientKind::Terminal.as_str(),
        client_id: "terminal-1",
        client_name: "laptop",
        ..peer_ctx()
    };
    let (_, headers) = gateway(&meta(), "/settings", ClientKind::Terminal, &ctx).unwrap();
    let key = headers.iter().find(|(n, _)| n == "X-Ptl-Key").unwrap();
    assert_eq!(
        key.1,
        "-----BEGIN PUBLIC KEY-----\\nMCow\\n-----END PUBLIC KEY-----\\n"
    );
    // What the app documentation tells authors to do.
    assert_eq!(key.1.replace("\\n", "\n"), ctx.portal_public_key_pem);
}

#[test]
fn terminal_is_not_a_peer_and_peer_is_not_owner() {
    let m = meta();
    let denied = m.decide("/peer/x", ClientKind::Terminal).unwrap_err();
    assert_eq!(
        (denied.required, denied.client),
        (Access::Peer, ClientKind::Terminal)
    );
    let denied = m.decide("/settings", ClientKind::Peer).unwrap_err();
    assert_eq!(
        (denied.required, denied.client),
        (Access::Private, ClientKind::Peer)
    );
    assert_eq!(denied.http_status(), 401);
    assert_eq!(denied.code(), "access_denied");
}

#[test]
fn hostile_peer_name_cannot_inject_headers() {
    let ctx = TemplateContext {
        client_name: "Mallory\r\nX-Ptl-Client-Type: terminal",
        client_type: "terminal",
        ..peer_ctx()
    };
    let meta = meta();
    let rule = meta.decide("/x", ClientKind::Terminal).unwrap();
    let name_header = rule
        .headers()
        .find(|h| h.name() == "X-Ptl-Client-Name")
        .unwrap();
    let err = name_header.render(&ctx, &mut [0u8; 128]).unwrap_err();
    assert_eq!(
        err,
        TemplateError::UnsafeValue {
            variable: Variable::ClientName
        }
    );
    assert_eq!(err.http_status(), 500);
}

#[test]
fn client_supplied_gateway_headers_are_reserved() {
    let m = meta();
    for name in [
        "X-Ptl-Client-Id",
        "x-ptl-client-type",
        "X-PTL-Whatever",
        "x-app-shard",
    ] {
        assert!(m.is_reserved_header(name), "{name}");
    }
    assert!(!m.is_reserved_header("Authorization"));
}

#[test]
fn default_type_parameters_work_through_annotation() {
    let parsed: Result<AppMeta, AppMetaError> = AppMeta::parse(br#"{"name": "a", "paths": {}}"#);
    assert_eq!(parsed.unwrap_err(), AppMetaError::MissingDefaultPath);
}

/// xorshift64*: reproducible pseudo-random choices without a dependency.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    fn pick<'a>(&mut self, items: &[&'a str]) -> &'a str {
        items[(self.next() % items.len() as u64) as usize]
    }
}

/// RFC 3986 §5.2.4 remove_dot_segments, written as the RFC states it, on a String.
fn remove_dot_segments(mut input: &str) -> String {
    let mut output = String::new();
    let pop = |output: &mut String| {
        let cut = output.rfind('/').unwrap_or(0);
        output.truncate(cut);
    };
    while !input.is_empty() {
        if let Some(rest) = input.strip_prefix("../") {
            input = rest;
        } else if let Some(rest) = input.strip_prefix("./") {
            input = rest;
        } else if input.starts_with("/./") {
            input = &input[2..];
        } else if input == "/." {
            input = "/";
        } else if input.starts_with("/../") {
            input = &input[3..];
            pop(&mut output);
        } else if input == "/.." {
            input = "/";
            pop(&mut output);
        } else if input == "." || input == ".." {
            input = "";
        } else {
            let start = usize::from(input.starts_with('/'));
            let end = input[start..].find('/').map_or(input.len(), |i| i + start);
            output.push_str(&input[..end]);
            input = &input[end..];
        }
    }
    output
}

/// The normaliser's specification, step by step, with strings: decode unreserved, uppercase the
/// rest, collapse slash runs, remove dot segments.
fn reference_normalize(raw: &str) -> String {
    let mut decoded = String::new();
    let bytes = raw.as_bytes();
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' {
            let hex = &raw[i + 1..i + 3];
            let value = u8::from_str_radix(hex, 16).unwrap();
            if value.is_ascii_alphanumeric() || b"-._~".contains(&value) {
                decoded.push(value as char);
            } else {
                decoded.push('%');
                decoded.push_str(&hex.to_ascii_uppercase());
            }
            i += 3;
        } else {
            decoded.push(bytes[i] as char);
            i += 1;
        }
    }
    while decoded.contains("//") {
        decoded = decoded.replace("//", "/");
    }
    remove_dot_segments(&decoded)
}

#[test]
fn normalizer_matches_rfc_reference() {
    let pieces = [
        "/", "/", "/", "a", "b", ".", ".", "..", "%2e", "%2E", "%2e%2e", "%41", "%7e", "%20",
        "%c3%a9", "-", "~", "x.y", "...", "%25",
    ];
    let mut rng = Rng(0x9E37_79B9_7F4A_7C15);
    let mut buf = [0u8; 512];
    for _ in 0..50_000 {
        let mut raw = String::from("/");
        let n = rng.next() % 12;
        for _ in 0..n {
            raw.push_str(rng.pick(&pieces));
        }
        let expected = reference_normalize(&raw);
        let got = normalize_path(&raw, &mut buf).unwrap_or_else(|e| panic!("{raw:?}: {e:?}"));
        assert_eq!(got, expected, "input {raw:?}");
        assert!(is_normalized(got), "{got:?}");
        let mut again = [0u8; 512];
        assert_eq!(normalize_path(got, &mut again), Ok(got));
    }
}

#[test]
fn normalizer_never_panics_on_arbitrary_ascii() {
    let mut rng = Rng(42);
    let mut buf = [0u8; 64];
    for _ in 0..100_000 {
        let len = (rng.next() % 24) as usize;
        let raw: String = (0..len)
            .map(|_| {
                let pool = b"/./%2eE0fFgG\\?#;a ";
                pool[(rng.next() % pool.len() as u64) as usize] as char
            })
            .collect();
        match normalize_path(&raw, &mut buf) {
            Ok(out) => {
                assert!(out.len() <= raw.len());
                assert!(is_normalized(out), "{raw:?} -> {out:?}");
            }
            Err(PathError::BufferTooSmall { .. }) => panic!("64-byte buffer holds {raw:?}"),
            Err(_) => {}
        }
    }
}

#[test]
fn json_syntax_check_agrees_with_serde_json() {
    let base = APP_META.as_bytes();
    let replacements: [&[u8]; 15] = [
        b"\"", b"\\", b"{", b"}", b"[", b"]", b",", b":", b"\\u", b"\\ud800", b"e", b"0.", b"-",
        b"\x01", b"",
    ];
    let mut rng = Rng(7);
    for _ in 0..20_000 {
        let at = (rng.next() % base.len() as u64) as usize;
        let replacement = replacements[(rng.next() % replacements.len() as u64) as usize];
        let mut mutated = base[..at].to_vec();
        mutated.extend_from_slice(replacement);
        mutated.extend_from_slice(&base[at + 1..]);
        let serde_ok = serde_json::from_slice::<serde_json::Value>(&mutated).is_ok();
        let ours = AppMeta::<16, 32, 2048>::parse(&mutated);
        let syntax_error = matches!(ours, Err(AppMetaError::InvalidJson { .. }));
        assert_eq!(
            !syntax_error,
            serde_ok,
            "{:?}: {ours:?}",
            String::from_utf8_lossy(&mutated)
        );
    }
}
