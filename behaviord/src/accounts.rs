//! System accounts (NSS): the daemon only serves users that exist on this machine.

use nix::unistd::{getgrouplist, Gid, Group, Uid, User};

/// A local account as the policy needs it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Account {
    pub name: String,
    pub uid: u32,
    /// Names of the primary and supplementary groups.
    pub groups: Vec<String>,
}

/// The account named `name`, `None` when there is no such user (or the lookup failed).
pub fn by_name(name: &str) -> Option<Account> {
    let user = User::from_name(name).ok().flatten()?;
    Some(account(user))
}

pub fn by_uid(uid: u32) -> Option<Account> {
    let user = User::from_uid(Uid::from_raw(uid)).ok().flatten()?;
    Some(account(user))
}

fn account(user: User) -> Account {
    let gids = std::ffi::CString::new(user.name.as_str())
        .ok()
        .and_then(|c| getgrouplist(&c, user.gid).ok())
        .unwrap_or_else(|| vec![user.gid]);
    let groups = gids
        .into_iter()
        .filter_map(|g: Gid| Group::from_gid(g).ok().flatten().map(|g| g.name))
        .collect();
    Account {
        name: user.name,
        uid: user.uid.as_raw(),
        groups,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn root_exists_with_its_group() {
        let root = by_name("root").unwrap();
        assert_eq!(root.uid, 0);
        assert!(root.groups.iter().any(|g| g == "root"));
        assert_eq!(by_uid(0).unwrap().name, "root");
        assert!(by_name("no-such-user-behaviord").is_none());
    }
}
