use std::time::Duration;

use super::*;

fn err(text: &str) -> String {
    Config::from_str_named(text, "t.toml").unwrap_err().to_string()
}

#[test]
fn pua_keys() {
    let parse = |t: &str| Config::from_str_named(t, "t.toml");
    let c =
        parse("[upd]\ninclude_pua = [\"Win.Tool\", \"Packed\"]\n").unwrap();
    assert_eq!(c.upd.include_pua, ["Win.Tool", "Packed"]);
    assert!(!c.upd.detect_pua && c.upd.exclude_pua.is_empty());
    let both = "[upd]\ninclude_pua = [\"A\"]\nexclude_pua = [\"B\"]\n";
    assert!(err(both).contains("cannot be used together"));
    assert!(parse("[upd]\nexclude_pua = [\"\"]\n").is_err());
    assert!(parse("[upd]\ndetect_pua = \"yes\"\n").is_err());
}

#[test]
fn the_shipped_file_is_the_defaults() {
    let shipped = include_str!("../../../config/nod32.toml");
    let parsed = Config::from_str_named(shipped, "config/nod32.toml").unwrap();
    assert_eq!(parsed, Config::default());
}

#[test]
fn agents_override_global() {
    let c = Config::from_str_named(
        "[global]\naction_on_infected = \"discard\"\nmax_file_size = \"10M\"\n\
         [smtp]\naction_on_infected = \"defer\"\n",
        "t.toml",
    )
    .unwrap();
    assert_eq!(c.smtp.policy.action_on_infected.action, Action::Defer);
    assert_eq!(
        c.smfi.policy.action_on_infected,
        OnVerdict::plain(Action::Discard)
    );
    assert_eq!(c.mda.policy.max_file_size, 10 << 20);
}

#[test]
fn quarantine_rides_on_an_action() {
    let c = Config::from_str_named(
        "[global]\naction_on_infected = \"discard+quarantine\"\n",
        "t.toml",
    )
    .unwrap();
    assert_eq!(
        c.smtp.policy.action_on_infected,
        OnVerdict { action: Action::Discard, quarantine: true }
    );
    assert!(!c.smtp.policy.action_on_notscanned.quarantine);
}

#[test]
fn mta_presets() {
    let q = Config::from_str_named("[mda]\nmta = \"qmail\"\n", "t").unwrap();
    assert_eq!(
        (q.mda.infected_return_code, q.mda.tmpfail_return_code),
        (100, 111)
    );
    let p = Config::default();
    assert_eq!(
        (p.mda.infected_return_code, p.mda.tmpfail_return_code),
        (69, 75)
    );
    let o = Config::from_str_named(
        "[mda]\nmta = \"qmail\"\ntmpfail_return_code = 75\n",
        "t",
    )
    .unwrap();
    assert_eq!(o.mda.tmpfail_return_code, 75);
}

#[test]
fn errors_name_file_key_and_why() {
    assert_eq!(
        err("[smtp]\nfrobnicate = 1\n"),
        "t.toml: smtp.frobnicate: unknown key"
    );
    assert_eq!(
        err("[global]\naction_on_infected = \"explode\"\n"),
        "t.toml: global.action_on_infected: 'explode' is not an action (accept, defer, discard, reject, each optionally followed by +quarantine)"
    );
    assert_eq!(
        err("[mda]\nnotify_sender_check = \"(\"\n").lines().next().unwrap(),
        "t.toml: mda.notify_sender_check: not a regular expression: regex parse error:"
    );
    assert_eq!(
        err("[smtp]\nnotify_admin = \"-oQ/tmp\"\n"),
        "t.toml: smtp.notify_admin: expected user@domain"
    );
    assert_eq!(
        err("[cli]\nmax_file_size = \"12Q\"\n"),
        "t.toml: cli.max_file_size: '12Q' is not a size (bytes, or a number with K, M or G)"
    );
    assert!(err("[global]\nuser_config = \"/nonexistent/users.toml\"\n")
        .starts_with("t.toml: global.user_config: cannot read /nonexistent/users.toml:"));
    assert_eq!(
        err("[nope]\n"),
        "t.toml: nope: unknown section (expected global, mda, smtp, smfi, cli or upd)"
    );
    assert!(
        err("[global\n").starts_with("t.toml: TOML parse error"),
        "{}",
        err("[global\n")
    );
    assert_eq!(
        err("[smtp]\nlisten_port = 70000\n"),
        "t.toml: smtp.listen_port: 70000 is out of range (1..=65535)"
    );
}

