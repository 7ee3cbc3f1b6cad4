//! The `rate-limit` stage: one token bucket per key (client address, a header, or the target),
//! refilled at `requests_per_minute` up to `burst`; an empty bucket gives `rate_limited` with
//! the wait until the next token.
//!
//! Owns the buckets and their carry-over from the engine a config replaces (same rate, burst
//! and key: keep them; anything changed: start full). Time comes from the caller; this stage
//! reads no clock.

use super::decision::{Decision, Verdict};
use super::request::{Millis, Request};
use policy_config::{PolicyKind, RateLimit};
use std::collections::HashMap;
use std::sync::Mutex;

/// Largest number of distinct rate-limit keys kept; past it, keys whose bucket is full again
/// are dropped (they would behave the same when they come back).
const MAX_BUCKETS: usize = 100_000;

#[derive(Debug)]
pub(super) struct RateLimiter {
    /// Tokens added per millisecond.
    rate: f64,
    /// Most tokens a bucket holds, and what a new key starts with.
    burst: f64,
    key: RateKey,
    /// Per key: tokens left and when they were counted.
    buckets: Mutex<HashMap<String, (f64, Millis)>>,
}

/// What a bucket is kept per (`rate-limit.key`).
#[derive(Debug, PartialEq)]
enum RateKey {
    ClientIp,
    /// A request header, name lowercased.
    Header(String),
    Target,
}

impl RateLimiter {
    /// Compile the `rate-limit` block (its defaults when absent). When `previous` (the limiter
    /// of the engine this one replaces) is configured alike (same rate, burst and key), its
    /// buckets carry over: a hot reload of an unrelated field must not hand every client a
    /// fresh burst. Limits that changed start from full buckets.
    pub(super) fn compile(block: Option<&RateLimit>, previous: Option<&RateLimiter>) -> RateLimiter {
        let rl = block.cloned().unwrap_or_default();
        let key = match rl.key.as_str() {
            "client_ip" => RateKey::ClientIp,
            "target" => RateKey::Target,
            other => RateKey::Header(other.trim_start_matches("header:").to_ascii_lowercase()),
        };
        let mut limiter = RateLimiter {
            rate: f64::from(rl.requests_per_minute) / 60_000.0,
            burst: f64::from(rl.burst),
            key,
            buckets: Mutex::new(HashMap::new()),
        };
        if let Some(old) = previous.filter(|old| limiter.alike(old)) {
            let copied = old.buckets.lock().unwrap_or_else(|p| p.into_inner()).clone();
            *limiter.buckets.get_mut().unwrap_or_else(|p| p.into_inner()) = copied;
        }
        limiter
    }

    /// The header buckets are kept per, when `key` is `header:<name>`.
    pub(super) fn header(&self) -> Option<&str> {
        match &self.key {
            RateKey::Header(h) => Some(h),
            _ => None,
        }
    }

    /// Whether `other` limits exactly as this one does, so its buckets mean the same here.
    fn alike(&self, other: &RateLimiter) -> bool {
        self.rate == other.rate && self.burst == other.burst && self.key == other.key
    }

    /// Take a token from `req`'s bucket at time `now`; `true` (stop the chain) with
    /// `rate_limited` when there is none.
    pub(super) fn run(&self, req: &Request, target: &str, now: Millis, d: &mut Decision) -> bool {
        let key = match &self.key {
            RateKey::ClientIp => req.client_ip.clone().unwrap_or_default(),
            RateKey::Header(h) => req.headers.get(h).cloned().unwrap_or_default(),
            RateKey::Target => target.to_string(),
        };
        let mut buckets = self.buckets.lock().unwrap_or_else(|p| p.into_inner());
        if buckets.len() >= MAX_BUCKETS && !buckets.contains_key(&key) {
            let (rate, burst) = (self.rate, self.burst);
            buckets.retain(|_, (tokens, last)| *tokens + now.saturating_sub(*last).max(0) as f64 * rate < burst);
        }
        let (tokens, last) = buckets.entry(key).or_insert((self.burst, now));
        // Recorded traffic may be slightly out of order: time never runs backwards here.
        let elapsed = now.saturating_sub(*last).max(0) as f64;
        *tokens = (*tokens + elapsed * self.rate).min(self.burst);
        *last = (*last).max(now);
        if *tokens >= 1.0 {
            *tokens -= 1.0;
            return false;
        }
        let wait = ((1.0 - *tokens) / self.rate).ceil() as u64;
        d.verdict = Verdict::RateLimited;
        d.policy = Some(PolicyKind::RateLimit);
        d.rule = Some("requests_per_minute".into());
        d.message = Some("Rate limit exceeded".into());
        d.retry_after_ms = Some(wait);
        true
    }
}

#[cfg(test)]
mod tests {
    use crate::tests::{chat, config, engine};
    use crate::{Engine, Request, Verdict};

