//! `signature_base.json`: a message and a `Signature-Input` inner list → the exact signature
//! base (RFC 9421 §2.5), or the error of steps 5 and 14 of the verification procedure.

use super::util::*;
use super::{FileBuilder, GroupSchema, case, file_schema};
use crate::wire;
use serde_json::{Value, json};
use shardpeer_core::base;
use shardpeer_core::sf;

pub const ALGORITHM: &str = "RFC9421-SIGNATURE-BASE";

const CODES: &[&str] = &[
    "signature_no_components",
    "component_invalid",
    "component_duplicate",
    "component_missing",
    "component_unsupported",
    "component_value_invalid",
    "component_sf_invalid",
];

pub fn run(group: &Value, test: &Value) -> Result<Actual, String> {
    let scheme = scheme(group)?;
    let params = s(test, "signatureParams")?;
    let list = sf::parse_inner_list(params).map_err(|e| format!("signatureParams: {e}"))?;
    match base::check_components(&list) {
        Err(e) => return Ok(code(&e)),
        Ok(0) => return Ok(Actual::invalid("signature_no_components")),
        Ok(_) => {}
    }
    let extra = test.get("extraFields");
    let mut buf = vec![0u8; 16 * 1024];
    let request = match opt_s(test, "request")? {
        Some(r) => Some(read_request(
            r,
            scheme,
            if test.get("response").is_some() {
                None
            } else {
                extra
            },
        )?),
        None => None,
    };
    let req_refs = request.as_ref().map(|r| wire::field_refs(&r.fields));
    let req_view = request
        .as_ref()
        .zip(req_refs.as_ref())
        .map(|(r, f)| r.view(f));
    let result = match opt_s(test, "response")? {
        Some(resp_text) => {
            let resp = read_response(resp_text, extra)?;
            let refs = wire::field_refs(&resp.fields);
            let view = resp.view(&refs, req_view.as_ref());
            base::response_base(&view, &list, &mut buf).map(<[u8]>::to_vec)
        }
        None => {
            let view = req_view.ok_or("a test needs a request or a response")?;
            base::request_base(&view, &list, &mut buf).map(<[u8]>::to_vec)
        }
    };
    match result {
        Ok(b) => Ok(Actual::valid().with(
            "signatureBase",
            String::from_utf8(b).map_err(|_| "base is not UTF-8")?,
        )),
        Err(e) => Ok(code(&e)),
    }
}

fn hexs(s: &str) -> String {
    hex::encode(s.as_bytes())
}

