//! The conformance vectors: every file validates against its schema, the core passes every
//! vector, every file in `vectors/` is exercised, and the checked-in files are exactly what the
//! generator produces. Negative controls make sure the checks can fail.
//!
//! Regenerate the files with the command in [`REGENERATE_COMMAND`].

use serde_json::Value;
use shardpeer_conformance::vectors::{
    self, Family, REGENERATE_COMMAND, families, family_for_file, render,
};
use std::path::{Path, PathBuf};

fn conformance_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn load(path: &Path) -> Value {
    let text = std::fs::read_to_string(path)
        .unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()));
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{} is not JSON: {e}", path.display()))
}

fn vector_file(f: &Family) -> Value {
    load(&conformance_dir().join("vectors").join(f.file_name()))
}

fn schema_file(f: &Family) -> Value {
    load(&conformance_dir().join("schemas").join(f.schema_name()))
}

/// Runs every file of `dir` (a `vectors/` directory) through the checker. Returns one line per
/// problem: a file no family exercises, a family without its file, or a failed vector.
fn check_vectors_dir(dir: &Path) -> (Vec<String>, Vec<(String, usize)>) {
    let mut problems = Vec::new();
    let mut counts = Vec::new();
    let mut seen = Vec::new();
    let mut entries: Vec<_> = std::fs::read_dir(dir)
        .unwrap_or_else(|e| panic!("cannot list {}: {e}", dir.display()))
        .map(|e| e.expect("directory entry").path())
        .collect();
    entries.sort();
    for path in entries {
        let name = path
            .file_name()
            .and_then(|n| n.to_str())
            .unwrap_or("")
            .to_string();
        if name == "third-party" && path.is_dir() {
            continue;
        }
        let Some(family) = family_for_file(&name) else {
            problems.push(format!(
                "{name}: not exercised by any test (no family reads it); remove it or add a family"
            ));
            continue;
        };
        seen.push(family.name);
        let report = family.check(&load(&path));
        counts.push((name.clone(), report.tests));
        if report.tests == 0 {
            problems.push(format!("{name}: no tests"));
        }
        problems.extend(report.failures.iter().map(|f| format!("{name}: {f}")));
    }
    for f in families() {
        if !seen.contains(&f.name) {
            problems.push(format!("{}: missing from {}", f.file_name(), dir.display()));
        }
    }
    (problems, counts)
}

fn schema_errors(schema: &Value, instance: &Value) -> Vec<String> {
    let validator = jsonschema::validator_for(schema).expect("schema compiles");
    validator
        .iter_errors(instance)
        .map(|e| format!("{} at {}", e, e.instance_path()))
        .collect()
}

#[test]
fn the_core_passes_every_vector() {
    let (problems, counts) = check_vectors_dir(&conformance_dir().join("vectors"));
    for (name, n) in &counts {
        eprintln!("{name:<28} {n:>4} tests");
    }
    assert!(
        problems.is_empty(),
        "{} problem(s):\n{}",
        problems.len(),
        problems.join("\n")
    );
}

#[test]
fn every_file_matches_its_schema() {
    let mut problems = Vec::new();
    for f in families() {
        let schema = schema_file(f);
        if let Err(e) = jsonschema::meta::validate(&schema) {
            problems.push(format!("{}: not a valid JSON Schema: {e}", f.schema_name()));
            continue;
        }
        assert_eq!(
            schema["$schema"],
            "https://json-schema.org/draft/2020-12/schema",
            "{}",
            f.schema_name()
        );
        let file = vector_file(f);
        assert_eq!(
            file["schema"],
            f.schema_name().as_str(),
            "{}",
            f.file_name()
        );
        for e in schema_errors(&schema, &file) {
            problems.push(format!("{}: {e}", f.file_name()));
        }
    }
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}

#[test]
fn checked_in_files_equal_the_generator_output() {
    let dir = conformance_dir();
    if std::env::var_os("SHARDPEER_UPDATE_VECTORS").is_some() {
        vectors::write_all(&dir).expect("write the vectors");
        eprintln!("vectors and schemas rewritten under {}", dir.display());
        return;
    }
    let mut drift = Vec::new();
    for (rel, text) in vectors::generated_files() {
        match std::fs::read_to_string(dir.join(&rel)) {
            Ok(on_disk) if on_disk == text => {}
            Ok(_) => drift.push(format!("{rel} differs from what the generator produces")),
            Err(e) => drift.push(format!("{rel}: {e}")),
        }
    }
    let generated: Vec<String> = vectors::generated_files()
        .into_iter()
        .map(|(r, _)| r)
        .collect();
    let listed = std::fs::read_dir(dir.join("schemas"))
        .expect("schemas/")
        .map(|e| {
            format!(
                "schemas/{}",
                e.expect("entry").file_name().to_string_lossy()
            )
        });
    for rel in listed {
        if !generated.contains(&rel) {
            drift.push(format!("{rel} is not generated by any family; remove it"));
        }
    }
    assert!(
        drift.is_empty(),
        "{}\nThe checked-in vectors are the source of truth for other implementations: if the change is intended, regenerate them with\n    {REGENERATE_COMMAND}\nand review the diff.",
        drift.join("\n")
    );
}

