//! Password hashing (argon2id), generation of compliant passwords, and avatar content sniffing.

use crate::model::{ImageType, PasswordPolicy};
use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use argon2::{Algorithm, Argon2, Params, Version};
use rand::seq::SliceRandom;
use rand::{Rng, RngCore};

/// Cost parameters of argon2id password hashing.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HashCost {
    /// Memory in KiB.
    pub memory_kib: u32,
    /// Iterations.
    pub iterations: u32,
    /// Lanes.
    pub parallelism: u32,
}

impl Default for HashCost {
    /// OWASP's recommended argon2id setting (19 MiB, 2 iterations, 1 lane).
    fn default() -> Self {
        HashCost {
            memory_kib: 19 * 1024,
            iterations: 2,
            parallelism: 1,
        }
    }
}

impl HashCost {
    /// The smallest cost argon2 accepts: for tests only, never for real passwords.
    pub const fn insecure_for_tests() -> Self {
        HashCost {
            memory_kib: 8,
            iterations: 1,
            parallelism: 1,
        }
    }
}

/// A random 16-byte salt.
pub(crate) fn salt(rng: &mut impl RngCore) -> [u8; 16] {
    let mut salt = [0u8; 16];
    rng.fill_bytes(&mut salt);
    salt
}

/// Hashes `password` with argon2id and `salt` into a PHC string. Slow on purpose: call it
/// without holding any lock.
pub(crate) fn hash_password(cost: HashCost, password: &str, salt: [u8; 16]) -> String {
    let params =
        Params::new(cost.memory_kib, cost.iterations, cost.parallelism, None).unwrap_or_default();
    // Neither can fail: 16 bytes always encode, and invalid params fell back to the default.
    let salt = SaltString::encode_b64(&salt).expect("16-byte salt encodes");
    Argon2::new(Algorithm::Argon2id, Version::V0x13, params)
        .hash_password(password.as_bytes(), &salt)
        .map(|h| h.to_string())
        .expect("argon2id hashing with valid parameters")
}

/// True if `password` matches the PHC string `hash` (the cost is read from the hash).
pub(crate) fn verify_password(hash: &str, password: &str) -> bool {
    PasswordHash::new(hash)
        .map(|h| {
            Argon2::default()
                .verify_password(password.as_bytes(), &h)
                .is_ok()
        })
        .unwrap_or(false)
}

const LOWER: &[u8] = b"abcdefghijkmnopqrstuvwxyz";
const UPPER: &[u8] = b"ABCDEFGHJKLMNPQRSTUVWXYZ";
const DIGITS: &[u8] = b"23456789";
const SYMBOLS: &[u8] = b"!@#$%^&*-_=+?";

/// A random password that satisfies `policy` (at least 16 characters, every class present).
/// The caller re-checks it against the username rule and draws again if needed.
pub(crate) fn generate_password(policy: &PasswordPolicy, rng: &mut impl Rng) -> String {
    let len = (policy.min_length as usize).clamp(16, 128);
    let mut out: Vec<u8> = vec![
        *LOWER.choose(rng).unwrap_or(&b'a'),
        *UPPER.choose(rng).unwrap_or(&b'A'),
        *DIGITS.choose(rng).unwrap_or(&b'2'),
        *SYMBOLS.choose(rng).unwrap_or(&b'!'),
    ];
    let all: Vec<u8> = [LOWER, UPPER, DIGITS, SYMBOLS].concat();
    while out.len() < len {
        out.push(all[rng.gen_range(0..all.len())]);
    }
    out.shuffle(rng);
    out.into_iter().map(char::from).collect()
}

/// A random SIP password: 16 letters and digits (no symbols, as some phones mangle them).
pub(crate) fn generate_sip_password(rng: &mut impl Rng) -> String {
    let all: Vec<u8> = [LOWER, UPPER, DIGITS].concat();
    (0..16)
        .map(|_| char::from(all[rng.gen_range(0..all.len())]))
        .collect()
}

/// The largest avatar accepted: 8 MiB.
pub const AVATAR_MAX_BYTES: usize = 8 * 1024 * 1024;

/// Detects PNG or JPEG from the first bytes, whatever the file name says.
pub fn sniff_image(bytes: &[u8]) -> Option<ImageType> {
    if bytes.starts_with(&[0x89, b'P', b'N', b'G', 0x0D, 0x0A, 0x1A, 0x0A]) {
        Some(ImageType::Png)
    } else if bytes.starts_with(&[0xFF, 0xD8, 0xFF]) {
        Some(ImageType::Jpeg)
    } else {
        None
    }
}
