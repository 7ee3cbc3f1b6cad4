//! A `policy-gateway` as a child process: find the binary, start it on a config, wait until
//! its [`ServingLine`] says it is ready, send it signals, and stop it when its handle is dropped.
//!
//! Shared by the live harness (spawn mode), `policy demo` and the gateway's own tests, so the
//! start-and-wait loop exists once. Signals go through `kill(2)` directly (never a `kill`
//! subprocess). What the process serves, and how it is driven, is the caller's business.

use policy_contract::ServingLine;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

#[cfg(unix)]
pub use rustix::process::Signal;

/// The signals this program sends. Off Unix there are none to send: gateways are driven
/// through their admin plane there, and [`send_signal`] says so.
#[cfg(not(unix))]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[allow(clippy::upper_case_acronyms)]
pub enum Signal {
    /// Reload.
    HUP,
    /// Stop now.
    INT,
    /// Drain and stop.
    TERM,
    /// Kill.
    KILL,
}

/// Why a gateway process could not be started or reached.
#[derive(Debug, thiserror::Error, miette::Diagnostic)]
pub enum ProcessError {
    /// The binary is not where it was looked for.
    #[error("policy-gateway is not next to {beside}: build it (`cargo build --release --workspace`) or pass --gateway-bin, or attach to a running gateway with --gateway URL --admin URL")]
    #[diagnostic(code(policy::gateway_binary))]
    NotFound {
        /// The `policy` binary it was looked for beside.
        beside: String,
    },
    /// The OS refused to start it.
    #[error("cannot start {bin}: {source}")]
    #[diagnostic(code(policy::gateway_start))]
    Spawn {
        /// The binary that was run.
        bin: String,
        /// The OS error.
        source: std::io::Error,
    },
    /// It exited before printing its serving line.
    #[error("policy-gateway exited ({status}) before serving:\n{log}")]
    #[diagnostic(code(policy::gateway_start))]
    Exited {
        /// Its exit status.
        status: ExitStatus,
        /// Its stderr up to then.
        log: String,
    },
    /// It did not print its serving line in time (it has been killed).
    #[error("policy-gateway did not start within {within:?}:\n{log}")]
    #[diagnostic(code(policy::gateway_start))]
    Timeout {
        /// How long it was given.
        within: Duration,
        /// Its stderr up to then.
        log: String,
    },
    /// A signal could not be delivered.
    #[error("cannot signal process {pid}: {source}")]
    #[diagnostic(code(policy::signal))]
    Signal {
        /// The process the signal was meant for.
        pid: u32,
        /// The OS error.
        source: std::io::Error,
    },
}

/// The `policy-gateway` to run: `explicit`, else the one next to the running binary (where
/// `cargo build --workspace` puts it).
pub fn locate_binary(explicit: Option<&Path>) -> Result<PathBuf, ProcessError> {
    if let Some(p) = explicit {
        return Ok(p.to_path_buf());
    }
    let exe = std::env::current_exe().unwrap_or_default();
    let beside = exe.with_file_name("policy-gateway");
    if beside.exists() {
        return Ok(beside);
    }
    Err(ProcessError::NotFound {
        beside: exe.display().to_string(),
    })
}

/// Send `signal` to process `pid`: not possible off Unix.
#[cfg(not(unix))]
pub fn send_signal(pid: u32, _signal: Signal) -> Result<(), ProcessError> {
    Err(ProcessError::Signal {
        pid,
        source: std::io::Error::new(
            std::io::ErrorKind::Unsupported,
            "signals need a Unix system; reload through the admin plane instead (--reload-via admin)",
        ),
    })
}

/// Send `signal` to process `pid`.
#[cfg(unix)]
pub fn send_signal(pid: u32, signal: Signal) -> Result<(), ProcessError> {
    let target = i32::try_from(pid).ok().and_then(rustix::process::Pid::from_raw);
    let Some(target) = target else {
        return Err(ProcessError::Signal {
            pid,
            source: std::io::Error::from(std::io::ErrorKind::InvalidInput),
        });
    };
    rustix::process::kill_process(target, signal).map_err(|e| ProcessError::Signal { pid, source: e.into() })
}

/// Whether process `pid` is still running (a zombie waiting to be reaped counts as ended).
pub fn is_running(pid: u32) -> bool {
    match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
        // The state follows the command name in parentheses: `1234 (policy-gateway) S …`.
        Ok(stat) => stat
            .rsplit_once(')')
            .and_then(|(_, rest)| rest.split_whitespace().next())
            .is_some_and(|state| state != "Z" && state != "X"),
        Err(_) => false,
    }
}

