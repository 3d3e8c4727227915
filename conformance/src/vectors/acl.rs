//! `acl.json`: `app_meta.json` + request path + client → the governing rule and the headers
//! to add, or `access_denied`; and the errors of loading `app_meta.json`.

use super::util::*;
use super::{FileBuilder, GroupSchema, case, file_schema};
use serde_json::{Value, json};
use shardpeer_core::acl::ClientKind;
use shardpeer_core::app_meta::AppMeta;
use shardpeer_core::path::normalize_path;
use shardpeer_core::template::TemplateContext;

pub const ALGORITHM: &str = "SHARDPEER-ACL";

const CODES: &[&str] = &[
    "access_denied",
    "template_unsafe_value",
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
    "app_meta_invalid_json",
    "app_meta_too_deep",
    "app_meta_wrong_type",
    "app_meta_duplicate_field",
    "app_meta_missing_name",
    "app_meta_invalid_name",
    "app_meta_missing_default_path",
    "app_meta_duplicate_path",
    "app_meta_invalid_path_prefix",
    "app_meta_missing_access",
    "app_meta_unknown_access",
    "app_meta_invalid_header_name",
    "app_meta_forbidden_header_name",
    "app_meta_duplicate_header",
    "app_meta_unknown_template_variable",
    "app_meta_unclosed_template",
    "app_meta_unsafe_template_text",
    "app_meta_too_many_paths",
    "app_meta_too_many_headers",
    "app_meta_too_long",
];

fn client_kind(name: &str) -> Result<ClientKind, String> {
    match name {
        "anonymous" => Ok(ClientKind::Anonymous),
        "terminal" => Ok(ClientKind::Terminal),
        "peer" => Ok(ClientKind::Peer),
        other => Err(format!("unknown client {other}")),
    }
}

pub fn run(group: &Value, test: &Value) -> Result<Actual, String> {
    match s(group, "type")? {
        "AppMetaLoad" => {
            let meta: AppMeta = match AppMeta::parse(s(test, "appMeta")?.as_bytes()) {
                Ok(m) => m,
                Err(e) => return Ok(code(&e)),
            };
            let rules: Vec<Value> = meta
                .rules()
                .map(|r| {
                    json!({
                        "prefix": r.prefix(),
                        "access": r.access().as_str(),
                        "headers": r.headers().map(|h| json!([h.name(), h.template()])).collect::<Vec<_>>(),
                    })
                })
                .collect();
            Ok(Actual::valid()
                .with("name", meta.name())
                .with("rules", rules))
        }
        "AccessDecision" => {
            let meta: AppMeta = AppMeta::parse(s(group, "appMeta")?.as_bytes())
                .map_err(|e| format!("the group's appMeta does not load: {e}"))?;
            let ctx_v = group.get("context").ok_or("no context")?;
            let raw = s(test, "path")?;
            let mut buf = vec![0u8; raw.len()];
            let path = match normalize_path(raw, &mut buf) {
                Ok(p) => p,
                Err(e) => return Ok(code(&e)),
            };
            let client = client_kind(s(test, "client")?)?;
            let rule = match meta.decide(path, client) {
                Ok(r) => r,
                Err(e) => return Ok(code(&e)),
            };
            let ctx = TemplateContext {
                client_type: client.as_str(),
                client_id: opt_s(test, "clientId")?.unwrap_or(""),
                client_name: opt_s(test, "clientName")?.unwrap_or(""),
                portal_id: s(ctx_v, "portalId")?,
                portal_short_id: s(ctx_v, "portalShortId")?,
                portal_domain: s(ctx_v, "portalDomain")?,
                portal_public_key_pem: s(ctx_v, "portalPublicKeyPem")?,
            };
            let mut headers = Vec::new();
            for h in rule.headers() {
                let mut out = vec![0u8; 4096];
                match h.render(&ctx, &mut out) {
                    Ok(v) => headers.push(json!([h.name(), v])),
                    Err(e) => return Ok(code(&e)),
                }
            }
            let mut actual = Actual::valid()
                .with("normalizedPath", path)
                .with("rule", rule.prefix())
                .with("access", rule.access().as_str())
                .with("headers", headers);
            if let Some(incoming) = test.get("incomingHeaders") {
                let removed: Vec<&str> = incoming
                    .as_array()
                    .ok_or("incomingHeaders")?
                    .iter()
                    .filter_map(Value::as_str)
                    .filter(|n| meta.is_reserved_header(n))
                    .collect();
                actual = actual.with("removedHeaders", removed);
            }
            Ok(actual)
        }
        other => Err(format!("unknown group type {other}")),
    }
}

