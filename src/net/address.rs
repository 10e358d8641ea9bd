//! What kind of address an IP is, for the network policy: a public
//! address, or one of the special ranges a job may reach only when its
//! pattern and the host both name it literally (loopback, private,
//! link-local with the cloud metadata service, multicast, unspecified,
//! and the reserved ranges). IPv6 forms that carry an IPv4 address
//! (IPv4-mapped, IPv4-compatible, NAT64, 6to4) are judged by that IPv4
//! address.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

/// The kind of an address.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Class {
    /// Reachable on the internet.
    Public,
    /// This machine (127.0.0.0/8, ::1).
    Loopback,
    /// A private network (10/8, 172.16/12, 192.168/16, 100.64/10, fc00::/7).
    Private,
    /// Link-local (169.254/16, the cloud metadata service among them;
    /// fe80::/10).
    LinkLocal,
    /// Multicast or broadcast.
    Multicast,
    /// Unspecified (0.0.0.0/8, ::): "this host" to most stacks.
    Unspecified,
    /// Documentation, benchmarking, reserved or otherwise not routed.
    Reserved,
}

impl Class {
    /// How a refusal names it ("a loopback address").
    pub fn noun(self) -> &'static str {
        match self {
            Class::Public => "a public address",
            Class::Loopback => "a loopback address",
            Class::Private => "a private address",
            Class::LinkLocal => "a link-local address",
            Class::Multicast => "a multicast or broadcast address",
            Class::Unspecified => "an unspecified address",
            Class::Reserved => "a reserved address",
        }
    }
}

/// The IPv4 address an IPv6 address carries, if it is one of the forms
/// that carry one: IPv4-mapped (`::ffff:a.b.c.d`), IPv4-compatible
/// (`::a.b.c.d`), NAT64 (`64:ff9b::/96`) and 6to4 (`2002::/16`).
fn embedded_v4(ip: Ipv6Addr) -> Option<Ipv4Addr> {
    let s = ip.segments();
    let v4 = |hi: u16, lo: u16| Ipv4Addr::from(((hi as u32) << 16) | lo as u32);
    match s {
        [0, 0, 0, 0, 0, 0xffff, hi, lo] => Some(v4(hi, lo)),
        // (:: and ::1 are IPv6's own.)
        [0, 0, 0, 0, 0, 0, hi, lo] if (hi, lo) > (0, 1) => Some(v4(hi, lo)),
        [0x64, 0xff9b, 0, 0, 0, 0, hi, lo] => Some(v4(hi, lo)),
        [0x2002, hi, lo, ..] => Some(v4(hi, lo)),
        _ => None,
    }
}

/// What kind of address `ip` is.
pub fn classify(ip: IpAddr) -> Class {
    match ip {
        IpAddr::V4(v4) => classify_v4(v4),
        IpAddr::V6(v6) => match embedded_v4(v6) {
            Some(v4) => classify_v4(v4),
            None => classify_v6(v6),
        },
    }
}

fn classify_v4(ip: Ipv4Addr) -> Class {
    let o = ip.octets();
    match o {
        [0, ..] => Class::Unspecified,
        [127, ..] => Class::Loopback,
        [10, ..] | [192, 168, ..] => Class::Private,
        [172, b, ..] if (16..32).contains(&b) => Class::Private,
        // Carrier-grade NAT (shared address space).
        [100, b, ..] if (64..128).contains(&b) => Class::Private,
        [169, 254, ..] => Class::LinkLocal,
        [224..=239, ..] | [255, 255, 255, 255] => Class::Multicast,
        // IETF protocol assignments, documentation, benchmarking, and the
        // old class E.
        [192, 0, 0, _] | [192, 0, 2, _] | [198, 51, 100, _] | [203, 0, 113, _] => Class::Reserved,
        [198, 18 | 19, ..] | [240..=255, ..] => Class::Reserved,
        _ => Class::Public,
    }
}

fn classify_v6(ip: Ipv6Addr) -> Class {
    let s = ip.segments();
    if ip.is_unspecified() {
        Class::Unspecified
    } else if ip.is_loopback() {
        Class::Loopback
    } else if s[0] & 0xff00 == 0xff00 {
        Class::Multicast
    } else if s[0] & 0xffc0 == 0xfe80 || s[0] & 0xffc0 == 0xfec0 {
        // Link-local, and the deprecated site-local.
        Class::LinkLocal
    } else if s[0] & 0xfe00 == 0xfc00 {
        Class::Private
    } else if s[0] == 0x2001 && s[1] == 0x0db8 || s[0] == 0x0100 && s[1..4] == [0, 0, 0] {
        // Documentation, and the discard prefix.
        Class::Reserved
    } else if s[0] & 0xe000 == 0x2000 {
        // Global unicast.
        Class::Public
    } else {
        Class::Reserved
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn class(s: &str) -> Class {
        classify(s.parse().unwrap())
    }

    #[test]
    fn special_ranges_are_named_and_public_ones_are_public() {
        for (ip, want) in [
            ("8.8.8.8", Class::Public),
            ("1.1.1.1", Class::Public),
            ("127.0.0.1", Class::Loopback),
            ("127.255.0.9", Class::Loopback),
            ("10.1.2.3", Class::Private),
            ("172.16.0.1", Class::Private),
            ("172.31.255.255", Class::Private),
            ("172.32.0.1", Class::Public),
            ("192.168.1.1", Class::Private),
            ("100.64.0.1", Class::Private),
            ("169.254.169.254", Class::LinkLocal),
            ("224.0.0.1", Class::Multicast),
            ("255.255.255.255", Class::Multicast),
            ("0.0.0.0", Class::Unspecified),
            ("0.1.2.3", Class::Unspecified),
            ("192.0.2.1", Class::Reserved),
            ("240.0.0.1", Class::Reserved),
            ("2606:4700:4700::1111", Class::Public),
            ("::1", Class::Loopback),
            ("::", Class::Unspecified),
            ("fe80::1", Class::LinkLocal),
            ("fd00::1", Class::Private),
            ("ff02::1", Class::Multicast),
            ("2001:db8::1", Class::Reserved),
        ] {
            assert_eq!(class(ip), want, "{ip}");
        }
    }

    #[test]
    fn ipv6_forms_of_an_ipv4_address_are_judged_by_it() {
        for ip in [
            "::ffff:127.0.0.1",
            "::ffff:7f00:1",
            "::127.0.0.1",
            "64:ff9b::7f00:1",
            "2002:7f00:1::",
        ] {
            assert_eq!(class(ip), Class::Loopback, "{ip}");
        }
        assert_eq!(class("::ffff:169.254.169.254"), Class::LinkLocal);
        assert_eq!(class("::ffff:8.8.8.8"), Class::Public);
    }
}
