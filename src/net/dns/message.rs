//! DNS messages (RFC 1035, the parts a host needs): a query for A or AAAA
//! records and the addresses of its answer, for the resolver; a client's
//! question and the host's answer to it, for [`crate::net::answer`].

use std::io;
use std::net::IpAddr;

/// Record type A (an IPv4 address).
pub const A: u16 = 1;
/// Record type AAAA (an IPv6 address).
pub const AAAA: u16 = 28;
/// The answer's code for "refused".
pub const REFUSED: u8 = 5;
/// The answer's code for "no such name".
pub const NXDOMAIN: u8 = 3;

/// One question a client asked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Question {
    /// The message's id.
    pub id: u16,
    /// The name, lower case, no trailing dot.
    pub name: String,
    /// The record type.
    pub qtype: u16,
    /// The class (1: Internet).
    pub class: u16,
    /// Where the question ends in the message (an answer repeats it).
    pub end: usize,
}

/// The first question of a query message, if it is one.
pub fn question(m: &[u8]) -> Option<Question> {
    if m.len() < 12 || m[2] & 0x80 != 0 || u16::from_be_bytes([m[4], m[5]]) == 0 {
        return None;
    }
    let mut at = 12;
    let mut labels = Vec::new();
    loop {
        let len = *m.get(at)? as usize;
        if len == 0 {
            at += 1;
            break;
        }
        if len > 63 {
            return None;
        }
        let label = m.get(at + 1..at + 1 + len)?;
        labels.push(String::from_utf8(label.to_vec()).ok()?.to_ascii_lowercase());
        at += 1 + len;
    }
    let tail = m.get(at..at + 4)?;
    Some(Question {
        id: u16::from_be_bytes([m[0], m[1]]),
        name: labels.join("."),
        qtype: u16::from_be_bytes([tail[0], tail[1]]),
        class: u16::from_be_bytes([tail[2], tail[3]]),
        end: at + 4,
    })
}

/// The answer to `query` (its question `q`): `rcode`, and the records of
/// `ips` of the question's type, held `ttl` seconds.
pub fn reply(query: &[u8], q: &Question, rcode: u8, ips: &[IpAddr], ttl: u32) -> Vec<u8> {
    let mut m = query[..q.end].to_vec();
    m[2] = 0x80 | (query[2] & 0x01); // an answer; recursion desired as asked
    m[3] = 0x80 | (rcode & 0x0f); // recursion available
    m[4..6].copy_from_slice(&1u16.to_be_bytes());
    let records: Vec<Vec<u8>> = ips
        .iter()
        .filter_map(|ip| match (ip, q.qtype) {
            (IpAddr::V4(a), A) => Some(a.octets().to_vec()),
            (IpAddr::V6(a), AAAA) => Some(a.octets().to_vec()),
            _ => None,
        })
        .collect();
    m[6..8].copy_from_slice(&(records.len() as u16).to_be_bytes());
    m[8..12].fill(0);
    for r in records {
        m.extend_from_slice(&[0xc0, 12]);
        m.extend_from_slice(&q.qtype.to_be_bytes());
        m.extend_from_slice(&1u16.to_be_bytes());
        m.extend_from_slice(&ttl.to_be_bytes());
        m.extend_from_slice(&(r.len() as u16).to_be_bytes());
        m.extend_from_slice(&r);
    }
    m
}

/// A query for `name`'s `qtype` records, recursion desired.
pub fn query(id: u16, name: &str, qtype: u16) -> io::Result<Vec<u8>> {
    let mut q = Vec::with_capacity(32 + name.len());
    q.extend_from_slice(&id.to_be_bytes());
    q.extend_from_slice(&[0x01, 0x00, 0, 1, 0, 0, 0, 0, 0, 0]);
    for label in name.trim_end_matches('.').split('.') {
        if label.is_empty() || label.len() > 63 {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                format!("'{name}' is not a name DNS can ask for"),
            ));
        }
        q.push(label.len() as u8);
        q.extend_from_slice(label.as_bytes());
    }
    q.push(0);
    q.extend_from_slice(&qtype.to_be_bytes());
    q.extend_from_slice(&1u16.to_be_bytes());
    Ok(q)
}

