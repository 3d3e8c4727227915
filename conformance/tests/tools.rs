//! The reference tools through the real binary: RFC 9421 Appendix B reproduced byte for byte,
//! profile round trips and tampering, IDs, and usage errors.

use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

const BIN: &str = env!("CARGO_BIN_EXE_shardpeer-conformance");

const B14_PRIVATE: &str = "-----BEGIN PRIVATE KEY-----\nMC4CAQAwBQYDK2VwBCIEIJ+DYvh6SEqVTm50DFtMDoQikTmiCqirVv9mWG9qfSnF\n-----END PRIVATE KEY-----\n";
const B14_PUBLIC: &str = "-----BEGIN PUBLIC KEY-----\nMCowBQYDK2VwAyEAJrQLj5P/89iXES9+vFgrIy29clF9CC/oPPsw3c5D0bs=\n-----END PUBLIC KEY-----\n";
const B14_SEED: &str = "9f8362f87a484a954e6e740c5b4c0e84229139a20aa8ab56ff66586f6a7d29c5";
const B14_PUBLIC_HEX: &str = "26b40b8f93fff3d897112f7ebc582b232dbd72517d082fe83cfb30ddce43d1bb";
const B14_ID: &str = "uzzfszqnijtc4eswmobxlvqillyuoyvvpsggaxtzq442s73k";

/// RFC 9421 B.2 test-request, CRLF, 18-byte body without a final newline.
const B2_REQUEST: &str = "POST /foo?param=Value&Pet=dog HTTP/1.1\r\n\
Host: example.com\r\n\
Date: Tue, 20 Apr 2021 02:07:55 GMT\r\n\
Content-Type: application/json\r\n\
Content-Digest: sha-512=:WZDPaVn/7XgHaAy8pmojAkGWoRx2UFChF41A2svX+TaPm+AbwAgBWnrIiYllu7BNNyealdVLvRwEmTHWXvJwew==:\r\n\
Content-Length: 18\r\n\
\r\n\
{\"hello\": \"world\"}";

const B26_COMPONENTS: &str =
    r#""date" "@method" "@path" "@authority" "content-type" "content-length""#;
const B26_PARAMS: &str = r#";created=1618884473;keyid="test-key-ed25519""#;
const B26_INPUT: &str = r#"sig-b26=("date" "@method" "@path" "@authority" "content-type" "content-length");created=1618884473;keyid="test-key-ed25519""#;
const B26_SIGNATURE: &str = "sig-b26=:wqcAqbmYJ2ji2glfAMaRy4gruYYnx2nEFN2HN6jrnDnQCK1u02Gb04v9EDgwUPiu4A0w6vuQv5lIp5WPpBKRCw==:";
const B26_BASE: &str = "\"date\": Tue, 20 Apr 2021 02:07:55 GMT\n\
\"@method\": POST\n\
\"@path\": /foo\n\
\"@authority\": example.com\n\
\"content-type\": application/json\n\
\"content-length\": 18\n\
\"@signature-params\": (\"date\" \"@method\" \"@path\" \"@authority\" \"content-type\" \"content-length\");created=1618884473;keyid=\"test-key-ed25519\"";
const B26_CREATED: &str = "1618884473";

struct Out {
    code: i32,
    stdout: String,
    stderr: String,
}

impl std::fmt::Debug for Out {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "exit {}\n--- stdout\n{}\n--- stderr\n{}",
            self.code, self.stdout, self.stderr
        )
    }
}

/// Runs the binary with `args` and `stdin`.
fn run(args: &[&str], stdin: &[u8]) -> Out {
    let mut child = Command::new(BIN)
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn the tool");
    let mut input = child.stdin.take().expect("stdin");
    // A usage error exits before reading stdin: a broken pipe is expected then.
    let _ = input.write_all(stdin);
    drop(input);
    let out = child.wait_with_output().expect("wait for the tool");
    Out {
        code: out.status.code().expect("exit code"),
        stdout: String::from_utf8(out.stdout).expect("UTF-8 stdout"),
        stderr: String::from_utf8(out.stderr).expect("UTF-8 stderr"),
    }
}

/// A temporary directory holding the B.1.4 keys and whatever a test writes.
struct Dir(tempfile::TempDir);

impl Dir {
    fn new() -> Dir {
        let d = Dir(tempfile::tempdir().expect("tempdir"));
        d.write("private.pem", B14_PRIVATE);
        d.write("public.pem", B14_PUBLIC);
        d.write("seed.hex", &format!("{B14_SEED}\n"));
        d.write("public.hex", B14_PUBLIC_HEX);
        d
    }

