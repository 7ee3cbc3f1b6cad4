//! P306 `invalid-base-url`: a target's `base_url` is not an http(s) URL.

use super::rule::{declare_rule, Context, Finding};

declare_rule! {
    /// ## What it does
    /// Checks that every `base_url` is an absolute `http://` or `https://` URL with a host, an
    /// optional port (at most 65535) and no query, fragment, credentials or spaces.
    ///
    /// ## Why is this bad?
    /// The gateway joins the request path to `base_url`; anything else fails at the first
    /// request, not at reload. Credentials in the URL are secrets in plain text.
    ///
    /// ## Example
    /// ```yaml
    /// base_url: api.openai.com
    /// ```
    ///
    /// ## Use instead
    /// ```yaml
    /// base_url: https://api.openai.com
    /// ```
    pub static RULE = { code: "P306", name: "invalid-base-url", severity: Error, check: Some(check) };
}

fn check(ctx: &Context<'_>, out: &mut Vec<Finding>) {
    for i in ctx.indices("/providers/targets") {
        let url = ctx.get(format_args!("/providers/targets/{i}/base_url"), |c| {
            c.providers.targets.get(i)?.base_url.as_ref()
        });
        let Some(url) = url else { continue };
        if let Err(why) = validate(&url) {
            out.push(Finding::new(
                format!("/providers/targets/{i}/base_url"),
                format!("`{url}` is not a valid base URL: {why}"),
                why,
                "write an absolute http(s) URL, like `https://api.openai.com`",
            ));
        }
    }
}

/// Why `url` is not a usable base URL, if it is not.
pub fn validate(url: &str) -> Result<(), String> {
    let rest = url
        .strip_prefix("https://")
        .or_else(|| url.strip_prefix("http://"))
        .ok_or_else(|| "it must start with `http://` or `https://`".to_string())?;
    if url.chars().any(char::is_whitespace) {
        return Err("it contains white space".into());
    }
    if rest.contains(['?', '#']) {
        return Err("it has a query or fragment".into());
    }
    let authority = rest.split('/').next().unwrap_or_default();
    if authority.contains('@') {
        return Err("it carries credentials; use `secret_key_ref`".into());
    }
    let (host, port) = match authority.rsplit_once(':') {
        Some((h, _)) if !h.ends_with(']') && h.contains(':') => (authority, None), // bare IPv6, no port
        Some((h, p)) => (h, Some(p)),
        None => (authority, None),
    };
    if host.is_empty() {
        return Err("it has no host".into());
    }
    if let Some(p) = port {
        match p.parse::<u32>() {
            Ok(n) if (1..=65535).contains(&n) => {}
            _ => return Err(format!("port `{p}` is not a number from 1 to 65535")),
        }
    }
    let h = host.trim_start_matches('[').trim_end_matches(']');
    if h.parse::<std::net::IpAddr>().is_err()
        && !h
            .split('.')
            .all(|l| !l.is_empty() && l.chars().all(|c| c.is_ascii_alphanumeric() || c == '-'))
    {
        return Err(format!("host `{host}` is not a host name or IP address"));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::validate;

    #[test]
    fn urls() {
        for ok in [
            "https://api.openai.com",
            "http://127.0.0.1:8080",
            "https://x.y/v1/",
            "http://[::1]:9000",
        ] {
            assert!(validate(ok).is_ok(), "{ok}");
        }
        for bad in [
            "api.openai.com",
            "ftp://x",
            "https://",
            "https://a b",
            "https://x:70000",
            "https://u:p@x",
            "https://x?y=1",
        ] {
            assert!(validate(bad).is_err(), "{bad}");
        }
    }
}
