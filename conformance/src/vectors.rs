//! The conformance vectors: generator, schemas and checker.
//!
//! Each family of vectors is a JSON file in `conformance/vectors/` in the Wycheproof shape (see
//! `conformance/VECTORS.md`), with a JSON Schema in `conformance/schemas/`. Both are written by
//! this module from fixed seeds and a fixed clock, so generating twice gives the same bytes; the
//! checked-in files are the source of truth for other implementations, and
//! `tests/vectors.rs` fails when they drift from what this code produces.
//!
//! A vector is made of inputs and a hand-written expectation (`valid`, or `invalid` with an
//! error code). The generator runs the inputs through the core with the same procedure the
//! checker uses ([`Family::check`]), fills in the outputs the core computed (signature bases,
//! signatures, IDs…) and refuses to write a file whose expectations the core does not meet.
//! Values published elsewhere (RFC 9421, RFC 9530, the spec's worked example) are pinned as
//! constants and compared too.
//!
//! Regenerate with `SHARDPEER_UPDATE_VECTORS=1 cargo test -p shardpeer-conformance --test
//! vectors` (see [`write_all`]).

use serde_json::{Map, Value, json};
use std::collections::{BTreeSet, HashSet};
use std::path::Path;

mod acl;
mod content_digest;
mod ed25519_rule;
mod path_normalization;
mod response;
mod shard_id;
mod signature_base;
mod signing;
mod util;
mod verification;
mod whoareyou;

/// Written into every file as `generatorVersion`. Bump it when the meaning of a field changes.
pub const GENERATOR_VERSION: &str = "shardpeer-conformance-vectors/1";

/// The command that rewrites the checked-in vectors and schemas.
pub const REGENERATE_COMMAND: &str =
    "SHARDPEER_UPDATE_VECTORS=1 cargo test -p shardpeer-conformance --test vectors";

/// What running one vector's inputs through the core gave.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Actual {
    /// The error code, when the core refused the input.
    pub error: Option<String>,
    /// Outputs to compare with the fields of the same name in the vector.
    pub outputs: Map<String, Value>,
}

impl Actual {
    /// Accepted, with no outputs yet.
    pub fn valid() -> Self {
        Actual::default()
    }

    /// Refused with `code`.
    pub fn invalid(code: &str) -> Self {
        Actual {
            error: Some(code.to_string()),
            outputs: Map::new(),
        }
    }

    /// Adds an output.
    pub fn with(mut self, key: &str, value: impl Into<Value>) -> Self {
        self.outputs.insert(key.to_string(), value.into());
        self
    }

    fn result(&self) -> &'static str {
        if self.error.is_some() {
            "invalid"
        } else {
            "valid"
        }
    }
}

/// Runs one test of a group through the core. `Err` means the vector itself is unusable (bad
/// hex, a message that does not parse): that is a broken vector, not a verdict.
type RunFn = fn(&Value, &Value) -> Result<Actual, String>;

/// One family of vectors: a file, its schema, its generator and its checker.
pub struct Family {
    /// File stem: `verification` for `vectors/verification.json`.
    pub name: &'static str,
    /// The `algorithm` field of the file.
    pub algorithm: &'static str,
    generate: fn() -> Value,
    schema: fn() -> Value,
    run: RunFn,
}

impl core::fmt::Debug for Family {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("Family").field("name", &self.name).finish()
    }
}

