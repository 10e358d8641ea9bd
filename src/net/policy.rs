//! The network policy, one for every executor: which connections a job may
//! open. A job asks in its `settings.job` (`"network"`: absent or `false`,
//! none; `true`, whatever the host allows; or a list of patterns such as
//! `"https://api.example.com"`, `"https://*.example.org:8443"`,
//! `"tcp://db.internal:5432"`, `"http://10.0.0.7:8080"`); the operator
//! bounds what any job may have (`--network off|public|PATTERNS`) and a
//! tenant's quota may bound its jobs further. A connection is allowed when
//! the job's request, the host's bound and the tenant's bound all allow it.
//!
//! Names are the host's to resolve: a connection is judged by the name
//! asked for *and* the address the host resolved it to and will connect
//! to (no second lookup). An address that is not public (loopback,
//! private, link-local with the metadata service, ...) is allowed only
//! when the job's pattern names that address or network literally and the
//! host's bound does too. Hosts are read the way URLs read them (WHATWG):
//! `0x7f.1` and `2130706433` are 127.0.0.1, names are lower-cased and
//! their trailing dot dropped, international names become punycode.

use std::fmt;
use std::net::IpAddr;
use std::str::FromStr;

use ipnet::IpNet;

use super::address::{self, Class};

/// A pattern's scheme: what the connection is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scheme {
    /// Plain HTTP (default port 80).
    Http,
    /// HTTP over TLS (default port 443).
    Https,
    /// Any TCP stream (a port must be given).
    Tcp,
    /// A TLS stream (a port must be given).
    Tls,
    /// UDP datagrams (a port must be given).
    Udp,
}

impl Scheme {
    fn parse(s: &str) -> Option<Scheme> {
        Some(match s {
            "http" => Scheme::Http,
            "https" => Scheme::Https,
            "tcp" => Scheme::Tcp,
            "tls" => Scheme::Tls,
            "udp" => Scheme::Udp,
            _ => return None,
        })
    }

    /// As written in a pattern.
    pub fn as_str(self) -> &'static str {
        match self {
            Scheme::Http => "http",
            Scheme::Https => "https",
            Scheme::Tcp => "tcp",
            Scheme::Tls => "tls",
            Scheme::Udp => "udp",
        }
    }

    /// The port a pattern without one means.
    pub fn default_port(self) -> Option<u16> {
        match self {
            Scheme::Http => Some(80),
            Scheme::Https => Some(443),
            Scheme::Tcp | Scheme::Tls | Scheme::Udp => None,
        }
    }

    /// Whether a pattern of this scheme allows a connection used for
    /// `wanted` (`None`: a connection whose use the host cannot see, a
    /// native process's socket say, of that transport).
    fn allows(self, transport: Transport, wanted: Option<Scheme>) -> bool {
        if self.transport() != transport {
            return false;
        }
        match (self, wanted) {
            (_, None) => true,
            (Scheme::Tcp, Some(w)) => w.transport() == Transport::Tcp,
            (Scheme::Https | Scheme::Tls, Some(Scheme::Https | Scheme::Tls)) => true,
            (a, Some(b)) => a == b,
        }
    }

    fn transport(self) -> Transport {
        match self {
            Scheme::Udp => Transport::Udp,
            _ => Transport::Tcp,
        }
    }
}

/// A connection's transport.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Transport {
    /// A TCP stream.
    Tcp,
    /// UDP datagrams.
    Udp,
}

/// The hosts a pattern allows.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Hosts {
    /// One name (lower-case ASCII, no trailing dot).
    Name(String),
    /// Every name under a domain (`*.example.org`), not the domain itself.
    Under(String),
    /// An address or a network, written literally.
    Net(IpNet),
}

impl Hosts {
    /// Whether these hosts include the name `n` (lower case, no trailing
    /// dot); never for an address or a network.
    pub fn names(&self, n: &str) -> bool {
        match self {
            Hosts::Name(name) => n == name,
            Hosts::Under(d) => n
                .strip_suffix(d.as_str())
                .is_some_and(|head| head.len() > 1 && head.ends_with('.')),
            Hosts::Net(_) => false,
        }
    }
}

