//! Parsers for argument values more than one subcommand takes: durations (`10s`, `500ms`,
//! `2m`) and the `http://host:port` URLs of a running gateway.

use super::common::CliError;
use std::net::SocketAddr;
use std::time::Duration;

/// Parse `10s`, `500ms`, `2m` or a bare number of seconds.
pub fn parse_duration(s: &str) -> Result<Duration, String> {
    let s = s.trim();
    let (num, unit) = s
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .map_or((s, "s"), |i| s.split_at(i));
    let n: f64 = num
        .parse()
        .map_err(|_| format!("`{s}` is not a duration like 10s, 500ms or 2m"))?;
    let secs = match unit {
        "ms" => n / 1000.0,
        "s" => n,
        "m" => n * 60.0,
        _ => return Err(format!("`{s}`: unknown unit `{unit}` (use ms, s or m)")),
    };
    if !secs.is_finite() || secs <= 0.0 {
        return Err(format!("`{s}` must be a positive duration"));
    }
    Ok(Duration::from_secs_f64(secs))
}

/// `flag`'s duration value, or a usage error naming the flag.
pub fn duration(flag: &str, s: &str) -> Result<Duration, CliError> {
    parse_duration(s).map_err(|e| CliError::Usage(format!("{flag}: {e}")))
}

/// The socket address of an `http://host:port[/…]` URL given with `flag`.
pub fn http_addr(flag: &str, url: &str) -> Result<SocketAddr, CliError> {
    let rest = url.strip_prefix("http://").ok_or_else(|| {
        CliError::Usage(format!(
            "{flag} {url}: expected an http:// URL like http://127.0.0.1:41003 (the admin plane and the loopback load speak plain HTTP)"
        ))
    })?;
    let host = rest.split('/').next().unwrap_or_default();
    use std::net::ToSocketAddrs;
    host.to_socket_addrs()
        .ok()
        .and_then(|mut a| a.next())
        .ok_or_else(|| CliError::Usage(format!("{flag} {url}: not a host:port")))
}

#[cfg(test)]
mod tests {
    use super::parse_duration;
    use std::time::Duration;

    #[test]
    fn durations() {
        assert_eq!(parse_duration("500ms"), Ok(Duration::from_millis(500)));
        assert_eq!(parse_duration("2m"), Ok(Duration::from_secs(120)));
        assert_eq!(parse_duration("3"), Ok(Duration::from_secs(3)));
        assert!(parse_duration("0s").is_err() && parse_duration("5h").is_err() && parse_duration("x").is_err());
    }
}
