//! `path_normalization.json`: raw request path → normalised path, or the error code.

use super::util::*;
use super::{FileBuilder, GroupSchema, case, file_schema};
use serde_json::{Value, json};
use shardpeer_core::path::normalize_path;

pub const ALGORITHM: &str = "SHARDPEER-PATH-NORMALIZATION";

const CODES: &[&str] = &[
    "path_not_absolute",
    "path_backslash",
    "path_control_character",
    "path_non_ascii",
    "path_invalid_character",
    "path_invalid_percent_encoding",
    "path_encoded_slash",
    "path_encoded_backslash",
    "path_encoded_nul",
    "path_dot_segment_parameter",
    "path_too_long",
];

pub fn run(group: &Value, test: &Value) -> Result<Actual, String> {
    let raw = s(test, "path")?;
    let size = match group.get("maxLength") {
        Some(v) => usize::try_from(v.as_u64().ok_or("maxLength")?).map_err(|e| e.to_string())?,
        None => raw.len(),
    };
    let mut buf = vec![0u8; size];
    match normalize_path(raw, &mut buf) {
        Ok(p) => Ok(Actual::valid().with("normalized", p)),
        Err(e) => Ok(code(&e)),
    }
}

/// The path as a JSON string literal, for comments: control characters escaped as `\u00XX`.
fn shown(raw: &str) -> String {
    serde_json::to_string(raw).expect("a string serialises")
}