/// Every family, in the order of `conformance/VECTORS.md`.
pub fn families() -> &'static [Family] {
    const FAMILIES: &[Family] = &[
        Family {
            name: "shard_id",
            algorithm: shard_id::ALGORITHM,
            generate: shard_id::generate,
            schema: shard_id::schema,
            run: shard_id::run,
        },
        Family {
            name: "signature_base",
            algorithm: signature_base::ALGORITHM,
            generate: signature_base::generate,
            schema: signature_base::schema,
            run: signature_base::run,
        },
        Family {
            name: "signing",
            algorithm: signing::ALGORITHM,
            generate: signing::generate,
            schema: signing::schema,
            run: signing::run,
        },
        Family {
            name: "verification",
            algorithm: verification::ALGORITHM,
            generate: verification::generate,
            schema: verification::schema,
            run: verification::run,
        },
        Family {
            name: "response",
            algorithm: response::ALGORITHM,
            generate: response::generate,
            schema: response::schema,
            run: response::run,
        },
        Family {
            name: "content_digest",
            algorithm: content_digest::ALGORITHM,
            generate: content_digest::generate,
            schema: content_digest::schema,
            run: content_digest::run,
        },
        Family {
            name: "path_normalization",
            algorithm: path_normalization::ALGORITHM,
            generate: path_normalization::generate,
            schema: path_normalization::schema,
            run: path_normalization::run,
        },
        Family {
            name: "acl",
            algorithm: acl::ALGORITHM,
            generate: acl::generate,
            schema: acl::schema,
            run: acl::run,
        },
        Family {
            name: "ed25519_rule",
            algorithm: ed25519_rule::ALGORITHM,
            generate: ed25519_rule::generate,
            schema: ed25519_rule::schema,
            run: ed25519_rule::run,
        },
        Family {
            name: "whoareyou",
            algorithm: whoareyou::ALGORITHM,
            generate: whoareyou::generate,
            schema: whoareyou::schema,
            run: whoareyou::run,
        },
    ];
    FAMILIES
}

/// The family whose vector file is `file_name` (e.g. `verification.json`).
pub fn family_for_file(file_name: &str) -> Option<&'static Family> {
    families().iter().find(|f| f.file_name() == file_name)
}

/// The outcome of checking one vector file.
#[derive(Debug, Clone, Default)]
pub struct Report {
    /// Tests run.
    pub tests: usize,
    /// One line per problem; empty when the core passes every test.
    pub failures: Vec<String>,
}

impl Family {
    /// `verification.json`.
    pub fn file_name(&self) -> String {
        format!("{}.json", self.name)
    }

    /// `verification_schema.json`.
    pub fn schema_name(&self) -> String {
        format!("{}_schema.json", self.name)
    }

    /// The vector file as this code generates it (checked against the core).
    pub fn generate(&self) -> Value {
        (self.generate)()
    }

    /// The JSON Schema of the family's file.
    pub fn schema(&self) -> Value {
        (self.schema)()
    }

    /// Runs every test of a vector file through the core and compares: the result, the error
    /// code exactly, and every output. Also checks the envelope: `algorithm`, `schema`,
    /// `numberOfTests` equal to the count, `tcId`s unique, every flag defined in `notes`.
    pub fn check(&self, file: &Value) -> Report {
        let mut report = Report::default();
        let fail = |r: &mut Report, msg: String| r.failures.push(msg);
        if file["algorithm"] != self.algorithm {
            fail(
                &mut report,
                format!(
                    "algorithm is {}, not {:?}",
                    file["algorithm"], self.algorithm
                ),
            );
        }
        if file["schema"] != self.schema_name().as_str() {
            fail(
                &mut report,
                format!("schema is {}, not {:?}", file["schema"], self.schema_name()),
            );
        }
        let notes = file["notes"].as_object().cloned().unwrap_or_default();
        let Some(groups) = file["testGroups"].as_array() else {
            fail(&mut report, "testGroups is not an array".into());
            return report;
        };
        let mut ids = HashSet::new();
        for group in groups {
            let Some(tests) = group["tests"].as_array() else {
                fail(&mut report, "a test group has no tests array".into());
                continue;
            };
            for test in tests {
                report.tests += 1;
                let id = test["tcId"].as_u64().unwrap_or(0);
                let what = format!("tcId {id} ({})", test["comment"].as_str().unwrap_or(""));
                if id == 0 {
                    fail(
                        &mut report,
                        format!("{what}: tcId must be an integer from 1"),
                    );
                }
                if !ids.insert(id) {
                    fail(&mut report, format!("{what}: tcId repeated"));
                }
                for flag in test["flags"].as_array().into_iter().flatten() {
                    let flag = flag.as_str().unwrap_or("");
                    if !notes.contains_key(flag) {
                        fail(&mut report, format!("{what}: flag {flag:?} not in notes"));
                    }
                }
                match (self.run)(group, test) {
                    Err(e) => fail(&mut report, format!("{what}: unusable vector: {e}")),
                    Ok(actual) => {
                        for problem in compare(test, &actual) {
                            fail(&mut report, format!("{what}: {problem}"));
                        }
                    }
                }
            }
        }
        let count = report.tests;
        if file["numberOfTests"].as_u64() != Some(count as u64) {
            fail(
                &mut report,
                format!(
                    "numberOfTests is {}, but the file has {count} tests",
                    file["numberOfTests"]
                ),
            );
        }
        report
    }
}