#[test]
fn milter_endpoints_and_keys() {
    let t = |s: &str| Endpoint::parse(s);
    assert_eq!(t("/run/m.sock"), Some(Endpoint::Unix("/run/m.sock".into())));
    assert_eq!(
        t("local:/run/m.sock"),
        Some(Endpoint::Unix("/run/m.sock".into()))
    );
    assert_eq!(
        t("inet:8890@127.0.0.1"),
        Some(Endpoint::Tcp("127.0.0.1".into(), 8890))
    );
    assert_eq!(
        t("inet:localhost:8890"),
        Some(Endpoint::Tcp("localhost".into(), 8890))
    );
    assert_eq!(t("inet6:[::1]:8890"), Some(Endpoint::Tcp("::1".into(), 8890)));
    assert_eq!(t("inet6:8890@::1"), Some(Endpoint::Tcp("::1".into(), 8890)));
    for bad in
        ["unix:rel", "inet:0@h", "inet:h", "inet:x@", "tcp:1@h", "rel/path"]
    {
        assert_eq!(t(bad), None, "{bad}");
    }
    assert_eq!(Endpoint::Tcp("::1".into(), 5).to_string(), "inet:[::1]:5");
    let c = Config::from_str_named(
        "[smfi]\nsmfi_sock_path = \"inet:8890@127.0.0.1\"\nsmfi_sock_mode = \"0666\"\n\
         on_error = \"accept\"\nquarantine_mode = \"hold\"\ndry_run = true\n",
        "t.toml",
    )
    .unwrap();
    assert_eq!(c.smfi.smfi_sock_mode, 0o666);
    assert_eq!(c.smfi.on_error, OnError::Accept);
    assert!(c.smfi.quarantine_hold && c.smfi.dry_run);
    assert!(!Config::default().smfi.quarantine_hold);
    let err =
        |t: &str| Config::from_str_named(t, "t.toml").unwrap_err().to_string();
    assert_eq!(
        err("[smfi]\non_error = \"maybe\"\n"),
        "t.toml: smfi.on_error: 'maybe' is not tempfail, accept or reject"
    );
    assert!(
        err("[smfi]\nsmfi_sock_path = \"inet:x\"\n")
            .starts_with("t.toml: smfi.smfi_sock_path: 'inet:x' is not")
    );
    assert!(
        err("[smfi]\nsmfi_sock_mode = \"999\"\n")
            .contains("not an octal mode")
    );
}

#[test]
fn smtp_listens_on_tcp_or_a_unix_socket_with_tls_keys() {
    let c = Config::from_str_named("", "t.toml").unwrap();
    assert_eq!(c.smtp.listen(), Endpoint::Tcp("127.0.0.1".into(), 2526));
    assert_eq!(c.smtp.server_tls, ServerTls::May);
    assert_eq!(c.smtp.server_tls_name, "127.0.0.1");
    assert!(c.smtp.tls_cert_file.is_none());
    let c = Config::from_str_named(
        "[smtp]\nlisten_addr = \"unix:/run/nod32smtp.sock\"\n\
         listen_sock_mode = \"0666\"\ntls_cert_file = \"/c.pem\"\n\
         tls_key_file = \"/k.pem\"\nserver_tls = \"verify\"\n\
         server_addr = \"mx.example\"\ntimeout = \"5m\"\n",
        "t.toml",
    )
    .unwrap();
    assert_eq!(c.smtp.listen(), Endpoint::Unix("/run/nod32smtp.sock".into()));
    assert_eq!(c.smtp.listen_sock_mode, 0o666);
    assert_eq!(c.smtp.tls_key_file, Some("/k.pem".into()));
    assert_eq!(c.smtp.server_tls, ServerTls::Verify);
    assert_eq!(c.smtp.server_tls_name, "mx.example");
    assert_eq!(c.smtp.timeout, Duration::from_secs(300));
    let err =
        |t: &str| Config::from_str_named(t, "t.toml").unwrap_err().to_string();
    assert_eq!(
        err("[smtp]\ntls_cert_file = \"/c.pem\"\n"),
        "t.toml: smtp.tls_cert_file: tls_cert_file and tls_key_file go together"
    );
    assert_eq!(
        err("[smtp]\nserver_tls = \"yes\"\n"),
        "t.toml: smtp.server_tls: 'yes' is not none, may, encrypt or verify"
    );
}

