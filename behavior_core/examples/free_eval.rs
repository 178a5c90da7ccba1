//! Runs the free-text protocol (`eval_free::evaluate`) on JSONL samples from stdin; the same
//! figures as `behaviorctl evaluate --mode free`, without the CLI.
//!
//! `zcat aalto_dev.jsonl.gz | cargo run --release -p behavior_core --example free_eval -- \
//!     [product|reference] [LENGTH=50] [GALLERY=10] [IMPOSTORS=200] [SUBJECTS]`
use behavior_core::eval::mean_sd;
use behavior_core::eval_free::{evaluate, FreeDetector, FreeProtocol};
use behavior_core::LabeledSample;
use std::io::BufRead;

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let detector = match args.get(1).map(String::as_str) {
        Some("reference") => FreeDetector::DigraphManhattan,
        _ => FreeDetector::Product,
    };
    let num = |i: usize, d: usize| args.get(i).and_then(|a| a.parse().ok()).unwrap_or(d);
    let proto = FreeProtocol {
        length: num(2, 50),
        gallery: num(3, 10),
        impostors: num(4, 200),
        subjects: args.get(5).and_then(|a| a.parse().ok()),
        seed: 1,
    };
    let samples: Vec<LabeledSample> = std::io::stdin()
        .lock()
        .lines()
        .map_while(Result::ok)
        .filter_map(|l| LabeledSample::parse_line(&l).ok())
        .collect();
    let t = std::time::Instant::now();
    let r = evaluate(&samples, &proto, detector, &mut |_, _| {});
    let eers: Vec<f64> = r.iter().map(|s| s.eer).collect();
    match mean_sd(&eers) {
        Some(m) => println!(
            "{detector:?} L={} G={} M={} subjects={} eer_mean={:.4} eer_sd={:.4} ({:.1} s)",
            proto.length,
            proto.gallery,
            proto.impostors,
            r.len(),
            m.mean,
            m.sd,
            t.elapsed().as_secs_f64()
        ),
        None => println!("no subject has enough samples for this protocol"),
    }
}