/// Differences between what a vector expects and what the core gave.
fn compare(test: &Value, actual: &Actual) -> Vec<String> {
    let mut problems = Vec::new();
    let expected = test["result"].as_str().unwrap_or("");
    if expected != actual.result() {
        problems.push(format!(
            "expected {expected}, the core says {} {}",
            actual.result(),
            actual.error.as_deref().unwrap_or("")
        ));
        return problems;
    }
    if let Some(code) = &actual.error
        && test["error"].as_str() != Some(code)
    {
        problems.push(format!(
            "expected error {}, the core says {code}",
            test["error"]
        ));
    }
    if actual.error.is_none() && test.get("error").is_some() {
        problems.push("a valid test must not carry an error".into());
    }
    for (key, value) in &actual.outputs {
        match test.get(key) {
            Some(v) if v == value => {}
            Some(v) => problems.push(format!("{key}: expected {v}, the core gives {value}")),
            None => problems.push(format!("{key}: missing; the core gives {value}")),
        }
    }
    problems
}

/// A JSON value as the files store it: two-space indentation, final newline.
pub fn render(value: &Value) -> String {
    let mut s = serde_json::to_string_pretty(value).unwrap_or_default();
    s.push('\n');
    s
}

/// Every generated file, as (path relative to `conformance/`, contents).
pub fn generated_files() -> Vec<(String, String)> {
    let mut out = Vec::new();
    for f in families() {
        out.push((format!("vectors/{}", f.file_name()), render(&f.generate())));
        out.push((format!("schemas/{}", f.schema_name()), render(&f.schema())));
    }
    out
}

/// Writes every vector file and schema under `conformance_dir` (the `conformance/` directory).
/// Each file is written to a temporary name and renamed, so a concurrent reader sees the old
/// or the new contents, never a mix.
pub fn write_all(conformance_dir: &Path) -> std::io::Result<()> {
    for (rel, text) in generated_files() {
        let path = conformance_dir.join(rel);
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent)?;
        }
        let tmp = path.with_extension("json.tmp");
        std::fs::write(&tmp, text)?;
        std::fs::rename(&tmp, &path)?;
    }
    Ok(())
}

// ---------------------------------------------------------------------------------------
// Building files.

/// What a case must give.
enum Expect {
    /// Accepted; these outputs must equal what the core computes (others are filled in).
    Valid(Map<String, Value>),
    /// Refused with this code.
    Invalid(&'static str),
}

/// One test before it is numbered and run.
struct Case {
    comment: String,
    flags: Vec<String>,
    inputs: Map<String, Value>,
    expect: Expect,
}

/// Starts a case; finish it with [`Case::valid`], [`Case::pinned`] or [`Case::invalid`].
fn case(comment: impl Into<String>, flags: &[&str], inputs: Value) -> CaseStart {
    CaseStart {
        comment: comment.into(),
        flags: flags.iter().map(|f| f.to_string()).collect(),
        inputs: match inputs {
            Value::Object(m) => m,
            Value::Null => Map::new(),
            other => panic!("case inputs must be an object, not {other}"),
        },
    }
}

struct CaseStart {
    comment: String,
    flags: Vec<String>,
    inputs: Map<String, Value>,
}

impl CaseStart {
    fn finish(self, expect: Expect) -> Case {
        Case {
            comment: self.comment,
            flags: self.flags,
            inputs: self.inputs,
            expect,
        }
    }