#[test]
fn upd_keys() {
    let c = Config::from_str_named("", "t.toml").unwrap();
    // Only what the engine runs: bytecode would add nothing but two
    // hashes.
    assert_eq!(c.upd.databases, ["main", "daily"]);
    assert_eq!(c.upd.db_dir, PathBuf::from("/var/lib/nod32/clamav"));
    assert_eq!(c.upd.local_dir, None);
    assert!(c.upd.username.is_none() && c.upd.cvd_key.is_none());
    let c = Config::from_str_named(
        "[upd]\ndatabases = [\"daily\"]\nusername = \"u\"\npassword = \"p\"\n\
         proxy = \"http://proxy:3128\"\ncvd_key = \"12345:3\"\ntimeout = \"30s\"\n\
         max_download = \"10M\"\nlocal_dir = \"/etc/nod32/local.d\"\n",
        "t.toml",
    )
    .unwrap();
    assert_eq!(c.upd.databases, ["daily"]);
    assert_eq!(c.upd.local_dir, Some(PathBuf::from("/etc/nod32/local.d")));
    assert_eq!(c.upd.password.as_deref(), Some("p"));
    assert_eq!(c.upd.timeout, Duration::from_secs(30));
    assert_eq!(c.upd.max_download, 10 << 20);
    let err =
        |t: &str| Config::from_str_named(t, "t.toml").unwrap_err().to_string();
    assert!(err("[upd]\nusername = \"u\"\n").contains("go together"));
    assert!(err("[upd]\ncvd_key = \"abc\"\n").contains("MODULUS:EXPONENT"));
    assert!(err("[upd]\ndatabases = [\"../x\"]\n").contains("upd.databases"));
    assert!(err("[upd]\nproxy = \"proxy:3128\"\n").contains("upd.proxy"));
}

#[test]
fn user_config_is_checked_with_the_main_file() {
    let d = std::env::temp_dir()
        .join(format!("nod32-config-test-{}", std::process::id()));
    std::fs::create_dir_all(&d).unwrap();
    std::fs::write(d.join("users.toml"), "[a]\nparent_id = \"b\"\n").unwrap();
    std::fs::write(
        d.join("main.toml"),
        "[smtp]\nuser_config = \"users.toml\"\n",
    )
    .unwrap();
    let e = Config::load(&d.join("main.toml")).unwrap_err().to_string();
    assert!(e.ends_with("users.toml: a.parent_id: no section [b]"), "{e}");
    std::fs::write(d.join("users.toml"), "[b]\n[a]\nparent_id = \"b\"\n")
        .unwrap();
    let c = Config::load(&d.join("main.toml")).unwrap();
    assert_eq!(c.smtp.policy.user_config, Some(d.join("users.toml")));
    assert_eq!(c.smfi.policy.user_config, None);
    std::fs::remove_dir_all(&d).unwrap();
}

#[test]
fn networks() {
    let n = |s: &str| Network::parse(s).unwrap();
    let ip = |s: &str| s.parse::<std::net::IpAddr>().unwrap();
    assert!(n("127.0.0.0/8").contains(ip("127.1.2.3")));
    assert!(!n("127.0.0.0/8").contains(ip("128.0.0.1")));
    assert!(n("127.0.0.0/8").contains(ip("::ffff:127.0.0.1")));
    assert!(n("::1").contains(ip("::1")));
    assert!(!n("::1").contains(ip("::2")));
    assert!(n("0.0.0.0/0").contains(ip("192.0.2.1")));
    assert!(!n("0.0.0.0/0").contains(ip("2001:db8::1")));
    assert!(n("fd00::/8").contains(ip("fd12::1")));
    assert!(n("[::1]").contains(ip("::1")));
    for bad in ["10.0.0.0/33", "x", "::/129", "1.2.3.4/"] {
        assert!(Network::parse(bad).is_none(), "{bad}");
    }
}

#[test]
fn sizes_and_durations() {
    assert_eq!(parse_size("400M"), Some(400 << 20));
    assert_eq!(parse_size("1024"), Some(1024));
    assert_eq!(parse_size("2g"), Some(2 << 30));
    assert_eq!(parse_size("M"), None);
    assert_eq!(parse_duration("2m"), Some(Duration::from_secs(120)));
    assert_eq!(parse_duration("90"), Some(Duration::from_secs(90)));
    assert_eq!(parse_duration("x"), None);
}