    fn path(&self, name: &str) -> PathBuf {
        self.0.path().join(name)
    }

    fn write(&self, name: &str, content: &str) -> PathBuf {
        let p = self.path(name);
        std::fs::write(&p, content).expect("write file");
        p
    }

    fn arg(&self, name: &str) -> String {
        self.path(name).to_str().expect("UTF-8 path").to_string()
    }
}

fn s(p: &Path) -> &str {
    p.to_str().expect("UTF-8 path")
}

/// The B.2 request with the B.2.6 signature fields.
fn b26_signed() -> String {
    B2_REQUEST.replacen(
        "Content-Length: 18\r\n",
        &format!(
            "Content-Length: 18\r\nSignature-Input: {B26_INPUT}\r\nSignature: {B26_SIGNATURE}\r\n"
        ),
        1,
    )
}

#[test]
fn b26_base_exact() {
    let out = run(
        &[
            "base",
            "--components",
            B26_COMPONENTS,
            "--params",
            B26_PARAMS,
        ],
        B2_REQUEST.as_bytes(),
    );
    assert_eq!(out.code, 0, "{out:?}");
    assert_eq!(out.stdout, B26_BASE);
    assert_eq!(out.stdout.len(), 284);

    // The same from a whole Signature-Input value, and from the signed message itself.
    let out = run(
        &["base", "--signature-input", B26_INPUT],
        B2_REQUEST.as_bytes(),
    );
    assert_eq!((out.code, out.stdout.as_str()), (0, B26_BASE), "{out:?}");
    let line = format!("Signature-Input: {B26_INPUT}");
    let out = run(&["base", "--signature-input", &line], B2_REQUEST.as_bytes());
    assert_eq!((out.code, out.stdout.as_str()), (0, B26_BASE), "{out:?}");
    let out = run(&["base"], b26_signed().as_bytes());
    assert_eq!((out.code, out.stdout.as_str()), (0, B26_BASE), "{out:?}");

    // Hand-written files use LF: same base.
    let lf = B2_REQUEST.replace("\r\n", "\n");
    let out = run(&["base", "--signature-input", B26_INPUT], lf.as_bytes());
    assert_eq!((out.code, out.stdout.as_str()), (0, B26_BASE), "{out:?}");
}