pub fn generate() -> Value {
    let mut f = FileBuilder::new("path_normalization", ALGORITHM, run);
    f.header(&[
        "Request path normalisation: docs/protocol.md, \"Access control for apps\" / \"Path normalisation\".",
        "Input: path, the raw path of the request target (everything before the first '?'), as the UTF-8 bytes of the JSON string. Output: normalized, or the code of the first failing step.",
        "Steps: 1 starts with '/'; 2 raw bytes (backslash, control characters, non-ASCII, space/#/?); 3 percent-encodings (malformed, encoded '/', '\\' or NUL refused; unreserved decoded; others kept with uppercase hex); 4 runs of '/' collapsed; 5 dot segments removed (RFC 3986 §5.2.4, after decoding; '..' stops at the root; a trailing '.' or '..' leaves a trailing '/'); 6 a decoded segment starting with '.;' or '..;' refused; 7 a trailing '/' kept.",
        "Group maxLength: the longest raw path the gateway accepts (414 path_too_long beyond it, whatever the path would shrink to); absent means no limit.",
    ]);
    let notes: &[(&str, &str, &str, &str)] = &[
        (
            "SpecTable",
            "BASIC",
            "A row of the example table in docs/protocol.md.",
            "The gateway and the app disagree on the resource asked for.",
        ),
        (
            "NotAbsolute",
            "BASIC",
            "Step 1: the path does not start with '/' (empty, '*', relative, absolute URI).",
            "Paths that match no rule prefix the way the app reads them.",
        ),
        (
            "RawByte",
            "AUTH_BYPASS",
            "Step 2: a byte that never belongs in a path.",
            "A path the gateway and the app split or decode differently ('\\' is a separator for some frameworks).",
        ),
        (
            "PercentEncoding",
            "AUTH_BYPASS",
            "Step 3: malformed, or encoding a separator or NUL; unreserved characters decoded; others kept uppercase.",
            "'/%70rivate' judged as '/%70rivate' but routed to '/private', or '%2F' splitting a segment after the decision.",
        ),
        (
            "Slashes",
            "AUTH_BYPASS",
            "Step 4: runs of '/'.",
            "'//private' passes a '/pub'-style decision the app routes to '/private'.",
        ),
        (
            "DotSegments",
            "AUTH_BYPASS",
            "Step 5: '.' and '..' resolved after decoding; never above the root.",
            "'/pub/../private' allowed as public and served as private.",
        ),
        (
            "DotSegmentParameter",
            "AUTH_BYPASS",
            "Step 6: '.;' or '..;' segments (Tomcat-style path parameters).",
            "A server that strips ';' parameters treats '..;' as '..' after the decision.",
        ),
        (
            "TrailingSlash",
            "DEFINED",
            "Step 7: a trailing '/' is kept.",
            "'/a/' and '/a' merged where the app distinguishes them.",
        ),
        (
            "Idempotent",
            "DEFINED",
            "A normalised path normalises to itself.",
            "Forwarding a path that a second gateway or the app would change again.",
        ),
        (
            "PathTooLong",
            "EDGE_CASE",
            "Longer than the gateway accepts: refused before normalising, even if the result would fit.",
            "Truncated paths matched against rules.",
        ),
    ];
    for (flag, bug, d, e) in notes {
        f.note(flag, bug, d, e);
    }
    let valid: &[(&str, &[&str], &str)] = &[
        ("/pub/../private", &["SpecTable", "DotSegments"], "/private"),
        ("/a/./b", &["SpecTable", "DotSegments"], "/a/b"),
        ("/%70ub", &["SpecTable", "PercentEncoding"], "/pub"),
        (
            "/%2e%2e/x",
            &["SpecTable", "DotSegments", "PercentEncoding"],
            "/x",
        ),
        ("//private", &["SpecTable", "Slashes"], "/private"),
        (
            "/a/b/..",
            &["SpecTable", "DotSegments", "TrailingSlash"],
            "/a/",
        ),
        ("/..", &["SpecTable", "DotSegments"], "/"),
        ("/a/b/", &["SpecTable", "TrailingSlash"], "/a/b/"),
        ("/%7e", &["SpecTable", "PercentEncoding"], "/~"),
        ("/%20", &["SpecTable", "PercentEncoding"], "/%20"),
        (
            "/caf%c3%a9",
            &["SpecTable", "PercentEncoding"],
            "/caf%C3%A9",
        ),
        ("/", &["Idempotent"], "/"),
        ("/a/b", &["Idempotent"], "/a/b"),
        ("/caf%C3%A9/x/", &["Idempotent"], "/caf%C3%A9/x/"),
        (
            "/%41%5a%61%7A%30%39%2D%2E%5F%7E",
            &["PercentEncoding"],
            "/AZaz09-._~",
        ),
        ("/%3a%3A%25%2b", &["PercentEncoding"], "/%3A%3A%25%2B"),
        (
            "/a/%2e",
            &["PercentEncoding", "DotSegments", "TrailingSlash"],
            "/a/",
        ),
        ("/a/%2E%2e/b", &["PercentEncoding", "DotSegments"], "/b"),
        ("/.%2e/.%2E/x", &["PercentEncoding", "DotSegments"], "/x"),
        ("///a///b//", &["Slashes", "TrailingSlash"], "/a/b/"),
        ("/a//../b", &["Slashes", "DotSegments"], "/b"),
        ("/a/b/../../..", &["DotSegments"], "/"),
        ("/../../x", &["DotSegments"], "/x"),
        ("/./a", &["DotSegments"], "/a"),
        ("/a/b/.", &["DotSegments", "TrailingSlash"], "/a/b/"),
        ("/a/..b/.c/...", &["DotSegments"], "/a/..b/.c/..."),
        ("/a;b/c;d=1", &["DotSegmentParameter"], "/a;b/c;d=1"),
        ("/a/x.;/b", &["DotSegmentParameter"], "/a/x.;/b"),
        (
            "/..%3B/x",
            &["DotSegmentParameter", "PercentEncoding"],
            "/..%3B/x",
        ),
        ("/a!$&'()*+,;=:@b", &["RawByte"], "/a!$&'()*+,;=:@b"),
        ("/ADMIN", &["Idempotent"], "/ADMIN"),
    ];
    let mut cases: Vec<_> = valid
        .iter()
        .map(|(raw, flags, want)| {
            case(shown(raw), flags, json!({"path": raw})).pinned(json!({"normalized": want}))
        })
        .collect();
    let invalid: &[(&str, &[&str], &str)] = &[
        (
            "/a%2Fb",
            &["SpecTable", "PercentEncoding"],
            "path_encoded_slash",
        ),
        (
            "/pub/..;/private",
            &["SpecTable", "DotSegmentParameter"],
            "path_dot_segment_parameter",
        ),
        ("", &["NotAbsolute"], "path_not_absolute"),
        ("*", &["NotAbsolute"], "path_not_absolute"),
        ("pub", &["NotAbsolute"], "path_not_absolute"),
        (
            "http://example.com/pub",
            &["NotAbsolute"],
            "path_not_absolute",
        ),
        ("%2Fpub", &["NotAbsolute"], "path_not_absolute"),
        ("/a\\b", &["RawByte"], "path_backslash"),
        ("/a\u{0}b", &["RawByte"], "path_control_character"),
        ("/a\tb", &["RawByte"], "path_control_character"),
        ("/a\u{1f}b", &["RawByte"], "path_control_character"),
        ("/a\u{7f}b", &["RawByte"], "path_control_character"),
        ("/café", &["RawByte"], "path_non_ascii"),
        ("/a b", &["RawByte"], "path_invalid_character"),
        ("/a#b", &["RawByte"], "path_invalid_character"),
        ("/a?b", &["RawByte"], "path_invalid_character"),
        ("/%", &["PercentEncoding"], "path_invalid_percent_encoding"),
        ("/%4", &["PercentEncoding"], "path_invalid_percent_encoding"),
        (
            "/%GZ",
            &["PercentEncoding"],
            "path_invalid_percent_encoding",
        ),
        ("/a%2fb", &["PercentEncoding"], "path_encoded_slash"),
        ("/a%5Cb", &["PercentEncoding"], "path_encoded_backslash"),
        ("/a%5cb", &["PercentEncoding"], "path_encoded_backslash"),
        ("/a%00b", &["PercentEncoding"], "path_encoded_nul"),
        (
            "/.;/x",
            &["DotSegmentParameter"],
            "path_dot_segment_parameter",
        ),
        (
            "/..;x/y",
            &["DotSegmentParameter"],
            "path_dot_segment_parameter",
        ),
        (
            "/%2e;/x",
            &["DotSegmentParameter", "PercentEncoding"],
            "path_dot_segment_parameter",
        ),
        (
            "/a/%2E%2E;jsessionid=1",
            &["DotSegmentParameter", "PercentEncoding"],
            "path_dot_segment_parameter",
        ),
    ];
    cases.extend(
        invalid
            .iter()
            .map(|(raw, flags, code)| case(shown(raw), flags, json!({"path": raw})).invalid(code)),
    );
    f.group(json!({"type": "PathNormalization"}), cases);
    f.group(
        json!({"type": "PathNormalization", "maxLength": 16}),
        vec![
            case(
                "16 bytes: accepted",
                &["PathTooLong"],
                json!({"path": "/0123456789abcde"}),
            )
            .valid(),
            case(
                "17 bytes",
                &["PathTooLong"],
                json!({"path": "/0123456789abcdef"}),
            )
            .invalid("path_too_long"),
            case(
                "17 bytes that would normalise to 2",
                &["PathTooLong"],
                json!({"path": "/a/../b/../c/../d"}),
            )
            .invalid("path_too_long"),
        ],
    );
    f.finish()
}

pub fn schema() -> Value {
    file_schema(
        "path_normalization",
        ALGORITHM,
        "shardpeer conformance vectors: request path normalisation",
        vec![GroupSchema {
            kind: "PathNormalization",
            shared: json!({"maxLength": {"type": "integer", "minimum": 1}}),
            shared_required: &[],
            inputs: json!({"path": {"type": "string"}}),
            inputs_required: &["path"],
            outputs: json!({"normalized": {"type": "string", "pattern": "^/"}}),
            outputs_required: &["normalized"],
            test_constraints: Value::Null,
            group_constraints: Value::Null,
        }],
        CODES,
    )
}