/// The ports a pattern allows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Ports {
    /// One port.
    One(u16),
    /// Any port (`:*`).
    Any,
}

/// One allow pattern: `scheme://host[:port]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Pattern {
    /// What the connection is for.
    pub scheme: Scheme,
    /// Which hosts.
    pub hosts: Hosts,
    /// Which ports.
    pub ports: Ports,
}

/// A host as a URL reads it: a name, or an address.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Host {
    /// A name (lower-case ASCII, punycode for international names, no
    /// trailing dot).
    Name(String),
    /// An address (IPv4-mapped IPv6 addresses as IPv4).
    Ip(IpAddr),
}

/// Reads a host the way a URL does (`[..]` around IPv6 addresses).
pub fn parse_host(s: &str) -> Result<Host, String> {
    let s = s.strip_suffix('.').unwrap_or(s);
    if s.is_empty() {
        return Err("no host".into());
    }
    let bare = s
        .strip_prefix('[')
        .and_then(|r| r.strip_suffix(']'))
        .unwrap_or(s);
    if let Ok(ip) = bare.parse::<std::net::Ipv6Addr>() {
        return Ok(Host::Ip(IpAddr::V6(ip).to_canonical()));
    }
    match url::Host::parse(s) {
        Ok(url::Host::Domain(d)) => Ok(Host::Name(d)),
        Ok(url::Host::Ipv4(ip)) => Ok(Host::Ip(IpAddr::V4(ip))),
        Ok(url::Host::Ipv6(ip)) => Ok(Host::Ip(IpAddr::V6(ip).to_canonical())),
        Err(e) => Err(format!("'{s}' is not a host name or address ({e})")),
    }
}

/// Splits `host[:port]` into the host (an IPv6 address without its
/// brackets) and the port as written, if there is one.
pub fn split_authority(s: &str) -> Result<(&str, Option<&str>), String> {
    // The host ends where the port starts: after `]` for IPv6.
    match s.strip_prefix('[') {
        Some(r) => {
            let (h, after) = r
                .split_once(']')
                .ok_or("an IPv6 address needs its closing ']'")?;
            match after {
                "" => Ok((h, None)),
                p => Ok((
                    h,
                    Some(
                        p.strip_prefix(':')
                            .ok_or_else(|| format!("unexpected '{p}' after the address"))?,
                    ),
                )),
            }
        }
        None => Ok(match s.rsplit_once(':') {
            Some((h, p)) => (h, Some(p)),
            None => (s, None),
        }),
    }
}

impl FromStr for Pattern {
    type Err = String;