#[test]
fn base_errors_carry_core_codes() {
    let out = run(
        &["base", "--components", r#""@method" "x-absent""#],
        B2_REQUEST.as_bytes(),
    );
    assert_eq!(out.code, 1, "{out:?}");
    assert!(out.stderr.contains("error: component_missing"), "{out:?}");
    let out = run(
        &["base", "--components", r#""@method" "@method""#],
        B2_REQUEST.as_bytes(),
    );
    assert_eq!(out.code, 1, "{out:?}");
    assert!(out.stderr.contains("error: component_duplicate"), "{out:?}");
    // @status belongs to responses.
    let out = run(
        &["base", "--components", r#""@status""#],
        B2_REQUEST.as_bytes(),
    );
    assert_eq!(out.code, 1, "{out:?}");
    assert!(out.stderr.contains("error: component_invalid"), "{out:?}");
}

#[test]
fn response_base_with_req_components() {
    let d = Dir::new();
    let req = d.write("req.http", &b26_signed());
    let response = "HTTP/1.1 200 OK\nContent-Type: application/json\n\n{}";
    let out = run(
        &[
            "base",
            "--response",
            "--request",
            s(&req),
            "--components",
            r#""@status" "signature";req;key="sig-b26" "@method";req"#,
            "--params",
            "created=1",
        ],
        response.as_bytes(),
    );
    assert_eq!(out.code, 0, "{out:?}");
    assert_eq!(
        out.stdout,
        format!(
            "\"@status\": 200\n\"signature\";req;key=\"sig-b26\": {}\n\"@method\";req: POST\n\
             \"@signature-params\": (\"@status\" \"signature\";req;key=\"sig-b26\" \"@method\";req);created=1",
            &B26_SIGNATURE["sig-b26=".len()..]
        )
    );
}

#[test]
fn b26_sign_byte_for_byte() {
    let d = Dir::new();
    let expected = format!("Signature-Input: {B26_INPUT}\nSignature: {B26_SIGNATURE}\n");
    for key in [
        vec!["--key".to_string(), d.arg("private.pem")],
        vec!["--key".to_string(), d.arg("seed.hex")],
        vec!["--key-hex".to_string(), B14_SEED.to_string()],
    ] {
        let mut args: Vec<&str> = vec!["sign"];
        args.extend(key.iter().map(String::as_str));
        args.extend([
            "--label",
            "sig-b26",
            "--components",
            B26_COMPONENTS,
            "--created",
            B26_CREATED,
            "--keyid",
            "test-key-ed25519",
        ]);
        let out = run(&args, B2_REQUEST.as_bytes());
        assert_eq!(out.code, 0, "{out:?}");
        assert_eq!(out.stdout, expected, "{key:?}");
    }
}

#[test]
fn sign_emits_exactly_the_parameters_given_in_order() {
    let d = Dir::new();
    let out = run(
        &[
            "sign",
            "--key",
            &d.arg("private.pem"),
            "--label",
            "a",
            "--components",
            r#""@method" "@authority""#,
            "--tag",
            "t",
            "--alg",
            "--keyid",
            "k",
            "--nonce",
            "n",
            "--expires",
            "20",
            "--created",
            "10",
        ],
        B2_REQUEST.as_bytes(),
    );
    assert_eq!(out.code, 0, "{out:?}");
    let lines: Vec<&str> = out.stdout.lines().collect();
    assert_eq!(lines.len(), 2, "{out:?}");
    assert_eq!(
        lines[0],
        r#"Signature-Input: a=("@method" "@authority");created=10;expires=20;nonce="n";keyid="k";alg="ed25519";tag="t""#
    );
    assert!(lines[1].starts_with("Signature: a=:"), "{out:?}");

    // No parameters at all.
    let out = run(
        &[
            "sign",
            "--key",
            &d.arg("private.pem"),
            "--label",
            "b",
            "--components",
            r#""@method""#,
        ],
        B2_REQUEST.as_bytes(),
    );
    assert_eq!(out.code, 0, "{out:?}");
    assert!(
        out.stdout
            .starts_with("Signature-Input: b=(\"@method\")\nSignature: b=:"),
        "{out:?}"
    );

    // The signer refuses expires < created, with the core's code.
    let out = run(
        &[
            "sign",
            "--key",
            &d.arg("private.pem"),
            "--label",
            "b",
            "--components",
            r#""@method""#,
            "--created",
            "10",
            "--expires",
            "5",
        ],
        B2_REQUEST.as_bytes(),
    );
    assert_eq!(out.code, 1, "{out:?}");
    assert!(out.stderr.contains("error: sign_param_invalid"), "{out:?}");
}

#[test]
fn b26_verify_and_tamper() {
    let d = Dir::new();
    let signed = b26_signed();
    for key in [
        vec!["--public-key".to_string(), d.arg("public.pem")],
        vec!["--public-key".to_string(), d.arg("public.hex")],
        vec!["--public-key-hex".to_string(), B14_PUBLIC_HEX.to_string()],
    ] {
        let mut args: Vec<&str> = vec!["verify"];
        args.extend(key.iter().map(String::as_str));
        args.extend(["--now", B26_CREATED]);
        let out = run(&args, signed.as_bytes());
        assert_eq!(out.code, 0, "{out:?}");
        assert!(out.stdout.contains("ok: sig-b26\n"), "{out:?}");
        assert!(
            out.stdout
                .contains(&format!("  covered: {B26_COMPONENTS}\n")),
            "{out:?}"
        );
        assert!(
            out.stdout.contains("  keyid: \"test-key-ed25519\"\n"),
            "{out:?}"
        );
        assert!(out.stdout.contains("  created: 1618884473\n"), "{out:?}");
        assert!(out.stdout.contains("  expires: (absent)\n"), "{out:?}");
        assert!(!out.stdout.contains("error:"), "{out:?}");
    }

    let tampered = signed.replacen("POST ", "PUT ", 1);
    let out = run(
        &[
            "verify",
            "--public-key",
            &d.arg("public.pem"),
            "--now",
            B26_CREATED,
        ],
        tampered.as_bytes(),
    );
    assert_eq!(out.code, 1, "{out:?}");
    assert!(out.stdout.contains("error: signature_invalid\n"), "{out:?}");
    assert!(out.stdout.contains("  label: sig-b26\n"), "{out:?}");

    // created more than 60 s ahead of the verifier's clock.
    let out = run(
        &[
            "verify",
            "--public-key",
            &d.arg("public.pem"),
            "--now",
            "1618884000",
        ],
        signed.as_bytes(),
    );
    assert_eq!(out.code, 1, "{out:?}");
    assert!(
        out.stdout.contains("error: signature_created_in_future"),
        "{out:?}"
    );

    // No signature at all.
    let out = run(
        &["verify", "--public-key", &d.arg("public.pem")],
        B2_REQUEST.as_bytes(),
    );
    assert_eq!(out.code, 1, "{out:?}");
    assert!(out.stdout.contains("error: signature_missing"), "{out:?}");
}

#[test]
fn verify_checks_every_signature() {
    let d = Dir::new();
    // A second signature over other components, by the same key.
    let out = run(
        &[
            "sign",
            "--key",
            &d.arg("private.pem"),
            "--label",
            "second",
            "--components",
            r#""@method" "@query""#,
            "--created",
            B26_CREATED,
            "--message",
        ],
        b26_signed().as_bytes(),
    );
    assert_eq!(out.code, 0, "{out:?}");
    let two = out.stdout;
    let verify = |msg: &str| {
        run(
            &[
                "verify",
                "--public-key",
                &d.arg("public.pem"),
                "--now",
                B26_CREATED,
            ],
            msg.as_bytes(),
        )
    };
    let out = verify(&two);
    assert_eq!(out.code, 0, "{out:?}");
    assert!(out.stdout.contains("ok: sig-b26\n"), "{out:?}");
    assert!(out.stdout.contains("ok: second\n"), "{out:?}");

    // Changing the date breaks sig-b26 only; one failure fails the whole message.
    let out = verify(&two.replace("02:07:55", "02:07:56"));
    assert_eq!(out.code, 1, "{out:?}");
    assert!(out.stdout.contains("ok: second\n"), "{out:?}");
    assert!(
        out.stdout
            .contains("error: signature_invalid\n  label: sig-b26\n"),
        "{out:?}"
    );

    // --label picks one.
    let out = run(
        &[
            "verify",
            "--public-key",
            &d.arg("public.pem"),
            "--now",
            B26_CREATED,
            "--label",
            "second",
        ],
        two.replace("02:07:55", "02:07:56").as_bytes(),
    );
    assert_eq!(out.code, 0, "{out:?}");
    assert!(!out.stdout.contains("sig-b26"), "{out:?}");
}

const B4_REQUEST: &str = "GET /demo?name1=Value1&Name2=value2 HTTP/1.1\n\
Host: example.org\n\
Date: Fri, 15 Jul 2022 14:24:55 GMT\n\
Accept: application/json\n\
Accept: */*\n\
Signature-Input: transform=(\"@method\" \"@path\" \"@authority\" \"accept\");created=1618884473;keyid=\"test-key-ed25519\"\n\
Signature: transform=:ZT1kooQsEHpZ0I1IjCqtQppOmIqlJPeo7DHR3SoMn0s5JZ1eRGS0A+vyYP9t/LXlh5QMFFQ6cpLt2m0pmj3NDA==:\n\
\n";

fn b4_with(head: &str, fields: &[&str]) -> String {
    let sig: Vec<&str> = B4_REQUEST
        .lines()
        .filter(|l| l.starts_with("Signature"))
        .collect();
    let mut out = format!("{head}\n");
    for f in fields.iter().chain(&sig) {
        out.push_str(f);
        out.push('\n');
    }
    out.push('\n');
    out
}

#[test]
fn b4_transformations() {
    let d = Dir::new();
    let verify = |msg: &str| {
        run(
            &[
                "verify",
                "--public-key",
                &d.arg("public.pem"),
                "--now",
                B26_CREATED,
            ],
            msg.as_bytes(),
        )
    };
    let out = verify(B4_REQUEST);
    assert_eq!(out.code, 0, "{out:?}");
    assert!(out.stdout.contains("ok: transform\n"), "{out:?}");
    let out = run(&["base"], B4_REQUEST.as_bytes());
    assert_eq!(
        out.stdout,
        "\"@method\": GET\n\"@path\": /demo\n\"@authority\": example.org\n\
         \"accept\": application/json, */*\n\"@signature-params\": (\"@method\" \"@path\" \
         \"@authority\" \"accept\");created=1618884473;keyid=\"test-key-ed25519\""
    );

    let still_valid = [
        b4_with(
            "GET /demo?name1=Value1&Name2=value2&param=added HTTP/1.1",
            &[
                "Host: example.org",
                "Date: Fri, 15 Jul 2022 14:24:55 GMT",
                "Accept: application/json",
                "Accept: */*",
                "Accept-Language: en-US,en;q=0.5",
            ],
        ),
        b4_with(
            "GET /demo?name1=Value1&Name2=value2 HTTP/1.1",
            &[
                "Host: example.org",
                "Referer: https://developer.example.org/demo",
                "Accept: application/json, */*",
            ],
        ),
        b4_with(
            "GET /demo?name1=Value1&Name2=value2 HTTP/1.1",
            &[
                "Accept: application/json",
                "Accept: */*",
                "Date: Fri, 15 Jul 2022 14:24:55 GMT",
                "Host: example.org",
            ],
        ),
    ];
    for msg in &still_valid {
        let out = verify(msg);
        assert_eq!(out.code, 0, "{msg}\n{out:?}");
    }

    let must_fail = [
        b4_with(
            "POST /demo?name1=Value1&Name2=value2 HTTP/1.1",
            &[
                "Host: example.com",
                "Date: Fri, 15 Jul 2022 14:24:55 GMT",
                "Accept: application/json",
                "Accept: */*",
            ],
        ),
        b4_with(
            "GET /demo?name1=Value1&Name2=value2 HTTP/1.1",
            &[
                "Host: example.org",
                "Accept: */*",
                "Accept: application/json",
            ],
        ),
    ];
    for msg in &must_fail {
        let out = verify(msg);
        assert_eq!(out.code, 1, "{msg}\n{out:?}");
        assert!(out.stdout.contains("error: signature_invalid"), "{out:?}");
    }
}

// ---------------------------------------------------------------------------------------
// The shardpeer profile.

const NOW: &str = "1763800000";
const LATER: &str = "1763800010";
const NONCE: &str = "AAECAwQFBgcICQoLDA0ODw";
const ALICE_SEED: &str = "0101010101010101010101010101010101010101010101010101010101010101";
const BOB_SEED: &str = "0202020202020202020202020202020202020202020202020202020202020202";
const PEER_REQUEST: &str = "POST /peer/inbox?x=1 HTTP/1.1\n\
Host: echo.abcdef.shard.test\n\
Content-Type: application/json\n\
\n\
{\"hello\": \"bob\"}";

fn id_of_seed(seed: &str) -> String {
    let out = run(&["id", "--seed-hex", seed], b"");
    assert_eq!(out.code, 0, "{out:?}");
    out.stdout.trim_end().to_string()
}

fn public_hex_of_seed(seed: &str) -> String {
    let out = run(&["id", "--verbose", "--seed-hex", seed], b"");
    assert_eq!(out.code, 0, "{out:?}");
    out.stdout
        .lines()
        .find_map(|l| l.strip_prefix("public_key_hex: "))
        .expect("public key line")
        .to_string()
}

fn profile_signed_request() -> String {
    let out = run(
        &[
            "sign",
            "--key-hex",
            ALICE_SEED,
            "--profile",
            "shardpeer",
            "--now",
            NOW,
            "--nonce",
            NONCE,
            "--message",
        ],
        PEER_REQUEST.as_bytes(),
    );
    assert_eq!(out.code, 0, "{out:?}");
    out.stdout
}

fn verify_profile(public_hex: &str, now: &str, msg: &str) -> Out {
    run(
        &[
            "verify",
            "--public-key-hex",
            public_hex,
            "--profile",
            "shardpeer",
            "--now",
            now,
        ],
        msg.as_bytes(),
    )
}

#[test]
fn profile_sign_prints_digest_and_fields() {
    let alice = id_of_seed(ALICE_SEED);
    let out = run(
        &[
            "sign",
            "--key-hex",
            ALICE_SEED,
            "--profile",
            "shardpeer",
            "--now",
            NOW,
            "--nonce",
            NONCE,
        ],
        PEER_REQUEST.as_bytes(),
    );
    assert_eq!(out.code, 0, "{out:?}");
    let lines: Vec<&str> = out.stdout.lines().collect();
    assert_eq!(lines.len(), 3, "{out:?}");
    // sha-256 of {"hello": "bob"}.
    assert_eq!(
        lines[0],
        "Content-Digest: sha-256=:KMywbZaK5VesaHh5keh1t648ULfU3IRM/yFIb9dyqR4=:"
    );
    assert_eq!(
        lines[1],
        format!(
            "Signature-Input: shardpeer=(\"@method\" \"@authority\" \"@path\" \"@query\" \
             \"content-digest\" \"content-type\");created={NOW};expires=1763800300;\
             nonce=\"{NONCE}\";keyid=\"{alice}\";alg=\"ed25519\";tag=\"shardpeer/1\""
        )
    );
    assert!(lines[2].starts_with("Signature: shardpeer=:"), "{out:?}");

    // A nonce too short for the profile is refused by the core.
    let out = run(
        &[
            "sign",
            "--key-hex",
            ALICE_SEED,
            "--profile",
            "shardpeer",
            "--now",
            NOW,
            "--nonce",
            "short",
        ],
        PEER_REQUEST.as_bytes(),
    );
    assert_eq!(out.code, 1, "{out:?}");
    assert!(out.stderr.contains("error: sign_param_invalid"), "{out:?}");

    // Without --nonce a random one is drawn: two signatures differ.
    let random = || {
        run(
            &["sign", "--key-hex", ALICE_SEED, "--profile", "shardpeer"],
            PEER_REQUEST.as_bytes(),
        )
        .stdout
    };
    let (a, b) = (random(), random());
    assert!(a.contains("nonce=\"") && a != b, "{a}\n{b}");
}

#[test]
fn profile_round_trip() {
    let alice = id_of_seed(ALICE_SEED);
    let alice_pub = public_hex_of_seed(ALICE_SEED);
    let signed = profile_signed_request();

    let out = verify_profile(&alice_pub, LATER, &signed);
    assert_eq!(out.code, 0, "{out:?}");
    assert!(out.stdout.contains("rules: shardpeer profile\n"), "{out:?}");
    assert!(out.stdout.contains("ok: shardpeer\n"), "{out:?}");
    assert!(
        out.stdout.contains(&format!("  keyid: \"{alice}\"\n")),
        "{out:?}"
    );
    assert!(
        out.stdout.contains(&format!("  nonce: \"{NONCE}\"\n")),
        "{out:?}"
    );
    assert!(out.stdout.contains("  expires: 1763800300\n"), "{out:?}");
    assert!(
        out.stdout
            .contains("  content-digest: covered; the body matches (sha-256)\n"),
        "{out:?}"
    );

    // A profile signature is an ordinary RFC 9421 signature.
    let out = run(
        &["verify", "--public-key-hex", &alice_pub, "--now", LATER],
        signed.as_bytes(),
    );
    assert_eq!(out.code, 0, "{out:?}");
    assert!(out.stdout.contains("rules: plain RFC 9421\n"), "{out:?}");
}

#[test]
fn profile_tampering_fails_without_relying_on_replay() {
    let alice_pub = public_hex_of_seed(ALICE_SEED);
    let signed = profile_signed_request();
    let expect = |msg: &str, key: &str, now: &str, code: &str| {
        let out = verify_profile(key, now, msg);
        assert_eq!(out.code, 1, "{code}\n{out:?}");
        assert!(
            out.stdout.contains(&format!("error: {code}\n")),
            "{code}\n{out:?}"
        );
    };
    // Every check runs on a fresh replay cache: each verdict is the message's own.
    expect(
        &signed.replace("\"bob\"", "\"eve\""),
        &alice_pub,
        LATER,
        "content_digest_mismatch",
    );
    expect(
        &signed.replace("/peer/inbox", "/peer/outbox"),
        &alice_pub,
        LATER,
        "signature_invalid",
    );
    expect(
        &signed.replace("echo.abcdef", "echo.zzzzzz"),
        &alice_pub,
        LATER,
        "signature_invalid",
    );
    expect(
        &signed.replace("Content-Type: application/json\r\n", ""),
        &alice_pub,
        LATER,
        "component_missing",
    );
    expect(&signed, &alice_pub, "1763800361", "signature_too_old");
    expect(
        &signed,
        &alice_pub,
        "1763799900",
        "signature_created_in_future",
    );
    // Bob's key: the keyid (Alice's ID) is not the ID of the key given.
    expect(
        &signed,
        &public_hex_of_seed(BOB_SEED),
        LATER,
        "signature_key_unknown",
    );
    // The untampered message still verifies after all that.
    assert_eq!(verify_profile(&alice_pub, LATER, &signed).code, 0);

    // A plain RFC 9421 signature is not a profile signature.
    let out = verify_profile(B14_PUBLIC_HEX, B26_CREATED, &b26_signed());
    assert_eq!(out.code, 1, "{out:?}");
    assert!(
        out.stdout.contains("error: signature_label_not_found"),
        "{out:?}"
    );
    assert!(
        out.stdout
            .contains("not checked (not the profile's label): sig-b26"),
        "{out:?}"
    );
}

#[test]
fn profile_response_round_trip() {
    let d = Dir::new();
    let alice_pub = public_hex_of_seed(ALICE_SEED);
    let bob = id_of_seed(BOB_SEED);
    let bob_pub = public_hex_of_seed(BOB_SEED);
    let request = d.write("request.http", &profile_signed_request());
    let response = "HTTP/1.1 200 OK\nContent-Type: text/plain\n\nhi";
    let out = run(
        &[
            "sign",
            "--key-hex",
            BOB_SEED,
            "--profile",
            "shardpeer",
            "--now",
            NOW,
            "--response",
            "--request",
            s(&request),
            "--message",
        ],
        response.as_bytes(),
    );
    assert_eq!(out.code, 0, "{out:?}");
    let signed = out.stdout;
    assert!(
        signed.contains(&format!(
            "Signature-Input: shardpeer=(\"@status\" \"content-digest\" \
             \"signature\";req;key=\"shardpeer\" \"content-type\");created={NOW};\
             expires=1763800300;keyid=\"{bob}\";alg=\"ed25519\";tag=\"shardpeer/1/response\"\r\n"
        )),
        "{signed}"
    );
    let verify = |request: &Path, key: &str, msg: &str| {
        run(
            &[
                "verify",
                "--public-key-hex",
                key,
                "--profile",
                "shardpeer",
                "--now",
                LATER,
                "--response",
                "--request",
                s(request),
            ],
            msg.as_bytes(),
        )
    };
    let out = verify(&request, &bob_pub, &signed);
    assert_eq!(out.code, 0, "{out:?}");
    assert!(
        out.stdout.contains("  tag: \"shardpeer/1/response\"\n"),
        "{out:?}"
    );

    // Bound to its request: the same response fails for another request (another nonce).
    let other = run(
        &[
            "sign",
            "--key-hex",
            ALICE_SEED,
            "--profile",
            "shardpeer",
            "--now",
            NOW,
            "--nonce",
            "BBECAwQFBgcICQoLDA0ODw",
            "--message",
        ],
        PEER_REQUEST.as_bytes(),
    );
    let other = d.write("other.http", &other.stdout);
    let out = verify(&other, &bob_pub, &signed);
    assert_eq!(out.code, 1, "{out:?}");
    assert!(out.stdout.contains("error: signature_invalid"), "{out:?}");
    // Tampered status, and the wrong peer's key (keyid is Bob's ID, not Alice's).
    let out = verify(
        &request,
        &bob_pub,
        &signed.replacen("200 OK", "201 Created", 1),
    );
    assert!(out.stdout.contains("error: signature_invalid"), "{out:?}");
    let out = verify(&request, &alice_pub, &signed);
    assert!(
        out.stdout.contains("error: signature_keyid_mismatch"),
        "{out:?}"
    );
    // A request signature is not a response signature: verifying the request file as if
    // it were a response is refused before any crypto.
    let out = run(
        &[
            "verify",
            "--public-key-hex",
            &alice_pub,
            "--profile",
            "shardpeer",
            "--response",
        ],
        signed.as_bytes(),
    );
    assert_eq!(out.code, 2, "{out:?}");
    assert!(out.stderr.contains("give --request FILE"), "{out:?}");
}

#[test]
fn whoareyou_round_trip() {
    let alice_pub = public_hex_of_seed(ALICE_SEED);
    let doc = "HTTP/1.1 200 OK\nContent-Type: application/json\n\n{\"id\":\"x\"}";
    let out = run(
        &[
            "sign",
            "--key-hex",
            ALICE_SEED,
            "--profile",
            "whoareyou",
            "--now",
            NOW,
            "--response",
            "--message",
        ],
        doc.as_bytes(),
    );
    assert_eq!(out.code, 0, "{out:?}");
    let verify = |key: &str, msg: &str| {
        run(
            &[
                "verify",
                "--public-key-hex",
                key,
                "--profile",
                "whoareyou",
                "--now",
                LATER,
                "--response",
            ],
            msg.as_bytes(),
        )
    };
    let ok = verify(&alice_pub, &out.stdout);
    assert_eq!(ok.code, 0, "{ok:?}");
    assert!(
        ok.stdout.contains("  tag: \"shardpeer/1/whoareyou\"\n"),
        "{ok:?}"
    );
    let bad = verify(&public_hex_of_seed(BOB_SEED), &out.stdout);
    assert_eq!(bad.code, 1, "{bad:?}");
}

// ---------------------------------------------------------------------------------------
// IDs and usage.

#[test]
fn id_of_the_rfc_key() {
    let d = Dir::new();
    let (public_pem, public_hex, private, seed) = (
        d.arg("public.pem"),
        d.arg("public.hex"),
        d.arg("private.pem"),
        d.arg("seed.hex"),
    );
    for args in [
        vec!["id", "--public-key", &public_pem],
        vec!["id", "--public-key", &public_hex],
        vec!["id", "--public-key-hex", B14_PUBLIC_HEX],
        vec!["id", "--key", &private],
        vec!["id", "--key", &seed],
        vec!["id", "--seed-hex", B14_SEED],
    ] {
        let out = run(&args, b"");
        assert_eq!(out.code, 0, "{args:?} {out:?}");
        assert_eq!(out.stdout, format!("{B14_ID}\n"), "{args:?}");
    }
    let out = run(
        &["id", "--verbose", "--public-key-hex", B14_PUBLIC_HEX],
        b"",
    );
    assert_eq!(out.code, 0, "{out:?}");
    assert_eq!(
        out.stdout,
        format!(
            "id: {B14_ID}\nshort_id: uzzfsz\npublic_key_hex: {B14_PUBLIC_HEX}\n\
             public_key_pem:\n{B14_PUBLIC}"
        )
    );
}

#[test]
fn usage_and_input_errors_exit_2() {
    let d = Dir::new();
    let bad_hex = d.write("bad.hex", "not hex");
    let private = d.arg("private.pem");
    let missing = d.arg("missing.pem");
    let zero_seed = "00".repeat(32);
    let cases: Vec<(Vec<&str>, &[u8], &str)> = vec![
        // clap: missing or conflicting arguments.
        (vec!["verify"], B2_REQUEST.as_bytes(), "required"),
        (
            vec!["sign", "--key-hex", B14_SEED],
            B2_REQUEST.as_bytes(),
            "--label",
        ),
        (
            vec![
                "verify",
                "--public-key-hex",
                B14_PUBLIC_HEX,
                "--request",
                "x.http",
            ],
            B2_REQUEST.as_bytes(),
            "--response",
        ),
        (
            vec![
                "id",
                "--public-key-hex",
                B14_PUBLIC_HEX,
                "--seed-hex",
                B14_SEED,
            ],
            b"",
            "cannot be used with",
        ),
        (vec!["frobnicate"], b"", "unrecognized subcommand"),
        // Keys the core will not read.
        (
            vec!["verify", "--public-key", s(&bad_hex)],
            B2_REQUEST.as_bytes(),
            "error: key_hex",
        ),
        (
            vec!["verify", "--public-key", &private],
            B2_REQUEST.as_bytes(),
            "error: key_pem_wrong_label",
        ),
        (
            vec!["id", "--seed-hex", &zero_seed],
            b"",
            "error: key_zero_seed",
        ),
        (
            vec!["id", "--public-key", &missing],
            b"",
            "error: input_unreadable",
        ),
        // Unreadable messages.
        (
            vec!["verify", "--public-key-hex", B14_PUBLIC_HEX],
            b"not http at all",
            "error: input_unreadable",
        ),
        (
            vec!["base", "--components", "\"@method\""],
            b"GET /no-host HTTP/1.1\n\n",
            "error: input_unreadable",
        ),
        // A Signature-Input with several labels needs --label.
        (
            vec![
                "base",
                "--signature-input",
                "a=(\"@method\"), b=(\"@path\")",
            ],
            B2_REQUEST.as_bytes(),
            "--label",
        ),
        (
            vec!["sign", "--key-hex", B14_SEED, "--profile", "whoareyou"],
            B2_REQUEST.as_bytes(),
            "add --response",
        ),
    ];
    for (args, stdin, needle) in cases {
        let out = run(&args, stdin);
        assert_eq!(out.code, 2, "{args:?} {out:?}");
        assert!(out.stdout.is_empty(), "{args:?} {out:?}");
        assert!(out.stderr.contains(needle), "{args:?} {needle} {out:?}");
    }
}

#[test]
fn content_length_mismatch_is_a_warning() {
    // An editor's final newline: the body is 19 bytes, Content-Length says 18.
    let with_newline = format!("{B2_REQUEST}\n");
    let out = run(
        &["base", "--signature-input", B26_INPUT],
        with_newline.as_bytes(),
    );
    assert_eq!((out.code, out.stdout.as_str()), (0, B26_BASE), "{out:?}");
    assert!(
        out.stderr
            .contains("warning: stdin: Content-Length is 18 but the body has 19 bytes"),
        "{out:?}"
    );
}