/// Stop a gateway this program did not start as a child (the successor of a zero-drop
/// restart): SIGTERM, wait up to `grace` for it to drain and exit, then SIGKILL. Returns
/// whether it had to be killed.
pub fn stop_pid(pid: u32, grace: Duration) -> bool {
    if send_signal(pid, Signal::TERM).is_err() {
        return false;
    }
    let deadline = Instant::now() + grace;
    while Instant::now() < deadline {
        if !is_running(pid) {
            return false;
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    let _ = send_signal(pid, Signal::KILL);
    true
}

/// How to start a gateway: [`Launch::new`], adjust, then [`Launch::spawn`].
#[derive(Debug, Clone)]
pub struct Launch {
    bin: PathBuf,
    config: PathBuf,
    args: Vec<String>,
    env: Vec<(String, Option<String>)>,
    dir: Option<PathBuf>,
}

/// How long a gateway may take to print its serving line: a debug build on a busy 2-core
/// machine takes a few hundred milliseconds; this leaves room for a loaded CI runner.
pub const START_TIMEOUT: Duration = Duration::from_secs(30);

/// How long [`GatewayProcess::stop`] waits after SIGTERM (the gateway drains in-flight
/// requests first) before it kills.
pub const STOP_GRACE: Duration = Duration::from_secs(5);

impl Launch {
    /// `bin --config config`, in the current directory, with this process's environment.
    pub fn new(bin: impl Into<PathBuf>, config: impl Into<PathBuf>) -> Launch {
        Launch {
            bin: bin.into(),
            config: config.into(),
            args: Vec::new(),
            env: Vec::new(),
            dir: None,
        }
    }

    /// Extra command-line arguments after `--config FILE`.
    pub fn args<I: IntoIterator<Item = S>, S: Into<String>>(mut self, args: I) -> Launch {
        self.args.extend(args.into_iter().map(Into::into));
        self
    }

    /// Set an environment variable for the child.
    pub fn env(mut self, key: &str, value: &str) -> Launch {
        self.env.push((key.into(), Some(value.into())));
        self
    }

    /// Remove an environment variable from the child's environment.
    pub fn env_remove(mut self, key: &str) -> Launch {
        self.env.push((key.into(), None));
        self
    }

    /// The child's working directory (relative audit-log paths resolve against it).
    pub fn current_dir(mut self, dir: impl Into<PathBuf>) -> Launch {
        self.dir = Some(dir.into());
        self
    }

    /// Start the process and wait until it serves. A process that exits first, or does not
    /// serve within the start timeout, is an error (and is killed).
    pub fn spawn(self) -> Result<GatewayProcess, ProcessError> {
        let mut cmd = Command::new(&self.bin);
        cmd.arg("--config")
            .arg(&self.config)
            .args(&self.args)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped());
        if let Some(d) = &self.dir {
            cmd.current_dir(d);
        }
        for (k, v) in &self.env {
            match v {
                Some(v) => cmd.env(k, v),
                None => cmd.env_remove(k),
            };
        }
        let mut child = cmd.spawn().map_err(|source| ProcessError::Spawn {
            bin: self.bin.display().to_string(),
            source,
        })?;
        let log = Arc::new(Mutex::new(String::new()));
        if let Some(stderr) = child.stderr.take() {
            let sink = Arc::clone(&log);
            // Drained for the child's whole life, so a full pipe can never block it.
            std::thread::spawn(move || {
                for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                    let mut l = sink.lock().unwrap_or_else(|p| p.into_inner());
                    l.push_str(&line);
                    l.push('\n');
                }
            });
        }
        let mut process = GatewayProcess {
            child,
            log,
            serving: None,
            stopped: false,
        };
        let deadline = Instant::now() + START_TIMEOUT;
        loop {
            let text = process.log();
            if let Some(line) = ServingLine::find(&text) {
                process.serving = Some(line);
                return Ok(process);
            }
            if let Ok(Some(status)) = process.child.try_wait() {
                process.stopped = true;
                return Err(ProcessError::Exited { status, log: text });
            }
            if Instant::now() > deadline {
                return Err(ProcessError::Timeout {
                    within: START_TIMEOUT,
                    log: text,
                });
            }
            std::thread::sleep(Duration::from_millis(10));
        }
    }
}

/// A started `policy-gateway`. Dropping it stops it: SIGTERM, then SIGKILL after
/// [`STOP_GRACE`].
#[derive(Debug)]
pub struct GatewayProcess {
    child: Child,
    /// Everything the process wrote to stderr so far.
    log: Arc<Mutex<String>>,
    /// Set once the process is ready.
    serving: Option<ServingLine>,
    /// Whether it has been reaped (no signal may go to a recycled pid).
    stopped: bool,
}

impl GatewayProcess {
    /// What its serving line said: where it listens, which config it started with.
    pub fn serving(&self) -> &ServingLine {
        self.serving
            .as_ref()
            .expect("a GatewayProcess is only handed out once it serves")
    }

    /// Its process id.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Its stderr so far.
    pub fn log(&self) -> String {
        self.log.lock().unwrap_or_else(|p| p.into_inner()).clone()
    }

    /// Send it `signal`.
    pub fn signal(&self, signal: Signal) -> Result<(), ProcessError> {
        if self.stopped {
            return Err(ProcessError::Signal {
                pid: self.pid(),
                source: std::io::Error::other("the process has exited"),
            });
        }
        send_signal(self.pid(), signal)
    }

    /// Its exit status if it has exited, waiting at most `limit`.
    pub fn wait_exit(&mut self, limit: Duration) -> Option<ExitStatus> {
        let deadline = Instant::now() + limit;
        loop {
            if let Ok(Some(s)) = self.child.try_wait() {
                self.stopped = true;
                return Some(s);
            }
            if Instant::now() >= deadline {
                return None;
            }
            std::thread::sleep(Duration::from_millis(10));
        }
    }

    /// SIGTERM, wait up to `grace` for the drain, then SIGKILL. Returns how it ended.
    pub fn stop(&mut self, grace: Duration) -> Option<ExitStatus> {
        if !self.stopped {
            let _ = send_signal(self.pid(), Signal::TERM);
            if let Some(s) = self.wait_exit(grace) {
                return Some(s);
            }
            let _ = self.child.kill();
        }
        let status = self.child.wait().ok();
        self.stopped = true;
        status
    }
}

impl Drop for GatewayProcess {
    fn drop(&mut self) {
        self.stop(STOP_GRACE);
    }
}
