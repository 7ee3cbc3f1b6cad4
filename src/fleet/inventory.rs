//! The inventory (docs/reference/inventory-format.md): groups of gateways, each named, with its
//! admin URL and the environment variable that holds its admin token. Read from YAML with clear
//! errors; the tokens themselves are read from the environment when a gateway is contacted, never
//! stored.

use serde::Deserialize;
use std::collections::BTreeMap;
use std::net::{SocketAddr, ToSocketAddrs};
use std::path::{Path, PathBuf};

/// The inventory file.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Inventory {
    /// Groups by name (`production`, `staging`).
    pub groups: BTreeMap<String, Group>,
}

/// A group of gateways that should run the same config.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Group {
    /// The config the group runs, relative to the inventory file: the default of `--file`.
    #[serde(default)]
    pub config: Option<PathBuf>,
    /// Its gateways, in rollout order (the first is the canary).
    pub gateways: Vec<GatewayEntry>,
}

/// One gateway of a group.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GatewayEntry {
    /// Its name in reports and messages.
    pub name: String,
    /// Its admin plane, `http://HOST:PORT`.
    pub admin: String,
    /// The environment variable holding its admin bearer token, if it wants one.
    #[serde(default)]
    pub token_env: Option<String>,
}

/// Why an inventory cannot be used.
#[derive(Debug, thiserror::Error, miette::Diagnostic)]
pub enum InventoryError {
    /// The file could not be read.
    #[error("cannot read the inventory {path}: {source}")]
    #[diagnostic(code(policy::inventory))]
    Io {
        /// The inventory file.
        path: String,
        /// The OS error.
        source: std::io::Error,
    },
    /// The file is not an inventory.
    #[error("{path} is not an inventory: {message}")]
    #[diagnostic(
        code(policy::inventory),
        help("an inventory is `groups: {{NAME: {{config: FILE, gateways: [{{name, admin: \"http://HOST:PORT\", token_env}}]}}}}`")
    )]
    Invalid {
        /// The inventory file.
        path: String,
        /// What is wrong, with its position.
        message: String,
    },
    /// The group asked for is not in the file.
    #[error("{path} has no group `{group}` (groups: {known})")]
    #[diagnostic(code(policy::inventory))]
    NoGroup {
        /// The inventory file.
        path: String,
        /// The group asked for.
        group: String,
        /// The groups it has.
        known: String,
    },
    /// A gateway's admin address or token cannot be used.
    #[error("gateway {gateway}: {message}")]
    #[diagnostic(code(policy::inventory))]
    Gateway {
        /// The gateway's name.
        gateway: String,
        /// What is wrong.
        message: String,
    },
}

impl Inventory {
    /// Read and check an inventory file.
    pub fn load(path: &Path) -> Result<Inventory, InventoryError> {
        let text = std::fs::read_to_string(path).map_err(|source| InventoryError::Io {
            path: path.display().to_string(),
            source,
        })?;
        Inventory::parse(&path.display().to_string(), &text)
    }

    /// Check an inventory given as text (`path` names it in errors).
    pub fn parse(path: &str, text: &str) -> Result<Inventory, InventoryError> {
        let invalid = |message: String| InventoryError::Invalid {
            path: path.to_string(),
            message,
        };
        // The config reader: the same YAML 1.2 handling (and guards) as configs.
        let doc = policy_config::yaml::parse(text).map_err(|errors| {
            let e = &errors[0];
            invalid(format!("line {}: {}", e.span.start.line, e.message))
        })?;
        let inventory: Inventory = serde_path_to_error::deserialize(&doc.value).map_err(|e| {
            let at = doc
                .locate(&policy_config::pointer::of_serde_path(e.path()))
                .value
                .start
                .line;
            invalid(format!("line {at}: {}", e.inner()))
        })?;
        if inventory.groups.is_empty() {
            return Err(invalid("names no group: list at least one under `groups:`".into()));
        }
        for (name, group) in &inventory.groups {
            if group.gateways.is_empty() {
                return Err(invalid(format!("group `{name}` lists no gateway")));
            }
            let mut seen = std::collections::BTreeSet::new();
            for g in &group.gateways {
                if g.name.trim().is_empty() {
                    return Err(invalid(format!("group `{name}` has a gateway with an empty name")));
                }
                if !seen.insert(&g.name) {
                    return Err(invalid(format!("group `{name}` names gateway `{}` twice", g.name)));
                }
                g.admin_host()
                    .map_err(|e| invalid(format!("group `{name}`, gateway `{}`: {e}", g.name)))?;
            }
        }
        Ok(inventory)
    }

