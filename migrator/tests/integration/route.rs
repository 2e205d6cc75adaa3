//! `migrator route` against real parts: HAProxy from Debian, the generated catalog
//! service on Chinook in PostgreSQL, and a stand-in monolith serving the same paths.

use crate::route_harness::{
    Client, Database, Monolith, Proxy, Side, catalog_service, share, spray, wait_for,
};
use std::collections::HashSet;

/// Each strategy sends requests where its rule says.
#[test]
fn strategies_send_requests_where_their_rule_says() {
    let Some(db) = Database::create("seaway_test_r_strategies") else {
        return;
    };
    let Some((_svc, svc_port)) = catalog_service(&db) else {
        return;
    };
    let monolith = Monolith::start();

    // percentage: 10,000 requests at 25%.
    let Some(mut p) = Proxy::project(monolith.port, svc_port, "      strategy: percentage\n")
    else {
        return;
    };
    p.start();
    assert_eq!(
        spray(p.port, "/genre/1", 200, 2),
        vec![Side::Monolith; 200],
        "0% at start"
    );
    p.route(&["set", "catalog", "25"]);
    let sides = spray(p.port, "/genre/1", 10_000, 4);
    let s = share(&sides);
    assert!(
        (0.23..=0.27).contains(&s),
        "25% asked, {:.2}% at the service",
        s * 100.0
    );
    // Paths the service does not own stay with the monolith.
    assert_eq!(
        spray(p.port, "/customer/1", 100, 1),
        vec![Side::Monolith; 100]
    );
    // A restarted HAProxy comes back with the weights from the state file.
    p.stop();
    p.start();
    let s = share(&spray(p.port, "/genre/1", 400, 2));
    assert!((0.2..=0.3).contains(&s), "after restart {:.2}%", s * 100.0);
    assert!(p.route(&["status"]).contains("25%"));
    p.stop();

    // sticky percentage: each client keeps its side; rollback moves sticky clients too.
    let Some(mut p) = Proxy::project(
        monolith.port,
        svc_port,
        "      strategy: percentage\n      sticky: true\n",
    ) else {
        return;
    };
    p.start();
    p.route(&["set", "catalog", "50"]);
    let mut clients: Vec<(Client, Side)> = (0..40)
        .map(|_| {
            let mut c = Client::new(p.port);
            let first = c.get("/genre/1", &[]).expect("get").side();
            (c, first)
        })
        .collect();
    assert!(clients.iter().any(|(_, s)| *s == Side::Service));
    assert!(clients.iter().any(|(_, s)| *s == Side::Monolith));
    for (c, side) in &mut clients {
        for _ in 0..10 {
            assert_eq!(c.get("/genre/1", &[]).expect("get").side(), *side, "sticky");
        }
    }
    // Weight 0 only drains: pinned clients stay.
    p.route(&["set", "catalog", "0"]);
    for (c, side) in &mut clients {
        assert_eq!(
            c.get("/genre/1", &[]).expect("get").side(),
            *side,
            "drain keeps"
        );
    }
    p.route(&["rollback", "catalog"]);
    for (c, _) in &mut clients {
        assert_eq!(
            c.get("/genre/1", &[]).expect("get").side(),
            Side::Monolith,
            "rollback moves"
        );
    }
    p.stop();

    // canary by cookie: a client always sees one side; stepping up only moves clients
    // to the service.
    let Some(mut p) = Proxy::project(monolith.port, svc_port, "      strategy: canary\n") else {
        return;
    };
    p.start();
    p.route(&["set", "catalog", "30"]);
    let mut clients: Vec<Client> = (0..200).map(|_| Client::new(p.port)).collect();
    let mut first = Vec::new();
    for c in &mut clients {
        c.get("/genre/1", &[]).expect("get");
        assert!(
            c.cookies.contains_key("seaway_client"),
            "no client cookie set"
        );
        let side = c.get("/genre/1", &[]).expect("get").side();
        for _ in 0..4 {
            assert_eq!(
                c.get("/genre/2", &[]).expect("get").side(),
                side,
                "canary client moved"
            );
        }
        first.push(side);
    }
    let s = first.iter().filter(|s| **s == Side::Service).count();
    assert!(
        (20..=110).contains(&s),
        "30% of 200 clients asked, {s} at the service"
    );
    p.route(&["set", "catalog", "60"]);
    let mut after = 0;
    for (c, before) in clients.iter_mut().zip(&first) {
        let side = c.get("/genre/1", &[]).expect("get").side();
        if *before == Side::Service {
            assert_eq!(
                side,
                Side::Service,
                "a canary client went back to the monolith"
            );
        }
        after += usize::from(side == Side::Service);
    }
    assert!(after > s, "stepping up moved no client ({s} -> {after})");
    p.stop();

    // feature flag: flagged requests reach the service whatever the weights.
    let Some(mut p) = Proxy::project(
        monolith.port,
        svc_port,
        "      strategy: feature_flag\n      flag: { header: X-Beta, value: \"on\" }\n",
    ) else {
        return;
    };
    p.start();
    let mut c = Client::new(p.port);
    for _ in 0..50 {
        assert_eq!(
            c.get("/genre/1", &[("X-Beta", "on")]).expect("get").side(),
            Side::Service
        );
        assert_eq!(
            c.get("/genre/1", &[("X-Beta", "off")]).expect("get").side(),
            Side::Monolith
        );
        assert_eq!(c.get("/genre/1", &[]).expect("get").side(), Side::Monolith);
    }
    p.stop();

    // blue-green: switched back and forth under a steady stream, no request fails.
    let Some(mut p) = Proxy::project(monolith.port, svc_port, "      strategy: blue_green\n")
    else {
        return;
    };
    p.start();
    assert!(
        !p.migrator(&["set", "catalog", "50"]).0,
        "blue_green refuses 50%"
    );
    let port = p.port;
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let flag = stop.clone();
    let stream = std::thread::spawn(move || {
        let mut c = Client::new(port);
        let mut seen = Vec::new();
        while !flag.load(std::sync::atomic::Ordering::Relaxed) {
            let r = c
                .get("/genre/1", &[])
                .expect("a request of the stream failed");
            assert_eq!(r.status, 200, "{}", r.body);
            seen.push(r.side());
        }
        seen
    });
    let count = |p: &Proxy| -> u64 {
        p.admin("show stat")
            .lines()
            .find(|l| l.starts_with("catalog,BACKEND,"))
            .and_then(|l| l.split(',').nth(7).and_then(|v| v.parse().ok()))
            .unwrap_or(0)
    };
    for pct in ["100", "0", "100", "0"] {
        let before = count(&p);
        p.route(&["set", "catalog", pct]);
        wait_for(20, "requests after the switch", || count(&p) > before + 50);
    }
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    let seen = stream.join().expect("the stream saw a failed request");
    let switches = seen.windows(2).filter(|w| w[0] != w[1]).count();
    assert!(
        switches >= 4,
        "{switches} switches seen in {} requests",
        seen.len()
    );
    let sides: HashSet<Side> = seen.iter().copied().collect();
    assert_eq!(sides.len(), 2);
}

