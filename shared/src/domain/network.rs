//! Which client network a request comes from, for the per-source-IP windows of the anonymous
//! routes. An IPv4 address is one client (a carrier's NAT may put many phones behind it, which
//! is why the windows are generous). An IPv6 client is usually given a whole /64 and picks
//! addresses in it at will, so its /64 is the unit: counting single IPv6 addresses would give
//! one client 2^64 windows.

use std::net::IpAddr;

use crate::domain::secrets::{HashKey, Purpose};

/// The network `ip` stands for: the address itself (IPv4, also when mapped into IPv6), or
/// its /64 prefix (IPv6), as text. `None` (no address given) is one shared network.
pub fn client_network(ip: Option<IpAddr>) -> String {
    match ip.map(|ip| ip.to_canonical()) {
        None => "unknown".to_string(),
        Some(IpAddr::V4(v4)) => v4.to_string(),
        Some(IpAddr::V6(v6)) => {
            let [a, b, c, d, ..] = v6.segments();
            format!("{a:x}:{b:x}:{c:x}:{d:x}::/64")
        }
    }
}

/// The keyed hash a network's counters are stored under: the store never holds addresses.
pub fn network_hash(key: &HashKey, ip: Option<IpAddr>) -> String {
    key.hash(Purpose::SourceNetwork, &[client_network(ip).as_bytes()])
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(text: &str) -> Option<IpAddr> {
        Some(text.parse().expect("an address"))
    }

    #[test]
    fn ipv4_is_the_address_and_ipv6_its_slash_64() {
        assert_eq!(client_network(ip("203.0.113.10")), "203.0.113.10");
        assert_eq!(client_network(ip("::ffff:203.0.113.10")), "203.0.113.10", "mapped IPv4 is IPv4");
        assert_eq!(client_network(ip("2001:db8:1:2:aaaa::1")), "2001:db8:1:2::/64");
        assert_eq!(client_network(ip("2001:db8:1:2:ffff:ffff:ffff:ffff")), "2001:db8:1:2::/64");
        assert_ne!(client_network(ip("2001:db8:1:3::1")), client_network(ip("2001:db8:1:2::1")));
        assert_eq!(client_network(None), "unknown");
    }

    #[test]
    fn the_stored_key_is_a_keyed_hash_without_the_address() {
        let key = HashKey::new(b"0123456789abcdef0123456789abcdef".to_vec());
        let hash = network_hash(&key, ip("203.0.113.10"));
        assert_eq!(hash, network_hash(&key, ip("::ffff:203.0.113.10")));
        assert_ne!(hash, network_hash(&key, ip("203.0.113.11")));
        assert!(!hash.contains("203"), "{hash}");
        assert_eq!(hash.len(), 64);
    }
}