    /// Parses `scheme://host[:port]`; the error says what is wrong.
    fn from_str(text: &str) -> Result<Pattern, String> {
        let bad = |why: String| format!("network pattern \"{text}\": {why}");
        let (scheme, rest) = text
            .split_once("://")
            .ok_or_else(|| bad("expected scheme://host[:port]".into()))?;
        let scheme = Scheme::parse(&scheme.to_ascii_lowercase()).ok_or_else(|| {
            bad(format!(
                "unknown scheme '{scheme}' (http, https, tcp, tls or udp)"
            ))
        })?;
        let rest = rest.strip_suffix('/').unwrap_or(rest);
        let (host, port) = split_authority(rest).map_err(&bad)?;
        let ports = match port {
            Some("*") => Ports::Any,
            Some(p) => match p.parse::<u16>() {
                Ok(n) if n > 0 => Ports::One(n),
                _ => return Err(bad(format!("'{p}' is not a port (1 to 65535, or *)"))),
            },
            None => match scheme.default_port() {
                Some(n) => Ports::One(n),
                None => {
                    return Err(bad(format!(
                        "{}:// needs a port ({}://host:PORT, or :* for any)",
                        scheme.as_str(),
                        scheme.as_str()
                    )));
                }
            },
        };
        if host.contains(['/', '?', '#', '@']) && host.parse::<IpNet>().is_err() {
            return Err(bad(
                "only scheme://host[:port]: no path, query or user".into()
            ));
        }
        let hosts = if let Ok(net) = host.parse::<IpNet>() {
            Hosts::Net(net.trunc())
        } else if let Some(domain) = host.strip_prefix("*.") {
            match parse_host(domain).map_err(&bad)? {
                Host::Name(d) if d.contains('.') => Hosts::Under(d),
                Host::Name(d) => {
                    return Err(bad(format!("'*.{d}' would allow a whole top-level domain")));
                }
                Host::Ip(_) => return Err(bad("'*.' goes before a domain name".into())),
            }
        } else if host.contains('*') {
            return Err(bad(
                "'*' may only start a host ('*.example.org') or be its port".into(),
            ));
        } else {
            match parse_host(host).map_err(&bad)? {
                Host::Name(n) => Hosts::Name(n),
                Host::Ip(ip) => Hosts::Net(IpNet::from(ip)),
            }
        };
        Ok(Pattern {
            scheme,
            hosts,
            ports,
        })
    }
}

impl fmt::Display for Pattern {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}://", self.scheme.as_str())?;
        match &self.hosts {
            Hosts::Name(n) => write!(f, "{n}")?,
            Hosts::Under(d) => write!(f, "*.{d}")?,
            Hosts::Net(n) if n.prefix_len() == n.max_prefix_len() => match n.addr() {
                IpAddr::V6(a) => write!(f, "[{a}]")?,
                a => write!(f, "{a}")?,
            },
            Hosts::Net(IpNet::V6(n)) => write!(f, "[{n}]")?,
            Hosts::Net(n) => write!(f, "{n}")?,
        }
        match self.ports {
            Ports::Any => write!(f, ":*"),
            Ports::One(p) if Some(p) == self.scheme.default_port() => Ok(()),
            Ports::One(p) => write!(f, ":{p}"),
        }
    }
}

/// A connection a job is about to open, as the host will open it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Target {
    /// TCP or UDP.
    pub transport: Transport,
    /// What the job said it is for, when the host can tell (a `fetch` of
    /// an `https:` URL); `None` for a bare socket.
    pub scheme: Option<Scheme>,
    /// The name the job asked for (`None` when it asked for an address).
    pub name: Option<String>,
    /// The address the host resolved and will connect to.
    pub ip: IpAddr,
    /// The port.
    pub port: u16,
}

impl Target {
    /// How a log line names it: `name:port (ip)` or `ip:port`.
    pub fn describe(&self) -> String {
        let ip = match self.ip {
            IpAddr::V6(a) => format!("[{a}]"),
            a => a.to_string(),
        };
        match &self.name {
            Some(n) => format!("{n}:{} ({ip})", self.port),
            None => format!("{ip}:{}", self.port),
        }
    }

    /// The pattern that would allow exactly this connection.
    pub fn suggestion(&self) -> String {
        let scheme = self.scheme.unwrap_or(match self.transport {
            Transport::Tcp => Scheme::Tcp,
            Transport::Udp => Scheme::Udp,
        });
        let hosts = match &self.name {
            Some(n) => Hosts::Name(n.clone()),
            None => Hosts::Net(IpNet::from(self.ip)),
        };
        Pattern {
            scheme,
            hosts,
            ports: Ports::One(self.port),
        }
        .to_string()
    }
}

impl Pattern {
    /// Whether the pattern allows `t`.
    pub fn allows(&self, t: &Target) -> bool {
        let ip = t.ip.to_canonical();
        self.scheme.allows(t.transport, t.scheme)
            && match self.ports {
                Ports::Any => true,
                Ports::One(p) => p == t.port,
            }
            && match &self.hosts {
                Hosts::Net(net) => net.contains(&ip),
                _ => t.name.as_deref().is_some_and(|n| self.hosts.names(n)),
            }
    }

