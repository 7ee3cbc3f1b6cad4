//! P308 `invalid-listen-address`: a listen address that cannot be bound.

use super::rule::{declare_rule, Context, Finding};

declare_rule! {
    /// ## What it does
    /// Checks `gateway.listen` and `gateway.admin.listen`: `host:port` with an IP address or a
    /// host name, IPv6 in brackets, and a port from 0 to 65535. Also reports the data plane and
    /// the admin plane on the same address.
    ///
    /// ## Why is this bad?
    /// The gateway binds these at start; a bad address means it does not start at all, and a
    /// listen change needs a restart, so the mistake surfaces at the worst time.
    ///
    /// ## Example
    /// ```yaml
    /// gateway:
    ///   listen: 0.0.0.0:410020
    /// ```
    ///
    /// ## Use instead
    /// ```yaml
    /// gateway:
    ///   listen: 0.0.0.0:41002
    /// ```
    pub static RULE = { code: "P308", name: "invalid-listen-address", severity: Error, check: Some(check) };
}

fn check(ctx: &Context<'_>, out: &mut Vec<Finding>) {
    let listen = ctx.get("/gateway/listen", |c| Some(&c.gateway.listen));
    let admin = ctx.get("/gateway/admin/listen", |c| Some(&c.gateway.admin.listen));
    let mut ok = true;
    for (pointer, addr) in [("/gateway/listen", &listen), ("/gateway/admin/listen", &admin)] {
        let Some(addr) = addr else {
            ok = false;
            continue;
        };
        if let Err(why) = parse(addr) {
            ok = false;
            out.push(Finding::new(
                pointer,
                format!("`{addr}` is not a listen address: {why}"),
                why,
                "write `host:port`, like `0.0.0.0:41002`, `127.0.0.1:41003` or `[::1]:41003`",
            ));
        }
    }
    let (Some(listen), Some(admin)) = (listen, admin) else {
        return;
    };
    if ok && listen == admin && !listen.ends_with(":0") {
        out.push(
            Finding::new(
                "/gateway/admin/listen",
                format!("the admin plane and the data plane both listen on `{listen}`"),
                "same address as `gateway.listen`",
                "give the admin plane its own port, e.g. 127.0.0.1:41003",
            )
            .related("/gateway/listen", "data plane"),
        );
    }
}

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