    /// Expected to pass; outputs come from the core.
    fn valid(self) -> Case {
        self.finish(Expect::Valid(Map::new()))
    }

    /// Expected to pass with these outputs (values published elsewhere).
    fn pinned(self, outputs: Value) -> Case {
        let Value::Object(m) = outputs else {
            panic!("pinned outputs must be an object")
        };
        self.finish(Expect::Valid(m))
    }

    /// Expected to fail with `code`.
    fn invalid(self, code: &'static str) -> Case {
        self.finish(Expect::Invalid(code))
    }
}

/// Assembles one vector file, running every case through the family's procedure.
struct FileBuilder {
    name: &'static str,
    algorithm: &'static str,
    run: RunFn,
    header: Vec<String>,
    notes: Map<String, Value>,
    groups: Vec<Value>,
    next_id: u64,
    used_flags: BTreeSet<String>,
}

impl FileBuilder {
    fn new(name: &'static str, algorithm: &'static str, run: RunFn) -> Self {
        FileBuilder {
            name,
            algorithm,
            run,
            header: Vec::new(),
            notes: Map::new(),
            groups: Vec::new(),
            next_id: 1,
            used_flags: BTreeSet::new(),
        }
    }

    fn header(&mut self, lines: &[&str]) {
        self.header.extend(lines.iter().map(|l| l.to_string()));
    }

    /// Defines a flag: `bug_type` (Wycheproof's vocabulary), what the flag marks, and what goes
    /// wrong in an implementation that gets such a test wrong.
    fn note(&mut self, flag: &str, bug_type: &str, description: &str, effect: &str) {
        assert!(
            BUG_TYPES.contains(&bug_type),
            "{}: unknown bugType {bug_type}",
            self.name
        );
        let old = self.notes.insert(
            flag.to_string(),
            json!({"bugType": bug_type, "description": description, "effect": effect}),
        );
        assert!(old.is_none(), "{}: flag {flag} defined twice", self.name);
    }

    /// Adds a group: `shared` holds the inputs common to its tests (without `tests`).
    fn group(&mut self, shared: Value, cases: Vec<Case>) {
        let Value::Object(mut group) = shared else {
            panic!("group must be an object")
        };
        let group_value = Value::Object(group.clone());
        let mut tests = Vec::new();
        for c in cases {
            let id = self.next_id;
            self.next_id += 1;
            let mut t = Map::new();
            t.insert("tcId".into(), json!(id));
            t.insert("comment".into(), json!(c.comment));
            for f in &c.flags {
                assert!(
                    self.notes.contains_key(f),
                    "{} tcId {id}: flag {f} has no note",
                    self.name
                );
                self.used_flags.insert(f.clone());
            }
            t.insert("flags".into(), json!(c.flags));
            t.extend(c.inputs);
            let actual = (self.run)(&group_value, &Value::Object(t.clone())).unwrap_or_else(|e| {
                panic!("{} tcId {id} ({}): unusable: {e}", self.name, c.comment)
            });
            match c.expect {
                Expect::Valid(pinned) => {
                    assert!(
                        actual.error.is_none(),
                        "{} tcId {id} ({}): expected valid, the core says {:?}",
                        self.name,
                        c.comment,
                        actual.error
                    );
                    for (k, v) in &pinned {
                        assert_eq!(
                            actual.outputs.get(k),
                            Some(v),
                            "{} tcId {id} ({}): {k} differs from the published value",
                            self.name,
                            c.comment
                        );
                    }
                    t.extend(actual.outputs);
                    t.insert("result".into(), json!("valid"));
                }
                Expect::Invalid(code) => {
                    assert_eq!(
                        actual.error.as_deref(),
                        Some(code),
                        "{} tcId {id} ({}): expected {code}",
                        self.name,
                        c.comment
                    );
                    t.extend(actual.outputs);
                    t.insert("result".into(), json!("invalid"));
                    t.insert("error".into(), json!(code));
                }
            }
            tests.push(Value::Object(t));
        }
        group.insert("tests".into(), Value::Array(tests));
        self.groups.push(Value::Object(group));
    }

