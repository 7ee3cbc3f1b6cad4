//! Listen addresses (`host:port`), as `gateway.listen`, `gateway.admin.listen` and the
//! gateway's `--listen` / `--admin-listen` accept them: one reading for lint (P308, P309), the
//! gateway's arguments and its bind-time checks.

/// Why a text is not a listen address; its message completes "`X` is not a listen address: …".
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AddressError {
    /// Nothing after the last `:`, or no `:` at all.
    #[error("no `:port`")]
    NoPort,
    /// A port number past 65535.
    #[error("port {0} is above 65535")]
    PortTooLarge(String),
    /// A port that is not a number.
    #[error("port `{0}` is not a number")]
    PortNotNumber(String),
    /// Brackets around something that is not an IPv6 address.
    #[error("`{0}` is not an IPv6 address")]
    NotIpv6(String),
    /// `:port` alone.
    #[error("no host; use 0.0.0.0 for every interface")]
    NoHost,
    /// An IPv6 address without its brackets.
    #[error("an IPv6 address must be written in brackets, like [::1]:41003")]
    Ipv6WithoutBrackets,
    /// A host that is neither an IP address nor a host name.
    #[error("`{0}` is not an IP address or host name")]
    NotAHost(String),
}

/// Split `host:port`, checking both parts; returns the host.
pub fn parse(addr: &str) -> Result<&str, AddressError> {
    let Some((host, port)) = addr.rsplit_once(':') else {
        return Err(AddressError::NoPort);
    };
    match port.parse::<u32>() {
        Ok(p) if p <= 65535 => {}
        Ok(_) => return Err(AddressError::PortTooLarge(port.into())),
        Err(_) => return Err(AddressError::PortNotNumber(port.into())),
    }
    if let Some(v6) = host.strip_prefix('[').and_then(|h| h.strip_suffix(']')) {
        return v6
            .parse::<std::net::Ipv6Addr>()
            .map(|_| host)
            .map_err(|_| AddressError::NotIpv6(v6.into()));
    }
    if host.is_empty() {
        return Err(AddressError::NoHost);
    }
    if host.contains(':') {
        return Err(AddressError::Ipv6WithoutBrackets);
    }
    if host.parse::<std::net::Ipv4Addr>().is_ok() {
        return Ok(host);
    }
    if host
        .split('.')
        .all(|l| !l.is_empty() && l.chars().all(|c| c.is_ascii_alphanumeric() || c == '-'))
        && !host.chars().all(|c| c.is_ascii_digit() || c == '.')
    {
        return Ok(host);
    }
    Err(AddressError::NotAHost(host.into()))
}

/// Whether a listen host only accepts connections from this machine.
pub fn is_loopback(host: &str) -> bool {
    let h = host.trim_start_matches('[').trim_end_matches(']');
    h.eq_ignore_ascii_case("localhost") || h.parse::<std::net::IpAddr>().is_ok_and(|ip| ip.is_loopback())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn addresses() {
        for ok in [
            "0.0.0.0:41002",
            "127.0.0.1:0",
            "[::1]:41003",
            "localhost:8080",
            "[::]:80",
        ] {
            assert!(parse(ok).is_ok(), "{ok}");
        }
        for bad in [
            "0.0.0.0",
            "0.0.0.0:70000",
            ":8080",
            "::1:80",
            "256.1.1.1:80",
            "a b:80",
            "1.2.3:80",
        ] {
            assert!(parse(bad).is_err(), "{bad}");
        }
        assert!(is_loopback("127.0.0.2") && is_loopback("[::1]") && is_loopback("localhost"));
        assert!(!is_loopback("0.0.0.0") && !is_loopback("10.0.0.1"));
    }
}
