//! Opaque random references shown to people. Never derived from names or row ids.

use rand::Rng;

/// Crockford base32 alphabet (no I, L, O, U).
pub const CROCKFORD: &[u8; 32] = b"0123456789ABCDEFGHJKMNPQRSTVWXYZ";

/// `len` random Crockford base32 characters.
pub fn random_crockford(len: usize) -> String {
    let mut rng = rand::thread_rng();
    (0..len).map(|_| CROCKFORD[rng.gen_range(0..32)] as char).collect()
}

/// A public id `prefix_` + 20 random lower-case Crockford characters (100 bits), e.g. `usr_…`.
pub fn public_id(prefix: &str) -> String {
    format!("{prefix}_{}", random_crockford(20).to_ascii_lowercase())
}

/// Prefixes of public ids, one per kind of row.
pub mod prefix {
    /// Platform user.
    pub const USER: &str = "usr";
    /// API key (the id, not the secret).
    pub const API_KEY: &str = "key";
    /// Audit event.
    pub const AUDIT_EVENT: &str = "evt";
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn public_ids_are_random_and_well_formed() {
        let a = public_id(prefix::USER);
        let b = public_id(prefix::USER);
        assert_ne!(a, b);
        assert_eq!(a.len(), 24);
        assert!(a.starts_with("usr_"));
        assert!(a[4..].bytes().all(|c| CROCKFORD.contains(&c.to_ascii_uppercase())));
    }
}