/// Sum of the service's own count of answered requests (its `/metrics`).
fn service_requests(port: u16) -> u64 {
    let r = Client::new(port).get("/metrics", &[]).expect("metrics");
    r.body
        .lines()
        .filter(|l| l.starts_with("http_requests_total{") && !l.contains("route=\"/metrics\""))
        .filter(|l| !l.contains("route=\"/health\""))
        .filter_map(|l| l.rsplit(' ').next()?.parse::<u64>().ok())
        .sum()
}

/// The service fails during a shift: it is rolled back within the step, after which no
/// request (sticky ones included) reaches it, and requests in flight then complete.
#[test]
fn shift_rolls_back_within_a_step_when_the_service_fails() {
    use sqlx::Connection;
    let Some(db) = Database::create("seaway_test_r_shift") else {
        return;
    };
    let Some((_svc, svc_port)) = catalog_service(&db) else {
        return;
    };
    let monolith = Monolith::start();
    let Some(mut p) = Proxy::project(
        monolith.port,
        svc_port,
        "      strategy: percentage\n      sticky: true\n",
    ) else {
        return;
    };
    p.start();
    p.route(&["set", "catalog", "20"]);
    // Three clients pinned to the service by the sticky cookie.
    let mut pinned = Vec::new();
    for _ in 0..500 {
        let mut c = Client::new(p.port);
        if c.get("/genre/1", &[]).expect("get").side() == Side::Service {
            pinned.push(c);
        }
        if pinned.len() == 3 {
            break;
        }
    }
    assert_eq!(pinned.len(), 3, "no client got the service at 20%");

    // Hold their next requests in flight at the service with a table lock.
    let rt = tokio::runtime::Runtime::new().expect("runtime");
    let mut locker = rt
        .block_on(sqlx::PgConnection::connect(&db.url))
        .expect("lock connection");
    rt.block_on(
        sqlx::raw_sql("BEGIN; LOCK TABLE artist IN ACCESS EXCLUSIVE MODE").execute(&mut locker),
    )
    .expect("lock");
    let in_flight: Vec<_> = pinned
        .drain(..)
        .map(|mut c| {
            std::thread::spawn(move || {
                let r = c.get("/artist/1", &[]).expect("in-flight request");
                (r, c)
            })
        })
        .collect();
    let mut watcher = rt
        .block_on(sqlx::PgConnection::connect(&db.url))
        .expect("watch connection");
    wait_for(20, "three requests waiting on the lock", || {
        let n: i64 = rt
            .block_on(
                sqlx::query_scalar(
                    "SELECT count(*) FROM pg_stat_activity WHERE datname = 'seaway_test_r_shift' AND wait_event_type = 'Lock'",
                )
                .fetch_one(&mut watcher),
            )
            .expect("pg_stat_activity");
        n >= 3
    });

    // The service now fails every /genre request.
    db.execute("ALTER TABLE genre RENAME TO genre_gone");
    let port = p.port;
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let flag = stop.clone();
    let traffic = std::thread::spawn(move || {
        let mut n = 0u64;
        while !flag.load(std::sync::atomic::Ordering::Relaxed) && n < 200_000 {
            let _ = Client::new(port).get("/genre/1", &[]);
            n += 1;
        }
    });
    let started = std::time::Instant::now();
    let (ok, out, err) = p.migrator(&[
        "shift",
        "catalog",
        "--to",
        "100",
        "--step",
        "20",
        "--every",
        "3s",
        "--max-error-rate",
        "5",
    ]);
    let took = started.elapsed();
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    traffic.join().expect("traffic");
    assert!(!ok, "the shift should fail:\n{out}\n{err}");
    assert!(out.contains("catalog: 40% to the service"), "{out}");
    assert!(!out.contains("60%"), "went past the failing step:\n{out}");
    assert!(
        err.contains("rolled back to 0% at 40%") && err.contains("error rate"),
        "{err}"
    );
    assert!(
        took < std::time::Duration::from_secs(3 + 3),
        "rollback took {took:?}"
    );
    assert!(p.route(&["status"]).contains("MAINT"));

    // Nothing reaches the service any more, sticky clients included.
    let before = service_requests(svc_port);
    let fresh = spray(p.port, "/genre/2", 200, 2);
    assert_eq!(fresh, vec![Side::Monolith; 200]);

    // The held requests complete at the service once the lock goes.
    rt.block_on(sqlx::raw_sql("ROLLBACK").execute(&mut locker))
        .expect("unlock");
    for t in in_flight {
        let (r, mut c) = t.join().expect("in-flight thread");
        assert_eq!(r.status, 200, "in-flight request: {}", r.body);
        assert_eq!(r.side(), Side::Service);
        // The same sticky client now goes to the monolith.
        for _ in 0..5 {
            assert_eq!(c.get("/genre/1", &[]).expect("get").side(), Side::Monolith);
        }
    }
    // Only the three held requests were answered by the service since the rollback.
    assert_eq!(
        service_requests(svc_port),
        before + 3,
        "a request reached the service after the rollback"
    );
    rt.block_on(locker.close()).ok();
    rt.block_on(watcher.close()).ok();
}
