//! Who a service runs as: the user and group of `[global]`, looked up
//! while still root, and root dropped for them for good.

/// Why the service cannot become its user.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum PrivilegeError {
    /// The user or group database could not be read.
    #[error("looking up {what} {name}: {cause}")]
    Lookup {
        /// `user` or `group`.
        what: &'static str,
        /// The name looked up.
        name: String,
        /// What the lookup said.
        cause: nix::Error,
    },
    /// No such user or group.
    #[error("{what} {name} does not exist (set [global].{what})")]
    Missing {
        /// `user` or `group`.
        what: &'static str,
        /// The name looked up.
        name: String,
    },
    /// A set*id call failed.
    #[error("{call}: {cause}")]
    Set {
        /// The call, with its argument.
        call: String,
        /// What it said.
        cause: nix::Error,
    },
    /// After setuid the process could still become root again.
    #[error("still able to regain root after setuid")]
    StillRoot,
}

/// The user and group ids `user` and `group` name.
///
/// # Errors
/// Either does not exist, or cannot be looked up.
pub fn resolve(
    user: &str,
    group: &str,
) -> Result<(nix::unistd::User, nix::unistd::Gid), PrivilegeError> {
    let lookup = |what, name: &str| {
        let name = name.to_string();
        move |cause| PrivilegeError::Lookup { what, name, cause }
    };
    let missing = |what, name: &str| PrivilegeError::Missing {
        what,
        name: name.to_string(),
    };
    let u = nix::unistd::User::from_name(user)
        .map_err(lookup("user", user))?
        .ok_or_else(|| missing("user", user))?;
    let g = nix::unistd::Group::from_name(group)
        .map_err(lookup("group", group))?
        .ok_or_else(|| missing("group", group))?;
    Ok((u, g.gid))
}

/// Drops root for `user` and `group` (supplementary groups: `group`
/// only), for the whole process. Nothing happens when not root.
///
/// # Errors
/// The user or group does not exist, or a set*id call failed; a service
/// must then not go on as root.
pub fn drop_privileges(user: &str, group: &str) -> Result<(), PrivilegeError> {
    use nix::unistd::{Uid, getuid, setgid, setgroups, setuid};
    if !getuid().is_root() {
        return Ok(());
    }
    let (u, gid) = resolve(user, group)?;
    let set = |call: String| move |cause| PrivilegeError::Set { call, cause };
    setgroups(&[gid]).map_err(set("setgroups".into()))?;
    setgid(gid).map_err(set(format!("setgid({gid})")))?;
    setuid(u.uid).map_err(set(format!("setuid({})", u.uid)))?;
    if !u.uid.is_root() && setuid(Uid::from_raw(0)).is_ok() {
        return Err(PrivilegeError::StillRoot);
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
            resolve("nod32-no-such-user", "root").unwrap_err().to_string(),
            "user nod32-no-such-user does not exist (set [global].user)"
        );
        assert_eq!(
            resolve("root", "nod32-no-such-group").unwrap_err().to_string(),
            "group nod32-no-such-group does not exist (set [global].group)"
        );
    }
}
