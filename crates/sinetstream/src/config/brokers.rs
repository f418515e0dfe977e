//! The `brokers` parameter: a list or a comma-separated string of `host[:port]`.

use super::params::Params;
use crate::error::{Error, Result};

/// One broker address.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Broker {
    /// Host name or IP address (IPv6 without brackets).
    pub host: String,
    /// TCP port.
    pub port: u16,
}

impl std::fmt::Display for Broker {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if self.host.contains(':') {
            write!(f, "[{}]:{}", self.host, self.port)
        } else {
            write!(f, "{}:{}", self.host, self.port)
        }
    }
}

impl Broker {
    /// Parses `host`, `host:port`, `[v6]` or `[v6]:port`.
    pub fn parse(s: &str, default_port: u16) -> Result<Broker> {
        let s = s.trim();
        let bad =
            |why: &str| Error::InvalidArgument(format!("invalid broker address {s:?}: {why}"));
        if s.is_empty() {
            return Err(bad("empty"));
        }
        let (host, port) = if let Some(rest) = s.strip_prefix('[') {
            let (h, after) = rest.split_once(']').ok_or_else(|| bad("missing ']'"))?;
            match after.strip_prefix(':') {
                Some(p) => (h, Some(p)),
                None if after.is_empty() => (h, None),
                None => return Err(bad("junk after ']'")),
            }
        } else if s.matches(':').count() > 1 {
            (s, None) // bare IPv6
        } else if let Some((h, p)) = s.split_once(':') {
            (h, Some(p))
        } else {
            (s, None)
        };
        if host.is_empty() {
            return Err(bad("no host"));
        }
        let port = match port {
            None => default_port,
            Some(p) => p
                .parse::<u16>()
                .ok()
                .filter(|p| *p != 0)
                .ok_or_else(|| bad("port must be 1-65535"))?,
        };
        Ok(Broker {
            host: host.to_owned(),
            port,
        })
    }
}

/// Reads `brokers` from the parameters; missing or empty is an InvalidArgumentError.
pub fn brokers(p: &Params<'_>, default_port: u16) -> Result<Vec<Broker>> {
    let list = p.str_list("brokers", true).unwrap_or_default();
    if list.is_empty() {
        return Err(Error::InvalidArgument(format!(
            "service {:?}: no brokers given (set brokers: host:port, a list, or a comma-separated string)",
            p.service()
        )));
    }
    list.iter()
        .map(|b| Broker::parse(b, default_port))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::{Map, Value};

    #[test]
    fn parse_forms() {
        assert_eq!(
            Broker::parse("k1", 9092).expect("ok").to_string(),
            "k1:9092"
        );
        assert_eq!(Broker::parse("k1:1", 9092).expect("ok").port, 1);
        assert_eq!(Broker::parse("[::1]:5", 9092).expect("ok").host, "::1");
        assert_eq!(Broker::parse("::1", 9092).expect("ok").port, 9092);
        assert!(Broker::parse("k1:x", 9092).is_err());
        assert!(Broker::parse("k1:0", 9092).is_err());
        assert!(Broker::parse(":9", 9092).is_err());
    }

    #[test]
    fn list_and_comma_string() {
        let mut m = Map::new();
        m.insert("brokers", "a:1, b");
        let v = brokers(&Params::new("s", &m), 9092).expect("ok");
        assert_eq!(v.len(), 2);
        assert_eq!(v[1].port, 9092);
        m.insert("brokers", Value::from(vec!["x:2"]));
        assert_eq!(brokers(&Params::new("s", &m), 1).expect("ok")[0].port, 2);
        m.insert("brokers", Value::Seq(vec![]));
        assert!(matches!(
            brokers(&Params::new("s", &m), 1),
            Err(Error::InvalidArgument(_))
        ));
    }
}
