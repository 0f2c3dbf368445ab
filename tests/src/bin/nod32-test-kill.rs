//! Test helper: SIGKILLs nod32mda at a random point of its run.
//! `nod32-test-kill PID MAX_MICROS PERCENT`: waits until process PID is
//! nod32mda (a wrapper script execs it), then, with probability PERCENT,
//! sleeps a random 0..=MAX_MICROS and kills it if it is still nod32mda
//! (once it has exec'd the real agent it is left alone).

use std::time::{Duration, Instant};

fn comm(pid: i32) -> Option<String> {
    std::fs::read_to_string(format!("/proc/{pid}/comm"))
        .ok()
        .map(|s| s.trim_end().to_string())
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let [pid, max, percent] = args.as_slice() else {
        eprintln!("usage: nod32-test-kill PID MAX_MICROS PERCENT");
        std::process::exit(2);
    };
    let (Ok(pid), Ok(max), Ok(percent)) =
        (pid.parse::<i32>(), max.parse::<u64>(), percent.parse::<u64>())
    else {
        std::process::exit(2);
    };
    let seed = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default()
        .as_nanos() as u64
        ^ (std::process::id() as u64) << 32;
    let mut rng = nod32_tests::Rng::new(seed);
    if !rng.chance(percent, 100) {
        return;
    }
    let t0 = Instant::now();
    loop {
        match comm(pid).as_deref() {
            Some("nod32mda") => break,
            // Not exec'd yet: the wrapper shell is still starting.
            Some(_) if t0.elapsed() < Duration::from_secs(5) => {
                std::thread::sleep(Duration::from_micros(20));
            }
            _ => return,
        }
    }
    std::thread::sleep(Duration::from_micros(rng.range(0, max)));
    if comm(pid).as_deref() == Some("nod32mda") {
        let _ = nix::sys::signal::kill(
            nix::unistd::Pid::from_raw(pid),
            nix::sys::signal::Signal::SIGKILL,
        );
    }
}
