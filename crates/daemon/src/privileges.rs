//! Who a service runs as: the user and group of `[global]`, looked up
//! while still root, and root dropped for them for good.

/// The user and group ids `user` and `group` name.
///
/// # Errors
/// Either does not exist.
pub fn resolve(
    user: &str,
    group: &str,
) -> Result<(nix::unistd::User, nix::unistd::Gid), String> {
    let u = nix::unistd::User::from_name(user)
        .map_err(|e| format!("looking up user {user}: {e}"))?
        .ok_or_else(|| {
            format!("user {user} does not exist (set [global].user)")
        })?;
    let g = nix::unistd::Group::from_name(group)
        .map_err(|e| format!("looking up group {group}: {e}"))?
        .ok_or_else(|| {
            format!("group {group} does not exist (set [global].group)")
        })?;
    Ok((u, g.gid))
}

/// Drops root for `user` and `group` (supplementary groups: `group`
/// only), for the whole process. Nothing happens when not root.
///
/// # Errors
/// The user or group does not exist, or a set*id call failed; a service
/// must then not go on as root.
pub fn drop_privileges(user: &str, group: &str) -> Result<(), String> {
    use nix::unistd::{Uid, getuid, setgid, setgroups, setuid};
    if !getuid().is_root() {
        return Ok(());
    }
    let (u, gid) = resolve(user, group)?;
    setgroups(&[gid]).map_err(|e| format!("setgroups: {e}"))?;
    setgid(gid).map_err(|e| format!("setgid({gid}): {e}"))?;
    setuid(u.uid).map_err(|e| format!("setuid({}): {e}", u.uid))?;
    if !u.uid.is_root() && setuid(Uid::from_raw(0)).is_ok() {
        return Err("still able to regain root after setuid".into());
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_resolve() {
        let (u, g) = resolve("root", "root").unwrap();
        assert!(u.uid.is_root());
        assert_eq!(g.as_raw(), 0);
        assert_eq!(
            resolve("nod32-no-such-user", "root").unwrap_err(),
            "user nod32-no-such-user does not exist (set [global].user)"
        );
        assert_eq!(
            resolve("root", "nod32-no-such-group").unwrap_err(),
            "group nod32-no-such-group does not exist (set [global].group)"
        );
    }
}
