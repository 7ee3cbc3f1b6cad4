//! The admin-plane client (docs/reference/admin-api.md): one HTTP/1.1 call per fresh
//! loopback-or-LAN connection to a running `policy-gateway`, its bodies read as the contract's
//! types.
//!
//! Shared by the live harness (`replay::live`, which switches configs under load) and by
//! `policy gateway` (the operator's status / reload / revert / restart). It owns the wire
//! exchange and the three ways a call can fail before an answer means anything —
//! [`ClientError::Unreachable`], [`ClientError::Unauthorized`],
//! [`ClientError::NotPolicyGateway`] — and nothing else: what a `rejected` answer means for an
//! exit code, or what to print, is its callers' business.

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper_util::rt::TokioIo;
use policy_config::Config;
use policy_contract::admin::{self, Answer, History, Status};
use policy_contract::error_chain;
use serde::de::DeserializeOwned;
use std::net::SocketAddr;
use std::time::Duration;

/// How long a connect may take: the admin plane is local or on the LAN, so a gateway that
/// does not accept within this is not going to.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);

/// How long a whole call may take by default: a restart waits for the new process to report
/// ready (seconds at most) and a reload of a large config lints it (~100 ms a MB); a minute
/// only ends calls to a gateway that hangs.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(60);

/// A client of one gateway's admin plane.
#[derive(Debug, Clone)]
pub struct AdminClient {
    /// The admin plane's address (`gateway.admin.listen`).
    pub admin: SocketAddr,
    /// The bearer token, when the gateway's config names a `token_env`.
    pub token: Option<String>,
    /// The bound on one whole call (connect, send, read the answer).
    pub timeout: Duration,
}

/// Why an admin call produced no answer to act on.
#[derive(Debug, thiserror::Error, miette::Diagnostic)]
pub enum ClientError {
    /// Nothing answered at the address: refused, timed out, or the connection broke.
    #[error("the gateway's admin plane at {admin} is unreachable ({path}): {reason}")]
    #[diagnostic(
        code(policy::gateway::unreachable),
        help("is policy-gateway running? pass its admin address with --admin http://HOST:PORT")
    )]
    Unreachable {
        /// Where the call went.
        admin: SocketAddr,
        /// The admin path called.
        path: &'static str,
        /// What the OS or the HTTP layer said.
        reason: String,
    },
    /// 401: the token is missing or wrong (or the gateway lacks its own variable).
    #[error("{admin} refused the admin token on {path} (401 unauthorized): {message}")]
    #[diagnostic(
        code(policy::gateway::unauthorized),
        help("pass the name of the variable holding the admin token with --token-env VAR (default: the config's gateway.admin.token_env)")
    )]
    Unauthorized {
        /// Where the call went.
        admin: SocketAddr,
        /// The admin path called.
        path: &'static str,
        /// What the gateway said.
        message: String,
    },
    /// An answer that is not the contract's shape for this path (another server on the port,
    /// or an unexpected status code).
    #[error("{admin} did not answer {path} as policy-gateway does (HTTP {status}{detail}): {body}")]
    #[diagnostic(code(policy::gateway::protocol))]
    NotPolicyGateway {
        /// Where the call went.
        admin: SocketAddr,
        /// The admin path called.
        path: &'static str,
        /// The HTTP status code it answered with.
        status: u16,
        /// Why the body was not accepted (`, expected …`), possibly empty.
        detail: String,
        /// The start of the body, for people.
        body: String,
    },
}

/// Longest part of an unexpected body quoted in an error.
const QUOTE_BODY: usize = 300;

impl AdminClient {
    /// A client of `admin` with `token`, and the [`DEFAULT_TIMEOUT`].
    pub fn new(admin: SocketAddr, token: Option<String>) -> AdminClient {
        AdminClient {
            admin,
            token,
            timeout: DEFAULT_TIMEOUT,
        }
    }

    /// `GET /admin/status`.
    pub async fn status(&self) -> Result<Status, ClientError> {
        self.get(admin::STATUS).await
    }

    /// `GET /admin/history`.
    pub async fn history(&self) -> Result<History, ClientError> {
        self.get(admin::HISTORY).await
    }

    /// `GET /admin/config`: the config in effect, as the gateway runs it.
    pub async fn config(&self) -> Result<Config, ClientError> {
        self.get(admin::CONFIG).await
    }

    /// `POST /admin/reload` with `body` (empty: the gateway re-reads its file): the status code
    /// (200, 422) and the gateway's answer.
    pub async fn reload(&self, body: &str) -> Result<(u16, Answer), ClientError> {
        self.call("POST", admin::RELOAD, Bytes::from(body.to_string())).await
    }

    /// `POST /admin/revert`: the status code (200, 409) and the gateway's answer.
    pub async fn revert(&self) -> Result<(u16, Answer), ClientError> {
        self.call("POST", admin::REVERT, Bytes::new()).await
    }

    /// `POST /admin/restart` with `body` (empty: the new process reads the file): the status
    /// code (200, 409, 422, 500) and the gateway's answer.
    pub async fn restart(&self, body: &str) -> Result<(u16, Answer), ClientError> {
        self.call("POST", admin::RESTART, Bytes::from(body.to_string())).await
    }

