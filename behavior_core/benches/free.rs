//! Free-text scoring speed: one window score (target < 200 µs), building a profile, and the
//! monitor's per-keystroke cost. Synthetic typing, so the bench needs no data file.
use behavior_core::eval_free::SplitMix64;
use behavior_core::free::{score_window, FreeParams, ProfileBuilder};
use behavior_core::monitor::{Monitor, MonitorConfig, MonitorEvent};
use behavior_core::{Key, Keystroke};
use criterion::{black_box, criterion_group, criterion_main, Criterion};

/// `n` keystrokes over letters and space with varied timings.
fn typing(n: usize, seed: u64) -> Vec<Keystroke> {
    const KEYS: [u16; 27] = [
        30, 48, 46, 32, 18, 33, 34, 35, 23, 36, 37, 38, 50, 49, 24, 25, 16, 19, 31, 20, 22, 47, 17,
        45, 21, 44, 57,
    ];
    let mut rng = SplitMix64::new(seed);
    let mut t = 0.0;
    (0..n)
        .map(|_| {
            let key = Key(KEYS[rng.below(KEYS.len())]);
            t += 80.0 + rng.below(200) as f64;
            Keystroke {
                key,
                down: t,
                up: t + 60.0 + rng.below(80) as f64,
            }
        })
        .collect()
}

fn bench(c: &mut Criterion) {
    let params = FreeParams::default();
    let mut b = ProfileBuilder::new();
    b.add(&typing(2000, 1));
    let Some(profile) = b.build() else { return };
    for len in [50, 100] {
        let window = typing(len, 2);
        c.bench_function(&format!("free score_window L={len}"), |bn| {
            bn.iter(|| score_window(black_box(&profile), black_box(&window), &params))
        });
    }
    let learn = typing(500, 3);
    c.bench_function("free profile from 500 keystrokes", |bn| {
        bn.iter(|| {
            let mut b = ProfileBuilder::new();
            b.add(black_box(&learn));
            b.build()
        })
    });
    let stream = typing(1000, 4);
    c.bench_function("monitor 1000 keystrokes (default config)", |bn| {
        bn.iter(|| {
            let Ok(mut m) = Monitor::with_profile(MonitorConfig::default(), profile.clone()) else {
                return;
            };
            for k in &stream {
                black_box(m.handle(MonitorEvent::Key(*k), k.down as u64));
            }
        })
    });
}

criterion_group!(benches, bench);
criterion_main!(benches);
