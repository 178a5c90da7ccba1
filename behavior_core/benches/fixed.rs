//! Speed of the fixed-phrase matcher: `cargo bench -p behavior_core --bench fixed`.
//! Targets (issue 3): one verification under 50 µs, one enrollment under 5 ms.

use behavior_core::fixed::{self, Params};
use behavior_core::{Key, Keystroke, Sample};
use criterion::{criterion_group, criterion_main, Criterion};
use std::hint::black_box;

/// The 14 keys of ".tie5Roanl" as typed on the shipped data (Shift, CapsLock, Enter
/// included), with a deterministic jitter per typing.
fn typing(seed: u64) -> Sample {
    let names = [
        "dot",
        "t",
        "i",
        "e",
        "leftshift",
        "5",
        "leftshift",
        "capslock",
        "r",
        "o",
        "a",
        "n",
        "l",
        "enter",
    ];
    let mut state = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    let mut jitter = move || {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        (state % 41) as f64 - 20.0
    };
    let mut t = 0.0;
    let keys = names
        .iter()
        .map(|n| {
            let down = t;
            t += 180.0 + jitter();
            Keystroke {
                key: Key::from_name(n).unwrap_or(Key(0)),
                down,
                up: down + 90.0 + jitter() / 2.0,
            }
        })
        .collect();
    Sample { keys }
}

fn bench(c: &mut Criterion) {
    let params = Params::default();
    for n in [5usize, 25] {
        let samples: Vec<Sample> = (0..n as u64).map(typing).collect();
        c.bench_function(&format!("fixed/enroll/{n}"), |b| {
            b.iter(|| fixed::enroll(black_box(&samples), &params))
        });
        let Ok(template) = fixed::enroll(&samples, &params) else {
            return;
        };
        let probe = typing(1000);
        c.bench_function(&format!("fixed/verify/{n}"), |b| {
            b.iter(|| fixed::verify(black_box(&template), black_box(&probe), &params))
        });
        c.bench_function(&format!("fixed/check_candidate/{n}"), |b| {
            b.iter(|| fixed::check_candidate(black_box(&samples), black_box(&probe), &params))
        });
        // One of the user's own typings: confident, so adapt rebuilds the model.
        let own = &samples[1];
        let v = fixed::verify(&template, own, &params);
        let mut t = template.clone();
        assert!(fixed::adapt(&mut t, own, &v, &params));
        c.bench_function(&format!("fixed/adapt/{n}"), |b| {
            b.iter(|| {
                let mut t = template.clone();
                fixed::adapt(&mut t, black_box(own), &v, &params)
            })
        });
    }
}

criterion_group!(benches, bench);
criterion_main!(benches);
