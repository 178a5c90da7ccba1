//! `behaviorctl evaluate` end to end on a small fixture: the built binary, real files.
//!
//! `fixtures/fixed_small.jsonl`: four people type ".tie" + Enter 10 times each; p1, p2 and p3
//! have clearly different rhythms, p4 types exactly like p1 (same timings, other jitter).
//! Line 8 is cut short and line 24 names a key that does not exist.

// Test helpers outside #[test] functions may fail loudly too.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use serde_json::Value;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn fixture() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/fixed_small.jsonl")
}

fn evaluate(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_behaviorctl"))
        .arg("evaluate")
        .args(args)
        .output()
        .unwrap()
}

/// The JSON object on the last line of stdout.
fn figures(out: &Output) -> Value {
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let stdout = String::from_utf8(out.stdout.clone()).unwrap();
    serde_json::from_str(stdout.lines().last().unwrap()).unwrap()
}

fn num(v: &Value, key: &str) -> f64 {
    v[key]
        .as_f64()
        .unwrap_or_else(|| panic!("{key} missing in {v}"))
}

#[test]
fn separable_people_have_no_errors() {
    // Only p1..p3: every detector must separate them perfectly.
    let text = std::fs::read_to_string(fixture()).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("three.jsonl");
    let kept: Vec<&str> = text.lines().filter(|l| !l.contains("\"p4\"")).collect();
    std::fs::write(&path, kept.join("\n")).unwrap();
    for detector in ["product", "manhattan-scaled"] {
        let v = figures(&evaluate(&[
            path.to_str().unwrap(),
            "--mode",
            "fixed",
            "--train",
            "5",
            "--detector",
            detector,
            "--json",
        ]));
        assert_eq!(v["mode"], "fixed");
        assert_eq!(v["detector"], detector);
        assert_eq!(v["subjects"], 3);
        assert_eq!(num(&v, "eer_mean"), 0.0, "{v}");
        assert_eq!(num(&v, "eer_sd"), 0.0, "{v}");
        assert_eq!(num(&v, "zero_miss_far_mean"), 0.0, "{v}");
    }
}

#[test]
fn adapting_replay_reports_what_users_meet() {
    let v = figures(&evaluate(&[
        fixture().to_str().unwrap(),
        "--train",
        "5",
        "--detector",
        "product-adapting",
        "--json",
    ]));
    assert_eq!(v["detector"], "product-adapting");
    assert_eq!(v["subjects"], 4);
    // The look-alike p4 is still there, so impostors do get in.
    let eer = num(&v, "eer_mean");
    assert!(eer > 0.05 && eer <= 0.25, "{v}");
    assert!(num(&v, "false_accept_mean") > 0.0, "{v}");
    for key in ["false_reject_mean", "adapted_mean"] {
        assert!((0.0..=1.0).contains(&num(&v, key)), "{key}: {v}");
    }
    let table = evaluate(&[
        fixture().to_str().unwrap(),
        "--train",
        "5",
        "--detector",
        "product-adapting",
    ]);
    let stdout = String::from_utf8(table.stdout).unwrap();
    assert!(stdout.contains("rejected at accept"), "{stdout}");

    let plain = figures(&evaluate(&[fixture().to_str().unwrap(), "--json"]));
    assert!(plain.get("adapted_mean").is_none(), "{plain}");
    let free = evaluate(&[
        fixture().to_str().unwrap(),
        "--mode",
        "free",
        "--detector",
        "product-adapting",
    ]);
    assert!(!free.status.success());
    let err = String::from_utf8_lossy(&free.stderr);
    assert!(err.contains("does not apply to --mode free"), "{err}");
}

#[test]
fn a_look_alike_raises_the_error_rate_and_bad_lines_are_skipped() {
    for detector in ["product", "manhattan-scaled"] {
        let out = evaluate(&[
            fixture().to_str().unwrap(),
            "--train",
            "5",
            "--detector",
            detector,
            "--json",
        ]);
        let stderr = String::from_utf8_lossy(&out.stderr).to_string();
        let v = figures(&out);
        assert_eq!(v["subjects"], 4);
        assert_eq!(v["samples"], 40);
        assert_eq!(v["skipped_lines"], 2);
        assert!(stderr.contains("fixed_small.jsonl:8:"), "{stderr}");
        assert!(stderr.contains("fixed_small.jsonl:24:"), "{stderr}");
        assert!(stderr.contains("nosuchkey"), "{stderr}");
        // p2 and p3 stay at 0; p1 and p4 cannot be told apart, so their EERs are well above
        // 0 (bounded by 0.5 each) and no threshold keeps p4 out without rejecting p1.
        let eer = num(&v, "eer_mean");
        assert!(eer > 0.05 && eer <= 0.25, "{detector}: {v}");
        let zm = num(&v, "zero_miss_far_mean");
        assert!(zm > 0.25 && zm <= 0.5, "{detector}: {v}");
    }
}

