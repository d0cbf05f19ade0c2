//! The egress policy: which addresses tenant-configured upstreams and providers may reach.
//! Both the proxy (at connect time, against the resolved address) and the server (on
//! server-side calls and when an object is saved) decide with this one function.

use std::net::{IpAddr, Ipv4Addr};

use ipnet::IpNet;

use crate::EgressPolicy;

/// Addresses no tenant may reach unless the platform allows them explicitly: this machine
/// (loopback, unspecified), link-local (where cloud metadata services live), multicast,
/// broadcast, and the IPv6 metadata address of AWS.
const ALWAYS_DENIED: &[&str] = &[
    "0.0.0.0/8",
    "127.0.0.0/8",
    "169.254.0.0/16",
    "224.0.0.0/4",
    "240.0.0.0/4",
    "::/128",
    "::1/128",
    "fe80::/10",
    "ff00::/8",
    "fd00:ec2::254/128",
];

/// Private ranges: allowed unless the platform turns `allow_private` off.
const PRIVATE: &[&str] = &[
    "10.0.0.0/8",
    "172.16.0.0/12",
    "192.168.0.0/16",
    "100.64.0.0/10",
    "fc00::/7",
];

/// A policy with its CIDRs parsed.
#[derive(Debug, Clone)]
pub struct Egress {
    allow: Vec<IpNet>,
    deny: Vec<IpNet>,
    allow_private: bool,
}

/// Why an address was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refusal {
    /// In the platform's deny list.
    Denied,
    /// Loopback, link-local, metadata, multicast or unspecified.
    Internal,
    /// A private range, and private ranges are off.
    Private,
}

impl std::fmt::Display for Refusal {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Self::Denied => "the platform's egress policy denies it",
            Self::Internal => {
                "it is a loopback, link-local, metadata or otherwise internal address, which the \
                 egress policy refuses unless a platform admin allows it"
            }
            Self::Private => "private addresses are turned off by the egress policy",
        })
    }
}

/// Parses a CIDR (`10.0.0.0/8`) or a single address (`10.0.0.5`).
pub fn parse_cidr(text: &str) -> Option<IpNet> {
    let text = text.trim();
    text.parse::<IpNet>()
        .ok()
        .or_else(|| text.parse::<IpAddr>().ok().map(IpNet::from))
}

impl Egress {
    /// Entries that do not parse are skipped (the server refuses them when they are saved).
    pub fn new(policy: &EgressPolicy) -> Self {
        let parse = |list: &[String]| list.iter().filter_map(|c| parse_cidr(c)).collect();
        Self {
            allow: parse(&policy.allow),
            deny: parse(&policy.deny),
            allow_private: policy.allow_private,
        }
    }

    /// Whether a connection to `ip` is allowed.
    pub fn check(&self, ip: IpAddr) -> Result<(), Refusal> {
        let ip = canonical(ip);
        if self.allow.iter().any(|net| net.contains(&ip)) {
            return Ok(());
        }
        if self.deny.iter().any(|net| net.contains(&ip)) {
            return Err(Refusal::Denied);
        }
        let in_list = |list: &[&str]| {
            list.iter()
                .filter_map(|c| c.parse::<IpNet>().ok())
                .any(|net| net.contains(&ip))
        };
        if in_list(ALWAYS_DENIED) || ip == IpAddr::V4(Ipv4Addr::BROADCAST) {
            return Err(Refusal::Internal);
        }
        if !self.allow_private && in_list(PRIVATE) {
            return Err(Refusal::Private);
        }
        Ok(())
    }
}

/// IPv4 addresses written as IPv6 (mapped `::ffff:a.b.c.d`, NAT64 `64:ff9b::a.b.c.d`) are
/// judged as the IPv4 address they reach.
fn canonical(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V6(v6) => {
            if let Some(v4) = v6.to_ipv4_mapped() {
                return IpAddr::V4(v4);
            }
            let segments = v6.segments();
            if segments[..6] == [0x64, 0xff9b, 0, 0, 0, 0] {
                let [a, b] = segments[6].to_be_bytes();
                let [c, d] = segments[7].to_be_bytes();
                return IpAddr::V4(Ipv4Addr::new(a, b, c, d));
            }
            IpAddr::V6(v6)
        }
        v4 => v4,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(text: &str) -> IpAddr {
        text.parse().unwrap_or(IpAddr::V4(Ipv4Addr::UNSPECIFIED))
    }

    #[test]
    fn internal_addresses_are_refused_by_default_and_private_ones_allowed() {
        let egress = Egress::new(&EgressPolicy::default());
        for internal in [
            "127.0.0.1",
            "127.1.2.3",
            "169.254.169.254",
            "0.0.0.0",
            "::1",
            "::ffff:127.0.0.1",
            "64:ff9b::a9fe:a9fe",
            "fe80::1",
            "fd00:ec2::254",
        ] {
            assert_eq!(
                egress.check(ip(internal)),
                Err(Refusal::Internal),
                "{internal}"
            );
        }
        for fine in ["10.0.0.5", "192.168.1.1", "8.8.8.8", "2001:db8::1"] {
            assert_eq!(egress.check(ip(fine)), Ok(()), "{fine}");
        }
    }

    #[test]
    fn allow_wins_then_deny_then_the_private_switch() {
        let egress = Egress::new(&EgressPolicy {
            allow: vec!["127.0.0.1/32".into()],
            deny: vec!["203.0.113.0/24".into()],
            allow_private: false,
        });
        assert_eq!(egress.check(ip("127.0.0.1")), Ok(()));
        assert_eq!(egress.check(ip("127.0.0.2")), Err(Refusal::Internal));
        assert_eq!(egress.check(ip("203.0.113.9")), Err(Refusal::Denied));
        assert_eq!(egress.check(ip("10.1.1.1")), Err(Refusal::Private));
    }
}