pub fn generate() -> Value {
    let mut f = FileBuilder::new("signature_base", ALGORITHM, run);
    f.header(&[
        "RFC 9421 signature bases (docs/protocol.md, \"Signed requests\" and \"Verification procedure and errors\", steps 5 and 14).",
        "Inputs: request and/or response in wire form (CRLF), optional extraFields (appended to the message whose base is built; for a response, to the response), and signatureParams: the member value of Signature-Input, i.e. the inner list of covered components with its parameters. The group's scheme is the one the receiver sees (it decides @scheme, @target-uri and which port @authority drops).",
        "Procedure: parse signatureParams as an RFC 8941 inner list; check every component identifier (valid, none repeated: step 5) and that there is at least one; build the base. When a response is given, the base is the response's and components with ;req come from the request.",
        "Output: signatureBase, lines separated by LF, no trailing newline; @signature-params is the RFC 8941 serialisation of the inner list as received (parameters in received order, canonical spacing and number forms).",
        "@authority comes from the Host field (origin-form targets), lowercased, with the scheme's default port removed.",
    ]);
    f.note(
        "Rfc9421Example",
        "BASIC",
        "A base published in RFC 9421 Appendix B (see third-party/rfc9421-appendix-b.txt), reproduced byte for byte.",
        "An implementation that differs cannot verify signatures from any other RFC 9421 implementation.",
    );
    f.note(
        "Profile",
        "BASIC",
        "The components and parameters of the shardpeer profile.",
        "Shards cannot verify each other's requests or responses.",
    );
    f.note(
        "DerivedComponents",
        "BASIC",
        "Derived components: @method, @target-uri, @authority, @scheme, @request-target, @path, @query (RFC 9421 §2.2).",
        "Bases differ from other implementations for the same request.",
    );
    f.note(
        "EmptyQuery",
        "EDGE_CASE",
        "@query of a target without '?' is '?' alone, and so is that of a target ending in '?' (an empty query).",
        "Requests without a query fail to verify, or a bare '?' is treated differently from none.",
    );
    f.note(
        "Authority",
        "EDGE_CASE",
        "@authority is the Host lowercased, without the default port of the receiver's scheme (RFC 9421 §2.2.3); another port is kept.",
        "Requests through proxies that add ':443' or change case fail to verify, or a non-default port is dropped and a request for another service verifies.",
    );
    f.note(
        "QueryParam",
        "EDGE_CASE",
        "@query-param (RFC 9421 §2.2.8): names and values decoded as application/x-www-form-urlencoded ('+' is a space), invalid UTF-8 replaced by U+FFFD, then re-encoded with uppercase hex; names are compared in that form.",
        "Bases differ from other implementations for the same query, or a newline decoded into the base forges lines.",
    );
    f.note(
        "FieldValues",
        "BASIC",
        "A field's lines joined with ', ' after trimming spaces and tabs; an empty value gives nothing after ': '; field names match case-insensitively.",
        "Bases differ when a proxy splits or merges field lines.",
    );
    f.note(
        "ByteSequence",
        "EDGE_CASE",
        ";bs wraps each field line separately as a byte sequence (RFC 9421 §2.1.3).",
        "Values containing commas become ambiguous, or bases differ.",
    );
    f.note(
        "StructuredField",
        "EDGE_CASE",
        ";sf re-serialises a structured field canonically; ;key=\"k\" takes one dictionary member (RFC 9421 §2.1.1, §2.1.2). The structured type must be known to both sides: Content-Digest and Signature are dictionaries.",
        "Bases differ on spacing the signer did not control, or a member of a non-dictionary is read as if it were one.",
    );
    f.note(
        "Serialisation",
        "EDGE_CASE",
        "@signature-params and component identifiers are re-serialised (RFC 8941 §4.1): extra spaces dropped, ?1 booleans written as bare keys, integers without leading zeros, strings escaped.",
        "A verifier that copies the received text instead of serialising rejects valid signatures, or one that serialises differently disagrees with the signer.",
    );
    f.note(
        "ParameterOrder",
        "EDGE_CASE",
        "Parameters appear in @signature-params in the order received, unknown ones included.",
        "Re-ordering (for example into shardpeer's own order) breaks signatures from every signer that uses another order.",
    );
    f.note(
        "Response",
        "BASIC",
        "A response base: @status, response fields, and request components marked ;req.",
        "Responses cannot be bound to the request they answer.",
    );
    f.note(
        "LineBreak",
        "AUTH_BYPASS",
        "A field value with CR, LF or NUL (delivered by a lax parser or another HTTP version; see extraFields). Covered: refused. Not covered: irrelevant.",
        "A line break in a covered value forges further lines of the base: the signer and the verifier see different messages with the same base.",
    );
    f.note(
        "Duplicate",
        "MALLEABILITY",
        "A component identifier covered twice (same name and same parameters, in any order). RFC 9421 §2.5 forbids it.",
        "Signers and verifiers disagree on the base; some implementations have accepted it.",
    );
    f.note(
        "EmptyList",
        "AUTH_BYPASS",
        "No covered component. RFC 9421 allows it (B.2.1); shardpeer refuses it: a valid signature over nothing proves nothing about the message.",
        "A signature that covers nothing is taken as authentication of any request.",
    );
    f.note(
        "InvalidIdentifier",
        "BASIC",
        "An identifier that is not valid: unknown or forbidden derived name (@signature-params, @status in a request), uppercase field name, a token instead of a string, ;req in a request, @query-param without name.",
        "Components the two sides understand differently.",
    );
    f.note(
        "UnknownParameter",
        "BASIC",
        "A component parameter RFC 9421 does not define, one that does not apply to the component, or one repeated.",
        "Components the two sides understand differently.",
    );
    f.note(
        "ConflictingParameters",
        "BASIC",
        ";bs together with ;sf or ;key, or ;sf together with ;key: each defines the value differently.",
        "Signer and verifier compute different values.",
    );
    f.note(
        "Missing",
        "BASIC",
        "A covered field, dictionary member or query parameter is absent from the message, or ;req without the request.",
        "An absent component read as empty lets a signature over an empty value cover a message without it.",
    );
    f.note(
        "Unsupported",
        "EDGE_CASE",
        "A valid identifier the implementation cannot compute exactly: ;tr (trailers), ;sf on a field whose structured type is not known, @query-param of a name the query has twice (RFC 9421 §2.2.8: MUST NOT be included).",
        "A guess at the value: signer and verifier disagree, or a repeated query parameter lets the application read another value than the one signed.",
    );

    let https = json!({"type": "SignatureBase", "scheme": "https"});
    let b2 = b2_request();
    let b4 = b4_request();
    let post = post_to_bob();
    let alice = ALICE.id();
    let signed_post = sign_profile(&post, &ALICE, T0, NONCE_1);
    let profile_params = format!(
        "({});created={T0};expires={};nonce=\"{NONCE_1}\";keyid=\"{alice}\";alg=\"ed25519\";tag=\"shardpeer/1\"",
        profile_components(true),
        T0 + 300
    );
    let rfc_query =
        "var=this%20is%20a%20big%0Avalue&bar=with+plus+whitespace&fa%C3%A7ade%22%3A%20=something";
    let mut cases = vec![
        case(
            "RFC 9421 B.2.6 (ed25519): the base of the B.2 test-request",
            &["Rfc9421Example"],
            json!({"request": b2, "signatureParams": B26_INPUT.strip_prefix("sig-b26=").unwrap()}),
        )
        .pinned(json!({"signatureBase": B26_BASE})),
        case(
            "RFC 9421 B.4: two Accept lines joined with ', '",
            &["Rfc9421Example", "FieldValues"],
            json!({"request": b4, "signatureParams": B4_INPUT.strip_prefix("transform=").unwrap()}),
        )
        .pinned(json!({"signatureBase": B4_BASE})),
        case(
            "every derived request component of the B.2 request",
            &["DerivedComponents"],
            json!({"request": b2, "signatureParams": "(\"@method\" \"@target-uri\" \"@authority\" \"@scheme\" \"@request-target\" \"@path\" \"@query\");created=1618884473"}),
        )
        .valid(),
        case(
            "a shardpeer request: the profile's components and parameters",
            &["Profile"],
            json!({"request": post, "signatureParams": profile_params}),
        )
        .valid(),
        case(
            "no query: @query is '?'",
            &["EmptyQuery", "Profile"],
            json!({"request": get_from_bob(), "signatureParams": format!("({});created={T0}", profile_components(false))}),
        )
        .valid(),
        case(
            "empty query ('/peer/status?'): @query is '?' as without one",
            &["EmptyQuery"],
            json!({"request": set_start_line(&get_from_bob(), "GET /peer/status?"), "signatureParams": "(\"@path\" \"@query\" \"@request-target\")"}),
        )
        .valid(),
        case(
            "Host 'Example.COM:443' under https: @authority is 'example.com'",
            &["Authority"],
            json!({"request": set_field(&b2, "Host", "Example.COM:443"), "signatureParams": "(\"@authority\" \"@target-uri\")"}),
        )
        .valid(),
        case(
            "Host 'example.com:80' under https: the port is not the default, it stays",
            &["Authority"],
            json!({"request": set_field(&b2, "Host", "example.com:80"), "signatureParams": "(\"@authority\")"}),
        )
        .valid(),
        case(
            "Host 'example.com:' (empty port) is 'example.com'",
            &["Authority"],
            json!({"request": set_field(&b2, "Host", "example.com:"), "signatureParams": "(\"@authority\")"}),
        )
        .valid(),
        case(
            "Host '[::1]:443' under https: '[::1]'",
            &["Authority"],
            json!({"request": set_field(&b2, "Host", "[::1]:443"), "signatureParams": "(\"@authority\")"}),
        )
        .valid(),
        case(
            "RFC 9421 §2.2.8 @query-param examples (the base lines are the RFC's)",
            &["QueryParam"],
            json!({
                "request": set_start_line(&b2, &format!("GET /path?{rfc_query}")),
                "signatureParams": "(\"@query-param\";name=\"var\" \"@query-param\";name=\"bar\" \"@query-param\";name=\"fa%C3%A7ade%22%3A%20\")",
            }),
        )
        .valid(),
        case(
            "@query-param re-encoding: '+' is a space (%20), '%2b' stays an encoded '+' (%2B), '%41' is 'A', '~' is encoded (%7E: the form-urlencoded set), hex is uppercase, invalid UTF-8 becomes U+FFFD, a name without '=' has the empty value",
            &["QueryParam"],
            json!({
                "request": set_start_line(&b2, "GET /p?a=x+y%2bz&b=%c3%a9%7e%41&c=%FF&d&e="),
                "signatureParams": "(\"@query-param\";name=\"a\" \"@query-param\";name=\"b\" \"@query-param\";name=\"c\" \"@query-param\";name=\"d\" \"@query-param\";name=\"e\")",
            }),
        )
        .valid(),
        case(
            "@query-param: a name given percent-encoded in the query ('%61' is 'a') matches its re-encoded form",
            &["QueryParam"],
            json!({
                "request": set_start_line(&b2, "GET /p?%61=1&sp%20ace=2"),
                "signatureParams": "(\"@query-param\";name=\"a\" \"@query-param\";name=\"sp%20ace\")",
            }),
        )
        .valid(),
        case(
            "several lines of a field joined with ', ', surrounding spaces and tabs trimmed; an empty value",
            &["FieldValues"],
            json!({
                "request": add_fields(&b2, &[("X-Multi", "  one \t"), ("X-Other", "between"), ("x-multi", "two, three"), ("X-Empty", "")]),
                "signatureParams": "(\"x-multi\" \"x-empty\")",
            }),
        )
        .valid(),
        case(
            "field names match case-insensitively ('CONTENT-TYPE' in the message, \"content-type\" covered)",
            &["FieldValues"],
            json!({
                "request": add_fields(&remove_field(&b2, "Content-Type"), &[("CONTENT-TYPE", "text/plain")]),
                "signatureParams": "(\"content-type\")",
            }),
        )
        .valid(),
        case(
            ";bs wraps each line (RFC 9421 §2.1.3 example values)",
            &["ByteSequence"],
            json!({
                "request": add_fields(&b2, &[("X-Example", "value, with, lots"), ("X-Example", "of, commas")]),
                "signatureParams": "(\"x-example\";bs \"x-example\")",
            }),
        )
        .valid(),
        case(
            ";sf re-serialises Content-Digest canonically; ;key takes one member",
            &["StructuredField"],
            json!({
                "request": set_field(&b2, "Content-Digest", &format!("sha-256=:{}:  ,   {}", b64(&hex::decode("5f8f04f6a3a892aaabbddb6cf273894493773960d4a325b105fee46eef4304f1").unwrap()), B2_DIGEST)),
                "signatureParams": "(\"content-digest\";sf \"content-digest\";key=\"sha-512\" \"content-digest\")",
            }),
        )
        .valid(),
        case(
            "non-canonical inner list: spaces inside the parentheses, ;sf=?1, created with a leading zero",
            &["Serialisation", "StructuredField"],
            json!({
                "request": b2,
                "signatureParams": "(  \"@method\"    \"content-digest\";sf=?1 );created=01618884473;keyid=\"k\"",
            }),
        )
        .valid(),
        case(
            "string parameters are escaped: keyid=\"a\\\"b\\\\c\"",
            &["Serialisation"],
            json!({"request": b2, "signatureParams": "(\"@method\");keyid=\"a\\\"b\\\\c\";created=1618884473"}),
        )
        .valid(),
        case(
            "parameters in received order, unknown parameter kept",
            &["ParameterOrder"],
            json!({"request": b2, "signatureParams": "(\"@method\" \"@path\");x-vendor=1;tag=\"t\";keyid=\"test-key-ed25519\";nonce=\"n\";alg=\"ed25519\";expires=1618884773;created=1618884473"}),
        )
        .valid(),
        case(
            "the B.2 test-response with request components (;req)",
            &["Response"],
            json!({
                "request": b2,
                "response": b2_response(),
                "signatureParams": "(\"@status\" \"content-type\" \"content-digest\" \"@method\";req \"@authority\";req \"@path\";req \"@query\";req \"content-digest\";req);created=1618884473",
            }),
        )
        .valid(),
        case(
            "a shardpeer response: covers the request's Signature member (\"signature\";req;key=\"shardpeer\")",
            &["Response", "Profile"],
            json!({
                "request": signed_post,
                "response": bob_answer(),
                "signatureParams": format!("(\"@status\" \"content-digest\" \"signature\";req;key=\"shardpeer\" \"content-type\");created={T0};expires={};keyid=\"{}\";alg=\"ed25519\";tag=\"shardpeer/1/response\"", T0 + 300, BOB.id()),
            }),
        )
        .valid(),
        case(
            "a line break in a field that is not covered does not matter",
            &["LineBreak"],
            json!({"request": b2, "extraFields": [{"name": "X-Other", "valueHex": hexs("a\nb")}], "signatureParams": "(\"@method\")"}),
        )
        .valid(),
    ];
    let invalid = [
        (
            "@method twice",
            &["Duplicate"][..],
            "(\"@method\" \"@method\")",
            "component_duplicate",
        ),
        (
            "the same ;key member twice",
            &["Duplicate"],
            "(\"content-digest\";key=\"sha-512\" \"content-digest\";key=\"sha-512\")",
            "component_duplicate",
        ),
        (
            "the same @query-param twice",
            &["Duplicate", "QueryParam"],
            "(\"@query-param\";name=\"Pet\" \"@query-param\";name=\"Pet\")",
            "component_duplicate",
        ),
        (
            "empty component list (as RFC 9421 B.2.1 uses)",
            &["EmptyList"],
            "();created=1618884473;keyid=\"test-key-ed25519\";nonce=\"b3k2pp5k7z-50gnwp.yemd\"",
            "signature_no_components",
        ),
        (
            "unknown derived component",
            &["InvalidIdentifier"],
            "(\"@unknown\")",
            "component_invalid",
        ),
        (
            "@signature-params is never covered",
            &["InvalidIdentifier"],
            "(\"@signature-params\")",
            "component_invalid",
        ),
        (
            "@status in a request",
            &["InvalidIdentifier"],
            "(\"@status\")",
            "component_invalid",
        ),
        (
            "\"@method\";req in a request",
            &["InvalidIdentifier"],
            "(\"@method\";req)",
            "component_invalid",
        ),
        (
            "uppercase field name",
            &["InvalidIdentifier"],
            "(\"Content-Type\")",
            "component_invalid",
        ),
        (
            "a token, not a string",
            &["InvalidIdentifier"],
            "(date)",
            "component_invalid",
        ),
        (
            "empty identifier",
            &["InvalidIdentifier"],
            "(\"\")",
            "component_invalid",
        ),
        (
            "@query-param without ;name",
            &["InvalidIdentifier", "QueryParam"],
            "(\"@query-param\")",
            "component_invalid",
        ),
        (
            "unknown component parameter",
            &["UnknownParameter"],
            "(\"date\";foo)",
            "component_invalid",
        ),
        (
            ";name on @method",
            &["UnknownParameter"],
            "(\"@method\";name=\"x\")",
            "component_invalid",
        ),
        (
            ";bs repeated",
            &["UnknownParameter"],
            "(\"date\";bs;bs)",
            "component_invalid",
        ),
        (
            ";sf=?0 (a parameter with a value RFC 9421 does not define)",
            &["UnknownParameter"],
            "(\"content-digest\";sf=?0)",
            "component_invalid",
        ),
        (
            ";bs with ;sf",
            &["ConflictingParameters"],
            "(\"content-digest\";bs;sf)",
            "component_invalid",
        ),
        (
            ";sf with ;key",
            &["ConflictingParameters"],
            "(\"content-digest\";sf;key=\"sha-512\")",
            "component_invalid",
        ),
        (
            "a field the request does not have",
            &["Missing"],
            "(\"x-absent\")",
            "component_missing",
        ),
        (
            "a dictionary member the field does not have",
            &["Missing", "StructuredField"],
            "(\"content-digest\";key=\"sha-256\")",
            "component_missing",
        ),
        (
            "a query parameter the query does not have",
            &["Missing", "QueryParam"],
            "(\"@query-param\";name=\"zz\")",
            "component_missing",
        ),
        (
            "query parameter names are case-sensitive ('pet' vs 'Pet')",
            &["Missing", "QueryParam"],
            "(\"@query-param\";name=\"pet\")",
            "component_missing",
        ),
        (
            ";tr (trailers)",
            &["Unsupported"],
            "(\"date\";tr)",
            "component_unsupported",
        ),
        (
            ";sf on a field whose structured type is not known",
            &["Unsupported", "StructuredField"],
            "(\"date\";sf)",
            "component_unsupported",
        ),
        (
            ";key on a field that is not a dictionary (Content-Type does not parse as one)",
            &["StructuredField"],
            "(\"content-type\";key=\"a\")",
            "component_sf_invalid",
        ),
    ];
    for (what, flags, params, code) in invalid {
        cases.push(
            case(
                what,
                flags,
                json!({"request": b2, "signatureParams": params}),
            )
            .invalid(code),
        );
    }
    cases.extend([
        case(
            "@query-param of a name the query has twice",
            &["Unsupported", "QueryParam"],
            json!({"request": set_start_line(&b2, "GET /p?a=1&b=2&a=3"), "signatureParams": "(\"@query-param\";name=\"a\")"}),
        )
        .invalid("component_unsupported"),
        case(
            "@query-param of a name repeated in another spelling ('%61' and '+' decode before comparing)",
            &["Unsupported", "QueryParam"],
            json!({"request": set_start_line(&b2, "GET /p?a+b=1&a%20b=2"), "signatureParams": "(\"@query-param\";name=\"a%20b\")"}),
        )
        .invalid("component_unsupported"),
        case(
            ";sf on Content-Digest that does not parse",
            &["StructuredField"],
            json!({"request": set_field(&b2, "Content-Digest", "sha-512=:not base64:"), "signatureParams": "(\"content-digest\";sf)"}),
        )
        .invalid("component_sf_invalid"),
        case(
            "LF in a covered field value",
            &["LineBreak"],
            json!({"request": b2, "extraFields": [{"name": "X-Injected", "valueHex": hexs("a\n\"@method\": GET")}], "signatureParams": "(\"x-injected\")"}),
        )
        .invalid("component_value_invalid"),
        case(
            "CR in a covered field value",
            &["LineBreak"],
            json!({"request": b2, "extraFields": [{"name": "X-Injected", "valueHex": hexs("a\rb")}], "signatureParams": "(\"x-injected\")"}),
        )
        .invalid("component_value_invalid"),
        case(
            "NUL in a covered field value",
            &["LineBreak"],
            json!({"request": b2, "extraFields": [{"name": "X-Injected", "valueHex": hexs("a\0b")}], "signatureParams": "(\"x-injected\")"}),
        )
        .invalid("component_value_invalid"),
        case(
            "LF in the second line of a covered field (Content-Type)",
            &["LineBreak"],
            json!({"request": b2, "extraFields": [{"name": "Content-Type", "valueHex": hexs("text/plain\r\nX-Evil: 1")}], "signatureParams": "(\"content-type\")"}),
        )
        .invalid("component_value_invalid"),
        case(
            "a response component with ;req but no request",
            &["Response", "Missing"],
            json!({"response": b2_response(), "signatureParams": "(\"@status\" \"@method\";req)"}),
        )
        .invalid("component_missing"),
        case(
            "\"signature\";req;key=\"shardpeer\" when the request carries no Signature",
            &["Response", "Missing", "Profile"],
            json!({"request": post, "response": bob_answer(), "signatureParams": "(\"@status\" \"signature\";req;key=\"shardpeer\")"}),
        )
        .invalid("component_missing"),
        case(
            "the same component twice with its parameters in another order",
            &["Response", "Duplicate"],
            json!({"request": b2, "response": b2_response(), "signatureParams": "(\"content-digest\";req;sf \"content-digest\";sf;req)"}),
        )
        .invalid("component_duplicate"),
        case(
            "a request component without ;req in a response",
            &["Response", "InvalidIdentifier"],
            json!({"request": b2, "response": b2_response(), "signatureParams": "(\"@status\" \"@method\")"}),
        )
        .invalid("component_invalid"),
    ]);
    f.group(https, cases);

    let http = json!({"type": "SignatureBase", "scheme": "http"});
    f.group(
        http,
        vec![
            case(
                "Host 'example.com:80' under http: 'example.com'",
                &["Authority"],
                json!({"request": set_field(&b2, "Host", "example.com:80"), "signatureParams": "(\"@authority\" \"@scheme\" \"@target-uri\")"}),
            )
            .valid(),
            case(
                "Host 'example.com:443' under http: the port stays (a TLS terminator forwarding plain HTTP must not add it)",
                &["Authority"],
                json!({"request": set_field(&b2, "Host", "example.com:443"), "signatureParams": "(\"@authority\")"}),
            )
            .valid(),
        ],
    );
    f.finish()
}

pub fn schema() -> Value {
    file_schema(
        "signature_base",
        ALGORITHM,
        "shardpeer conformance vectors: RFC 9421 signature bases",
        vec![GroupSchema {
            kind: "SignatureBase",
            shared: json!({"scheme": {"$ref": "#/$defs/scheme"}}),
            shared_required: &["scheme"],
            inputs: json!({
                "request": {"$ref": "#/$defs/httpRequest"},
                "response": {"$ref": "#/$defs/httpResponse"},
                "extraFields": {"$ref": "#/$defs/extraFields"},
                "signatureParams": {"type": "string", "pattern": "^\\(.*$"},
            }),
            inputs_required: &["signatureParams"],
            outputs: json!({"signatureBase": {"type": "string"}}),
            outputs_required: &["signatureBase"],
            test_constraints: json!({"anyOf": [{"required": ["request"]}, {"required": ["response"]}]}),
            group_constraints: Value::Null,
        }],
        CODES,
    )
}
