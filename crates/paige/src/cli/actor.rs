//! Who ran a local command, for the audit log and "updated by": the
//! operating-system user (by uid, from the password database, so an unset
//! `$USER` under cron or systemd does not make it `unknown`) and the host.

use crate::model::Actor;

/// `cli:<user>@<host>` for this process.
pub fn local_actor() -> Actor {
    Actor {
        name: format!("cli:{}@{}", os_user(), host()),
        user_id: None,
        request_id: None,
    }
}

/// The name of this process's real uid in `/etc/passwd`; else `$USER` or
/// `$LOGNAME`; else `uid<N>`.
fn os_user() -> String {
    let uid = rustix::process::getuid().as_raw();
    if let Some(name) = passwd_name(uid) {
        return name;
    }
    ["USER", "LOGNAME"]
        .iter()
        .filter_map(|var| std::env::var(var).ok())
        .find(|name| !name.is_empty() && name.chars().all(is_name_char))
        .unwrap_or_else(|| format!("uid{uid}"))
}

fn passwd_name(uid: u32) -> Option<String> {
    let text = std::fs::read_to_string("/etc/passwd").ok()?;
    text.lines().find_map(|line| {
        let mut fields = line.split(':');
        let name = fields.next()?;
        let id = fields.nth(1)?.parse::<u32>().ok()?;
        (id == uid && !name.is_empty() && name.chars().all(is_name_char)).then(|| name.to_owned())
    })
}

/// The kernel's host name (`uname -n`), or `localhost`.
fn host() -> String {
    let uname = rustix::system::uname();
    let name = uname.nodename().to_string_lossy().into_owned();
    if name.is_empty() || !name.chars().all(is_name_char) {
        "localhost".to_owned()
    } else {
        name
    }
}

/// Audit names stay printable: no spaces, controls or separators.
fn is_name_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_local_actor_names_a_user_and_a_host() {
        let actor = local_actor();
        let rest = actor.name.strip_prefix("cli:").unwrap_or_default();
        let (user, host) = rest.split_once('@').unwrap_or_default();
        assert!(!user.is_empty() && user != "unknown", "{}", actor.name);
        assert!(!host.is_empty(), "{}", actor.name);
        assert!(actor.user_id.is_none());
    }
}
