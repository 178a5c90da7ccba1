//! Which journey a login gets: pure resolution of the configured rules (no I/O; the caller
//! looks the user's groups up).

use crate::config::{Config, Journey, Rule};

/// What is known about a login when it begins.
#[derive(Clone, Debug, Default)]
pub struct Login<'a> {
    pub user: &'a str,
    pub groups: &'a [String],
    pub service: &'a str,
    pub tty: &'a str,
}

/// The journey of the first matching rule, else the default one.
pub fn resolve(config: &Config, login: &Login<'_>) -> Journey {
    config
        .rules
        .iter()
        .find(|rule| matches(rule, login))
        .map_or(config.default_journey, |rule| rule.journey)
}

fn matches(rule: &Rule, login: &Login<'_>) -> bool {
    let any =
        |list: &[String], f: &dyn Fn(&str) -> bool| list.is_empty() || list.iter().any(|p| f(p));
    any(&rule.users, &|u| u == login.user)
        && any(&rule.groups, &|g| login.groups.iter().any(|h| h == g))
        && any(&rule.services, &|s| s == login.service)
        && any(&rule.ttys, &|t| tty_matches(t, login.tty))
}

fn tty_matches(pattern: &str, tty: &str) -> bool {
    match pattern.strip_suffix('*') {
        Some(prefix) => tty.starts_with(prefix),
        None => pattern == tty,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::parse;

    fn login<'a>(user: &'a str, groups: &'a [String], service: &'a str, tty: &'a str) -> Login<'a> {
        Login {
            user,
            groups,
            service,
            tty,
        }
    }

    #[test]
    fn default_when_no_rules() {
        let c = parse("default_journey = \"pin\"").unwrap();
        assert_eq!(resolve(&c, &login("a", &[], "login", "tty1")), Journey::Pin);
    }

    #[test]
    fn first_matching_rule_wins_and_every_list_must_match() {
        let c = parse(
            r#"
[[rule]]
users = ["root"]
journey = "pin"
[[rule]]
groups = ["cleanroom"]
services = ["login"]
ttys = ["tty*"]
journey = "behavior"
[[rule]]
services = ["sudo"]
journey = "none"
"#,
        )
        .unwrap();
        let clean = vec!["users".to_string(), "cleanroom".to_string()];
        assert_eq!(
            resolve(&c, &login("root", &clean, "sudo", "tty1")),
            Journey::Pin
        );
        assert_eq!(
            resolve(&c, &login("ann", &clean, "login", "tty3")),
            Journey::Behavior
        );
        // Same user on a pseudo terminal: the tty list does not match.
        assert_eq!(
            resolve(&c, &login("ann", &clean, "login", "pts/0")),
            Journey::BehaviorPin
        );
        assert_eq!(
            resolve(&c, &login("bob", &[], "login", "tty3")),
            Journey::BehaviorPin
        );
        assert_eq!(
            resolve(&c, &login("bob", &[], "sudo", "pts/1")),
            Journey::None
        );
    }

    #[test]
    fn tty_patterns() {
        assert!(tty_matches("tty*", "tty1"));
        assert!(tty_matches(":0", ":0"));
        assert!(!tty_matches(":0", ":01"));
        assert!(tty_matches("*", "anything"));
    }
}