/// The addresses of an answer to query `id`; `None` when the message is
/// not that answer.
pub fn answer(m: &[u8], id: u16, qtype: u16) -> Result<Option<Vec<IpAddr>>, String> {
    if m.len() < 12 || u16::from_be_bytes([m[0], m[1]]) != id || m[2] & 0x80 == 0 {
        return Ok(None);
    }
    if m[2] & 0x02 != 0 {
        return Err("its answer was truncated (DNS over TCP is not asked)".into());
    }
    match m[3] & 0x0f {
        0 => {}
        3 => return Ok(Some(Vec::new())),
        rcode => return Err(format!("it answered with error code {rcode}")),
    }
    let count = |i: usize| u16::from_be_bytes([m[i], m[i + 1]]) as usize;
    let (questions, answers) = (count(4), count(6));
    let mut at = 12;
    for _ in 0..questions {
        at = skip_name(m, at).ok_or("a malformed question")? + 4;
    }
    let mut ips = Vec::new();
    for _ in 0..answers {
        at = skip_name(m, at).ok_or("a malformed answer")?;
        let head = m.get(at..at + 10).ok_or("a short answer")?;
        let rtype = u16::from_be_bytes([head[0], head[1]]);
        let len = u16::from_be_bytes([head[8], head[9]]) as usize;
        let data = m.get(at + 10..at + 10 + len).ok_or("a short answer")?;
        at += 10 + len;
        match (rtype, len) {
            (A, 4) if qtype == A => ips.push(IpAddr::from(<[u8; 4]>::try_from(data).unwrap())),
            (AAAA, 16) if qtype == AAAA => {
                ips.push(IpAddr::from(<[u8; 16]>::try_from(data).unwrap()))
            }
            _ => {} // CNAMEs and the like: their targets' records follow
        }
    }
    Ok(Some(ips))
}

/// The offset just past the name at `at` (labels, or a pointer).
fn skip_name(m: &[u8], mut at: usize) -> Option<usize> {
    loop {
        let len = *m.get(at)? as usize;
        match len {
            0 => return Some(at + 1),
            l if l & 0xc0 == 0xc0 => return (at + 2 <= m.len()).then_some(at + 2),
            l => at += 1 + l,
        }
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// An answer to `q` holding `ips` (A records, the name compressed).
    pub(crate) fn canned(q: &[u8], ips: &[[u8; 4]], rcode: u8) -> Vec<u8> {
        let mut m = q.to_vec();
        m[2] = 0x81;
        m[3] = 0x80 | rcode;
        m[6..8].copy_from_slice(&(ips.len() as u16).to_be_bytes());
        for ip in ips {
            m.extend_from_slice(&[0xc0, 12, 0, 1, 0, 1, 0, 0, 0, 60, 0, 4]);
            m.extend_from_slice(ip);
        }
        m
    }

    #[test]
    fn answers_are_read_and_others_ignored() {
        let q = query(7, "api.example.test.", A).unwrap();
        assert_eq!(&q[12..16], b"\x03api");
        let r = canned(&q, &[[10, 0, 0, 7], [10, 0, 0, 8]], 0);
        assert_eq!(
            answer(&r, 7, A).unwrap().unwrap(),
            vec![
                "10.0.0.7".parse::<IpAddr>().unwrap(),
                "10.0.0.8".parse().unwrap()
            ]
        );
        assert_eq!(answer(&r, 8, A).unwrap(), None);
        assert_eq!(answer(&canned(&q, &[], 3), 7, A).unwrap(), Some(vec![]));
        assert!(answer(&canned(&q, &[], 2), 7, A).is_err());
        assert!(query(1, "a..b", A).is_err());
    }

    #[test]
    fn questions_are_read_and_answered() {
        let q = query(9, "API.Example.test.", AAAA).unwrap();
        let asked = question(&q).unwrap();
        assert_eq!(asked.name, "api.example.test");
        assert_eq!((asked.id, asked.qtype, asked.class), (9, AAAA, 1));
        let ips: Vec<IpAddr> = vec!["10.0.0.1".parse().unwrap(), "fd00::1".parse().unwrap()];
        let r = reply(&q, &asked, 0, &ips, 5);
        assert_eq!(
            answer(&r, 9, AAAA).unwrap().unwrap(),
            vec!["fd00::1".parse::<IpAddr>().unwrap()]
        );
        let refused = reply(&q, &asked, REFUSED, &[], 5);
        assert!(answer(&refused, 9, AAAA).is_err());
        // An answer is not a question; a truncated message is nothing.
        assert_eq!(question(&r), None);
        assert_eq!(question(&q[..q.len() - 2]), None);
    }
}
