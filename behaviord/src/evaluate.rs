//! `behaviorctl evaluate`: offline accuracy of the matcher on sample files
//! (`samples-format.md`), with the very code the daemon uses. No daemon, no root.
//!
//! Reads `.jsonl` or `.jsonl.gz`; a malformed line is reported on stderr with its line
//! number and skipped. Progress goes to stderr; the result is a short table, or with
//! `--json` one JSON object as the last line of stdout.

use behavior_core::eval::{mean_sd, OnlineRates, SubjectResult};
use behavior_core::eval_fixed::{self, FixedDetector, FixedProtocol, Train};
use behavior_core::eval_free::{self, FreeDetector, FreeProtocol};
use behavior_core::LabeledSample;
use std::fs::File;
use std::io::{BufRead, BufReader, Read};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

/// Evaluation protocol.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum Mode {
    /// A fixed phrase typed repeatedly (Killourhy & Maxion protocol).
    Fixed,
    /// Free text cut into windows of keystrokes (TypeNet protocol).
    Free,
}

/// Matcher to evaluate.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum Detector {
    /// The product's matcher, as the daemon uses it.
    Product,
    /// Fixed mode: the product's matcher adapting from the genuine test typings in order, as
    /// the daemon does after each login (not part of the published protocol).
    ProductAdapting,
    /// Killourhy & Maxion's scaled Manhattan, as published (fixed mode).
    ManhattanScaled,
    /// Scaled Manhattan over digraph timings (free mode).
    DigraphManhattan,
}

#[derive(Clone, Debug, clap::Args)]
pub struct EvaluateArgs {
    /// Sample file (`.jsonl` or `.jsonl.gz`, see samples-format.md).
    pub file: PathBuf,
    /// Evaluation protocol.
    #[arg(long, value_enum, default_value_t = Mode::Fixed)]
    pub mode: Mode,
    /// Fixed mode: training samples per subject, a number or `half`.
    #[arg(long, default_value = "half", value_parser = parse_train)]
    pub train: TrainArg,
    /// Fixed mode: leave out each subject's first P samples before training, to measure
    /// users who enroll after getting used to the phrase (not part of the published
    /// protocol; impostors stay the first samples of the others).
    #[arg(long, default_value_t = 0, value_name = "P")]
    pub practice: usize,
    /// Free mode: gallery (enrollment) samples per subject.
    #[arg(long, default_value_t = 10)]
    pub gallery: usize,
    /// Free mode: keystrokes per query window.
    #[arg(long, default_value_t = 50)]
    pub length: usize,
    /// Free mode: impostor subjects per subject.
    #[arg(long, default_value_t = 200)]
    pub impostors: usize,
    /// Free mode: evaluate only the first S subjects of the file.
    #[arg(long)]
    pub subjects: Option<usize>,
    /// Free mode: seed of the impostor choice.
    #[arg(long, default_value_t = 1)]
    pub seed: u64,
    /// Matcher to evaluate: `product`, the published reference of the mode
    /// (`manhattan-scaled` for fixed, `digraph-manhattan` for free), or in fixed mode
    /// `product-adapting` (the daemon's adaptation replayed over the genuine typings).
    #[arg(long, value_enum, default_value_t = Detector::Product)]
    pub detector: Detector,
    /// Print one JSON object as the last line instead of a table.
    #[arg(long)]
    pub json: bool,
}

/// `--train`: a count or `half`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TrainArg(pub Train);

fn parse_train(s: &str) -> Result<TrainArg, String> {
    if s == "half" {
        return Ok(TrainArg(Train::Half));
    }
    match s.parse::<usize>() {
        Ok(n) if n > 0 => Ok(TrainArg(Train::Count(n))),
        _ => Err(format!(
            "expected a positive number of samples or `half`, got {s:?}"
        )),
    }
}

#[derive(Debug, thiserror::Error)]
pub enum EvaluateError {
    #[error("cannot read {path}: {source}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{path} has no usable sample")]
    NoSamples { path: PathBuf },
    #[error(
        "no subject of {path} could be evaluated (too few samples per subject for these settings?)"
    )]
    NoResults { path: PathBuf },
    #[error("detector {detector} does not apply to --mode {mode} (use {valid})")]
    DetectorMode {
        detector: &'static str,
        mode: &'static str,
        valid: &'static str,
    },
    #[error("--{name} must be at least 1")]
    Zero { name: &'static str },
    #[error("--practice applies to --mode fixed only")]
    PracticeFree,
    #[error("cannot encode the result as JSON: {0}")]
    Encode(String),
}

/// The figures of one run. Mode-specific fields are left out of the JSON of the other mode.
#[derive(Clone, Debug, serde::Serialize)]
pub struct Summary {
    pub mode: &'static str,
    pub detector: &'static str,
    pub subjects: usize,
    pub eer_mean: f64,
    pub eer_sd: f64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub train: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub practice: Option<usize>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub zero_miss_far_mean: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub zero_miss_far_sd: Option<f64>,
    /// `product-adapting` only: mean shares of genuine typings rejected and of impostor
    /// typings accepted at the default operating point, and of genuine typings adapted.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub false_reject_mean: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub false_accept_mean: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub adapted_mean: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub gallery: Option<usize>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub length: Option<usize>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub impostors: Option<usize>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub seed: Option<u64>,
    pub samples: usize,
    pub skipped_lines: usize,
}

