//! The login decision: which PAM result a login earns from what was judged in it.
//!
//! One rule for the PAM module and the daemon. The daemon calls [`judge`] to know whether a
//! login was proven (only then are failures forgiven and the template adapted); the module
//! calls [`decide`] with everything it saw to pick its PAM code. Three things never count
//! as passing a factor: setting it up in this login (an enrollment or a new PIN proves
//! nothing about who typed), an allowed skip, and a factor that was not judged at all.

/// A set of factors (`behavior`: the typing pattern, `pin`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct Factors {
    pub behavior: bool,
    pub pin: bool,
}

impl Factors {
    pub const NONE: Factors = Factors {
        behavior: false,
        pin: false,
    };
    pub const BEHAVIOR: Factors = Factors {
        behavior: true,
        pin: false,
    };
    pub const PIN: Factors = Factors {
        behavior: false,
        pin: true,
    };
    pub const BOTH: Factors = Factors {
        behavior: true,
        pin: true,
    };

    pub fn is_empty(self) -> bool {
        self == Factors::NONE
    }

    pub fn union(self, other: Factors) -> Factors {
        Factors {
            behavior: self.behavior || other.behavior,
            pin: self.pin || other.pin,
        }
    }

    pub fn intersection(self, other: Factors) -> Factors {
        Factors {
            behavior: self.behavior && other.behavior,
            pin: self.pin && other.pin,
        }
    }

    /// The factors of `self` that are not in `other`.
    pub fn minus(self, other: Factors) -> Factors {
        Factors {
            behavior: self.behavior && !other.behavior,
            pin: self.pin && !other.pin,
        }
    }

    /// Every factor of `other` is in `self`.
    pub fn contains(self, other: Factors) -> bool {
        other.minus(self).is_empty()
    }

    /// The factor named `name` (`behavior`, `pin`); `None` for any other name.
    pub fn parse_one(name: &str) -> Option<Factors> {
        match name {
            "behavior" => Some(Factors::BEHAVIOR),
            "pin" => Some(Factors::PIN),
            _ => None,
        }
    }

    /// The factors named in `names`; unknown names count as nothing.
    pub fn from_names<S: AsRef<str>>(names: &[S]) -> Factors {
        names
            .iter()
            .filter_map(|n| Factors::parse_one(n.as_ref()))
            .fold(Factors::NONE, Factors::union)
    }

    /// The factors' names, `behavior` before `pin`.
    pub fn names(self) -> Vec<&'static str> {
        let mut out = Vec::new();
        if self.behavior {
            out.push("behavior");
        }
        if self.pin {
            out.push("pin");
        }
        out
    }
}

/// What the factors judged in a login add up to.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Judgement {
    /// At least one factor is required and every required factor was judged passed.
    Proven,
    /// Nothing was proven, and nothing that had to be proven is missing: no factor is
    /// required, or each missing one was only set up or skipped here. The rest of the stack
    /// decides (`PAM_IGNORE`).
    Waived,
    /// A required factor was neither passed nor waived.
    Unproven,
}

/// `required`: what must be proven. `passed`: what was judged passed in this login.
/// `waivable`: required factors that were set up or skipped in this login (they can waive,
/// never prove). `demanded`: factors that may not be waived (the module's `factors=`).
pub fn judge(
    required: Factors,
    passed: Factors,
    waivable: Factors,
    demanded: Factors,
) -> Judgement {
    let required = required.union(demanded);
    if !required.is_empty() && passed.contains(required) {
        return Judgement::Proven;
    }
    let missing = required.minus(passed);
    if passed.contains(demanded) && waivable.minus(demanded).contains(missing) {
        Judgement::Waived
    } else {
        Judgement::Unproven
    }
}

/// What the daemon cannot be blamed for: the login ended before `Finish`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Stop {
    /// Not typed at this machine's keyboards (`deny`: the policy refuses remote logins).
    Remote { deny: bool },
    /// The application could not ask the user.
    Conversation,
    /// The tries ran out, or the user is locked out.
    TriesUsed,
    /// No such account.
    UnknownUser,
    /// The user has no typing pattern or PIN and the policy offers no enrollment.
    NotEnrolled,
    /// The daemon refused the login (policy, caller, an unreadable template, ...).
    Refused,
    /// The daemon's reply could not be used (a required factor not offered, a bad handle,
    /// a call out of order).
    Protocol,
}

/// How the conversation with the daemon ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum End {
    /// `Finish` answered: its verdict (`success`) and the factors it lists as passed.
    Finished {
        success: bool,
        confirmed: Factors,
    },
    /// The daemon could not be reached, timed out, or said it cannot serve.
    Unreachable,
    Stopped(Stop),
}

/// What the fail mode makes of an unreachable daemon.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FailMode {
    /// `PAM_AUTHINFO_UNAVAIL`: the stack falls through.
    Open,
    /// `PAM_AUTH_ERR`.
    Closed,
}

