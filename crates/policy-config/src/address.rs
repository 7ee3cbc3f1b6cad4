//! Listen addresses (`host:port`), as `gateway.listen`, `gateway.admin.listen` and the
//! gateway's `--listen` / `--admin-listen` accept them: one reading for lint (P308, P309), the
//! gateway's arguments and its bind-time checks.

/// Split `host:port`, checking both parts; returns the host.
pub fn parse(addr: &str) -> Result<&str, String> {
    let Some((host, port)) = addr.rsplit_once(':') else {
        return Err("no `:port`".into());
    };
    match port.parse::<u32>() {
        Ok(p) if p <= 65535 => {}
        Ok(_) => return Err(format!("port {port} is above 65535")),
        Err(_) => return Err(format!("port `{port}` is not a number")),
    }
    if let Some(v6) = host.strip_prefix('[').and_then(|h| h.strip_suffix(']')) {
        return v6
            .parse::<std::net::Ipv6Addr>()
            .map(|_| host)
            .map_err(|_| format!("`{v6}` is not an IPv6 address"));
    }
    if host.is_empty() {
        return Err("no host; use 0.0.0.0 for every interface".into());
    }
    if host.contains(':') {
        return Err("an IPv6 address must be written in brackets, like [::1]:41003".into());
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
    Err(format!("`{host}` is not an IP address or host name"))
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
