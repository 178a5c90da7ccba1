//! PINs: format rules, argon2id hashing into PHC strings and constant-time checks.
//!
//! A PIN travels as a `Zeroizing<String>` from the moment it leaves the D-Bus message, so
//! the copies the daemon makes are wiped when dropped.

use argon2::password_hash::rand_core::OsRng;
use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use argon2::{Algorithm, Argon2, Params, Version};
use zeroize::Zeroizing;

use crate::config;

pub type Secret = Zeroizing<String>;

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum PinError {
    #[error("a PIN must be exactly {0} digits")]
    Format(u32),
    #[error("the stored PIN hash is not a valid argon2id PHC string")]
    BadHash,
    #[error("argon2 failed: {0}")]
    Argon2(String),
}

/// Checks `pin` is exactly `length` ASCII digits.
pub fn check_format(pin: &str, length: u32) -> Result<(), PinError> {
    if pin.len() != length as usize || !pin.bytes().all(|b| b.is_ascii_digit()) {
        return Err(PinError::Format(length));
    }
    Ok(())
}

fn hasher(cfg: &config::Pin) -> Result<Argon2<'static>, PinError> {
    let params = Params::new(
        cfg.argon2_memory_kib,
        cfg.argon2_iterations,
        cfg.argon2_parallelism,
        None,
    )
    .map_err(|e| PinError::Argon2(e.to_string()))?;
    Ok(Argon2::new(Algorithm::Argon2id, Version::V0x13, params))
}

/// Hashes a PIN with a fresh random salt into a PHC string (`$argon2id$v=19$m=...`).
pub fn hash(pin: &str, cfg: &config::Pin) -> Result<String, PinError> {
    let salt = SaltString::generate(&mut OsRng);
    hasher(cfg)?
        .hash_password(pin.as_bytes(), &salt)
        .map(|h| h.to_string())
        .map_err(|e| PinError::Argon2(e.to_string()))
}

/// True when `pin` matches `phc`. The parameters come from the PHC string (a PIN keeps the
/// cost it was set with); argon2's own comparison of the outputs is constant time.
pub fn verify(pin: &str, phc: &str) -> Result<bool, PinError> {
    let parsed = PasswordHash::new(phc).map_err(|_| PinError::BadHash)?;
    if parsed.algorithm.as_str() != "argon2id" {
        return Err(PinError::BadHash);
    }
    match Argon2::default().verify_password(pin.as_bytes(), &parsed) {
        Ok(()) => Ok(true),
        Err(argon2::password_hash::Error::Password) => Ok(false),
        Err(e) => Err(PinError::Argon2(e.to_string())),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cheap() -> config::Pin {
        config::Pin {
            argon2_memory_kib: 64,
            argon2_iterations: 1,
            ..config::Pin::default()
        }
    }

    #[test]
    fn format() {
        assert!(check_format("123456", 6).is_ok());
        assert_eq!(check_format("12345", 6), Err(PinError::Format(6)));
        assert_eq!(check_format("12345a", 6), Err(PinError::Format(6)));
        assert_eq!(check_format("١٢٣٤٥٦", 6), Err(PinError::Format(6)));
    }

    #[test]
    fn hash_and_verify() {
        let phc = hash("123456", &cheap()).unwrap();
        assert!(phc.starts_with("$argon2id$v=19$m=64,t=1,p=1$"), "{phc}");
        assert!(verify("123456", &phc).unwrap());
        assert!(!verify("123457", &phc).unwrap());
        assert_ne!(phc, hash("123456", &cheap()).unwrap(), "salted");
        assert_eq!(verify("1", "garbage"), Err(PinError::BadHash));
    }

    /// argon2id cost per PIN check with the shipped defaults (a figure for the report;
    /// `cargo test -p behaviord --release pin::tests::argon2_cost -- --nocapture`).
    #[test]
    fn argon2_cost() {
        let cfg = config::Pin::default();
        let phc = hash("123456", &cfg).unwrap();
        let n = 5;
        let start = std::time::Instant::now();
        for _ in 0..n {
            assert!(verify("123456", &phc).unwrap());
        }
        let per = start.elapsed() / n;
        println!(
            "argon2id m={} KiB t={} p={}: {:.1} ms per PIN check",
            cfg.argon2_memory_kib,
            cfg.argon2_iterations,
            cfg.argon2_parallelism,
            per.as_secs_f64() * 1000.0
        );
    }
}