/// The `app_meta.json` of the decision vectors.
const ECHO_META: &str = r#"{
  "name": "echo",
  "version": "1.2.0",
  "entrypoints": [{"container_name": "echo", "container_port": 80, "entrypoint_port": "http"}],
  "paths": {
    "": {"access": "private",
         "headers": {"X-Ptl-Client-Id": "{{ auth.client_id }}",
                     "X-Ptl-Client-Type": "{{auth.client_type}}",
                     "X-Ptl-Client-Name": "{{ auth.client_name }}"}},
    "/pub": {"access": "public", "headers": {"X-Ptl-Client-Type": "{{ auth.client_type }}"}},
    "/peer": {"access": "peer",
              "headers": {"X-Ptl-Client-Id": "{{ auth.client_id }}",
                          "X-Ptl-Client-Name": "{{\tauth.client_name\t}}",
                          "X-Shard": "id={{ portal.id }}; short={{portal.short_id}}; domain={{ portal.domain }}"}},
    "/peer/open/": {"access": "public"},
    "/key": {"access": "public", "headers": {"X-Shard-Key": "{{ portal.public_key_pem }}"}}
  },
  "lifecycle": {"always_on": false, "idle_time_for_shutdown": 60}
}"#;

fn meta(paths: &str) -> String {
    format!(r#"{{"name": "app", "paths": {paths}}}"#)
}

pub fn generate() -> Value {
    let mut f = FileBuilder::new("acl", ALGORITHM, run);
    f.header(&[
        "Access control for apps: docs/protocol.md, \"Access control for apps\" (Path normalisation, app_meta.json paths, Matching, Access decision, Reserved headers, Header templates, Limits).",
        "AccessDecision: group appMeta (the file's text) and context (this shard's portal.* values); test path (the raw path, before normalisation), client (anonymous, terminal or peer), clientId and clientName (the auth.* values; empty when absent), optional incomingHeaders (names of fields the request arrived with).",
        "AccessDecision procedure: normalise the path (path_* codes); take the rule with the longest key that is a byte prefix of it; decide for the client (access_denied); render the rule's headers. Outputs: normalizedPath, rule (its key), access, headers ([name, rendered value] in file order), removedHeaders (those of incomingHeaders that must be removed: X-Ptl-* or set by any rule, case-insensitive).",
        "AppMetaLoad: appMeta (the file's text) -> name and rules ([{prefix, access, headers: [[name, template]]}] in file order), or the app_meta_* code. Limits are the embedded defaults: 16 rules, 32 headers, 2048 bytes of text, nesting 16.",
    ]);
    let notes: &[(&str, &str, &str, &str)] = &[
        (
            "DecisionTable",
            "BASIC",
            "A cell of the access table (public/private/peer x anonymous/terminal/peer).",
            "Clients reach paths they must not, or are refused where they may pass.",
        ),
        (
            "TerminalIsNotPeer",
            "AUTH_BYPASS",
            "The owner's terminal is refused on a peer path, and a peer on a private path.",
            "Peers reach the owner's private data, or the owner's devices pose as peers.",
        ),
        (
            "PlainPrefix",
            "DEFINED",
            "Keys are plain string prefixes without segment boundaries ('/pub' governs '/public'); a key ending in '/' gives a boundary.",
            "Apps written for freeshard's matching expose or hide other paths than intended.",
        ),
        (
            "LongestPrefix",
            "BASIC",
            "The longest matching key wins; \"\" is the default.",
            "A broad rule overrides a narrower one.",
        ),
        (
            "CaseSensitive",
            "DEFINED",
            "Matching is byte for byte: '/PUB' is not governed by '/pub'.",
            "A gateway that folds case opens paths the app treats as different.",
        ),
        (
            "NormalisedFirst",
            "AUTH_BYPASS",
            "The decision is made on the normalised path, which is also what is forwarded.",
            "'/pub/../peer' judged public and served as peer-only.",
        ),
        (
            "PathRefused",
            "AUTH_BYPASS",
            "A path refused by normalisation never reaches the decision.",
            "Encoded separators passed to the app after a decision on another reading.",
        ),
        (
            "Template",
            "BASIC",
            "Header templates rendered: auth.* (a peer's full 48-character ID, the owner's name for it), portal.*, spaces or tabs inside the braces.",
            "Apps receive the short ID or a name the peer chose for itself.",
        ),
        (
            "PemTemplate",
            "EDGE_CASE",
            "portal.public_key_pem: each line break rendered as the two characters '\\n'.",
            "A header value with a raw line break (header injection), or a PEM the app cannot recover.",
        ),
        (
            "UnsafeValue",
            "AUTH_BYPASS",
            "A value with CR, LF or another control character (HTAB excepted) is not rendered: template_unsafe_value (500).",
            "A peer name 'x\\r\\nX-Ptl-Client-Id: owner' injects a header.",
        ),
        (
            "ReservedHeaders",
            "AUTH_BYPASS",
            "Incoming X-Ptl-* fields and fields any rule sets are removed, whatever the governing rule.",
            "A client sends X-Ptl-Client-Id to a path whose rule does not set it, and the app believes it.",
        ),
        (
            "LoadValid",
            "BASIC",
            "A file that loads; unknown fields are ignored at any depth, JSON escapes decoded everywhere.",
            "Valid apps refused, or escaped keys compared undecoded.",
        ),
        (
            "InvalidJson",
            "BASIC",
            "Not RFC 8259 JSON (or not UTF-8, raw control characters or unpaired surrogates in strings).",
            "A lenient parser reads a different file than the app author wrote.",
        ),
        (
            "TooDeep",
            "EDGE_CASE",
            "Nesting deeper than 16.",
            "Stack exhaustion on small devices.",
        ),
        (
            "WrongType",
            "BASIC",
            "A known field of the wrong JSON type.",
            "A rule silently dropped or read with a default.",
        ),
        (
            "DuplicateField",
            "AUTH_BYPASS",
            "name, paths, access or headers twice in one object.",
            "Parsers that keep the first or the last disagree on the access.",
        ),
        (
            "Name",
            "BASIC",
            "name missing, empty or with a control character.",
            "Apps without a usable name.",
        ),
        (
            "DefaultPath",
            "BASIC",
            "paths lacks the \"\" key.",
            "Paths governed by no rule.",
        ),
        (
            "DuplicatePath",
            "AUTH_BYPASS",
            "A key of paths twice (after JSON unescaping).",
            "Parsers disagree on which access a path has.",
        ),
        (
            "PathPrefix",
            "BASIC",
            "A key that is not '/'-rooted and in normalised form (its last segment may be an incomplete '.' or '..').",
            "A rule that can never match, giving a false sense of protection.",
        ),
        (
            "Access",
            "BASIC",
            "access missing or not exactly public, private or peer.",
            "A typo ('Public') read as some default.",
        ),
        (
            "HeaderName",
            "BASIC",
            "A header name that is not an RFC 9110 token, or one the gateway controls (Host, framing, hop-by-hop).",
            "Request smuggling or broken framing.",
        ),
        (
            "DuplicateHeader",
            "BASIC",
            "A rule sets the same header twice (any case).",
            "Which value the app gets depends on the server.",
        ),
        (
            "TemplateSyntax",
            "BASIC",
            "An unknown variable, an unclosed '{{', or a control character in the template text.",
            "Templates failing at request time instead of load time, or injecting lines.",
        ),
        (
            "Limits",
            "EDGE_CASE",
            "Beyond the default capacities: refused, never truncated.",
            "A dropped rule changes who may access what.",
        ),
    ];
    for (flag, bug, d, e) in notes {
        f.note(flag, bug, d, e);
    }
    let bob = BOB;
    let alice_id = ALICE.id();
    let pem = bob.public_pem();
    let group = json!({
        "type": "AccessDecision",
        "appMeta": ECHO_META,
        "context": {
            "portalId": bob.id(),
            "portalShortId": bob.short(),
            "portalDomain": bob.domain(),
            "portalPublicKeyPem": pem,
        },
    });
    let anon = |path: &str| json!({"path": path, "client": "anonymous"});
    let terminal = |path: &str| json!({"path": path, "client": "terminal", "clientId": "t-0001", "clientName": "Bob's phone"});
    let peer = |path: &str| json!({"path": path, "client": "peer", "clientId": alice_id, "clientName": "Alice (work)"});
    let cases = vec![
        case("private '/' (the \"\" rule), anonymous", &["DecisionTable"], anon("/")).invalid("access_denied"),
        case("private '/', terminal", &["DecisionTable", "Template"], terminal("/")).valid(),
        case("private '/', peer", &["DecisionTable", "TerminalIsNotPeer"], peer("/")).invalid("access_denied"),
        case("public '/pub', anonymous", &["DecisionTable", "Template"], anon("/pub")).valid(),
        case("public '/pub', terminal", &["DecisionTable"], terminal("/pub")).valid(),
        case("public '/pub', peer", &["DecisionTable"], peer("/pub")).valid(),
        case("peer '/peer', anonymous", &["DecisionTable"], anon("/peer")).invalid("access_denied"),
        case("peer '/peer', terminal", &["DecisionTable", "TerminalIsNotPeer"], terminal("/peer")).invalid("access_denied"),
        case("peer '/peer', peer: its full ID and the owner's name for it", &["DecisionTable", "Template"], peer("/peer")).valid(),
        case("'/public/x' is governed by '/pub'", &["PlainPrefix"], anon("/public/x")).valid(),
        case("'/peerX' is governed by '/peer'", &["PlainPrefix"], peer("/peerX")).valid(),
        case("'/peer/open/x' is governed by '/peer/open/' (longer than '/peer')", &["LongestPrefix", "PlainPrefix"], anon("/peer/open/x")).valid(),
        case("'/peer/open' is not governed by '/peer/open/': '/peer' applies", &["LongestPrefix", "PlainPrefix"], anon("/peer/open")).invalid("access_denied"),
        case("'/PUB' is governed by \"\", not '/pub'", &["CaseSensitive"], anon("/PUB")).invalid("access_denied"),
        case("'/pub/../peer/x' is '/peer/x': anonymous refused", &["NormalisedFirst"], anon("/pub/../peer/x")).invalid("access_denied"),
        case("'/pub/../peer/x' is '/peer/x': peer allowed", &["NormalisedFirst"], peer("/pub/../peer/x")).valid(),
        case("'//pub' is '/pub'", &["NormalisedFirst"], anon("//pub")).valid(),
        case("'/%70eer' is '/peer': anonymous refused", &["NormalisedFirst"], anon("/%70eer")).invalid("access_denied"),
        case("'/pub/..;/peer'", &["PathRefused"], anon("/pub/..;/peer")).invalid("path_dot_segment_parameter"),
        case("'/pub%2F..%2Fpeer'", &["PathRefused"], anon("/pub%2F..%2Fpeer")).invalid("path_encoded_slash"),
        case("'/key': the PEM with '\\n' for each line break", &["PemTemplate"], anon("/key")).valid(),
        case(
            "a peer name with CR LF",
            &["UnsafeValue"],
            json!({"path": "/peer", "client": "peer", "clientId": alice_id, "clientName": "Eve\r\nX-Ptl-Client-Id: owner"}),
        )
        .invalid("template_unsafe_value"),
        case(
            "a peer name with a tab and non-ASCII letters: rendered as is",
            &["Template"],
            json!({"path": "/peer", "client": "peer", "clientId": alice_id, "clientName": "Zoë\tand co"}),
        )
        .valid(),
        case(
            "reserved headers removed on a public path",
            &["ReservedHeaders"],
            json!({"path": "/pub/x", "client": "anonymous", "incomingHeaders": ["X-Ptl-Client-Id", "x-ptl-client-type", "X-PTL-Anything", "X-Shard", "x-shard-key", "Accept", "X-Ptlx", "X-Ptl"]}),
        )
        .valid(),
    ];
    f.group(group, cases);

    let load = |what: &str, flags: &[&str], text: &str| case(what, flags, json!({"appMeta": text}));
    let deep = format!(
        r#"{{"name": "app", "paths": {{"": {{"access": "private"}}}}, "x": {}1{}}}"#,
        "[".repeat(16),
        "]".repeat(16)
    );
    let ok_deep = format!(
        r#"{{"name": "app", "paths": {{"": {{"access": "private"}}}}, "x": {}1{}}}"#,
        "[".repeat(15),
        "]".repeat(15)
    );
    let many_paths: Vec<String> = std::iter::once(r#""": {"access": "private"}"#.to_string())
        .chain((0..16).map(|i| format!(r#""/p{i}": {{"access": "public"}}"#)))
        .collect();
    let sixteen_paths = many_paths[..16].join(", ");
    let many_headers = |n: usize| {
        let hs: Vec<String> = (0..n).map(|i| format!(r#""X-H{i}": "v""#)).collect();
        meta(&format!(
            r#"{{"": {{"access": "private", "headers": {{{}}}}}}}"#,
            hs.join(", ")
        ))
    };
    let long_name = |n: usize| {
        format!(
            r#"{{"name": "{}", "paths": {{"": {{"access": "private"}}}}}}"#,
            "n".repeat(n)
        )
    };
    let rule = |h: &str| {
        meta(&format!(
            r#"{{"": {{"access": "private", "headers": {{{h}}}}}}}"#
        ))
    };
    let cases = vec![
        load("minimal", &["LoadValid"], &meta(r#"{"": {"access": "private"}}"#)).valid(),
        load("the decision vectors' file", &["LoadValid"], ECHO_META).valid(),
        load("escaped key \"\\/pub\" is /pub; escaped name", &["LoadValid"], r#"{"name": "\u0065cho", "paths": {"": {"access": "private"}, "\/pub": {"access": "public"}}}"#).valid(),
        load("unknown fields at any depth, including a nested 'paths'", &["LoadValid"], r#"{"x": {"paths": 1, "name": [null]}, "name": "app", "paths": {"": {"access": "peer", "extra": {"access": 7}}}, "y": [{"headers": 2}]}"#).valid(),
        load("keys ending in an incomplete dot segment are allowed", &["LoadValid", "PathPrefix"], &meta(r#"{"": {"access": "private"}, "/a/.": {"access": "public"}, "/b/..": {"access": "public"}, "/.well-known/": {"access": "public"}}"#)).valid(),
        load("the same header in two rules", &["LoadValid"], &meta(r#"{"": {"access": "private", "headers": {"X-A": "1"}}, "/p": {"access": "public", "headers": {"x-a": "2"}}}"#)).valid(),
        load("a template with a tab", &["LoadValid", "TemplateSyntax"], &rule("\"X-A\": \"a\\tb {{\\tportal.id }}\"")).valid(),
        load("nesting of 16", &["LoadValid", "TooDeep"], &ok_deep).valid(),
        load("16 rules", &["LoadValid", "Limits"], &meta(&format!("{{{sixteen_paths}}}"))).valid(),
        load("32 headers", &["LoadValid", "Limits"], &many_headers(32)).valid(),
        load("2048 bytes of text (the name alone)", &["LoadValid", "Limits"], &long_name(2048)).valid(),
        load("trailing comma", &["InvalidJson"], r#"{"name": "app", "paths": {"": {"access": "private"},}}"#).invalid("app_meta_invalid_json"),
        load("single quotes", &["InvalidJson"], r#"{'name': 'app'}"#).invalid("app_meta_invalid_json"),
        load("unterminated", &["InvalidJson"], r#"{"name": "app", "paths": {"#).invalid("app_meta_invalid_json"),
        load("a raw tab inside a string", &["InvalidJson"], "{\"name\": \"a\tb\", \"paths\": {\"\": {\"access\": \"private\"}}}").invalid("app_meta_invalid_json"),
        load("an unpaired surrogate escape", &["InvalidJson"], r#"{"name": "\ud800", "paths": {"": {"access": "private"}}}"#).invalid("app_meta_invalid_json"),
        load("two JSON values", &["InvalidJson"], r#"{"name": "app", "paths": {"": {"access": "private"}}} {}"#).invalid("app_meta_invalid_json"),
        load("nesting of 17", &["TooDeep"], &deep).invalid("app_meta_too_deep"),
        load("top level is an array", &["WrongType"], "[]").invalid("app_meta_wrong_type"),
        load("paths is an array", &["WrongType"], r#"{"name": "app", "paths": []}"#).invalid("app_meta_wrong_type"),
        load("name is a number", &["WrongType"], r#"{"name": 5, "paths": {"": {"access": "private"}}}"#).invalid("app_meta_wrong_type"),
        load("access is a number", &["WrongType"], &meta(r#"{"": {"access": 1}}"#)).invalid("app_meta_wrong_type"),
        load("a rule is a string", &["WrongType"], &meta(r#"{"": "private"}"#)).invalid("app_meta_wrong_type"),
        load("a header value is a number", &["WrongType"], &rule(r#""X-A": 1"#)).invalid("app_meta_wrong_type"),
        load("name twice", &["DuplicateField"], r#"{"name": "a", "name": "b", "paths": {"": {"access": "private"}}}"#).invalid("app_meta_duplicate_field"),
        load("paths twice", &["DuplicateField"], r#"{"name": "a", "paths": {"": {"access": "private"}}, "paths": {"": {"access": "public"}}}"#).invalid("app_meta_duplicate_field"),
        load("access twice in one rule", &["DuplicateField"], &meta(r#"{"": {"access": "private", "access": "public"}}"#)).invalid("app_meta_duplicate_field"),
        load("headers twice in one rule", &["DuplicateField"], &meta(r#"{"": {"access": "private", "headers": {}, "headers": {}}}"#)).invalid("app_meta_duplicate_field"),
        load("no name", &["Name"], r#"{"paths": {"": {"access": "private"}}}"#).invalid("app_meta_missing_name"),
        load("empty name", &["Name"], r#"{"name": "", "paths": {"": {"access": "private"}}}"#).invalid("app_meta_invalid_name"),
        load("name with a control character (escaped)", &["Name"], r#"{"name": "a\u0001b", "paths": {"": {"access": "private"}}}"#).invalid("app_meta_invalid_name"),
        load("no \"\" key", &["DefaultPath"], &meta(r#"{"/": {"access": "private"}}"#)).invalid("app_meta_missing_default_path"),
        load("no paths", &["DefaultPath"], r#"{"name": "app"}"#).invalid("app_meta_missing_default_path"),
        load("a key twice", &["DuplicatePath"], &meta(r#"{"": {"access": "private"}, "/a": {"access": "public"}, "/a": {"access": "peer"}}"#)).invalid("app_meta_duplicate_path"),
        load("a key twice after unescaping ('/a' and '\\/a')", &["DuplicatePath"], &meta(r#"{"": {"access": "private"}, "/a": {"access": "public"}, "\/a": {"access": "peer"}}"#)).invalid("app_meta_duplicate_path"),
    ];
    let mut cases = cases;
    for (shown, key) in [
        ("pub", "pub"),
        ("/a//b", "/a//b"),
        ("/a/./b", "/a/./b"),
        ("/a/../b", "/a/../b"),
        ("/%70ub", "/%70ub"),
        ("/%2f", "/%2f"),
        ("/caf%c3%a9", "/caf%c3%a9"),
        ("/a b", "/a b"),
        ("/a\\b (a backslash)", "/a\\\\b"),
    ] {
        cases.push(
            load(
                &format!("key '{shown}' is not a normalised path"),
                &["PathPrefix"],
                &meta(&format!(
                    r#"{{"": {{"access": "private"}}, "{key}": {{"access": "public"}}}}"#
                )),
            )
            .invalid("app_meta_invalid_path_prefix"),
        );
    }
    cases.extend([
        load(
            "a rule without access",
            &["Access"],
            &meta(r#"{"": {"headers": {}}}"#),
        )
        .invalid("app_meta_missing_access"),
        load(
            "access \"Public\"",
            &["Access"],
            &meta(r#"{"": {"access": "Public"}}"#),
        )
        .invalid("app_meta_unknown_access"),
        load(
            "access \"admin\"",
            &["Access"],
            &meta(r#"{"": {"access": "admin"}}"#),
        )
        .invalid("app_meta_unknown_access"),
        load(
            "header name with a space",
            &["HeaderName"],
            &rule(r#""X Bad": "v""#),
        )
        .invalid("app_meta_invalid_header_name"),
        load("empty header name", &["HeaderName"], &rule(r#""": "v""#))
            .invalid("app_meta_invalid_header_name"),
        load(
            "header name with a colon",
            &["HeaderName"],
            &rule(r#""X:Y": "v""#),
        )
        .invalid("app_meta_invalid_header_name"),
    ]);
    for name in [
        "Host",
        "content-length",
        "Transfer-Encoding",
        "CONNECTION",
        "Keep-Alive",
        "Proxy-Connection",
        "te",
        "Trailer",
        "Upgrade",
    ] {
        cases.push(
            load(
                &format!("header {name}"),
                &["HeaderName"],
                &rule(&format!(r#""{name}": "v""#)),
            )
            .invalid("app_meta_forbidden_header_name"),
        );
    }
    cases.extend([
        load(
            "the same header twice in one rule, different case",
            &["DuplicateHeader"],
            &rule(r#""X-A": "1", "x-a": "2""#),
        )
        .invalid("app_meta_duplicate_header"),
        load(
            "unknown variable",
            &["TemplateSyntax"],
            &rule(r#""X-A": "{{ auth.password }}""#),
        )
        .invalid("app_meta_unknown_template_variable"),
        load(
            "variable names are case-sensitive",
            &["TemplateSyntax"],
            &rule(r#""X-A": "{{ Auth.Client_Id }}""#),
        )
        .invalid("app_meta_unknown_template_variable"),
        load("empty tag", &["TemplateSyntax"], &rule(r#""X-A": "{{}}""#))
            .invalid("app_meta_unknown_template_variable"),
        load(
            "unclosed tag",
            &["TemplateSyntax"],
            &rule(r#""X-A": "{{ auth.client_id""#),
        )
        .invalid("app_meta_unclosed_template"),
        load(
            "CR LF in the template text (escaped)",
            &["TemplateSyntax"],
            &rule(r#""X-A": "a\r\nX-B: b""#),
        )
        .invalid("app_meta_unsafe_template_text"),
        load(
            "NUL in the template text (escaped)",
            &["TemplateSyntax"],
            &rule(r#""X-A": "a\u0000""#),
        )
        .invalid("app_meta_unsafe_template_text"),
        load(
            "17 rules",
            &["Limits"],
            &meta(&format!("{{{}}}", many_paths.join(", "))),
        )
        .invalid("app_meta_too_many_paths"),
        load("33 headers", &["Limits"], &many_headers(33)).invalid("app_meta_too_many_headers"),
        load("2049 bytes of text", &["Limits"], &long_name(2049)).invalid("app_meta_too_long"),
    ]);
    f.group(
        json!({"type": "AppMetaLoad", "limits": {"paths": 16, "headers": 32, "textBytes": 2048, "depth": 16}}),
        cases,
    );
    f.finish()
}

pub fn schema() -> Value {
    let header_pair = json!({"type": "array", "prefixItems": [{"type": "string"}, {"type": "string"}], "minItems": 2, "maxItems": 2});
    file_schema(
        "acl",
        ALGORITHM,
        "shardpeer conformance vectors: access control for apps",
        vec![
            GroupSchema {
                kind: "AccessDecision",
                shared: json!({
                    "appMeta": {"type": "string"},
                    "context": {
                        "type": "object",
                        "additionalProperties": false,
                        "required": ["portalId", "portalShortId", "portalDomain", "portalPublicKeyPem"],
                        "properties": {
                            "portalId": {"$ref": "#/$defs/shardId"},
                            "portalShortId": {"type": "string"},
                            "portalDomain": {"type": "string"},
                            "portalPublicKeyPem": {"$ref": "#/$defs/publicKeyPem"},
                        },
                    },
                }),
                shared_required: &["appMeta", "context"],
                inputs: json!({
                    "path": {"type": "string"},
                    "client": {"enum": ["anonymous", "terminal", "peer"]},
                    "clientId": {"type": "string"},
                    "clientName": {"type": "string"},
                    "incomingHeaders": {"type": "array", "items": {"type": "string"}},
                }),
                inputs_required: &["path", "client"],
                outputs: json!({
                    "normalizedPath": {"type": "string"},
                    "rule": {"type": "string"},
                    "access": {"enum": ["public", "private", "peer"]},
                    "headers": {"type": "array", "items": header_pair},
                    "removedHeaders": {"type": "array", "items": {"type": "string"}},
                }),
                outputs_required: &["normalizedPath", "rule", "access", "headers"],
                test_constraints: Value::Null,
                group_constraints: Value::Null,
            },
            GroupSchema {
                kind: "AppMetaLoad",
                shared: json!({
                    "limits": {
                        "type": "object",
                        "additionalProperties": false,
                        "required": ["paths", "headers", "textBytes", "depth"],
                        "properties": {
                            "paths": {"type": "integer"},
                            "headers": {"type": "integer"},
                            "textBytes": {"type": "integer"},
                            "depth": {"type": "integer"},
                        },
                    },
                }),
                shared_required: &["limits"],
                inputs: json!({"appMeta": {"type": "string"}}),
                inputs_required: &["appMeta"],
                outputs: json!({
                    "name": {"type": "string"},
                    "rules": {
                        "type": "array",
                        "items": {
                            "type": "object",
                            "additionalProperties": false,
                            "required": ["prefix", "access", "headers"],
                            "properties": {
                                "prefix": {"type": "string"},
                                "access": {"enum": ["public", "private", "peer"]},
                                "headers": {"type": "array", "items": header_pair},
                            },
                        },
                    },
                }),
                outputs_required: &["name", "rules"],
                test_constraints: Value::Null,
                group_constraints: Value::Null,
            },
        ],
        CODES,
    )
}
