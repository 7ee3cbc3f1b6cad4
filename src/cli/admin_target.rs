//! How a `policy gateway` command reaches the gateway: the admin address and the bearer
//! token, from `--admin` and `--token-env`, else from the config given with `--config`
//! (`gateway.admin.listen`, `gateway.admin.token_env`), else the defaults. For `status` and
//! `revert`, which send no config, a file with lint errors still says where the gateway is.

use super::args::http_addr;
use super::common::CliError;
use policy_config::Config;
use policy_lint::{self as lint, LoadError};
use policy_replay::admin_client::AdminClient;
use serde_json::Value;
use std::path::PathBuf;

/// How to reach the gateway; every subcommand takes these.
#[derive(Debug, clap::Args)]
pub struct TargetArgs {
    /// The config: reload and restart send it (after a local lint); every subcommand derives
    /// the admin address and the token variable from it when --admin / --token-env are absent.
    #[arg(long, value_name = "FILE")]
    pub config: Option<PathBuf>,
    /// The admin plane, e.g. http://127.0.0.1:41003 (default: the config's
    /// `gateway.admin.listen`, else http://127.0.0.1:41003).
    #[arg(long, value_name = "URL")]
    pub admin: Option<String>,
    /// The environment variable holding the admin bearer token (default: the config's
    /// `gateway.admin.token_env`; none: no token).
    #[arg(long, value_name = "VAR")]
    pub token_env: Option<String>,
    /// Output format.
    #[arg(long, value_enum, default_value_t = Format::Human)]
    pub format: Format,
}

/// Output formats of `policy gateway`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Format {
    /// Lines for people.
    Human,
    /// One JSON object.
    Json,
}
use std::net::SocketAddr;

/// Where a gateway's admin plane is when neither `--admin` nor a config says: the default of
/// `gateway.admin.listen`, on loopback.
pub const DEFAULT_ADMIN: &str = "http://127.0.0.1:41003";

/// The admin address `gateway.admin.listen` implies for a client: a wildcard host means this
/// machine's loopback; port 0 (a free port picked at start) cannot be known in advance.
pub fn admin_from_listen(listen: &str) -> Result<SocketAddr, String> {
    use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, ToSocketAddrs};
    let mut addr = listen
        .to_socket_addrs()
        .ok()
        .and_then(|mut a| a.next())
        .ok_or_else(|| format!("gateway.admin.listen `{listen}` is not a host:port"))?;
    if addr.port() == 0 {
        return Err(format!(
            "gateway.admin.listen `{listen}` is a free port picked at start: pass the bound address with --admin (policy gateway status prints it)"
        ));
    }
    if addr.ip().is_unspecified() {
        addr.set_ip(match addr.ip() {
            IpAddr::V4(_) => IpAddr::V4(Ipv4Addr::LOCALHOST),
            IpAddr::V6(_) => IpAddr::V6(Ipv6Addr::LOCALHOST),
        });
    }
    Ok(addr)
}

/// The admin address: `--admin`, else the config's `gateway.admin.listen`, else
/// [`DEFAULT_ADMIN`].
pub fn admin_addr(flag: Option<&str>, listen: Option<&str>) -> Result<SocketAddr, CliError> {
    match (flag, listen) {
        (Some(url), _) => http_addr("--admin", url),
        (None, Some(listen)) => {
            admin_from_listen(listen).map_err(|e| CliError::Usage(format!("cannot derive --admin from --config: {e}")))
        }
        (None, None) => http_addr("--admin", DEFAULT_ADMIN),
    }
}

/// What `--config` says about reaching the gateway.
#[derive(Default)]
pub struct Reach {
    /// `gateway.admin.listen`.
    listen: Option<String>,
    /// `gateway.admin.token_env`.
    token_env: Option<String>,
}

impl Reach {
    pub fn of(config: Option<&Config>) -> Reach {
        config.map_or_else(Reach::default, |c| Reach {
            listen: Some(c.gateway.admin.listen.clone()),
            token_env: c.gateway.admin.token_env.clone(),
        })
    }