    /// The group `name`.
    pub fn group(&self, path: &str, name: &str) -> Result<&Group, InventoryError> {
        self.groups.get(name).ok_or_else(|| InventoryError::NoGroup {
            path: path.to_string(),
            group: name.to_string(),
            known: self.groups.keys().cloned().collect::<Vec<_>>().join(", "),
        })
    }
}

impl GatewayEntry {
    /// The `HOST:PORT` of its `admin` URL, or why it is not an `http://HOST:PORT` URL.
    fn admin_host(&self) -> Result<&str, String> {
        let rest = self
            .admin
            .strip_prefix("http://")
            .ok_or_else(|| format!("admin `{}` is not an http://HOST:PORT URL", self.admin))?;
        Ok(rest.split('/').next().unwrap_or_default())
    }

    /// Its admin address and token, read from the environment now.
    pub fn endpoint(&self) -> Result<(SocketAddr, Option<String>), InventoryError> {
        let fail = |message: String| InventoryError::Gateway {
            gateway: self.name.clone(),
            message,
        };
        let host = self.admin_host().map_err(fail)?;
        let addr = host
            .to_socket_addrs()
            .ok()
            .and_then(|mut a| a.next())
            .ok_or_else(|| fail(format!("admin `{}`: `{host}` is not a reachable HOST:PORT", self.admin)))?;
        let token = match &self.token_env {
            Some(var) => Some(
                std::env::var(var)
                    .ok()
                    .filter(|t| !t.is_empty())
                    .ok_or_else(|| fail(format!("its token variable {var} is not set")))?,
            ),
            None => None,
        };
        Ok((addr, token))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_the_documented_example_and_refuses_mistakes() {
        let inv = Inventory::parse(
            "i.yaml",
            "groups:\n  production:\n    config: policies/production.yaml\n    gateways:\n      - { name: gw-prod-01, admin: \"http://127.0.0.1:41003\", token_env: PROD_ADMIN_TOKEN }\n",
        )
        .unwrap();
        let g = inv.group("i.yaml", "production").unwrap();
        assert_eq!(g.gateways[0].name, "gw-prod-01");
        assert!(inv
            .group("i.yaml", "staging")
            .unwrap_err()
            .to_string()
            .contains("groups: production"));
        let typo = Inventory::parse("i.yaml", "groups: { p: { gateways: [ { name: a, admn: x } ] } }\n").unwrap_err();
        assert!(typo.to_string().contains("admn"), "{typo}");
        let twice = Inventory::parse(
            "i.yaml",
            "groups: { p: { gateways: [ { name: a, admin: \"http://127.0.0.1:1\" }, { name: a, admin: \"http://127.0.0.1:2\" } ] } }\n",
        )
        .unwrap_err();
        assert!(twice.to_string().contains("twice"));
        // Found when the file is read, not per gateway later: no group, an empty name, an
        // address that is not an http:// URL; and a typo says on which line.
        let refused = |text: &str| Inventory::parse("i.yaml", text).unwrap_err().to_string();
        assert!(refused("groups: {}\n").contains("names no group"));
        assert!(
            refused("groups: { p: { gateways: [ { name: \"\", admin: \"http://127.0.0.1:1\" } ] } }\n")
                .contains("empty name")
        );
        assert!(
            refused("groups: { p: { gateways: [ { name: a, admin: \"127.0.0.1:1\" } ] } }\n")
                .contains("not an http://HOST:PORT URL")
        );
        let typo = refused("groups:\n  p:\n    gateways:\n      - name: a\n        admn: x\n");
        assert!(typo.contains("line 5") && typo.contains("admn"), "{typo}");
    }
}