#[test]
fn rfc_examples_match_the_third_party_text() {
    let dir = conformance_dir();
    let rfc = std::fs::read_to_string(dir.join("vectors/third-party/rfc9421-appendix-b.txt"))
        .expect("third-party RFC text");
    let mut checked = 0;
    let tests = |f: &Family| -> Vec<Value> {
        vector_file(f)["testGroups"]
            .as_array()
            .expect("groups")
            .iter()
            .flat_map(|g| g["tests"].as_array().expect("tests").clone())
            .collect()
    };
    let flagged = |t: &Value, flag: &str| {
        t["flags"]
            .as_array()
            .is_some_and(|fs| fs.iter().any(|f| f == flag))
    };
    for f in families() {
        for t in tests(f) {
            if !flagged(&t, "Rfc9421Example") && !flagged(&t, "Rfc9530Example") {
                continue;
            }
            if let Some(base) = t["signatureBase"].as_str()
                && t["result"] == "valid"
                && f.name != "verification"
            {
                assert!(
                    rfc.contains(base),
                    "{} tcId {}: base not in the RFC text",
                    f.name,
                    t["tcId"]
                );
                checked += 1;
            }
            for key in ["signatureInput", "signature"] {
                if let Some(v) = t[key].as_str() {
                    assert!(
                        rfc.contains(v),
                        "{} tcId {}: {key} not in the RFC text",
                        f.name,
                        t["tcId"]
                    );
                    checked += 1;
                }
            }
            if let Some(h) = t["header"].as_str()
                && f.name == "content_digest"
            {
                assert!(
                    rfc.contains(h),
                    "content_digest tcId {}: not in the RFC text",
                    t["tcId"]
                );
                checked += 1;
            }
            if f.name == "verification" && t["result"] == "valid" && flagged(&t, "Rfc9421Example") {
                // Every field line of the RFC's own messages is in the RFC text.
                let msg = t["request"].as_str().expect("request");
                if t["comment"]
                    .as_str()
                    .is_some_and(|c| c.starts_with("RFC 9421 B."))
                {
                    let head = msg.split("\r\n\r\n").next().expect("head");
                    for line in head.split("\r\n") {
                        assert!(
                            rfc.contains(line),
                            "verification tcId {}: {line:?} not in the RFC text",
                            t["tcId"]
                        );
                        checked += 1;
                    }
                }
            }
        }
    }
    assert!(
        checked >= 20,
        "only {checked} values compared with the RFC text"
    );
}

// ---------------------------------------------------------------------------------------
// Negative controls: the checks above must be able to fail.

fn family(name: &str) -> &'static Family {
    families().iter().find(|f| f.name == name).expect("family")
}

/// The first test of `file` for which `pick` is true, mutably.
fn find_test(file: &mut Value, pick: impl Fn(&Value) -> bool) -> &mut Value {
    file["testGroups"]
        .as_array_mut()
        .expect("groups")
        .iter_mut()
        .flat_map(|g| g["tests"].as_array_mut().expect("tests").iter_mut())
        .find(|t| pick(t))
        .expect("a matching test")
}

#[test]
fn negative_control_a_flipped_byte_of_a_base_is_reported() {
    let f = family("signature_base");
    let mut file = vector_file(f);
    assert!(f.check(&file).failures.is_empty());
    let t = find_test(&mut file, |t| t["result"] == "valid");
    let mut base = t["signatureBase"]
        .as_str()
        .expect("base")
        .as_bytes()
        .to_vec();
    base[3] ^= 0x01;
    t["signatureBase"] = Value::String(String::from_utf8(base).expect("ASCII"));
    let report = f.check(&file);
    assert_eq!(report.failures.len(), 1, "{:?}", report.failures);
    assert!(
        report.failures[0].contains("signatureBase"),
        "{}",
        report.failures[0]
    );
}

#[test]
fn negative_control_a_changed_error_code_is_reported() {
    let f = family("verification");
    let mut file = vector_file(f);
    let t = find_test(&mut file, |t| t["error"] == "signature_replayed");
    t["error"] = Value::from("signature_invalid");
    let report = f.check(&file);
    assert_eq!(report.failures.len(), 1, "{:?}", report.failures);
    assert!(
        report.failures[0].contains("signature_replayed"),
        "{}",
        report.failures[0]
    );
}

