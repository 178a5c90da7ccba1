//! `behaviorctl evaluate`: offline accuracy of the matcher on sample files
//! (`samples-format.md`), with the very code the daemon uses. No daemon, no root.
//!
//! Reads `.jsonl` or `.jsonl.gz`; a malformed line is reported on stderr with its line
//! number and skipped. Progress goes to stderr; the result is a short table, or with
//! `--json` one JSON object as the last line of stdout.

use behavior_core::eval::{mean_sd, SubjectResult};
use behavior_core::eval_fixed::{self, FixedDetector, Train};
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
}

/// Matcher to evaluate.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum Detector {
    /// The product's matcher, as the daemon uses it.
    Product,
    /// Killourhy & Maxion's scaled Manhattan, as published (fixed mode).
    ManhattanScaled,
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
    /// Matcher to evaluate.
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
    #[error("no subject of {path} could be evaluated (too few samples for this training size?)")]
    NoResults { path: PathBuf },
}

/// The figures of one run.
#[derive(Clone, Debug, serde::Serialize)]
pub struct Summary {
    pub mode: &'static str,
    pub detector: &'static str,
    pub train: String,
    pub subjects: usize,
    pub eer_mean: f64,
    pub eer_sd: f64,
    pub zero_miss_far_mean: f64,
    pub zero_miss_far_sd: f64,
    pub samples: usize,
    pub skipped_lines: usize,
}

/// Runs `behaviorctl evaluate` and prints its result.
pub fn run(args: &EvaluateArgs) -> Result<(), EvaluateError> {
    let (samples, skipped) = read_samples(&args.file)?;
    if samples.is_empty() {
        return Err(EvaluateError::NoSamples {
            path: args.file.clone(),
        });
    }
    let mut progress = Progress::new();
    let summary = match args.mode {
        Mode::Fixed => {
            let detector = match args.detector {
                Detector::Product => FixedDetector::Product,
                Detector::ManhattanScaled => FixedDetector::ManhattanScaled,
            };
            let results = eval_fixed::evaluate(&samples, args.train.0, detector, &mut |d, t| {
                progress.update(d, t)
            });
            progress.finish();
            summarize_fixed(args, &results, samples.len(), skipped).ok_or_else(|| {
                EvaluateError::NoResults {
                    path: args.file.clone(),
                }
            })?
        }
    };
    if args.json {
        match serde_json::to_string(&summary) {
            Ok(line) => println!("{line}"),
            Err(e) => eprintln!("cannot encode the result as JSON: {e}"),
        }
    } else {
        print_table(&summary);
    }
    Ok(())
}

fn summarize_fixed(
    args: &EvaluateArgs,
    results: &[SubjectResult],
    samples: usize,
    skipped_lines: usize,
) -> Option<Summary> {
    let eers: Vec<f64> = results.iter().map(|r| r.eer).collect();
    let zm: Vec<f64> = results.iter().filter_map(|r| r.zero_miss_far).collect();
    let e = mean_sd(&eers)?;
    let z = mean_sd(&zm)?;
    Some(Summary {
        mode: "fixed",
        detector: match args.detector {
            Detector::Product => "product",
            Detector::ManhattanScaled => "manhattan-scaled",
        },
        train: match args.train.0 {
            Train::Half => "half".to_string(),
            Train::Count(n) => n.to_string(),
        },
        subjects: results.len(),
        eer_mean: e.mean,
        eer_sd: e.sd,
        zero_miss_far_mean: z.mean,
        zero_miss_far_sd: z.sd,
        samples,
        skipped_lines,
    })
}

fn print_table(s: &Summary) {
    println!("mode       {}", s.mode);
    println!("detector   {}", s.detector);
    println!("train      {}", s.train);
    println!(
        "samples    {} ({} lines skipped)",
        s.samples, s.skipped_lines
    );
    println!("subjects   {}", s.subjects);
    println!("{:<22} {:>8} {:>8}", "figure", "mean", "sd");
    println!("{:<22} {:>8.4} {:>8.4}", "EER", s.eer_mean, s.eer_sd);
    println!(
        "{:<22} {:>8.4} {:>8.4}",
        "zero-miss false alarm", s.zero_miss_far_mean, s.zero_miss_far_sd
    );
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
