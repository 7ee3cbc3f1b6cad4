//! The line a gateway logs once both listeners are bound and it is ready for traffic:
//!
//! ```text
//! serving local-dev 0.1.1 (sha256:…) on http://127.0.0.1:41002, admin on http://127.0.0.1:41003
//! ```
//!
//! Whoever starts a gateway (the live harness, the tests, `policy gateway restart`) learns from
//! it that the process is ready and where it listens, which matters when the config says port 0.
//! The gateway writes it with [`ServingLine`]'s `Display`, and readers use [`ServingLine::find`],
//! so the two cannot drift apart. Log prefixes (timestamp, level) before it are allowed.

use std::fmt;
use std::net::SocketAddr;

/// What the serving line says.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServingLine {
    /// `pack.name` of the config it started with.
    pub pack: String,
    /// `pack.version` of that config.
    pub version: String,
    /// Its `sha256:` config hash.
    pub hash: String,
    /// The bound data-plane address (the real port when the config said 0).
    pub data: SocketAddr,
    /// The bound admin-plane address.
    pub admin: SocketAddr,
}

/// The word that starts the line's own text.
const MARKER: &str = "serving ";

impl fmt::Display for ServingLine {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{MARKER}{} {} ({}) on http://{}, admin on http://{}",
            self.pack, self.version, self.hash, self.data, self.admin
        )
    }
}

impl ServingLine {
    /// Parse one log line (with or without a prefix before `serving `).
    pub fn parse(line: &str) -> Option<ServingLine> {
        let rest = &line[line.find(MARKER)? + MARKER.len()..];
        let (pack, rest) = rest.split_once(' ')?;
        let (version, rest) = rest.split_once(" (")?;
        let (hash, rest) = rest.split_once(") on http://")?;
        let (data, admin) = rest.split_once(", admin on http://")?;
        Some(ServingLine {
            pack: pack.to_string(),
            version: version.to_string(),
            hash: hash.to_string(),
            data: data.trim().parse().ok()?,
            admin: admin.trim().parse().ok()?,
        })
    }

    /// The first serving line in a log.
    pub fn find(log: &str) -> Option<ServingLine> {
        log.lines().find_map(ServingLine::parse)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn what_is_written_parses_back() {
        let line = ServingLine {
            pack: "local-dev".into(),
            version: "0.1.1-rc.1".into(),
            hash: format!("sha256:{}", "ab".repeat(32)),
            data: "127.0.0.1:41002".parse().unwrap(),
            admin: "[::1]:41003".parse().unwrap(),
        };
        let log = format!("2026-11-25T10:00:00.000Z WARN  config: x\n2026-11-25T10:00:00.001Z INFO  {line}\n");
        assert_eq!(ServingLine::find(&log), Some(line));
        assert_eq!(ServingLine::find("INFO  serving nothing"), None);
    }
}