    /// `/admin/shadow`: `POST` with the candidate's YAML, `GET` or `DELETE` with no body; the
    /// status code (200, 404 without a shadow, 422 for a refused candidate) and the answer.
    pub async fn shadow(&self, method: &'static str, body: &str) -> Result<(u16, serde_json::Value), ClientError> {
        self.call(method, admin::SHADOW, Bytes::from(body.to_string())).await
    }

    /// `GET /metrics`: the Prometheus text.
    pub async fn metrics(&self) -> Result<String, ClientError> {
        let (status, bytes) = self.exchange("GET", admin::METRICS, Bytes::new()).await?;
        if status != 200 {
            return Err(self.foreign(admin::METRICS, status, String::new(), &bytes));
        }
        Ok(String::from_utf8_lossy(&bytes).into_owned())
    }

    /// `GET path` on the gateway's data plane at `data` (no token: the data plane has none):
    /// the status code and the body as a `T` (`/health` answers JSON whatever its status).
    pub async fn data_get<T: DeserializeOwned>(
        &self,
        data: SocketAddr,
        path: &'static str,
    ) -> Result<(u16, T), ClientError> {
        let plane = AdminClient {
            admin: data,
            token: None,
            timeout: self.timeout,
        };
        let (status, bytes) = plane.exchange("GET", path, Bytes::new()).await?;
        Ok((status, plane.parse(path, status, &bytes)?))
    }

    /// A `GET` whose only good answer is 200 with a `T`.
    async fn get<T: DeserializeOwned>(&self, path: &'static str) -> Result<T, ClientError> {
        let (status, bytes) = self.exchange("GET", path, Bytes::new()).await?;
        if status != 200 {
            return Err(self.foreign(path, status, String::new(), &bytes));
        }
        self.parse(path, status, &bytes)
    }

    /// One call whose body, whatever the status, is a `T`.
    async fn call<T: DeserializeOwned>(
        &self,
        method: &'static str,
        path: &'static str,
        body: Bytes,
    ) -> Result<(u16, T), ClientError> {
        let (status, bytes) = self.exchange(method, path, body).await?;
        Ok((status, self.parse(path, status, &bytes)?))
    }

    fn parse<T: DeserializeOwned>(&self, path: &'static str, status: u16, bytes: &[u8]) -> Result<T, ClientError> {
        serde_json::from_slice(bytes).map_err(|e| self.foreign(path, status, format!(", {e}"), bytes))
    }

    fn foreign(&self, path: &'static str, status: u16, detail: String, bytes: &[u8]) -> ClientError {
        let text = String::from_utf8_lossy(bytes);
        let body = match text.char_indices().nth(QUOTE_BODY) {
            Some((i, _)) => format!("{}…", &text[..i]),
            None => text.to_string(),
        };
        ClientError::NotPolicyGateway {
            admin: self.admin,
            path,
            status,
            detail,
            body,
        }
    }

    /// Send one request on a fresh connection, bounded by `timeout`: the status and the body.
    /// A 401 is [`ClientError::Unauthorized`] whatever the path.
    async fn exchange(
        &self,
        method: &'static str,
        path: &'static str,
        body: Bytes,
    ) -> Result<(u16, Bytes), ClientError> {
        let unreachable = |reason: String| ClientError::Unreachable {
            admin: self.admin,
            path,
            reason,
        };
        let work = async {
            let stream = tokio::time::timeout(CONNECT_TIMEOUT, tokio::net::TcpStream::connect(self.admin))
                .await
                .map_err(|_| format!("connect timed out after {CONNECT_TIMEOUT:?}"))?
                .map_err(|e| format!("connect: {e}"))?;
            let _ = stream.set_nodelay(true);
            let (mut sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
                .await
                .map_err(|e| format!("handshake: {}", error_chain(&e)))?;
            tokio::spawn(async move {
                let _ = conn.await;
            });
            let mut req = hyper::Request::builder()
                .method(method)
                .uri(path)
                .header(hyper::header::HOST, self.admin.to_string());
            if let Some(t) = &self.token {
                req = req.header(hyper::header::AUTHORIZATION, format!("Bearer {t}"));
            }
            let req = req
                .body(Full::new(body))
                .map_err(|e| format!("the request cannot be built (is the token printable?): {e}"))?;
            let resp = sender.send_request(req).await.map_err(|e| error_chain(&e))?;
            let status = resp.status().as_u16();
            let bytes = resp
                .into_body()
                .collect()
                .await
                .map_err(|e| format!("the answer broke off: {}", error_chain(&e)))?
                .to_bytes();
            Ok::<_, String>((status, bytes))
        };
        let (status, bytes) = tokio::time::timeout(self.timeout, work)
            .await
            .map_err(|_| unreachable(format!("no answer within {:?}", self.timeout)))?
            .map_err(unreachable)?;
        if status == 401 {
            let message = serde_json::from_slice::<serde_json::Value>(&bytes)
                .ok()
                .and_then(|v| v.pointer("/error/message").and_then(|m| m.as_str()).map(str::to_string))
                .unwrap_or_else(|| String::from_utf8_lossy(&bytes).trim().to_string());
            return Err(ClientError::Unauthorized {
                admin: self.admin,
                path,
                message,
            });
        }
        Ok((status, bytes))
    }
}
