//! A cheap stand-in for a fuzz run where libFuzzer is not at hand: every seed of a target's
//! corpus mutated at random (a fixed xorshift seed, so a run repeats) through the same harness.
//! Not coverage-guided. Failing inputs are written to `fuzz/artifacts/<target>/mutate-<n>`.
//!
//! `cargo run --release --example mutate -- <target> <iterations>` in `fuzz/`.

use std::path::Path;

use store_edge_fuzz as harness;

struct X(u64);
impl X {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n.max(1) as u64) as usize
    }
}

fn mutate(rng: &mut X, input: &[u8]) -> Vec<u8> {
    let mut b = input.to_vec();
    for _ in 0..1 + rng.below(6) {
        let at = rng.below(b.len() + 1);
        match rng.below(6) {
            0 if !b.is_empty() => {
                let i = rng.below(b.len());
                b[i] ^= 1 << rng.below(8);
            }
            1 if !b.is_empty() => {
                let end = (at + 1 + rng.below(16)).min(b.len());
                b.drain(at.min(end)..end);
            }
            2 if !b.is_empty() => {
                let i = rng.below(b.len());
                b[i] = rng.next() as u8;
            }
            3 => {
                let s = [
                    b"\n".as_slice(),
                    b"\r",
                    b"\x1d",
                    b"0",
                    b"9",
                    b"\x02",
                    b"\x03",
                    b"\"",
                    b"<",
                    b"-",
                    b"]",
                    b"=",
                ][rng.below(12)];
                b.splice(at..at, s.iter().copied());
            }
            4 if !b.is_empty() => {
                let i = rng.below(b.len());
                b.insert(at, b[i]);
            }
            _ => {
                let end = (at + rng.below(32)).min(b.len());
                let s = b[at..end].to_vec();
                b.splice(at..at, s);
            }
        }
    }
    b
}

fn go(target: &str, run: fn(&[u8]), iters: usize) {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../fuzz/corpus")
        .join(target);
    let seeds: Vec<Vec<u8>> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| std::fs::read(e.unwrap().path()).unwrap())
        .collect();
    let mut rng = X(0x9E37_79B9_7F4A_7C15 ^ target.len() as u64);
    let out = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("artifacts")
        .join(target);
    std::fs::create_dir_all(&out).unwrap();
    let mut found = 0;
    for i in 0..iters {
        let mut input = seeds[i % seeds.len()].clone();
        for _ in 0..1 + rng.below(3) {
            input = mutate(&mut rng, &input);
        }
        if std::panic::catch_unwind(|| run(&input)).is_err() {
            std::fs::write(out.join(format!("mutate-{i}")), &input).unwrap();
            found += 1;
            if found > 5 {
                break;
            }
        }
    }
    assert_eq!(
        found, 0,
        "{target}: {found} failures in /tmp/x/found/{target}"
    );
}

fn main() {
    let mut args = std::env::args().skip(1);
    let target = args.next().expect("a target name");
    let iters: usize = args
        .next()
        .map_or(10_000, |n| n.parse().expect("a number of iterations"));
    let run: fn(&[u8]) = match target.as_str() {
        "gs1" => harness::gs1::run,
        "serial_framing" => harness::serial_framing::run,
        "hid_pos" => harness::hid_pos::run,
        "wedge" => harness::wedge::run,
        "escpos" => harness::escpos::run,
        "receipt_template" => harness::receipt_template::run,
        "counter_payload" => harness::counter_payload::run,
        "counter_serial" => harness::counter_serial::run,
        "poslog" => harness::poslog::run,
        "line_feed" => harness::line_feed::run,
        "agent_config" => harness::config::run_agent,
        "collector_config" => harness::config::run_collector,
        "agent_command" => harness::agent_command::run,
        "collector_command" => harness::collector_command::run,
        other => panic!("no decoder target {other}"),
    };
    // Failures panic inside the harness; keep the report to the one line per input found.
    std::panic::set_hook(Box::new(|_| {}));
    go(&target, run, iters);
}