#[test]
fn negative_control_a_flipped_result_is_reported() {
    let f = family("ed25519_rule");
    let mut file = vector_file(f);
    let t = find_test(&mut file, |t| {
        t["cctvNumber"].is_u64() && t["result"] == "invalid"
    });
    t["result"] = Value::from("valid");
    t.as_object_mut().expect("object").remove("error");
    assert_eq!(f.check(&file).failures.len(), 1);
}

#[test]
fn negative_control_a_tampered_message_is_reported() {
    let f = family("verification");
    let mut file = vector_file(f);
    let t = find_test(&mut file, |t| {
        t["result"] == "valid"
            && t["comment"]
                .as_str()
                .is_some_and(|c| c.starts_with("alice's POST"))
    });
    let tampered = t["request"]
        .as_str()
        .expect("request")
        .replace("POST ", "PUT ");
    t["request"] = Value::from(tampered);
    let report = f.check(&file);
    assert_eq!(report.failures.len(), 1, "{:?}", report.failures);
    assert!(
        report.failures[0].contains("signature_invalid"),
        "{}",
        report.failures[0]
    );
}

#[test]
fn negative_control_envelope_errors_are_reported() {
    let f = family("shard_id");
    let clean = vector_file(f);

    let mut wrong_count = clean.clone();
    wrong_count["numberOfTests"] = Value::from(clean["numberOfTests"].as_u64().expect("n") + 1);
    assert!(
        f.check(&wrong_count)
            .failures
            .iter()
            .any(|m| m.contains("numberOfTests"))
    );

    let mut dup = clean.clone();
    let first_id = dup["testGroups"][0]["tests"][0]["tcId"].clone();
    dup["testGroups"][0]["tests"][1]["tcId"] = first_id;
    assert!(
        f.check(&dup)
            .failures
            .iter()
            .any(|m| m.contains("tcId repeated"))
    );

    let mut undefined = clean.clone();
    undefined["testGroups"][0]["tests"][0]["flags"] = serde_json::json!(["NoSuchFlag"]);
    assert!(
        f.check(&undefined)
            .failures
            .iter()
            .any(|m| m.contains("NoSuchFlag"))
    );

    let mut dropped = clean.clone();
    dropped["testGroups"][1]["tests"]
        .as_array_mut()
        .expect("tests")
        .pop();
    assert!(
        f.check(&dropped)
            .failures
            .iter()
            .any(|m| m.contains("numberOfTests"))
    );
}

#[test]
fn negative_control_schema_violations_are_reported() {
    let f = family("verification");
    let schema = schema_file(f);
    let clean = vector_file(f);
    assert!(schema_errors(&schema, &clean).is_empty());

    let mut extra = clean.clone();
    extra["testGroups"][0]["tests"][0]["unexpected"] = Value::from(1);
    assert!(
        !schema_errors(&schema, &extra).is_empty(),
        "unknown property accepted"
    );

    let mut no_error = clean.clone();
    let t = find_test(&mut no_error, |t| t["result"] == "invalid");
    t.as_object_mut().expect("object").remove("error");
    assert!(
        !schema_errors(&schema, &no_error).is_empty(),
        "invalid test without error accepted"
    );

    let mut bad_code = clean.clone();
    find_test(&mut bad_code, |t| t["result"] == "invalid")["error"] = Value::from("not_a_code");
    assert!(
        !schema_errors(&schema, &bad_code).is_empty(),
        "unknown error code accepted"
    );

    let mut bad_result = clean;
    bad_result["testGroups"][0]["tests"][0]["result"] = Value::from("acceptable");
    assert!(
        !schema_errors(&schema, &bad_result).is_empty(),
        "result outside the enum accepted"
    );
}

#[test]
fn negative_control_an_unexercised_file_is_reported() {
    let tmp = tempfile::tempdir().expect("temp dir");
    for f in families() {
        std::fs::write(tmp.path().join(f.file_name()), render(&vector_file(f))).expect("copy");
    }
    std::fs::create_dir(tmp.path().join("third-party")).expect("mkdir");
    let (problems, _) = check_vectors_dir(tmp.path());
    assert!(problems.is_empty(), "{problems:?}");

    std::fs::write(tmp.path().join("keys.json"), "{}").expect("write");
    std::fs::remove_file(tmp.path().join("acl.json")).expect("remove");
    let (problems, _) = check_vectors_dir(tmp.path());
    assert!(
        problems
            .iter()
            .any(|p| p.starts_with("keys.json: not exercised")),
        "{problems:?}"
    );
    assert!(
        problems.iter().any(|p| p.starts_with("acl.json: missing")),
        "{problems:?}"
    );
}