    /// A one-target config whose chain is `chain` with the given rate-limit settings.
    fn limited(version: &str, chain: &str, rpm: u32, burst: u32, key: &str) -> String {
        format!("pack: {{ name: p, version: {version} }}\nproviders: {{ targets: [ {{ id: m, provider: mock }} ] }}\npolicies: {{ chain: [{chain}] }}\npolicy: {{ rate-limit: {{ requests_per_minute: {rpm}, burst: {burst}, key: '{key}' }} }}\n")
    }

    fn from(ip: &str) -> Request {
        Request {
            client_ip: Some(ip.into()),
            ..Request::default()
        }
    }

    #[test]
    fn the_header_read_is_the_rate_limit_key_header_only() {
        let read = |chain: &str, key: &str| {
            engine(&limited("1.0.0", chain, 60, 2, key))
                .header_read()
                .map(String::from)
        };
        assert_eq!(read("rate-limit", "header:X-Tenant"), Some("x-tenant".into()));
        assert_eq!(read("rate-limit", "client_ip"), None);
        assert_eq!(
            read("pii-detector", "header:x-tenant"),
            None,
            "no rate-limit in the chain"
        );
    }

    #[test]
    fn rate_limit_uses_the_given_clock() {
        let e = engine("pack: {name: a, version: 1.0.0}\nproviders: {targets: [{id: m, provider: mock}]}\npolicies: {chain: [rate-limit]}\npolicy: {rate-limit: {requests_per_minute: 60, burst: 2}}\n");
        let r = chat("hi");
        assert_eq!(e.evaluate(&r, 0).unwrap().verdict, Verdict::Allow);
        assert_eq!(e.evaluate(&r, 0).unwrap().verdict, Verdict::Allow);
        let d = e.evaluate(&r, 0).unwrap();
        assert_eq!((d.verdict, d.retry_after_ms), (Verdict::RateLimited, Some(1000)));
        assert_eq!(e.evaluate(&r, 1000).unwrap().verdict, Verdict::Allow);
    }

    #[test]
    fn rate_limit_state_carries_over_when_the_limits_are_alike() {
        let load = |v: &str, rpm: u32, previous: Option<&Engine>| {
            Engine::compile_after(&config(&limited(v, "rate-limit", rpm, 1, "client_ip")), previous).unwrap()
        };
        let req = from("10.0.0.1");
        let old = load("1.0.0", 1, None);
        assert_eq!(old.evaluate(&req, 0).unwrap().verdict, Verdict::Allow);
        let same = load("1.0.1", 1, Some(&old));
        assert_eq!(
            same.evaluate(&req, 1).unwrap().verdict,
            Verdict::RateLimited,
            "the spent burst carried over"
        );
        let changed = load("1.0.2", 2, Some(&old));
        assert_eq!(
            changed.evaluate(&req, 1).unwrap().verdict,
            Verdict::Allow,
            "new limits start full"
        );
    }

    #[test]
    fn compile_after_starts_full_unless_rate_burst_and_key_all_match() {
        let spent = |text: &str| {
            let e = Engine::compile(&config(text)).unwrap();
            assert_eq!(e.evaluate(&from("10.0.0.1"), 0).unwrap().verdict, Verdict::Allow);
            e
        };
        let base = limited("1.0.0", "rate-limit", 1, 1, "client_ip");
        let verdict_after = |old: &Engine, text: &str| {
            Engine::compile_after(&config(text), Some(old))
                .unwrap()
                .evaluate(&from("10.0.0.1"), 1)
                .unwrap()
                .verdict
        };
        let old = spent(&base);
        assert_eq!(
            verdict_after(
                &old,
                &limited("2.0.0", "prompt-injection, rate-limit", 1, 1, "client_ip")
            ),
            Verdict::RateLimited,
            "another policy and version changed, not the limits"
        );
        assert_eq!(
            verdict_after(&old, &limited("2.0.0", "rate-limit", 1, 2, "client_ip")),
            Verdict::Allow,
            "burst changed"
        );
        assert_eq!(
            verdict_after(&old, &limited("2.0.0", "rate-limit", 1, 1, "header:x-api-key")),
            Verdict::Allow,
            "key changed"
        );
        let unlimited = Engine::compile(&config(&limited("2.0.0", "prompt-injection", 1, 1, "client_ip"))).unwrap();
        assert_eq!(
            verdict_after(&unlimited, &base),
            Verdict::Allow,
            "the previous engine had no rate-limit stage"
        );
        assert_eq!(
            Engine::compile_after(&config(&base), None)
                .unwrap()
                .evaluate(&from("10.0.0.1"), 1)
                .unwrap()
                .verdict,
            Verdict::Allow,
            "no previous engine: like compile"
        );
        assert_eq!(
            old.evaluate(&from("10.0.0.1"), 1).unwrap().verdict,
            Verdict::RateLimited,
            "the previous engine keeps its own buckets"
        );
    }
}
