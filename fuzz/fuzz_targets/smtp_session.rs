//! nod32smtp's whole session, driven by any client bytes against a
//! scripted next hop: whatever the client sends, the session ends (no
//! hang, no panic), and the next hop is never sent a bare CR or LF, nor
//! a command line holding one: nothing it could read as a line end, or
//! an end of data, that nod32smtp did not.
#![no_main]

use std::io::{BufRead, BufReader, Read, Write};
use std::os::unix::net::UnixStream;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Mutex, OnceLock};
use std::thread::JoinHandle;

use libfuzzer_sys::fuzz_target;
use nod32_agent::{Live, Which};
use nod32smtp::net::Plain;
use nod32smtp::session::{Shared, Tls, serve};

/// Set by a scripted next hop that was sent a bare CR or LF.
static BARE: AtomicBool = AtomicBool::new(false);

/// This input's next hops, joined before the verdict.
static HOPS: Mutex<Vec<JoinHandle<()>>> = Mutex::new(Vec::new());

fn has_bare(b: &[u8]) -> bool {
    (0..b.len()).any(|i| {
        (b[i] == b'\r' && b.get(i + 1) != Some(&b'\n'))
            || (b[i] == b'\n' && (i == 0 || b[i - 1] != b'\r'))
    })
}

/// A next hop that offers everything nod32smtp can use, answers every
/// command, reads DATA to its end and BDAT chunks by their size, and
/// checks each byte it is sent.
fn next_hop(s: UnixStream) {
    let mut w = s.try_clone().expect("socket");
    let mut r = BufReader::new(s);
    let _ = w.write_all(b"220 hop ESMTP\r\n");
    let mut data = false;
    loop {
        let mut line = Vec::new();
        if r.read_until(b'\n', &mut line).unwrap_or(0) == 0 {
            return;
        }
        let body = line.strip_suffix(b"\r\n").unwrap_or(&line);
        if !line.ends_with(b"\r\n")
            || body.contains(&b'\r')
            || body.contains(&b'\n')
        {
            BARE.store(true, Ordering::SeqCst);
        }
        let reply: &[u8] = if data {
            if body != b"." {
                continue;
            }
            data = false;
            b"250 2.0.0 queued\r\n"
        } else {
            let up = body.to_ascii_uppercase();
            if up.starts_with(b"EHLO") {
                b"250-hop\r\n250-PIPELINING\r\n250-SIZE 100000\r\n250-CHUNKING\r\n\
                  250-8BITMIME\r\n250-XFORWARD NAME ADDR\r\n250 SMTPUTF8\r\n"
            } else if up == b"DATA" {
                data = true;
                b"354 go ahead\r\n"
            } else if let Some(n) = up.strip_prefix(b"BDAT ") {
                let size = std::str::from_utf8(n)
                    .ok()
                    .and_then(|n| n.split(' ').next()?.parse::<u64>().ok())
                    .unwrap_or(0);
                let mut chunk = Vec::new();
                if (&mut r).take(size).read_to_end(&mut chunk).is_err()
                    || (chunk.len() as u64) < size
                {
                    return;
                }
                // nod32smtp never splits a CR LF between chunks.
                if has_bare(&chunk) {
                    BARE.store(true, Ordering::SeqCst);
                }
                b"250 2.0.0 chunk\r\n"
            } else if up == b"QUIT" {
                let _ = w.write_all(b"221 bye\r\n");
                return;
            } else {
                b"250 2.0.0 ok\r\n"
            }
        };
        if w.write_all(reply).is_err() {
            return;
        }
    }
}

fn shared() -> &'static Shared {
    static S: OnceLock<Shared> = OnceLock::new();
    S.get_or_init(|| {
        let dir = std::env::temp_dir()
            .join(format!("nod32-fuzz-smtp-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("temp dir");
        let (module, _) =
            nod32_engine::compile(&nod32_engine::builtin_signatures());
        std::fs::write(dir.join("module"), module).expect("module");
        let cfg = dir.join("nod32.toml");
        std::fs::write(
            &cfg,
            format!(
                "[global]\nmodule = \"{}\"\nlog_level = 1\n\
                 [smtp]\ntimeout = \"2s\"\nbody_in_memory = \"4K\"\n",
                dir.join("module").display()
            ),
        )
        .expect("config");
        let live =
            Live::start(&cfg, Which::Smtp, true).expect("configuration");
        let st = live.get();
        let tls = Tls::of(&st).expect("no TLS");
        drop(st);
        let connect = Box::new(|_: &nod32_agent::State| {
            let (ours, theirs) = UnixStream::pair()?;
            let hop = std::thread::spawn(move || next_hop(theirs));
            HOPS.lock().unwrap_or_else(|p| p.into_inner()).push(hop);
            Ok(Plain::unix(ours))
        });
        Shared::new(live, 1, tls, connect).keep_no_spares()
    })
}

fuzz_target!(|data: &[u8]| {
    let sh = shared();
    let (ours, mut theirs) = UnixStream::pair().expect("socket pair");
    let input = data.to_vec();
    let client = std::thread::spawn(move || {
        let mut reader = theirs.try_clone().expect("socket");
        // Replies are read (and dropped) meanwhile, so neither side
        // waits on a full buffer.
        let drain = std::thread::spawn(move || {
            let _ = std::io::copy(&mut reader, &mut std::io::sink());
        });
        let _ = theirs.write_all(&input);
        let _ = theirs.shutdown(std::net::Shutdown::Write);
        let _ = drain.join();
    });
    let _ = serve(sh, Plain::unix(ours));
    client.join().expect("client thread");
    for hop in
        std::mem::take(&mut *HOPS.lock().unwrap_or_else(|p| p.into_inner()))
    {
        hop.join().expect("next hop thread");
    }
    assert!(
        !BARE.load(Ordering::SeqCst),
        "a bare CR or LF reached the next hop"
    );
});