impl Detector {
    fn name(self) -> &'static str {
        match self {
            Detector::Product => "product",
            Detector::ProductAdapting => "product-adapting",
            Detector::ManhattanScaled => "manhattan-scaled",
            Detector::DigraphManhattan => "digraph-manhattan",
        }
    }
}

impl Mode {
    fn name(self) -> &'static str {
        match self {
            Mode::Fixed => "fixed",
            Mode::Free => "free",
        }
    }
}

/// Runs `behaviorctl evaluate` and prints its result.
pub fn run(args: &EvaluateArgs) -> Result<(), EvaluateError> {
    check_args(args)?;
    let (samples, skipped) = read_samples(&args.file)?;
    if samples.is_empty() {
        return Err(EvaluateError::NoSamples {
            path: args.file.clone(),
        });
    }
    let mut progress = Progress::new();
    let mut report = |d: usize, t: usize| progress.update(d, t);
    let results = match (args.mode, args.detector) {
        (Mode::Fixed, d) => {
            let detector = match d {
                Detector::ManhattanScaled => FixedDetector::ManhattanScaled,
                Detector::ProductAdapting => FixedDetector::ProductAdapting,
                Detector::Product | Detector::DigraphManhattan => FixedDetector::Product,
            };
            let protocol = FixedProtocol {
                train: args.train.0,
                practice: args.practice,
            };
            eval_fixed::evaluate(&samples, &protocol, detector, &mut report)
        }
        (Mode::Free, d) => {
            let detector = if d == Detector::DigraphManhattan {
                FreeDetector::DigraphManhattan
            } else {
                FreeDetector::Product
            };
            let proto = FreeProtocol {
                gallery: args.gallery,
                length: args.length,
                impostors: args.impostors,
                subjects: args.subjects,
                seed: args.seed,
            };
            eval_free::evaluate(&samples, &proto, detector, &mut report)
        }
    };
    progress.finish();
    let summary = summarize(args, &results, samples.len(), skipped).ok_or_else(|| {
        EvaluateError::NoResults {
            path: args.file.clone(),
        }
    })?;
    if args.json {
        let line =
            serde_json::to_string(&summary).map_err(|e| EvaluateError::Encode(e.to_string()))?;
        println!("{line}");
    } else {
        print_table(&summary);
    }
    Ok(())
}

/// Refuses settings that cannot mean anything, before reading the file.
fn check_args(args: &EvaluateArgs) -> Result<(), EvaluateError> {
    let valid: &[Detector] = match args.mode {
        Mode::Fixed => &[
            Detector::Product,
            Detector::ProductAdapting,
            Detector::ManhattanScaled,
        ],
        Mode::Free => &[Detector::Product, Detector::DigraphManhattan],
    };
    if !valid.contains(&args.detector) {
        return Err(EvaluateError::DetectorMode {
            detector: args.detector.name(),
            mode: args.mode.name(),
            valid: match args.mode {
                Mode::Fixed => "product, product-adapting or manhattan-scaled",
                Mode::Free => "product or digraph-manhattan",
            },
        });
    }
    if args.mode == Mode::Free {
        if args.practice > 0 {
            return Err(EvaluateError::PracticeFree);
        }
        for (name, v) in [
            ("gallery", args.gallery),
            ("length", args.length),
            ("impostors", args.impostors),
            ("subjects", args.subjects.unwrap_or(1)),
        ] {
            if v == 0 {
                return Err(EvaluateError::Zero { name });
            }
        }
    }
    Ok(())
}

fn summarize(
    args: &EvaluateArgs,
    results: &[SubjectResult],
    samples: usize,
    skipped_lines: usize,
) -> Option<Summary> {
    let eers: Vec<f64> = results.iter().map(|r| r.eer).collect();
    let e = mean_sd(&eers)?;
    let fixed = args.mode == Mode::Fixed;
    let zm: Vec<f64> = results.iter().filter_map(|r| r.zero_miss_far).collect();
    let z = if fixed { mean_sd(&zm) } else { None };
    let free = |v| if fixed { None } else { Some(v) };
    let online = |rate: fn(&OnlineRates) -> f64| {
        let v: Vec<f64> = results
            .iter()
            .filter_map(|r| r.online.as_ref())
            .map(rate)
            .collect();
        mean_sd(&v).map(|m| m.mean)
    };
    Some(Summary {
        mode: args.mode.name(),
        detector: args.detector.name(),
        subjects: results.len(),
        eer_mean: e.mean,
        eer_sd: e.sd,
        train: fixed.then(|| match args.train.0 {
            Train::Half => "half".to_string(),
            Train::Count(n) => n.to_string(),
        }),
        practice: fixed.then_some(args.practice),
        zero_miss_far_mean: z.map(|z| z.mean),
        zero_miss_far_sd: z.map(|z| z.sd),
        false_reject_mean: online(|r| r.false_rejects),
        false_accept_mean: online(|r| r.false_accepts),
        adapted_mean: online(|r| r.adapted),
        gallery: free(args.gallery),
        length: free(args.length),
        impostors: free(args.impostors),
        seed: if fixed { None } else { Some(args.seed) },
        samples,
        skipped_lines,
    })
}

