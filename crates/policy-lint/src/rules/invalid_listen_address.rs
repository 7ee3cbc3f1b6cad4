//! P308 `invalid-listen-address`: a listen address that cannot be bound.

use super::rule::{declare_rule, Context, Finding};
use policy_config::address::parse;

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
                why.to_string(),
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