    fn finish(self) -> Value {
        for flag in self.notes.keys() {
            assert!(
                self.used_flags.contains(flag),
                "{}: flag {flag} is defined but no test uses it",
                self.name
            );
        }
        json!({
            "algorithm": self.algorithm,
            "schema": format!("{}_schema.json", self.name),
            "generatorVersion": GENERATOR_VERSION,
            "numberOfTests": self.next_id - 1,
            "header": self.header,
            "notes": self.notes,
            "testGroups": self.groups,
        })
    }
}

/// Wycheproof's `bugType` vocabulary (the subset we use).
const BUG_TYPES: &[&str] = &[
    "BASIC",
    "AUTH_BYPASS",
    "CAN_OF_WORMS",
    "DEFINED",
    "EDGE_CASE",
    "FUNCTIONALITY",
    "KNOWN_BUG",
    "LEGACY",
    "MALLEABILITY",
    "MISSING_STEP",
    "MODIFIED_PARAMETER",
    "MODIFIED_SIGNATURE",
    "WEAK_PARAMS",
    "WRONG_PRIMITIVE",
];

// ---------------------------------------------------------------------------------------
// Building schemas.

/// The schema of one kind of test group.
struct GroupSchema {
    /// The group's `type`.
    kind: &'static str,
    /// Shared inputs: name → schema.
    shared: Value,
    /// Shared inputs that must be present.
    shared_required: &'static [&'static str],
    /// Test inputs: name → schema.
    inputs: Value,
    /// Test inputs that must be present.
    inputs_required: &'static [&'static str],
    /// Outputs: name → schema.
    outputs: Value,
    /// Outputs every valid test carries.
    outputs_required: &'static [&'static str],
    /// More keywords for the test schema (e.g. `anyOf`), or `Null`.
    test_constraints: Value,
    /// More keywords for the group schema, or `Null`.
    group_constraints: Value,
}

/// The whole schema of a family's file.
fn file_schema(
    name: &str,
    algorithm: &str,
    title: &str,
    groups: Vec<GroupSchema>,
    error_codes: &[&str],
) -> Value {
    let mut defs = common_defs();
    defs.insert("errorCode".into(), json!({"enum": error_codes}));
    let mut refs = Vec::new();
    for g in groups {
        let mut test_props = Map::new();
        test_props.insert("tcId".into(), json!({"type": "integer", "minimum": 1}));
        test_props.insert("comment".into(), json!({"type": "string"}));
        test_props.insert("flags".into(), json!({"$ref": "#/$defs/flags"}));
        test_props.extend(obj(g.inputs));
        test_props.extend(obj(g.outputs));
        test_props.insert("result".into(), json!({"enum": ["valid", "invalid"]}));
        test_props.insert("error".into(), json!({"$ref": "#/$defs/errorCode"}));
        let mut required = vec!["tcId", "comment", "flags"];
        required.extend(g.inputs_required);
        required.push("result");
        let mut test = obj(json!({
            "type": "object",
            "additionalProperties": false,
            "required": required,
            "properties": test_props,
            "if": {"properties": {"result": {"const": "valid"}}},
            "then": {"required": g.outputs_required, "not": {"required": ["error"]}},
            "else": {"required": ["error"]},
        }));
        test.extend(obj(g.test_constraints));
        let mut group_props = Map::new();
        group_props.insert("type".into(), json!({"const": g.kind}));
        group_props.extend(obj(g.shared));
        group_props.insert(
            "tests".into(),
            json!({"type": "array", "minItems": 1, "items": test}),
        );
        let mut group_required = vec!["type"];
        group_required.extend(g.shared_required);
        group_required.push("tests");
        let def_name = format!("{}Group", g.kind);
        let mut group = obj(json!({
            "type": "object",
            "additionalProperties": false,
            "required": group_required,
            "properties": group_props,
        }));
        group.extend(obj(g.group_constraints));
        defs.insert(def_name.clone(), Value::Object(group));
        refs.push(json!({"$ref": format!("#/$defs/{def_name}")}));
    }
    json!({
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "$id": format!("https://shardpeer.invalid/conformance/schemas/{name}_schema.json"),
        "title": title,
        "type": "object",
        "additionalProperties": false,
        "required": ["algorithm", "schema", "generatorVersion", "numberOfTests", "header", "notes", "testGroups"],
        "properties": {
            "algorithm": {"const": algorithm},
            "schema": {"const": format!("{name}_schema.json")},
            "generatorVersion": {"type": "string", "minLength": 1},
            "numberOfTests": {"type": "integer", "minimum": 1},
            "header": {"type": "array", "minItems": 1, "items": {"type": "string"}},
            "notes": {
                "type": "object",
                "propertyNames": {"pattern": "^[A-Za-z0-9_]+$"},
                "additionalProperties": {"$ref": "#/$defs/note"},
            },
            "testGroups": {"type": "array", "minItems": 1, "items": {"oneOf": refs}},
        },
        "$defs": defs,
    })
}

