//! Secrets: SHA-256 digests for storage, constant-time comparison, fresh random secrets.

use rand::RngExt;
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

/// Prefix of API key secrets the gateway issues.
const ISSUED_PREFIX: &str = "dk-";

/// Lowercase hex SHA-256 of `secret`: the only form in which secrets are stored.
pub fn digest(secret: &str) -> String {
    hex::encode(Sha256::digest(secret.as_bytes()))
}

/// Whether `presented` hashes to `stored_digest`, compared in constant time.
pub fn matches(presented: &str, stored_digest: &str) -> bool {
    let ours = digest(presented);
    ours.as_bytes().ct_eq(stored_digest.as_bytes()).into()
}

/// A fresh API key secret (shown once to its creator).
pub fn generate() -> String {
    let mut rng = rand::rng();
    let raw: [u8; 24] = rng.random();
    format!("{ISSUED_PREFIX}{}", hex::encode(raw))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn digests_match_only_their_secret() {
        let d = digest("s3cret");
        assert_eq!(d.len(), 64);
        assert!(matches("s3cret", &d));
        assert!(!matches("s3cret ", &d));
        assert_ne!(generate(), generate());
    }
}