/// Everything one login established.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Facts {
    /// What the journey requires.
    pub journey: Factors,
    /// What the module's own arguments demand on top (never waived).
    pub demanded: Factors,
    /// Judged passed in this login (`Accepted` replies).
    pub passed: Factors,
    /// Judged rejected with no later pass in this login: the last verdict on it was "wrong".
    pub rejected: Factors,
    /// Set up (enrolled) in this login, pending confirmation by the stack.
    pub set_up: Factors,
    /// Skipped with the policy's leave.
    pub skipped: Factors,
    pub end: End,
    pub fail: FailMode,
}

/// The PAM result.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Decision {
    Success,
    Ignore,
    AuthErr,
    MaxTries,
    AuthInfoUnavail,
    UserUnknown,
    ConvErr,
}

/// The one place that picks the PAM result. In order:
/// 1. a factor whose last verdict was a rejection makes the login fail, whatever else
///    happened after it (a daemon that then died, a broken conversation);
/// 2. an unreachable daemon gives the fail-mode code;
/// 3. an early stop maps through a fixed table;
/// 4. after `Finish`, [`judge`]: success only when proven here AND the daemon agrees.
pub fn decide(f: &Facts) -> Decision {
    if !f.rejected.minus(f.passed).is_empty() {
        return match f.end {
            End::Stopped(Stop::TriesUsed) => Decision::MaxTries,
            _ => Decision::AuthErr,
        };
    }
    match f.end {
        End::Unreachable => match f.fail {
            FailMode::Open => Decision::AuthInfoUnavail,
            FailMode::Closed => Decision::AuthErr,
        },
        End::Stopped(stop) => match stop {
            Stop::Remote { deny: true } => Decision::AuthErr,
            Stop::Remote { deny: false } | Stop::NotEnrolled => Decision::AuthInfoUnavail,
            Stop::Conversation => Decision::ConvErr,
            Stop::TriesUsed => Decision::MaxTries,
            Stop::UnknownUser => Decision::UserUnknown,
            Stop::Refused | Stop::Protocol => Decision::AuthErr,
        },
        End::Finished { success, confirmed } => {
            let passed = f.passed.intersection(confirmed);
            let waivable = f.set_up.union(f.skipped);
            match judge(f.journey, passed, waivable, f.demanded) {
                Judgement::Proven if success => Decision::Success,
                Judgement::Proven | Judgement::Unproven => Decision::AuthErr,
                Judgement::Waived => Decision::Ignore,
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const ALL_FACTORS: [Factors; 4] = [
        Factors::NONE,
        Factors::BEHAVIOR,
        Factors::PIN,
        Factors::BOTH,
    ];

    fn all_ends() -> Vec<End> {
        let mut ends = vec![End::Unreachable];
        for stop in [
            Stop::Remote { deny: true },
            Stop::Remote { deny: false },
            Stop::Conversation,
            Stop::TriesUsed,
            Stop::UnknownUser,
            Stop::NotEnrolled,
            Stop::Refused,
            Stop::Protocol,
        ] {
            ends.push(End::Stopped(stop));
        }
        for success in [false, true] {
            for confirmed in ALL_FACTORS {
                ends.push(End::Finished { success, confirmed });
            }
        }
        ends
    }

    /// Every combination of facts: 4^6 factor sets x 19 ends x 2 fail modes.
    fn every_fact() -> Vec<Facts> {
        let mut out = Vec::new();
        for journey in ALL_FACTORS {
            for demanded in ALL_FACTORS {
                for passed in ALL_FACTORS {
                    for rejected in ALL_FACTORS {
                        for set_up in ALL_FACTORS {
                            for skipped in ALL_FACTORS {
                                for end in all_ends() {
                                    for fail in [FailMode::Open, FailMode::Closed] {
                                        out.push(Facts {
                                            journey,
                                            demanded,
                                            passed,
                                            rejected,
                                            set_up,
                                            skipped,
                                            end,
                                            fail,
                                        });
                                    }
                                }
                            }
                        }
                    }
                }
            }
        }
        out
    }

    #[test]
    fn success_only_when_every_required_factor_was_judged_passed_and_confirmed() {
        let facts = every_fact();
        assert!(facts.len() > 100_000);
        let mut successes = 0;
        for f in &facts {
            if decide(f) != Decision::Success {
                continue;
            }
            successes += 1;
            let End::Finished { success, confirmed } = f.end else {
                panic!("success without Finish: {f:?}");
            };
            let required = f.journey.union(f.demanded);
            assert!(success, "the daemon did not agree: {f:?}");
            assert!(!required.is_empty(), "nothing was required: {f:?}");
            assert!(
                f.passed.intersection(confirmed).contains(required),
                "a required factor was not judged passed and confirmed: {f:?}"
            );
            assert!(
                f.passed.contains(f.rejected),
                "a rejection was left standing: {f:?}"
            );
        }
        assert!(successes > 0);
    }

    #[test]
    fn setting_up_or_skipping_never_creates_a_success() {
        for f in every_fact() {
            let base = Facts {
                set_up: Factors::NONE,
                skipped: Factors::NONE,
                ..f
            };
            if decide(&base) != Decision::Success {
                assert_ne!(decide(&f), Decision::Success, "{f:?}");
            }
        }
    }

    #[test]
    fn an_unreachable_daemon_gives_the_fail_mode_unless_a_rejection_stands() {
        for f in every_fact()
            .into_iter()
            .filter(|f| f.end == End::Unreachable)
        {
            let expected = if !f.passed.contains(f.rejected) {
                Decision::AuthErr
            } else if f.fail == FailMode::Open {
                Decision::AuthInfoUnavail
            } else {
                Decision::AuthErr
            };
            assert_eq!(decide(&f), expected, "{f:?}");
        }
    }

    #[test]
    fn a_standing_rejection_always_fails_the_login() {
        for f in every_fact() {
            if !f.passed.contains(f.rejected) {
                assert!(
                    matches!(decide(&f), Decision::AuthErr | Decision::MaxTries),
                    "{f:?}"
                );
            }
        }
    }

    #[test]
    fn a_demanded_factor_is_never_waived() {
        for f in every_fact() {
            let End::Finished { confirmed, .. } = f.end else {
                continue;
            };
            if !f.passed.intersection(confirmed).contains(f.demanded) {
                assert_eq!(decide(&f), Decision::AuthErr, "{f:?}");
            }
        }
    }

    fn finished(journey: Factors, passed: Factors, set_up: Factors) -> Facts {
        Facts {
            journey,
            demanded: Factors::NONE,
            passed,
            rejected: Factors::NONE,
            set_up,
            skipped: Factors::NONE,
            end: End::Finished {
                success: true,
                confirmed: passed,
            },
            fail: FailMode::Open,
        }
    }

    #[test]
    fn the_review_findings_as_cases() {
        // A PIN set up at login is not the PIN factor (journey `pin`).
        let f = finished(Factors::PIN, Factors::NONE, Factors::PIN);
        assert_eq!(decide(&f), Decision::Ignore);
        // After remove-pin: typing passed, new PIN chosen: not proven.
        let f = finished(Factors::BOTH, Factors::BEHAVIOR, Factors::PIN);
        assert_eq!(decide(&f), Decision::Ignore);
        // Enrolled typing and PIN: the rest of the stack decides.
        let f = finished(Factors::BOTH, Factors::NONE, Factors::BOTH);
        assert_eq!(decide(&f), Decision::Ignore);
        // Both passed.
        let f = finished(Factors::BOTH, Factors::BOTH, Factors::NONE);
        assert_eq!(decide(&f), Decision::Success);
        // A daemon that claims success for a factor not judged here.
        let mut f = finished(Factors::BOTH, Factors::BEHAVIOR, Factors::NONE);
        f.end = End::Finished {
            success: true,
            confirmed: Factors::BOTH,
        };
        assert_eq!(decide(&f), Decision::AuthErr);
        // A wrong PIN, then the daemon died: a rejection, not the fail mode.
        let f = Facts {
            rejected: Factors::PIN,
            end: End::Unreachable,
            ..finished(Factors::BOTH, Factors::BEHAVIOR, Factors::NONE)
        };
        assert_eq!(decide(&f), Decision::AuthErr);
        // A wrong typing, then a right one: no rejection stands.
        let f = Facts {
            rejected: Factors::BEHAVIOR,
            ..finished(Factors::BEHAVIOR, Factors::BEHAVIOR, Factors::NONE)
        };
        assert_eq!(decide(&f), Decision::Success);
        // factors=behavior is not waived by an enrollment.
        let f = Facts {
            demanded: Factors::BEHAVIOR,
            ..finished(Factors::BEHAVIOR, Factors::NONE, Factors::BEHAVIOR)
        };
        assert_eq!(decide(&f), Decision::AuthErr);
        // Journey `none`: nothing to prove, the stack decides.
        assert_eq!(
            decide(&finished(Factors::NONE, Factors::NONE, Factors::NONE)),
            Decision::Ignore
        );
    }

    #[test]
    fn the_daemon_side_judgement() {
        let j = |r, p, w| judge(r, p, w, Factors::NONE);
        assert_eq!(
            j(Factors::BOTH, Factors::BOTH, Factors::NONE),
            Judgement::Proven
        );
        assert_eq!(
            j(Factors::BOTH, Factors::BEHAVIOR, Factors::PIN),
            Judgement::Waived
        );
        assert_eq!(
            j(Factors::BOTH, Factors::BEHAVIOR, Factors::NONE),
            Judgement::Unproven
        );
        assert_eq!(
            j(Factors::NONE, Factors::NONE, Factors::NONE),
            Judgement::Waived
        );
        assert_eq!(
            j(Factors::PIN, Factors::BOTH, Factors::NONE),
            Judgement::Proven
        );
    }

    #[test]
    fn factor_names() {
        assert_eq!(Factors::from_names(&["pin", "nonsense"]), Factors::PIN);
        assert_eq!(Factors::BOTH.names(), vec!["behavior", "pin"]);
        assert!(Factors::BOTH.contains(Factors::PIN));
        assert!(!Factors::PIN.contains(Factors::BOTH));
    }
}
