//! Reloads under load: 32 keep-alive connections for 10 s through 20 reloads (SIGHUP and admin
//! API) see no socket error and no non-2xx; RSS after 1,000 reloads stays within 10% of RSS
//! after the first 10.

use crate::configs::{mock_config, FULL_CHAIN};
use crate::support::{self, eventually, Gateway, Opts};
use policy_replay::process::Signal;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

#[derive(Default)]
struct Tally {
    ok: AtomicU64,
    non_2xx: AtomicU64,
    socket_errors: AtomicU64,
}

/// `conns` keep-alive connections posting allowed requests until `stop`.
fn drive(
    addr: std::net::SocketAddr,
    conns: usize,
    stop: Arc<AtomicBool>,
    tally: Arc<Tally>,
) -> Vec<std::thread::JoinHandle<()>> {
    (0..conns)
        .map(|_| {
            let (stop, tally) = (Arc::clone(&stop), Arc::clone(&tally));
            std::thread::spawn(move || {
                let body = br#"{"model":"gpt-4o-mini","messages":[{"role":"user","content":"What is the capital of France?"}]}"#;
                let mut conn = None;
                while !stop.load(Ordering::Relaxed) {
                    if conn.is_none() {
                        conn = support::KeepAlive::connect(addr).ok();
                    }
                    let Some(c) = conn.as_mut() else {
                        tally.socket_errors.fetch_add(1, Ordering::Relaxed);
                        continue;
                    };
                    match c.post("/v1/chat/completions", body) {
                        Ok((200, _)) => tally.ok.fetch_add(1, Ordering::Relaxed),
                        Ok(_) => tally.non_2xx.fetch_add(1, Ordering::Relaxed),
                        Err(_) => {
                            conn = None;
                            tally.socket_errors.fetch_add(1, Ordering::Relaxed)
                        }
                    };
                }
            })
        })
        .collect()
}

/// Four keep-alive connections posting requests until stopped.
struct Load {
    stop: Arc<AtomicBool>,
    workers: Vec<std::thread::JoinHandle<()>>,
}

impl Load {
    fn start(addr: std::net::SocketAddr, tally: Arc<Tally>) -> Load {
        let stop = Arc::new(AtomicBool::new(false));
        let workers = drive(addr, 4, Arc::clone(&stop), tally);
        Load { stop, workers }
    }

    /// Stop, and wait for the requests in flight.
    fn stop(self) {
        self.stop.store(true, Ordering::Relaxed);
        for w in self.workers {
            w.join().unwrap();
        }
    }
}

/// Acceptance: 32 keep-alive connections for 10 s while 20 reloads alternate two configs,
/// half by SIGHUP and half by the admin API.
#[test]
fn no_request_fails_during_20_reloads_under_load() {
    let a = mock_config("1.0.0", 0, "prompt-injection, pii-detector");
    let b = mock_config("2.0.0", 0, "prompt-injection, pii-detector, audit-logger");
    let gw = Gateway::start(&a);
    let stop = Arc::new(AtomicBool::new(false));
    let tally = Arc::new(Tally::default());
    let workers = drive(gw.data, 32, Arc::clone(&stop), Arc::clone(&tally));
    let start = Instant::now();
    let mut last = "1.0.0";
    for i in 0..20 {
        // Pacing: the 20 reloads are spread over the 10 s of load (the acceptance run's shape),
        // each made under load; nothing is waited for here.
        std::thread::sleep(Duration::from_millis(450));
        let (text, version) = if i % 2 == 0 { (&b, "2.0.0") } else { (&a, "1.0.0") };
        if i % 4 < 2 {
            gw.write_config(text);
            gw.signal(Signal::HUP);
            assert!(eventually(Duration::from_secs(5), || gw.health()["config_version"] == version));
        } else {
            let r = gw.admin("POST", "/admin/reload", None, text);
            assert_eq!(r.json()["status"], "applied", "{}", r.body);
        }
        last = version;
    }
    // The load runs for its 10 s whatever the reloads took: the duration is the thing under test.
    std::thread::sleep(Duration::from_secs(10).saturating_sub(start.elapsed()));
    stop.store(true, Ordering::Relaxed);
    for w in workers {
        w.join().unwrap();
    }
    let (ok, non_2xx, errors) = (
        tally.ok.load(Ordering::Relaxed),
        tally.non_2xx.load(Ordering::Relaxed),
        tally.socket_errors.load(Ordering::Relaxed),
    );
    eprintln!(
        "load: {ok} ok, {non_2xx} non-2xx, {errors} socket errors in {:?}",
        start.elapsed()
    );
    assert_eq!((non_2xx, errors), (0, 0));
    assert!(ok > 1000, "the load ran ({ok} requests)");
    assert_eq!(
        gw.health()["config_version"],
        last,
        "the last config written is the one serving"
    );
    let ops = gw.admin("GET", "/admin/history", None, "").json()["operations"]
        .as_array()
        .unwrap()
        .clone();
    assert_eq!(ops.iter().filter(|o| o["outcome"] == "applied").count(), 21);
}

