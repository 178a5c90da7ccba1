//! CPU cost of the input path per 1,000 key events: recorded raw evdev events (a typing
//! rhythm with auto-repeat and scancode events, as a real keyboard sends them) through
//! `behaviord::input`'s decoding and forwarding, and out of the receiving channel.
//! The kernel reads (`poll` + `read`, one per batch) are not included: see the VM figure.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use behavior_tests::recorded_event as ev;
use behaviord::input;
use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use evdev::InputEvent;

/// 1,000 key events (500 presses and releases), each in its own frame with the MSC_SCAN
/// event a USB keyboard adds, plus some auto-repeat.
fn recording() -> Vec<InputEvent> {
    let mut out = Vec::new();
    let mut t = 1_700_000_000_000_000;
    for i in 0..500u16 {
        let code = 16 + i % 35;
        for value in [1, 0] {
            out.push(ev(t, 4, 4, 0x70004 + i32::from(code)));
            out.push(ev(t, 1, code, value));
            out.push(ev(t, 0, 0, 0));
            if value == 1 && i % 50 == 0 {
                out.push(ev(t + 500_000, 1, code, 2));
                out.push(ev(t + 500_000, 0, 0, 0));
            }
            t += 60_000;
        }
    }
    out
}

fn input_path(c: &mut Criterion) {
    let events = recording();
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
    let mut g = c.benchmark_group("input");
    g.throughput(Throughput::Elements(1000));
    g.bench_function("replay_1000_key_events", |b| {
        b.iter(|| {
            input::replay(1, &events, &tx).unwrap();
            let mut n = 0;
            while rx.try_recv().is_ok() {
                n += 1;
            }
            assert_eq!(n, 1000);
        })
    });
    g.finish();
}

criterion_group!(benches, input_path);
criterion_main!(benches);
