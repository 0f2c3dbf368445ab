//! nod32mda run by hand, without an MTA: what reaches the real agent
//! (`mda_path`, a script that keeps its input) and when templates are
//! read. The deliveries through Postfix are in `mda.rs`.

use std::os::unix::fs::PermissionsExt;
use std::path::PathBuf;
use std::process::Command;

use nod32_tests::{bin, eicar, run, token};

fn message(tag: &str, body: &str) -> Vec<u8> {
    format!(
        "From: nod32admin@localhost\r\nTo: someone@localhost\r\n\
         Subject: mda {tag}\r\nMessage-ID: <{tag}@example.org>\r\n\
         Date: Sat, 28 Nov 2026 20:00:00 +0000\r\nMIME-Version: 1.0\r\n{body}"
    )
    .into_bytes()
}

/// nod32mda run by hand (no MTA) with `mda_path` a script that keeps what
/// it is given and what its standard input is.
struct Direct {
    dir: tempfile::TempDir,
    cfg: PathBuf,
}

impl Direct {
    fn new(extra: &str) -> Direct {
        let (dir, module) = nod32_tests::module_dir();
        let agent = dir.path().join("agent");
        std::fs::write(
            &agent,
            format!(
                "#!/bin/sh\nstat -L -c %F /dev/stdin > {0}/stdin\n\
                 readlink /proc/self/fd/0 > {0}/stdin-name\n\
                 cat > {0}/delivered\n",
                dir.path().display()
            ),
        )
        .unwrap();
        std::fs::set_permissions(
            &agent,
            std::fs::Permissions::from_mode(0o755),
        )
        .unwrap();
        let cfg = dir.path().join("nod32.toml");
        std::fs::write(
            &cfg,
            format!(
                "[global]\nmodule = \"{}\"\ntemplate_dir = \"{}\"\n{extra}\n\
                 [mda]\nmda_path = \"{}\"\n",
                module.display(),
                dir.path().join("templates").display(),
                agent.display()
            ),
        )
        .unwrap();
        std::fs::create_dir(dir.path().join("templates")).unwrap();
        Direct { dir, cfg }
    }

    fn run(&self, msg: &[u8]) -> (Option<i32>, String) {
        let _ = std::fs::remove_file(self.dir.path().join("delivered"));
        let out = nod32_tests::run_with_input(
            Command::new(bin("nod32mda"))
                .env_remove("SENDER")
                .env_remove("RECIPIENT")
                .args(["--", "-c"])
                .arg(&self.cfg),
            msg,
        );
        let said = String::from_utf8_lossy(&out.stdout).to_string()
            + &String::from_utf8_lossy(&out.stderr);
        (out.status.code(), said)
    }

    fn delivered(&self) -> Option<Vec<u8>> {
        std::fs::read(self.dir.path().join("delivered")).ok()
    }
}

/// A message up to 1 MiB is kept in memory and handed over from memory,
/// a bigger one through the temp file: either way the agent reads the
/// very bytes, from a regular (seekable) file as before.
#[test]
fn small_and_big_messages_reach_the_agent_whole() {
    let d = Direct::new("");
    let small = message(&token("S"), "\r\nsmall\r\n");
    let mut big = message(
        &token("B"),
        &format!("\r\n{}", "0123456789abcdef\r\n".repeat(62_000)),
    );
    big.extend_from_slice(b"end\n");
    assert!(big.len() > 1 << 20);
    for m in [&small, &big] {
        let (code, said) = d.run(m);
        assert_eq!(code, Some(0), "{said}");
        assert_eq!(d.delivered().as_deref(), Some(&m[..]));
        let stdin =
            std::fs::read_to_string(d.dir.path().join("stdin")).unwrap();
        assert_eq!(stdin.trim(), "regular file", "{}", m.len());
        // A memfd's name for the small one; the unlinked temp file's for
        // the big one.
        let name =
            std::fs::read_to_string(d.dir.path().join("stdin-name")).unwrap();
        let from_memory = name.starts_with("/memfd:");
        assert_eq!(from_memory, m.len() < 1 << 20, "{name}");
    }
}

/// Templates are read when a message needs one: an unreadable one does
/// not hold clean mail up, and a message that needs it is deferred with
/// the reason a start that read it would have given.
#[test]
fn an_unreadable_template_defers_only_the_mail_that_needs_it() {
    let bad = |d: &Direct, name: &str| {
        let p = d.dir.path().join("templates").join(name);
        std::fs::write(&p, b"\xff\xfe not UTF-8").unwrap();
        p
    };
    let d = Direct::new(
        "notify_admin = \"nod32admin@localhost\"\nsendmail_path = \"/bin/true\"",
    );
    let p = bad(&d, "notify_admin.txt");
    let clean = message(&token("C"), "\r\nclean\r\n");
    let (code, said) = d.run(&clean);
    assert_eq!(code, Some(0), "{said}");
    assert_eq!(d.delivered(), Some(clean));
    let mut infected = message(&token("I"), "\r\n");
    infected.extend_from_slice(&eicar());
    let (code, said) = d.run(&infected);
    assert_eq!(code, Some(75), "{said}");
    assert!(
        said.starts_with(&format!("4.3.0 nod32mda: {}: ", p.display())),
        "{said}"
    );
    assert_eq!(d.delivered(), None);
    // A footer goes on clean mail too.
    let d = Direct::new("write_to_emails = true");
    let p = bad(&d, "footer.txt");
    let (code, said) = d.run(&message(&token("F"), "\r\nclean\r\n"));
    assert_eq!(code, Some(75), "{said}");
    assert!(
        said.starts_with(&format!("4.3.0 nod32mda: {}: ", p.display())),
        "{said}"
    );
    // --check-config reads them all, as before.
    let out = run(Command::new(bin("nod32mda"))
        .args(["--", "-c"])
        .arg(&d.cfg)
        .arg("--check-config"));
    assert_eq!(out.status.code(), Some(10));
}