    /// Whether the pattern names `ip` literally (an address or a network).
    fn names(&self, ip: IpAddr) -> bool {
        matches!(&self.hosts, Hosts::Net(net) if net.contains(&ip.to_canonical()))
    }
}

/// What a job asks for in its `settings.job` `"network"`.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub enum Request {
    /// No network (absent or `false`).
    #[default]
    Off,
    /// Whatever the host allows (`true`).
    Host,
    /// The connections these patterns allow.
    Allow(Vec<Pattern>),
}

impl Request {
    /// Reads `settings.job`'s `"network"` value; the error names every bad
    /// pattern and why.
    pub fn from_setting(v: Option<&serde_json::Value>) -> Result<Request, String> {
        use serde_json::Value;
        match v {
            None | Some(Value::Null) | Some(Value::Bool(false)) => Ok(Request::Off),
            Some(Value::Bool(true)) => Ok(Request::Host),
            Some(Value::Array(items)) => {
                let mut patterns = Vec::new();
                let mut errors = Vec::new();
                for item in items {
                    match item.as_str().map(str::parse::<Pattern>) {
                        Some(Ok(p)) => patterns.push(p),
                        Some(Err(e)) => errors.push(e),
                        None => errors.push(format!("network pattern {item}: not a string")),
                    }
                }
                if errors.is_empty() {
                    Ok(Request::Allow(patterns))
                } else {
                    Err(errors.join("; "))
                }
            }
            Some(other) => Err(format!(
                "'network' must be true, false or a list of patterns such as \"https://api.example.com\", found {other}"
            )),
        }
    }
}

impl fmt::Display for Request {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Request::Off => write!(f, "none"),
            Request::Host => write!(f, "whatever the host allows"),
            Request::Allow(ps) => write!(
                f,
                "{}",
                ps.iter()
                    .map(Pattern::to_string)
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
        }
    }
}

/// What the operator (for every job of the host) or a tenant's quota
/// (for its jobs) allows at most: `off`, `public` (any public address),
/// patterns, or `public` and patterns, comma-separated.
#[derive(Debug, Clone, PartialEq, Eq, serde::Deserialize)]
#[serde(try_from = "String")]
pub struct Bound {
    /// Any public address, on any port.
    public: bool,
    /// And what these allow (an address that is not public only when one
    /// names it literally).
    patterns: Vec<Pattern>,
}

impl Bound {
    /// Nothing at all.
    pub const OFF: Bound = Bound {
        public: false,
        patterns: Vec::new(),
    };

    /// Any public address (the host's default).
    pub fn public() -> Bound {
        Bound {
            public: true,
            patterns: Vec::new(),
        }
    }

    /// Whether it allows nothing.
    pub fn is_off(&self) -> bool {
        !self.public && self.patterns.is_empty()
    }

    /// Whether a connection to `name` could be within the bound (at some
    /// address it resolves to).
    fn may_name(&self, name: &str) -> bool {
        self.public
            || self
                .patterns
                .iter()
                .any(|p| p.hosts.names(name) || matches!(p.hosts, Hosts::Net(_)))
    }

    /// Whether it allows `t` (of class `class`).
    fn allows(&self, t: &Target, class: Class) -> bool {
        if class != Class::Public {
            return self.patterns.iter().any(|p| p.names(t.ip) && p.allows(t));
        }
        self.public || self.patterns.iter().any(|p| p.allows(t))
    }
}

impl FromStr for Bound {
    type Err = String;

    fn from_str(s: &str) -> Result<Bound, String> {
        let mut b = Bound::OFF;
        let items: Vec<&str> = s.split(',').map(str::trim).collect();
        if items == ["off"] {
            return Ok(b);
        }
        for item in items {
            match item {
                "public" => b.public = true,
                "off" => return Err("'off' cannot be combined with anything".into()),
                "" => return Err("an empty item (off, public, or a pattern)".into()),
                p => b.patterns.push(p.parse()?),
            }
        }
        Ok(b)
    }
}

