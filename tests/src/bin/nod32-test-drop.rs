//! Test helper: drops privileges the way the services do, then reports
//! what the process became. `nod32-test-drop USER GROUP`.

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let [user, group] = args.as_slice() else {
        eprintln!("usage: nod32-test-drop USER GROUP");
        std::process::exit(2);
    };
    if let Err(e) = nod32_daemon::drop_privileges(user, group) {
        eprintln!("nod32-test-drop: {e}");
        std::process::exit(1);
    }
    let status = std::fs::read_to_string("/proc/self/status").unwrap();
    for l in status.lines() {
        if l.starts_with("Uid:")
            || l.starts_with("Gid:")
            || l.starts_with("Groups:")
        {
            println!("{}", l.split_whitespace().collect::<Vec<_>>().join(" "));
        }
    }
    match std::fs::File::open("/etc/shadow") {
        Ok(_) => println!("shadow: readable"),
        Err(e) => println!("shadow: {}", e.kind()),
    }
}
