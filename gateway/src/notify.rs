//! systemd's readiness protocol (`sd_notify(3)`), for `Type=notify` units: one datagram per
//! state change to the socket named by `$NOTIFY_SOCKET` (a path, or `@name` in the abstract
//! namespace).
//!
//! ```text
//! ready()      READY=1 + MAINPID   once the process serves (after a zero-drop restart, the new
//!                                  process: MAINPID tells systemd which process to track)
//! Reloading    RELOADING=1 + MONOTONIC_USEC when a reload starts, READY=1 when it ends
//! stopping()   STOPPING=1          when a stop signal arrives
//! ```
//!
//! Without `$NOTIFY_SOCKET` (not under systemd) every call does nothing. A datagram that cannot
//! be sent is logged and otherwise ignored: readiness reporting never stops the gateway. What
//! the states mean for the lifecycle is decided by `main.rs` and `reload.rs`.

use crate::journal::log;
use std::ffi::OsStr;
use std::io;
use std::os::unix::net::UnixDatagram;

/// The environment variable systemd sets to its notification socket.
pub const SOCKET_ENV: &str = "NOTIFY_SOCKET";

/// The process serves: `READY=1` with this process's pid as `MAINPID`.
pub fn ready() {
    send(&format!("READY=1\nMAINPID={}", std::process::id()));
}

/// A stop signal arrived: `STOPPING=1`.
pub fn stopping() {
    send("STOPPING=1");
}

/// A reload in progress: `RELOADING=1` when begun, `READY=1` when dropped (whatever the
/// reload's outcome: the gateway serves either way).
#[derive(Debug)]
#[must_use = "READY=1 is sent when this is dropped"]
pub struct Reloading(());

impl Reloading {
    /// Send `RELOADING=1` (with the `MONOTONIC_USEC` systemd pairs reload cycles by).
    pub fn begin() -> Reloading {
        let now = rustix::time::clock_gettime(rustix::time::ClockId::Monotonic);
        let usec = now.tv_sec as u128 * 1_000_000 + now.tv_nsec as u128 / 1_000;
        send(&format!("RELOADING=1\nMONOTONIC_USEC={usec}"));
        Reloading(())
    }
}

impl Drop for Reloading {
    fn drop(&mut self) {
        // No MAINPID: after a zero-drop restart hands over, this process is no longer main.
        send("READY=1");
    }
}

/// Send `state` to `$NOTIFY_SOCKET`, if set.
pub fn send(state: &str) {
    let Some(socket) = std::env::var_os(SOCKET_ENV).filter(|s| !s.is_empty()) else {
        return;
    };
    if let Err(e) = send_to(&socket, state) {
        log(
            "WARN",
            &format!("cannot notify systemd at {} ({state:?}): {e}", socket.to_string_lossy()),
        );
    }
}

/// Send one datagram `state` to `socket`: a filesystem path, or `@name` for the abstract
/// namespace.
pub fn send_to(socket: &OsStr, state: &str) -> io::Result<()> {
    let sender = UnixDatagram::unbound()?;
    let bytes = socket.as_encoded_bytes();
    let sent = match bytes.strip_prefix(b"@") {
        Some(name) => {
            use std::os::linux::net::SocketAddrExt;
            let addr = std::os::unix::net::SocketAddr::from_abstract_name(name)?;
            sender.send_to_addr(state.as_bytes(), &addr)?
        }
        None => sender.send_to(state.as_bytes(), socket)?,
    };
    if sent != state.len() {
        return Err(io::Error::other(format!("sent {sent} of {} bytes", state.len())));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    fn recv(socket: &UnixDatagram) -> String {
        let mut buf = [0u8; 256];
        let n = socket.recv(&mut buf).expect("a datagram");
        String::from_utf8_lossy(&buf[..n]).into_owned()
    }

    #[test]
    fn a_path_socket_receives_each_state_as_one_datagram() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("notify.sock");
        let socket = UnixDatagram::bind(&path).unwrap();
        socket.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
        send_to(path.as_os_str(), "READY=1\nMAINPID=42").unwrap();
        send_to(path.as_os_str(), "STOPPING=1").unwrap();
        assert_eq!(recv(&socket), "READY=1\nMAINPID=42");
        assert_eq!(recv(&socket), "STOPPING=1");
    }

    #[test]
    fn an_abstract_socket_is_named_with_an_at_sign() {
        use std::os::linux::net::SocketAddrExt;
        let name = format!("policy-gateway-notify-test-{}", std::process::id());
        let addr = std::os::unix::net::SocketAddr::from_abstract_name(name.as_bytes()).unwrap();
        let socket = UnixDatagram::bind_addr(&addr).unwrap();
        socket.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
        send_to(OsStr::new(&format!("@{name}")), "RELOADING=1").unwrap();
        assert_eq!(recv(&socket), "RELOADING=1");
    }

    #[test]
    fn a_missing_socket_is_an_error_not_a_panic() {
        let dir = tempfile::tempdir().unwrap();
        assert!(send_to(dir.path().join("absent.sock").as_os_str(), "READY=1").is_err());
    }
}