impl TryFrom<String> for Bound {
    type Error = String;

    fn try_from(s: String) -> Result<Bound, String> {
        s.parse()
    }
}

impl fmt::Display for Bound {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.is_off() {
            return write!(f, "off");
        }
        let mut items: Vec<String> = Vec::new();
        if self.public {
            items.push("public".into());
        }
        items.extend(self.patterns.iter().map(Pattern::to_string));
        write!(f, "{}", items.join(","))
    }
}

/// The policy of one run: the job's request within the host's bound and
/// its tenant's.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Policy {
    /// What the job asked for.
    pub request: Request,
    /// What the host allows any job.
    pub host: Bound,
    /// What the tenant's quota allows its jobs, if it says.
    pub tenant: Option<Bound>,
}

/// Why a connection is refused, for the run's log.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refusal(pub String);

impl fmt::Display for Refusal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl Policy {
    /// Whether the host may look `name` up for the job: a pattern of the
    /// job's names it, and the host's and the tenant's bounds could allow
    /// it. The host asks about no other name (a job cannot have it ask
    /// about names it makes up, a way to send data out, or list an
    /// internal DNS).
    pub fn may_look_up(&self, name: &str) -> Result<(), Refusal> {
        let asked = match &self.request {
            Request::Allow(ps) => ps.iter().any(|p| p.hosts.names(name)),
            Request::Host => true,
            Request::Off => false,
        };
        if !asked {
            return Err(Refusal(format!(
                "{name}: refused without a lookup: no pattern of the job's names it"
            )));
        }
        if !self.host.may_name(name) {
            return Err(Refusal(format!(
                "{name}: refused without a lookup: beyond what this host allows jobs (--network {})",
                self.host
            )));
        }
        if let Some(t) = &self.tenant
            && !t.may_name(name)
        {
            return Err(Refusal(format!(
                "{name}: refused without a lookup: beyond what its tenant's quota allows (network = \"{t}\")"
            )));
        }
        Ok(())
    }

    /// Whether the run may have any network at all.
    pub fn any(&self) -> bool {
        self.request != Request::Off
            && !self.host.is_off()
            && self.tenant.as_ref().is_none_or(|t| !t.is_off())
    }

    /// The run log's line on what the job asked for and what bounds it.
    pub fn summary(&self) -> String {
        let tenant = match &self.tenant {
            Some(t) => format!("; its tenant's quota allows {t}"),
            None => String::new(),
        };
        format!(
            "Network: the job asks for {}; this host allows {}{tenant}",
            self.request, self.host
        )
    }

