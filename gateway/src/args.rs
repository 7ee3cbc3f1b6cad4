//! The gateway's command line: `--config FILE` and the instance settings beside it.
//!
//! Parsed with lexopt, not clap: the gateway is a daemon with nine flags, and its dependency
//! tree holds nothing of the CLI's. Owns parsing, `--help` and `--version`; what each flag
//! does is `main.rs`'s. A usage mistake is reported with the flag that caused it and exit 2.

use crate::state::Overrides;
use lexopt::prelude::*;
use std::path::PathBuf;

/// `--help`: one line per flag, as `policy-gateway --help` prints it.
const HELP: &str = "\
The reference gateway for `policy`: proxies OpenAI-style requests through the policy chain
and hot-reloads its config atomically (SIGHUP, POST /admin/reload, --watch).

Usage: policy-gateway --config <FILE> [OPTIONS]

Options:
  -c, --config <FILE>        The policy config
      --watch                Reload when the config file changes (directory watch, debounced,
                             identical bytes skipped)
      --record <FILE>        Append every data-plane request to FILE as JSON Lines (never
                             credentials)
      --state-dir <DIR>      Keep the operation history and the revert target in DIR (created
                             if missing), written atomically, so both survive a restart, a crash
                             or `kill -9`
      --check                Validate and compile --config as a reload would, print the verdict
                             and exit: 0 valid, 1 errors, 2 unreadable. Binds nothing
      --listen <ADDR>        Serve the data plane on ADDR (`host:port`) instead of the config's
                             `gateway.listen`. An instance setting, not part of the config: the
                             config hash stays the file's, and a file that names another address
                             is not a restart-class change for this instance
      --admin-listen <ADDR>  Serve the admin plane on ADDR (`host:port`) instead of the config's
                             `gateway.admin.listen`; not loopback: the config must set
                             `gateway.admin.token_env`
  -h, --help                 Print help
  -V, --version              Print version
";

/// What the command line asked for.
#[derive(Debug)]
pub struct Args {
    /// The policy config.
    pub config: PathBuf,
    /// Reload when the config file changes.
    pub watch: bool,
    /// Append every data-plane request to this file as JSON Lines.
    pub record: Option<PathBuf>,
    /// Internal: this process is the new side of a zero-drop restart; receive the listening
    /// sockets and the config from the old process at this socket.
    pub upgrade_from: Option<PathBuf>,
    /// Keep the operation history and the revert target here.
    pub state_dir: Option<PathBuf>,
    /// Validate and compile --config, print the verdict and exit.
    pub check: bool,
    /// The data plane's address, instead of the config's `gateway.listen`.
    pub listen: Option<String>,
    /// The admin plane's address, instead of the config's `gateway.admin.listen`.
    pub admin_listen: Option<String>,
}

/// What `parse` decided: run, or print and exit.
#[derive(Debug)]
pub enum Parsed {
    /// Run the gateway (or `--check`) with these arguments.
    Run(Args),
    /// Print this to stdout and exit 0 (`--help`, `--version`).
    Print(String),
}

impl Args {
    /// The instance's address overrides.
    pub fn overrides(&self) -> Overrides {
        Overrides {
            listen: self.listen.clone(),
            admin_listen: self.admin_listen.clone(),
        }
    }
}

/// Parse the process's arguments; the error is the message for a usage mistake (exit 2).
pub fn parse() -> Result<Parsed, String> {
    parse_from(lexopt::Parser::from_env())
}

fn parse_from(mut parser: lexopt::Parser) -> Result<Parsed, String> {
    let mut config = None;
    let mut args = Args {
        config: PathBuf::new(),
        watch: false,
        record: None,
        upgrade_from: None,
        state_dir: None,
        check: false,
        listen: None,
        admin_listen: None,
    };
    while let Some(arg) = parser.next().map_err(|e| e.to_string())? {
        match arg {
            Short('c') | Long("config") => config = Some(path(&mut parser, "--config")?),
            Long("watch") => args.watch = true,
            Long("record") => args.record = Some(path(&mut parser, "--record")?),
            Long("upgrade-from") => args.upgrade_from = Some(path(&mut parser, "--upgrade-from")?),
            Long("state-dir") => args.state_dir = Some(path(&mut parser, "--state-dir")?),
            Long("check") => args.check = true,
            Long("listen") => args.listen = Some(address(&mut parser, "--listen")?),
            Long("admin-listen") => args.admin_listen = Some(address(&mut parser, "--admin-listen")?),
            Short('h') | Long("help") => return Ok(Parsed::Print(HELP.to_string())),
            Short('V') | Long("version") => {
                return Ok(Parsed::Print(format!("policy-gateway {}\n", env!("CARGO_PKG_VERSION"))))
            }
            other => return Err(other.unexpected().to_string()),
        }
    }
    args.config = config.ok_or("the following required argument was not provided: --config <FILE>")?;
    Ok(Parsed::Run(args))
}

fn path(parser: &mut lexopt::Parser, flag: &str) -> Result<PathBuf, String> {
    parser
        .value()
        .map(PathBuf::from)
        .map_err(|_| format!("a value is required for '{flag} <FILE>'"))
}

/// `--listen` and `--admin-listen` accept what `gateway.listen` does (lint rule P308).
fn address(parser: &mut lexopt::Parser, flag: &str) -> Result<String, String> {
    let value = parser
        .value()
        .map_err(|_| format!("a value is required for '{flag} <ADDR>'"))?;
    let addr = value
        .into_string()
        .map_err(|v| format!("invalid value {v:?} for '{flag} <ADDR>': not UTF-8"))?;
    policy_config::address::parse(&addr).map_err(|why| format!("invalid value '{addr}' for '{flag} <ADDR>': {why}"))?;
    Ok(addr)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(args: &[&str]) -> Result<Parsed, String> {
        parse_from(lexopt::Parser::from_args(args.iter().copied()))
    }

    #[test]
    fn flags_and_values() {
        let Ok(Parsed::Run(a)) = parse(&["-c", "p.yaml", "--watch", "--listen=127.0.0.1:0", "--check"]) else {
            panic!("not parsed")
        };
        assert_eq!(a.config, PathBuf::from("p.yaml"));
        assert!(a.watch && a.check);
        assert_eq!(a.listen.as_deref(), Some("127.0.0.1:0"));
    }

    #[test]
    fn mistakes_name_their_flag() {
        assert!(parse(&[]).unwrap_err().contains("--config"));
        assert!(parse(&["--config"]).unwrap_err().contains("--config"));
        assert!(parse(&["-c", "p", "--listen", "nowhere"])
            .unwrap_err()
            .contains("--listen"));
        assert!(parse(&["-c", "p", "--frobnicate"])
            .unwrap_err()
            .contains("--frobnicate"));
        assert!(matches!(parse(&["--help"]), Ok(Parsed::Print(h)) if h.contains("--admin-listen")));
    }
}