fn print_table(s: &Summary) {
    println!("mode       {}", s.mode);
    println!("detector   {}", s.detector);
    if let Some(t) = &s.train {
        println!("train      {t}");
    }
    if let Some(p) = s.practice.filter(|&p| p > 0) {
        println!("practice   {p} (first samples of each subject left out)");
    }
    if let (Some(g), Some(l), Some(m), Some(k)) = (s.gallery, s.length, s.impostors, s.seed) {
        println!("protocol   gallery {g}, length {l}, impostors {m}, seed {k}");
    }
    println!(
        "samples    {} ({} lines skipped)",
        s.samples, s.skipped_lines
    );
    println!("subjects   {}", s.subjects);
    println!("{:<22} {:>8} {:>8}", "figure", "mean", "sd");
    println!("{:<22} {:>8.4} {:>8.4}", "EER", s.eer_mean, s.eer_sd);
    if let (Some(m), Some(sd)) = (s.zero_miss_far_mean, s.zero_miss_far_sd) {
        println!("{:<22} {:>8.4} {:>8.4}", "zero-miss false alarm", m, sd);
    }
    for (name, v) in [
        ("rejected at accept", s.false_reject_mean),
        ("impostors accepted", s.false_accept_mean),
        ("adapted", s.adapted_mean),
    ] {
        if let Some(v) = v {
            println!("{name:<22} {v:>8.4}");
        }
    }
}

/// Reads every sample of a `.jsonl` / `.jsonl.gz` file. Malformed lines are reported on
/// stderr (`FILE:LINE: reason`) and skipped; returns the samples and the number skipped.
pub fn read_samples(path: &Path) -> Result<(Vec<LabeledSample>, usize), EvaluateError> {
    let read_err = |source| EvaluateError::Read {
        path: path.to_path_buf(),
        source,
    };
    let file = File::open(path).map_err(read_err)?;
    let gz = path.extension().is_some_and(|e| e == "gz");
    let reader: Box<dyn Read> = if gz {
        Box::new(flate2::read::MultiGzDecoder::new(file))
    } else {
        Box::new(file)
    };
    parse_lines(BufReader::new(reader), path)
}

fn parse_lines(
    reader: impl BufRead,
    path: &Path,
) -> Result<(Vec<LabeledSample>, usize), EvaluateError> {
    let mut samples = Vec::new();
    let mut skipped = 0;
    for (index, line) in reader.lines().enumerate() {
        let line = line.map_err(|source| EvaluateError::Read {
            path: path.to_path_buf(),
            source,
        })?;
        if line.trim().is_empty() {
            continue;
        }
        match LabeledSample::parse_line(&line) {
            Ok(s) => samples.push(s),
            Err(e) => {
                skipped += 1;
                eprintln!("{}:{}: {e}; line skipped", path.display(), index + 1);
            }
        }
    }
    Ok((samples, skipped))
}

/// Progress on stderr, at most about once a second and only once a run has lasted a second.
struct Progress {
    start: Instant,
    last: Option<Instant>,
}

impl Progress {
    fn new() -> Self {
        Progress {
            start: Instant::now(),
            last: None,
        }
    }

    fn update(&mut self, done: usize, total: usize) {
        let now = Instant::now();
        let due = match self.last {
            None => now.duration_since(self.start) >= Duration::from_secs(1),
            Some(t) => now.duration_since(t) >= Duration::from_secs(1),
        };
        if due {
            eprintln!("evaluate: {done}/{total} subjects");
            self.last = Some(now);
        }
    }

    fn finish(&self) {
        if self.last.is_some() {
            eprintln!(
                "evaluate: done in {:.1} s",
                self.start.elapsed().as_secs_f64()
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn train_argument() {
        assert_eq!(parse_train("half"), Ok(TrainArg(Train::Half)));
        assert_eq!(parse_train("5"), Ok(TrainArg(Train::Count(5))));
        assert!(parse_train("0").is_err());
        assert!(parse_train("five").is_err());
    }

    #[test]
    fn malformed_lines_are_skipped() {
        let text = "{\"subject\":\"a\",\"text\":\"x\",\"keys\":[{\"key\":\"a\",\"down\":0,\"up\":1}]}\n\
                    not json\n\
                    \n\
                    {\"subject\":\"a\",\"text\":\"x\",\"keys\":[{\"key\":\"?\",\"down\":0,\"up\":1}]}\n";
        let (s, skipped) = parse_lines(text.as_bytes(), Path::new("t.jsonl")).unwrap();
        assert_eq!(s.len(), 1);
        assert_eq!(skipped, 2);
    }
}
