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

/// A public id like [`public_id`] whose first 9 characters are the creation time in
/// milliseconds (Crockford base 32, so ids sort by time) and whose last 11 are random (55
/// bits): rows written one after another land next to each other in their unique index instead
/// of on a random page each. For append-only rows written on every gateway call (requests,
/// payments, ledger entries, audit events); ids that must be unguessable stay [`public_id`].
pub fn ordered_id(prefix: &str) -> String {
    let millis = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64);
    let time: String = (0..9).rev().map(|i| CROCKFORD[((millis >> (i * 5)) & 31) as usize] as char).collect();
    format!("{prefix}_{}{}", time, random_crockford(11)).to_ascii_lowercase()
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
    fn ordered_ids_sort_by_time_and_keep_the_shape() {
        let a = ordered_id("req");
        std::thread::sleep(std::time::Duration::from_millis(2));
        let b = ordered_id("req");
        assert_ne!(a, b);
        assert!(a < b, "{a} should sort before {b}");
        assert_eq!(a.len(), 24);
        assert!(a.starts_with("req_"));
        assert!(a[4..].bytes().all(|c| CROCKFORD.contains(&c.to_ascii_uppercase())));
    }

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