    /// Checks a connection; the refusal says which side refused it and
    /// what would allow it.
    pub fn check(&self, t: &Target) -> Result<(), Refusal> {
        let what = t.describe();
        let class = address::classify(t.ip);
        let asked = match &self.request {
            Request::Off => {
                return Err(Refusal(format!(
                    "{what}: refused: the job asks for no network (settings.job \"network\": [\"{}\"] would allow it)",
                    t.suggestion()
                )));
            }
            Request::Host => None,
            // A pattern that names the address literally first: an
            // address that is not public needs one.
            Request::Allow(ps) => match ps
                .iter()
                .find(|p| p.allows(t) && p.names(t.ip))
                .or_else(|| ps.iter().find(|p| p.allows(t)))
            {
                Some(p) => Some(p),
                None => {
                    return Err(Refusal(format!(
                        "{what}: refused: no pattern of the job's allows it (\"{}\" would)",
                        t.suggestion()
                    )));
                }
            },
        };
        if class != Class::Public && !asked.is_some_and(|p| p.names(t.ip)) {
            return Err(Refusal(format!(
                "{what}: refused: {} is {}, allowed only to a pattern naming it literally (\"{}\") that the host allows too",
                t.ip,
                class.noun(),
                Pattern {
                    scheme: asked.map_or(Scheme::Tcp, |p| p.scheme),
                    hosts: Hosts::Net(IpNet::from(t.ip.to_canonical())),
                    ports: Ports::One(t.port),
                }
            )));
        }
        if !self.host.allows(t, class) {
            return Err(Refusal(format!(
                "{what}: refused: beyond what this host allows jobs (--network {})",
                self.host
            )));
        }
        if let Some(b) = &self.tenant
            && !b.allows(t, class)
        {
            return Err(Refusal(format!(
                "{what}: refused: beyond what the tenant's quota allows (network = \"{b}\")"
            )));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(s: &str) -> Pattern {
        s.parse().unwrap_or_else(|e| panic!("{e}"))
    }

    fn tcp(name: Option<&str>, ip: &str, port: u16) -> Target {
        Target {
            transport: Transport::Tcp,
            scheme: None,
            name: name.map(str::to_string),
            ip: ip.parse().unwrap(),
            port,
        }
    }

    fn https(name: &str, ip: &str, port: u16) -> Target {
        Target {
            scheme: Some(Scheme::Https),
            ..tcp(Some(name), ip, port)
        }
    }

    fn policy(request: &[&str], host: &str) -> Policy {
        Policy {
            request: Request::Allow(request.iter().map(|s| p(s)).collect()),
            host: host.parse().unwrap(),
            tenant: None,
        }
    }

    #[test]
    fn patterns_read_as_written_and_print_canonically() {
        for (text, canonical) in [
            ("https://api.example.com", "https://api.example.com"),
            ("HTTPS://API.Example.COM.:443/", "https://api.example.com"),
            ("https://*.example.org:8443", "https://*.example.org:8443"),
            ("tcp://db.internal:5432", "tcp://db.internal:5432"),
            ("tls://smtp.example.net:465", "tls://smtp.example.net:465"),
            ("http://10.0.0.7:8080", "http://10.0.0.7:8080"),
            ("tcp://10.0.0.0/8:*", "tcp://10.0.0.0/8:*"),
            ("tcp://10.1.2.3/8:5432", "tcp://10.0.0.0/8:5432"),
            ("udp://[fd00::1]:53", "udp://[fd00::1]:53"),
            ("tcp://[::ffff:127.0.0.1]:80", "tcp://127.0.0.1:80"),
            ("http://0x7f.1:8080", "http://127.0.0.1:8080"),
            ("http://2130706433", "http://127.0.0.1"),
            ("https://bücher.example", "https://xn--bcher-kva.example"),
        ] {
            assert_eq!(p(text).to_string(), canonical, "{text}");
        }
    }

    #[test]
    fn bad_patterns_say_what_is_wrong() {
        for (text, why) in [
            ("api.example.com", "expected scheme://host[:port]"),
            ("ftp://example.com", "unknown scheme 'ftp'"),
            ("tcp://db.internal", "tcp:// needs a port"),
            ("https://example.com:0", "'0' is not a port"),
            ("https://example.com:99999", "not a port"),
            ("https://example.com/path", "no path, query or user"),
            ("https://*.com", "a whole top-level domain"),
            ("https://api.*.example.com", "'*' may only start a host"),
            ("https://*.10.0.0.1", "'*.' goes before a domain name"),
            ("tcp://[::1:5432", "closing ']'"),
            ("https://exa mple.com", "not a host name or address"),
        ] {
            let e = text.parse::<Pattern>().unwrap_err();
            assert!(e.contains(why), "{text}: {e}");
            assert!(e.starts_with(&format!("network pattern \"{text}\"")), "{e}");
        }
    }

    #[test]
    fn a_pattern_allows_its_scheme_host_and_port_only() {
        let api = p("https://api.example.com");
        assert!(api.allows(&https("api.example.com", "93.184.216.34", 443)));
        assert!(!api.allows(&https("api.example.com", "93.184.216.34", 8443)));
        assert!(!api.allows(&https("www.example.com", "93.184.216.34", 443)));
        // A bare socket to it is TCP to port 443: allowed; plain HTTP is not.
        assert!(api.allows(&tcp(Some("api.example.com"), "93.184.216.34", 443)));
        let plain = Target {
            scheme: Some(Scheme::Http),
            ..https("api.example.com", "93.184.216.34", 443)
        };
        assert!(!api.allows(&plain));
        // UDP is never TCP's.
        let udp = Target {
            transport: Transport::Udp,
            ..tcp(Some("api.example.com"), "93.184.216.34", 443)
        };
        assert!(!api.allows(&udp));
        let under = p("https://*.example.org:8443");
        assert!(under.allows(&https("a.example.org", "1.2.3.4", 8443)));
        assert!(under.allows(&https("a.b.example.org", "1.2.3.4", 8443)));
        assert!(!under.allows(&https("example.org", "1.2.3.4", 8443)));
        assert!(!under.allows(&https("badexample.org", "1.2.3.4", 8443)));
        let any_port = p("tcp://db.internal:*");
        assert!(any_port.allows(&tcp(Some("db.internal"), "10.0.0.5", 1)));
        let net = p("tcp://10.0.0.0/8:5432");
        assert!(net.allows(&tcp(None, "10.9.9.9", 5432)));
        assert!(net.allows(&tcp(None, "::ffff:10.9.9.9", 5432)));
        assert!(!net.allows(&tcp(None, "11.0.0.1", 5432)));
    }

    #[test]
    fn special_addresses_need_a_literal_pattern_and_the_hosts_leave() {
        // A name resolving to loopback (or rebinding to it) is refused.
        let pol = policy(&["https://api.example.com"], "public");
        let e = pol
            .check(&https("api.example.com", "127.0.0.1", 443))
            .unwrap_err();
        assert!(e.0.contains("127.0.0.1 is a loopback address"), "{e}");
        assert!(e.0.contains("\"https://127.0.0.1\""), "{e}");
        let meta = pol
            .check(&https("api.example.com", "169.254.169.254", 443))
            .unwrap_err();
        assert!(meta.0.contains("a link-local address"), "{meta}");
        // Named literally by the job, but the host allows only public ones.
        let pol = policy(&["http://127.0.0.1:8080"], "public");
        let e = pol.check(&tcp(None, "127.0.0.1", 8080)).unwrap_err();
        assert!(
            e.0.contains("beyond what this host allows jobs (--network public)"),
            "{e}"
        );
        // Both name it: allowed; another port, another loopback address,
        // or an IPv4-mapped spelling of another address is not.
        let pol = policy(&["http://127.0.0.1:8080"], "public,tcp://127.0.0.1:*");
        assert!(pol.check(&tcp(None, "127.0.0.1", 8080)).is_ok());
        assert!(pol.check(&tcp(None, "::ffff:127.0.0.1", 8080)).is_ok());
        assert!(pol.check(&tcp(None, "127.0.0.1", 8081)).is_err());
        assert!(pol.check(&tcp(None, "127.0.0.2", 8080)).is_err());
        // `true`: the host's bound alone, special addresses still refused.
        let host = Policy {
            request: Request::Host,
            host: Bound::public(),
            tenant: None,
        };
        assert!(
            host.check(&tcp(Some("example.com"), "93.184.216.34", 25))
                .is_ok()
        );
        assert!(host.check(&tcp(Some("internal"), "10.0.0.1", 80)).is_err());
    }

    #[test]
    fn the_host_and_the_tenant_bound_what_a_job_asks() {
        let mut pol = policy(
            &["https://api.example.com", "tcp://db.example.com:5432"],
            "public",
        );
        assert!(pol.any());
        pol.tenant = Some("https://api.example.com".parse().unwrap());
        assert!(pol.check(&https("api.example.com", "1.2.3.4", 443)).is_ok());
        let e = pol
            .check(&tcp(Some("db.example.com"), "1.2.3.4", 5432))
            .unwrap_err();
        assert!(
            e.0.contains("the tenant's quota allows (network = \"https://api.example.com\")"),
            "{e}"
        );
        pol.host = Bound::OFF;
        assert!(!pol.any());
        let e = pol
            .check(&https("api.example.com", "1.2.3.4", 443))
            .unwrap_err();
        assert!(e.0.contains("--network off"), "{e}");
        let off = Policy {
            request: Request::Off,
            host: Bound::public(),
            tenant: None,
        };
        let e = off
            .check(&https("api.example.com", "1.2.3.4", 443))
            .unwrap_err();
        assert!(
            e.0.contains("\"network\": [\"https://api.example.com\"]"),
            "{e}"
        );
    }

    #[test]
    fn a_literal_pattern_allows_a_private_address_whatever_comes_first() {
        // The name's pattern comes first and allows the connection, but
        // does not name 10.0.0.7; the literal one does.
        let pol = policy(
            &["tcp://db.internal:5432", "tcp://10.0.0.7:5432"],
            "public,tcp://10.0.0.7:5432",
        );
        assert!(
            pol.check(&tcp(Some("db.internal"), "10.0.0.7", 5432))
                .is_ok()
        );
        assert!(
            pol.check(&tcp(Some("db.internal"), "10.0.0.8", 5432))
                .is_err()
        );
        // A lookup the host may make for the job: names its patterns name,
        // within the bounds.
        assert!(pol.may_look_up("db.internal").is_ok());
        let e = pol.may_look_up("secret.evil.example").unwrap_err();
        assert!(e.0.contains("no pattern of the job's names it"), "{e}");
        let wild = policy(&["https://*.example.org"], "public");
        assert!(wild.may_look_up("api.example.org").is_ok());
        assert!(wild.may_look_up("example.org").is_err());
        let bounded = policy(&["https://api.example.org"], "https://other.example.org");
        let e = bounded.may_look_up("api.example.org").unwrap_err();
        assert!(e.0.contains("beyond what this host allows"), "{e}");
    }

    #[test]
    fn a_refusal_names_the_pattern_that_would_allow_it() {
        let pol = policy(&["https://api.example.com"], "public");
        let e = pol
            .check(&https("api.example.com", "1.2.3.4", 8443))
            .unwrap_err();
        assert_eq!(
            e.0,
            "api.example.com:8443 (1.2.3.4): refused: no pattern of the job's allows it (\"https://api.example.com:8443\" would)"
        );
    }

    #[test]
    fn settings_and_bounds_read_as_documented() {
        use serde_json::json;
        assert_eq!(Request::from_setting(None), Ok(Request::Off));
        assert_eq!(Request::from_setting(Some(&json!(false))), Ok(Request::Off));
        assert_eq!(Request::from_setting(Some(&json!(true))), Ok(Request::Host));
        let r = Request::from_setting(Some(&json!(["https://a.example", "tcp://b:5"]))).unwrap();
        assert_eq!(r.to_string(), "https://a.example, tcp://b:5");
        let e =
            Request::from_setting(Some(&json!(["https://ok.example", "ftp://x", 7]))).unwrap_err();
        assert!(
            e.contains("unknown scheme 'ftp'") && e.contains("7: not a string"),
            "{e}"
        );
        assert!(
            Request::from_setting(Some(&json!("yes")))
                .unwrap_err()
                .contains("must be true, false or a list")
        );
        for (text, shown) in [
            ("off", "off"),
            ("public", "public"),
            ("public, tcp://10.0.0.0/8:*", "public,tcp://10.0.0.0/8:*"),
            ("https://api.example.com", "https://api.example.com"),
        ] {
            assert_eq!(text.parse::<Bound>().unwrap().to_string(), shown);
        }
        assert!("off,public".parse::<Bound>().is_err());
        assert!("public,".parse::<Bound>().is_err());
    }
}