    /// For `status` and `revert`, which send no config: `--config`'s admin settings even when
    /// the file has lint errors, read from its YAML (a broken push is when an operator needs
    /// status and revert most), with a warning on stderr.
    pub fn leniently(t: &TargetArgs) -> Result<Reach, CliError> {
        let Some(path) = &t.config else {
            return Ok(Reach::default());
        };
        match lint::load_config(path) {
            Ok((config, _)) => Ok(Reach::of(Some(&config))),
            Err(LoadError::Invalid { errors, report, .. }) => {
                let Some(doc) = report.document.as_ref() else {
                    if t.admin.is_some() {
                        return Ok(Reach::default());
                    }
                    return Err(CliError::Usage(format!(
                        "{} is not valid YAML, so the admin address cannot be read from it: pass --admin",
                        path.display()
                    )));
                };
                let at = |p: &str| doc.value.pointer(p).and_then(Value::as_str).map(String::from);
                eprintln!(
                    "warning: {} has {errors} lint error(s); the gateway is reached with its `gateway.admin` settings all the same",
                    path.display()
                );
                Ok(Reach {
                    listen: at("/gateway/admin/listen"),
                    token_env: at("/gateway/admin/token_env"),
                })
            }
            Err(e) => Err(e.into()),
        }
    }
}

/// The client for `t`: the address, and the token from `--token-env` or the config's
/// `token_env` (named but unset: a usage error, sending nothing).
pub fn client(t: &TargetArgs, reach: Reach) -> Result<AdminClient, CliError> {
    let admin = admin_addr(t.admin.as_deref(), reach.listen.as_deref())?;
    let var = t.token_env.clone().or(reach.token_env);
    let token = match var {
        Some(var) => match std::env::var(&var) {
            Ok(v) if !v.is_empty() => Some(v),
            _ => {
                return Err(CliError::Usage(format!(
                    "--token-env {var}: the variable is not set (it holds the admin bearer token)"
                )))
            }
        },
        None => None,
    };
    Ok(AdminClient::new(admin, token))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_admin_address_comes_from_the_flag_then_the_config_then_the_default() {
        let config = |listen: &str| {
            let text = format!(
                "pack: {{ name: p, version: 1.0.0 }}\ngateway:\n  admin: {{ listen: \"{listen}\", token_env: T }}\nproviders:\n  targets: [{{ id: m, provider: mock }}]\npolicies:\n  chain: []\n"
            );
            lint::load_config_str("c.yaml", &text).expect("a valid config").0
        };
        let listen = |c: &Config| Reach::of(Some(c)).listen;
        let c = config("127.0.0.1:5000");
        assert_eq!(
            admin_addr(None, listen(&c).as_deref()).unwrap(),
            "127.0.0.1:5000".parse().unwrap()
        );
        assert_eq!(
            admin_addr(Some("http://127.0.0.1:6000"), listen(&c).as_deref()).unwrap(),
            "127.0.0.1:6000".parse().unwrap()
        );
        assert_eq!(admin_addr(None, None).unwrap(), "127.0.0.1:41003".parse().unwrap());
        // A wildcard listener is reached on loopback.
        assert_eq!(
            admin_addr(None, listen(&config("0.0.0.0:7000")).as_deref()).unwrap(),
            "127.0.0.1:7000".parse().unwrap()
        );
        assert_eq!(admin_from_listen("[::]:7000").unwrap(), "[::1]:7000".parse().unwrap());
        // Port 0 is picked at start: no address can be derived.
        assert!(
            matches!(admin_addr(None, listen(&config("127.0.0.1:0")).as_deref()), Err(CliError::Usage(m)) if m.contains("--admin"))
        );
        assert!(matches!(admin_addr(Some("https://x:1"), None), Err(CliError::Usage(_))));
    }
}