fn obj(v: Value) -> Map<String, Value> {
    match v {
        Value::Object(m) => m,
        Value::Null => Map::new(),
        other => panic!("expected an object, got {other}"),
    }
}

/// Definitions every schema shares.
fn common_defs() -> Map<String, Value> {
    obj(json!({
        "note": {
            "type": "object",
            "additionalProperties": false,
            "required": ["bugType", "description", "effect"],
            "properties": {
                "bugType": {"enum": BUG_TYPES},
                "description": {"type": "string", "minLength": 1},
                "effect": {"type": "string", "minLength": 1},
            },
        },
        "flags": {
            "type": "array",
            "uniqueItems": true,
            "items": {"type": "string", "pattern": "^[A-Za-z0-9_]+$"},
        },
        "hex": {"type": "string", "pattern": "^([0-9a-f]{2})*$"},
        "hex32": {"type": "string", "pattern": "^[0-9a-f]{64}$"},
        "hex64": {"type": "string", "pattern": "^[0-9a-f]{128}$"},
        "publicKeyPem": {
            "type": "string",
            "pattern": "^-----BEGIN PUBLIC KEY-----\\n[A-Za-z0-9+/]+=*\\n-----END PUBLIC KEY-----\\n$",
        },
        "privateKeyPem": {
            "type": "string",
            "pattern": "^-----BEGIN PRIVATE KEY-----\\n[A-Za-z0-9+/]+=*\\n-----END PRIVATE KEY-----\\n$",
        },
        "shardId": {"type": "string", "pattern": "^[a-z2-7]{48}$"},
        "unixTime": {"type": "integer", "minimum": 0},
        "scheme": {"enum": ["http", "https"]},
        "httpRequest": {
            "description": "An HTTP/1.1 request in wire form: request line, field lines and a blank line, each ending in CRLF, then the body (the UTF-8 bytes of the rest of the string).",
            "type": "string",
            "pattern": "^[A-Z]+ [^ ]+ HTTP/1\\.1\\r\\n",
        },
        "httpResponse": {
            "description": "An HTTP/1.1 response in wire form: status line, field lines and a blank line, each ending in CRLF, then the body.",
            "type": "string",
            "pattern": "^HTTP/1\\.1 [1-9][0-9]{2} ",
        },
        "extraFields": {
            "description": "Field lines the transport delivers in addition to those of the wire message, with values that HTTP/1.1 wire form cannot carry (CR, LF, NUL), as from a lax parser or another HTTP version. Appended after the message's own fields.",
            "type": "array",
            "minItems": 1,
            "items": {
                "type": "object",
                "additionalProperties": false,
                "required": ["name", "valueHex"],
                "properties": {
                    "name": {"type": "string", "minLength": 1},
                    "valueHex": {"$ref": "#/$defs/hex"},
                },
            },
        },
    }))
}
