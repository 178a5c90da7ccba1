//! Runs the free-text protocol on JSONL samples read from stdin and prints the figures.
//! `zcat data.jsonl.gz | cargo run --release -p behavior_core --example free_eval -- [product|reference] [L] [G] [M]`
use behavior_core::eval::mean_sd;
use behavior_core::eval_free::{evaluate_with, FreeDetector, FreeProtocol};
use behavior_core::free::FreeParams;
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
    let mut params = FreeParams::default();
    let env = |k: &str| std::env::var(k).ok().and_then(|v| v.parse::<f64>().ok());
    if let Some(v) = env("CLIP") {
        params.clip = v;
    }
    if let Some(v) = env("GAP") {
        params.max_gap_ms = v;
    }
    if let Some(v) = env("PRIOR") {
        params.prior_weight = v;
    }
    let r = evaluate_with(&samples, &proto, detector, &params, &mut |_, _| {});
    let eers: Vec<f64> = r.iter().map(|s| s.eer).collect();
    let m = mean_sd(&eers);
    println!(
        "{detector:?} L={} G={} M={} subjects={} eer={:?} in {:.1}s",
        proto.length,
        proto.gallery,
        proto.impostors,
        r.len(),
        m,
        t.elapsed().as_secs_f64()
    );
}
