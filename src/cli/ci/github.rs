//! The few GitHub REST calls `policy ci --comment` makes: list a pull request's comments,
//! create one, update one (`issues/list-comments`, `issues/create-comment`,
//! `issues/update-comment` of GitHub's REST description), at `$GITHUB_API_URL` with
//! `$GITHUB_TOKEN`. Owns the HTTP exchange (TLS with the webpki roots, or plain HTTP for a
//! stand-in), the headers GitHub asks for, pagination and the errors; what to post is
//! `comment`'s.

use http_body_util::{BodyExt, Full};
use hyper::body::Bytes;
use hyper_util::client::legacy::{connect::HttpConnector, Client};
use hyper_util::rt::TokioExecutor;
use policy_contract::error_chain;
use serde_json::{json, Value};
use std::time::Duration;

/// One call may take this long (connect, send, read the answer).
const TIMEOUT: Duration = Duration::from_secs(30);

/// Comments read per page (GitHub's maximum), and pages read at most.
const PER_PAGE: usize = 100;
const MAX_PAGES: usize = 30;

/// Why a call gave no usable answer.
#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    /// No answer: connect, TLS or timeout.
    #[error("{method} {url}: {reason}")]
    Unreachable {
        /// The method.
        method: &'static str,
        /// The URL.
        url: String,
        /// What failed.
        reason: String,
    },
    /// An answer other than the one the operation documents for success.
    #[error("{method} {url}: HTTP {status}{}", if .message.is_empty() { String::new() } else { format!(": {}", .message) })]
    Status {
        /// The method.
        method: &'static str,
        /// The URL.
        url: String,
        /// The status.
        status: u16,
        /// GitHub's `message`, when it sent one.
        message: String,
    },
    /// A success whose body is not what the operation documents.
    #[error("{method} {url}: the answer is not what GitHub's REST API documents: {reason}")]
    Unexpected {
        /// The method.
        method: &'static str,
        /// The URL.
        url: String,
        /// What was wrong with it.
        reason: String,
    },
}

/// A client of one GitHub API (github.com's, an Enterprise Server's, or a stand-in).
pub struct Api {
    base: String,
    token: String,
    client: Client<hyper_rustls::HttpsConnector<HttpConnector>, Full<Bytes>>,
    runtime: tokio::runtime::Runtime,
}

impl Api {
    /// A client of the API at `base` (`$GITHUB_API_URL`, e.g. `https://api.github.com`).
    pub fn new(base: &str, token: &str) -> Result<Api, String> {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .map_err(|e| format!("cannot start the HTTP runtime: {e}"))?;
        let mut http = HttpConnector::new();
        http.enforce_http(false);
        http.set_connect_timeout(Some(Duration::from_secs(10)));
        let https = hyper_rustls::HttpsConnectorBuilder::new()
            .with_webpki_roots()
            .https_or_http()
            .enable_http1()
            .wrap_connector(http);
        Ok(Api {
            base: base.trim_end_matches('/').to_string(),
            token: token.to_string(),
            client: Client::builder(TokioExecutor::new()).build(https),
            runtime,
        })
    }

    /// The id of the first comment on pull request `number` whose body contains `marker`.
    pub fn find_comment(&self, repo: &str, number: u64, marker: &str) -> Result<Option<u64>, ApiError> {
        for page in 1..=MAX_PAGES {
            let path = format!("/repos/{repo}/issues/{number}/comments?per_page={PER_PAGE}&page={page}");
            let (url, list) = self.call("GET", &path, None, 200)?;
            let Some(list) = list.as_array() else {
                return Err(unexpected("GET", url, "not a list of comments"));
            };
            for c in list {
                if c["body"].as_str().is_some_and(|b| b.contains(marker)) {
                    return c["id"]
                        .as_u64()
                        .map(Some)
                        .ok_or_else(|| unexpected("GET", url.clone(), "a comment without an id"));
                }
            }
            if list.len() < PER_PAGE {
                break;
            }
        }
        Ok(None)
    }

    /// Create a comment on pull request `number`; its id.
    pub fn create_comment(&self, repo: &str, number: u64, body: &str) -> Result<u64, ApiError> {
        let path = format!("/repos/{repo}/issues/{number}/comments");
        let (url, made) = self.call("POST", &path, Some(json!({ "body": body })), 201)?;
        made["id"]
            .as_u64()
            .ok_or_else(|| unexpected("POST", url, "the new comment has no id"))
    }

    /// Replace the body of comment `id`.
    pub fn update_comment(&self, repo: &str, id: u64, body: &str) -> Result<(), ApiError> {
        let path = format!("/repos/{repo}/issues/comments/{id}");
        self.call("PATCH", &path, Some(json!({ "body": body })), 200)
            .map(|_| ())
    }

    /// One call: the URL called and the JSON answer, when the status is `ok`.
    fn call(
        &self,
        method: &'static str,
        path: &str,
        body: Option<Value>,
        ok: u16,
    ) -> Result<(String, Value), ApiError> {
        let url = format!("{}{path}", self.base);
        let unreachable = |reason: String| ApiError::Unreachable {
            method,
            url: url.clone(),
            reason,
        };
        let mut req = hyper::Request::builder()
            .method(method)
            .uri(&url)
            .header("accept", "application/vnd.github+json")
            .header("authorization", format!("Bearer {}", self.token))
            .header("x-github-api-version", "2022-11-28")
            .header("user-agent", concat!("policy-ci/", env!("CARGO_PKG_VERSION")));
        let payload = match body {
            Some(b) => {
                req = req.header("content-type", "application/json");
                Bytes::from(b.to_string())
            }
            None => Bytes::new(),
        };
        let req = req.body(Full::new(payload)).map_err(|e| unreachable(e.to_string()))?;
        let (status, bytes) = self.runtime.block_on(async {
            tokio::time::timeout(TIMEOUT, async {
                let resp = self
                    .client
                    .request(req)
                    .await
                    .map_err(|e| unreachable(error_chain(&e)))?;
                let status = resp.status().as_u16();
                let bytes = resp
                    .into_body()
                    .collect()
                    .await
                    .map_err(|e| unreachable(e.to_string()))?
                    .to_bytes();
                Ok::<_, ApiError>((status, bytes))
            })
            .await
            .map_err(|_| unreachable(format!("no answer within {} s", TIMEOUT.as_secs())))?
        })?;
        let value: Value = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
        // The documented status (`ok`), or another success: an API that answers a create
        // with 200 has still created.
        if status != ok && !(200..300).contains(&status) {
            return Err(ApiError::Status {
                method,
                url,
                status,
                message: value["message"].as_str().unwrap_or_default().to_string(),
            });
        }
        if value.is_null() {
            return Err(unexpected(method, url, "the body is not JSON"));
        }
        Ok((url, value))
    }
}

fn unexpected(method: &'static str, url: String, reason: &str) -> ApiError {
    ApiError::Unexpected {
        method,
        url,
        reason: reason.to_string(),
    }
}