#[test]
fn gzip_input_gives_the_same_figures() {
    let dir = tempfile::tempdir().unwrap();
    let gz = dir.path().join("fixed_small.jsonl.gz");
    let mut enc = flate2::write::GzEncoder::new(
        std::fs::File::create(&gz).unwrap(),
        flate2::Compression::default(),
    );
    enc.write_all(&std::fs::read(fixture()).unwrap()).unwrap();
    enc.finish().unwrap();
    let plain = figures(&evaluate(&[fixture().to_str().unwrap(), "--json"]));
    let packed = figures(&evaluate(&[gz.to_str().unwrap(), "--json"]));
    assert_eq!(plain, packed);
    assert_eq!(plain["train"], "half");
}

#[test]
fn free_mode_reports_its_protocol() {
    // The fixture's typings joined end to end are free text too (5 keystrokes each).
    for detector in ["product", "digraph-manhattan"] {
        let v = figures(&evaluate(&[
            fixture().to_str().unwrap(),
            "--mode",
            "free",
            "--gallery",
            "3",
            "--length",
            "5",
            "--impostors",
            "2",
            "--seed",
            "7",
            "--detector",
            detector,
            "--json",
        ]));
        assert_eq!(v["mode"], "free");
        assert_eq!(v["detector"], detector);
        assert_eq!(v["subjects"], 4);
        assert_eq!(v["gallery"], 3);
        assert_eq!(v["length"], 5);
        assert_eq!(v["seed"], 7);
        assert!(v.get("zero_miss_far_mean").is_none());
        let eer = num(&v, "eer_mean");
        assert!((0.0..=1.0).contains(&eer), "{v}");
    }
}

#[test]
fn human_output_is_a_table() {
    let out = evaluate(&[fixture().to_str().unwrap(), "--train", "5"]);
    assert!(out.status.success());
    let stdout = String::from_utf8(out.stdout).unwrap();
    assert!(stdout.contains("EER"), "{stdout}");
    assert!(stdout.contains("zero-miss false alarm"), "{stdout}");
    assert!(stdout.contains("subjects   4"), "{stdout}");
}

#[test]
fn errors_name_what_is_wrong_and_exit_non_zero() {
    let missing = evaluate(&["/nonexistent/samples.jsonl"]);
    assert!(!missing.status.success());
    let err = String::from_utf8_lossy(&missing.stderr);
    assert!(err.contains("/nonexistent/samples.jsonl"), "{err}");

    let wrong = evaluate(&[
        fixture().to_str().unwrap(),
        "--mode",
        "free",
        "--detector",
        "manhattan-scaled",
    ]);
    assert!(!wrong.status.success());
    let err = String::from_utf8_lossy(&wrong.stderr);
    assert!(err.contains("does not apply to --mode free"), "{err}");

    let bad_train = evaluate(&[fixture().to_str().unwrap(), "--train", "none"]);
    assert!(!bad_train.status.success());
    let err = String::from_utf8_lossy(&bad_train.stderr);
    assert!(err.contains("half"), "{err}");

    // Too many training samples: nobody has a genuine test left.
    let too_many = evaluate(&[fixture().to_str().unwrap(), "--train", "10"]);
    assert!(!too_many.status.success());
    let err = String::from_utf8_lossy(&too_many.stderr);
    assert!(err.contains("no subject"), "{err}");
}

#[test]
fn practice_samples_are_left_out_and_reported() {
    let file = fixture();
    let file = file.to_str().unwrap();
    let plain = figures(&evaluate(&[file, "--train", "3", "--json"]));
    assert_eq!(plain["practice"], 0, "{plain}");
    let practised = figures(&evaluate(&[
        file,
        "--train",
        "3",
        "--practice",
        "2",
        "--json",
    ]));
    assert_eq!(practised["practice"], 2, "{practised}");
    assert_eq!(practised["subjects"], 4);
    // Other training samples, so other figures (the fixture's jitter differs per sample).
    assert_ne!(
        plain["eer_mean"], practised["eer_mean"],
        "{plain} {practised}"
    );

    let table = evaluate(&[file, "--train", "3", "--practice", "2"]);
    let stdout = String::from_utf8(table.stdout).unwrap();
    assert!(stdout.contains("practice   2"), "{stdout}");

    // Nobody has samples left to test after 10 practice typings.
    let none = evaluate(&[file, "--train", "3", "--practice", "10"]);
    assert!(!none.status.success());
    let err = String::from_utf8_lossy(&none.stderr);
    assert!(err.contains("no subject"), "{err}");

    let free = evaluate(&[file, "--mode", "free", "--practice", "1"]);
    assert!(!free.status.success());
    let err = String::from_utf8_lossy(&free.stderr);
    assert!(
        err.contains("--practice applies to --mode fixed only"),
        "{err}"
    );
}