/// Acceptance: RSS after 1,000 reloads under load within 10% of RSS after the first 10.
#[test]
#[ignore = "soak: run by `.ci/test --soak`"]
fn rss_is_flat_over_1000_reloads() {
    let a = mock_config("1.0.0", 0, FULL_CHAIN);
    let b = mock_config("2.0.0", 0, "prompt-injection, pii-detector");
    // The allocator is told to hand freed pages back at once and in 4 KiB pages (by default it
    // keeps them a second, in 2 MiB transparent huge pages that stay whole while any part is
    // used), so RSS follows what the gateway holds rather than what mimalloc kept for later.
    let opts = Opts {
        env: vec![("MIMALLOC_ALLOW_THP", "0"), ("MIMALLOC_PURGE_DELAY", "0")],
        ..Opts::default()
    };
    let gw = Gateway::start_with(&a, opts);
    let tally = Arc::new(Tally::default());
    // Under load RSS moves by ±10% from one reading to the next, and can stay up or down for
    // hundreds of reloads (request buffers come and go): medians of 101 readings under load
    // still failed CI at +13% where, alone on the machine, they read +1%. A leak is memory
    // still held once the requests stop, so both readings are taken with the load paused: the
    // lowest of ten over a second, after the 10th and after the 1,000th reload, every reload
    // made under load. Measured here: 37.8 -> 38.4 MB and 37.3 -> 37.5 MB; with a leak of
    // 8 KB per reload put into `reload` on purpose, 37.8 -> 47.0 MB (+24%, caught).
    let quiet_rss = || {
        // Paused means every connection of the load closed on the gateway's side too.
        support::connections_closed(gw.pid() as u32);
        (0..10)
            .map(|_| {
                // Sampling over a second (RSS reports no event): the lowest reading is kept.
                std::thread::sleep(Duration::from_millis(100));
                gw.rss_kib()
            })
            .min()
            .expect("ten readings")
    };
    let mut load = Some(Load::start(gw.data, Arc::clone(&tally)));
    let mut rss_10 = 0;
    for i in 1..=1000 {
        let r = gw.admin("POST", "/admin/reload", None, if i % 2 == 1 { &b } else { &a });
        assert_eq!(r.status, 200);
        if i == 10 {
            load.take().expect("load running").stop();
            rss_10 = quiet_rss();
            load = Some(Load::start(gw.data, Arc::clone(&tally)));
        }
    }
    load.take().expect("load running").stop();
    let rss_1000 = quiet_rss();
    eprintln!("rss: {rss_10} KiB after 10 reloads, {rss_1000} KiB after 1000 (load paused for each)");
    assert!(
        (rss_1000 as f64) <= rss_10 as f64 * 1.10,
        "{rss_10} KiB -> {rss_1000} KiB"
    );
    assert!(tally.ok.load(Ordering::Relaxed) > 0, "the load ran");
    assert_eq!(
        tally.socket_errors.load(Ordering::Relaxed) + tally.non_2xx.load(Ordering::Relaxed),
        0
    );
}
