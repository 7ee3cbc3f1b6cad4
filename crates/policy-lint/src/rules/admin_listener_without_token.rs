//! P309 `admin-listener-without-token`: an admin plane reachable from the network with no token.

use super::rule::{declare_rule, At, Context, Finding};
use policy_config::address::{is_loopback, parse as parse_listen};

declare_rule! {
    /// ## What it does
    /// Reports `gateway.admin.listen` on an address other than loopback (`127.0.0.0/8`, `::1`,
    /// `localhost`) when `gateway.admin.token_env` is not set.
    ///
    /// ## Why is this bad?
    /// The admin plane reloads and reverts the config. Open to the network without a bearer
    /// token, anyone who can reach the port can switch enforcement off.
    ///
    /// ## Example
    /// ```yaml
    /// gateway:
    ///   admin:
    ///     listen: 0.0.0.0:41003
    /// ```
    ///
    /// ## Use instead
    /// ```yaml
    /// gateway:
    ///   admin:
    ///     listen: 0.0.0.0:41003
    ///     token_env: POLICY_ADMIN_TOKEN
    /// ```
    pub static RULE = { code: "P309", name: "admin-listener-without-token", severity: Error, check: Some(check) };
}

fn check(ctx: &Context<'_>, out: &mut Vec<Finding>) {
    let Some(admin) = ctx.get("/gateway/admin", |c| Some(&c.gateway.admin)) else {
        return;
    };
    let Ok(host) = parse_listen(&admin.listen) else {
        return;
    };
    if admin.token_env.is_none() && !is_loopback(host) {
        out.push(
            Finding::new(
                "/gateway/admin/listen",
                format!("the admin plane listens on non-loopback `{}` without a token", admin.listen),
                "reachable from the network",
                "set `gateway.admin.token_env: POLICY_ADMIN_TOKEN` (the name of an env var holding the token), or listen on 127.0.0.1",
            )
            .at(At::Value),
        );
    }
}
