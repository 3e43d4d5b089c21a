//! What a hostile-user battery found, one test per defect (named after it): uploads that
//! starved every other upload, stores that disagreed, a database outage that hung requests,
//! error bodies that were empty or spoke Rust, lenient parsing, a rate limit that an IPv6
//! client could rotate around, and an OpenAPI document that did not list what the routes
//! answer.

mod common;

use std::net::SocketAddr;
use std::time::Duration;

use axum::body::Body;
use axum::extract::ConnectInfo;
use axum::http::{Method, Request, StatusCode};
use axum::Router;
use common::*;
use serde_json::{json, Value};
use server::frontend::Frontend;
use server::state::{AppState, Options};

/// A scenario like the one that blocked every upload for 93 s: ~71 KB, 1,024 pages, four
/// threads each mprotect-ing all of them back and forth eleven times, and 32 named schedules
/// of ~85,000 steps each (validation replays every one).
fn starving_scenario() -> String {
    let base = 0x7f00_0000_0000u64;
    let pages: Vec<Value> = (0..1024u64)
        .map(|i| {
            json!({"addr": format!("{:#x}", base + i * 0x1000),
                   "pfn": format!("{:#x}", 0x10_0000 + i), "data": format!("{i:#x}")})
        })
        .collect();
    let threads: Vec<Value> = (0..4)
        .map(|t| {
            let ops: Vec<Value> = (0..11)
                .map(|k| {
                    json!({"op": "mprotect", "addr": format!("{base:#x}"), "len": "0x400000",
                           "prot": if k % 2 == 0 { "PROT_READ" } else { "PROT_READ|PROT_WRITE" }})
                })
                .collect();
            json!({"name": format!("t{t}"), "cpu": t, "ops": ops})
        })
        .collect();
    let schedules: Vec<Value> = (0..32)
        .map(|s| {
            let steps: Vec<String> = (0..4).map(|i| format!("{}*", (s + i) % 4)).collect();
            json!({"name": format!("s{s}"), "steps": steps.join(" ")})
        })
        .collect();
    let doc = json!({
        "format": 1, "title": "big", "kernel": {"version": "v6.4"}, "cpus": 4,
        "vmas": [{"start": format!("{base:#x}"), "end": format!("{:#x}", base + 0x40_0000),
                  "prot": "PROT_READ|PROT_WRITE"}],
        "pages": pages, "threads": threads, "schedules": schedules,
    });
    let text = serde_json::to_string(&doc).unwrap();
    // ~64 KB as compact JSON (the original file, with spaces after `,` and `:`, was 71 KB).
    assert!((60_000..80_000).contains(&text.len()), "{}", text.len());
    text
}

/// A request from `peer` (what the socket would report).
fn from(peer: &str, mut req: Request<Body>) -> Request<Body> {
    req.extensions_mut()
        .insert(ConnectInfo(peer.parse::<SocketAddr>().unwrap()));
    req
}

fn post_json(body: String) -> Request<Body> {
    Request::builder()
        .method(Method::POST)
        .uri("/api/scenarios")
        .header("content-type", "application/json")
        .body(Body::from(body))
        .unwrap()
}

/// The value of a metric line `name value` (no labels).
async fn metric(app: &Router, name: &str) -> Option<f64> {
    let text = get(app, "/metrics").await.text();
    text.lines()
        .find_map(|l| l.strip_prefix(&format!("{name} ")))
        .and_then(|v| v.parse().ok())
}

/// A small valid scenario, distinct per `n`.
fn small(n: usize) -> String {
    let mut v: Value =
        serde_json::from_str(sim_core::library::get("mprotect-basic.json").unwrap()).unwrap();
    v["title"] = json!(format!("small {n}"));
    v.to_string()
}

/// The error body every error has: JSON with `error` and `request_id` (equal to the
/// `X-Request-Id` header), perhaps `path`, nothing else, and no Rust in the message.
fn assert_error_body(r: &Reply, what: &str) -> Value {
    assert!(
        r.content_type().starts_with("application/json"),
        "{what}: {} {:?} {}",
        r.status,
        r.content_type(),
        r.text()
    );
    let j = r.json();
    let obj = j.as_object().unwrap_or_else(|| panic!("{what}: {j}"));
    for k in obj.keys() {
        assert!(
            ["error", "path", "request_id"].contains(&k.as_str()),
            "{what}: {j}"
        );
    }
    let msg = j["error"].as_str().unwrap_or_else(|| panic!("{what}: {j}"));
    assert!(!msg.is_empty(), "{what}");
    for rust in [
        "usize",
        "u32",
        "struct ",
        "enum ",
        "Scenario::",
        "sqlx",
        "pool",
        "bad path",
    ] {
        assert!(!msg.contains(rust), "{what}: names `{rust}`: {msg}");
    }
    let id = j["request_id"]
        .as_str()
        .unwrap_or_else(|| panic!("{what}: {j}"));
    assert_eq!(
        r.headers.get("x-request-id").unwrap().to_str().unwrap(),
        id,
        "{what}"
    );
    assert_eq!(id.len(), 16, "{what}: {id}");
    j
}

// -------------------------------------------------------------------------------------------
// 1. One upload blocked every other user's uploads for ~93 s.

#[tokio::test]
async fn one_upload_cannot_starve_other_uploads() {
    let db = TestDb::sqlite().await;
    let mut options = unlimited();
    options.limits.explorer_concurrency = 1;
    // Another client's upload may wait 2 s for the one explorer slot.
    options.limits.explorer_wait = Duration::from_secs(2);
    let app = db.app_with(Frontend::Missing, options);
    let big = starving_scenario();

    let big_task = {
        let app = app.clone();
        tokio::spawn(async move { send(&app, from("192.0.2.1:1000", post_json(big))).await })
    };
    // The big upload's validation counts as running explorer work.
    let mut seen_running = false;
    for _ in 0..2000 {
        if metric(&app, "mmrace_explorer_running").await == Some(1.0) {
            seen_running = true;
            break;
        }
        if big_task.is_finished() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
    assert!(
        seen_running,
        "the gauge never counted the upload's validation"
    );

    let other = send(&app, from("198.51.100.7:2000", post_json(small(1)))).await;
    assert_eq!(other.status, StatusCode::CREATED, "{}", other.text());

    let big = big_task.await.unwrap();
    assert_eq!(
        big.status,
        StatusCode::UNPROCESSABLE_ENTITY,
        "{}",
        big.text()
    );
    let j = assert_error_body(&big, "big upload");
    assert_eq!(j["path"], "schedules");
    assert!(
        j["error"]
            .as_str()
            .unwrap()
            .contains("20000 replayed steps"),
        "{j}"
    );
    assert_eq!(metric(&app, "mmrace_explorer_running").await, Some(0.0));
    db.close().await;
}

#[tokio::test]
async fn request_timeout_stops_the_uploads_validation() {
    let db = TestDb::sqlite().await;
    let mut options = unlimited();
    options.limits.explorer_concurrency = 1;
    options.limits.explorer_wait = Duration::from_secs(5);
    options.limits.explorer_max_time = Duration::from_secs(6);
    options.limits.request_timeout = Duration::from_secs(1);
    // No replay limit to stop it: only the timeout can.
    options.limits.max_replay_steps = 10_000_000;
    let app = db.app_with(Frontend::Missing, options);

    let big = send(&app, from("192.0.2.1:1000", post_json(starving_scenario()))).await;
    assert_eq!(
        big.status,
        StatusCode::SERVICE_UNAVAILABLE,
        "{}",
        big.text()
    );
    let j = assert_error_body(&big, "timed out upload");
    assert!(
        j["error"].as_str().unwrap().contains("request timeout"),
        "{j}"
    );
    assert!(big.headers.contains_key("retry-after"));
    // The timed-out upload's work stopped: the next upload gets the one slot (it waits at
    // most 5 s for it; the abandoned validation would have held it for minutes).
    let other = send(&app, from("198.51.100.7:2000", post_json(small(2)))).await;
    assert_eq!(other.status, StatusCode::CREATED, "{}", other.text());
    db.close().await;
}

// -------------------------------------------------------------------------------------------
// 2. A NUL in a title: 503 with the database's error on PostgreSQL, 201 on SQLite.

async fn nul_in_a_title_is_refused_the_same_by_both_stores(db: &TestDb) {
    let app = db.app_with(Frontend::Missing, unlimited());
    for (field, value) in [
        ("title", "nul \u{0} here"),
        ("title", "bell \u{7}"),
        ("description", "escape \u{1b}[31m red"),
    ] {
        let mut v: Value = serde_json::from_str(&small(3)).unwrap();
        v[field] = json!(value);
        let r = upload(&app, &v.to_string()).await;
        assert_eq!(
            r.status,
            StatusCode::BAD_REQUEST,
            "{}: {}",
            db.kind,
            r.text()
        );
        let j = assert_error_body(&r, db.kind);
        assert_eq!(j["path"], field, "{j}");
        assert!(
            j["error"].as_str().unwrap().contains("control character"),
            "{j}"
        );
    }
    // Nothing was explored for them, and nothing stored.
    let text = get(&app, "/metrics").await.text();
    assert!(!text.contains("outcome=\"safe\""), "{text}");
    assert_eq!(db.store.count_scenarios().await.unwrap(), 0);
}

// -------------------------------------------------------------------------------------------
// 3. With the database down, requests hung for the full 10 s and got 503 without
// Retry-After; /metrics took 3 s.

on_both_backends!(
    nul_in_a_title_is_refused_the_same_by_both_stores,
    database_down_gives_503_with_retry_after_and_request_id,
);

async fn database_down_gives_503_with_retry_after_and_request_id(db: &TestDb) {
    let app = db.app_with(Frontend::Missing, unlimited());
    db.store.close().await;
    let id = "00000000000000000000";
    for (what, r) in [
        ("get", get(&app, &format!("/api/scenarios/{id}")).await),
        (
            "info",
            get(&app, &format!("/api/scenarios/{id}/info")).await,
        ),
        ("upload", upload(&app, &small(4)).await),
    ] {
        assert_eq!(
            r.status,
            StatusCode::SERVICE_UNAVAILABLE,
            "{what}: {}",
            r.text()
        );
        assert!(r.headers.contains_key("retry-after"), "{what}");
        let j = assert_error_body(&r, what);
        let msg = j["error"].as_str().unwrap();
        assert!(msg.contains("database did not answer"), "{what}: {msg}");
        assert!(!msg.contains("request timeout"), "{what}: {msg}");
        assert!(!msg.to_lowercase().contains("closed"), "{what}: {msg}");
    }
    let health = get(&app, "/healthz").await;
    assert_eq!(health.status, StatusCode::SERVICE_UNAVAILABLE);
    let j = health.json();
    assert_eq!(j["status"], "degraded", "{j}");
    assert_eq!(j["db"], "down", "{j}");
    assert!(health.headers.contains_key("retry-after"));
    assert!(!health.text().to_lowercase().contains("closed"), "{j}");
    // Metrics answer from memory.
    assert_eq!(get(&app, "/metrics").await.status, StatusCode::OK);
}

#[tokio::test]
async fn postgres_down_gives_503_before_the_request_timeout() {
    let Some(mut cluster) = common::pg::PgCluster::start() else {
        return;
    };
    let url = cluster.create_database().await;
    let store = server::store::Store::open_postgres(&url).await.unwrap();
    let mut options = unlimited();
    // A request timeout far above the pool's 2 s acquire timeout.
    options.limits.request_timeout = Duration::from_secs(30);
    let app = server::web::router(AppState::with_options(
        store.clone(),
        Frontend::Missing,
        options,
    ));
    assert_eq!(get(&app, "/healthz").await.status, StatusCode::OK);
    cluster.stop();
    let r = get(&app, "/api/scenarios/00000000000000000001").await;
    assert_eq!(r.status, StatusCode::SERVICE_UNAVAILABLE, "{}", r.text());
    let j = assert_error_body(&r, "postgres down");
    assert!(
        j["error"]
            .as_str()
            .unwrap()
            .contains("database did not answer"),
        "{j}"
    );
    assert!(r.headers.contains_key("retry-after"));
    let health = get(&app, "/healthz").await;
    assert_eq!(health.json()["status"], "degraded");
    assert_eq!(get(&app, "/metrics").await.status, StatusCode::OK);
}

// -------------------------------------------------------------------------------------------
// 4. Error bodies: 405s empty, traversal ids as text/plain "bad path", Rust internals,
// "format":"1", a 200 KB value echoed twice.

#[tokio::test]
async fn every_api_error_is_json_with_a_request_id() {
    let db = TestDb::sqlite().await;
    let mut options = Options::default();
    options.limits.uploads_per_minute = 1;
    options.limits.upload_burst = 1;
    let app = db.app_with(Frontend::Missing, options);
    let cases: Vec<(&str, Request<Body>, u16)> = vec![
        (
            "unknown api path",
            Request::get("/api/nope").body(Body::empty()).unwrap(),
            404,
        ),
        (
            "405 on the upload route",
            Request::delete("/api/scenarios")
                .body(Body::empty())
                .unwrap(),
            405,
        ),
        (
            "405 on a read route",
            Request::post("/api/scenarios/00000000000000000000")
                .body(Body::empty())
                .unwrap(),
            405,
        ),
        (
            "405 on healthz",
            Request::post("/healthz").body(Body::empty()).unwrap(),
            405,
        ),
        (
            "traversal id",
            Request::get("/api/scenarios/..%2F..%2Fetc%2Fpasswd")
                .body(Body::empty())
                .unwrap(),
            400,
        ),
        (
            "not UTF-8 in the id",
            Request::get("/api/scenarios/%ff%fe")
                .body(Body::empty())
                .unwrap(),
            400,
        ),
        (
            "unknown id",
            Request::get("/api/scenarios/00000000000000000000")
                .body(Body::empty())
                .unwrap(),
            404,
        ),
        (
            "wrong content type",
            Request::post("/api/scenarios")
                .header("content-type", "text/plain")
                .body(Body::from("{}"))
                .unwrap(),
            415,
        ),
        (
            "too large",
            Request::post("/api/scenarios")
                .header("content-type", "application/json")
                .body(Body::from(vec![b' '; 300 * 1024]))
                .unwrap(),
            413,
        ),
        ("first upload", post_json(small(5)), 201),
        ("rate limited", post_json(small(6)), 429),
    ];
    for (n, (what, req, want)) in cases.into_iter().enumerate() {
        // Each case from its own client (the rate limit is per client), but the last two
        // from one.
        let peer = format!("192.0.2.{}:1", n.min(9) + 1);
        let r = send(&app, from(&peer, req)).await;
        assert_eq!(r.status.as_u16(), want, "{what}: {}", r.text());
        if want >= 400 {
            let j = assert_error_body(&r, what);
            if want == 405 {
                assert!(r.headers.contains_key("allow"), "{what}");
                assert!(j["error"].as_str().unwrap().contains("answers only"), "{j}");
            }
        }
        assert!(r.headers.contains_key("x-request-id"), "{what}");
    }
    db.close().await;
}

#[tokio::test]
async fn error_messages_speak_the_format_not_rust() {
    let db = TestDb::sqlite().await;
    let app = db.app_with(Frontend::Missing, unlimited());
    let base: Value = serde_json::from_str(&small(7)).unwrap();
    let with = |edit: &dyn Fn(&mut Value)| {
        let mut v = base.clone();
        edit(&mut v);
        v.to_string()
    };
    let huge = "x".repeat(200_000);
    let cases: Vec<(&str, String, &str, &str)> = vec![
        (
            "positional array scenario",
            {
                let Value::Object(m) = base.clone() else {
                    unreachable!()
                };
                Value::Array(m.into_iter().map(|(_, v)| v).collect()).to_string()
            },
            "$",
            "a list of values by position is not accepted",
        ),
        (
            "steps of the wrong type",
            with(&|v| v["schedules"][0]["steps"] = json!(true)),
            "schedules[0].steps",
            "a list of thread numbers",
        ),
        (
            "expect of the wrong type",
            with(&|v| v["schedules"][0]["expect"] = json!("safe")),
            "schedules[0].expect",
            "an object such as",
        ),
        (
            "negative cpu",
            with(&|v| v["cpus"] = json!(-1)),
            "cpus",
            "whole number of at least 0",
        ),
        (
            "format as a string",
            with(&|v| v["format"] = json!("1")),
            "format",
            "must be the number 1, not the string \"1\"",
        ),
        (
            "200 KB bad value",
            with(&|v| v["vmas"][0]["prot"] = json!(huge)),
            "vmas[0].prot",
            "characters)",
        ),
    ];
    for (what, body, path, needle) in cases {
        let r = upload(&app, &body).await;
        assert_eq!(r.status, StatusCode::BAD_REQUEST, "{what}: {}", r.text());
        assert!(r.body.len() < 2_000, "{what}: {} bytes", r.body.len());
        let j = assert_error_body(&r, what);
        assert_eq!(j["path"], path, "{what}: {j}");
        assert!(j["error"].as_str().unwrap().contains(needle), "{what}: {j}");
    }
    db.close().await;
}

// -------------------------------------------------------------------------------------------
// 5. Lenient parsing.

#[tokio::test]
async fn unknown_fields_next_to_verdict_safe_are_refused() {
    let db = TestDb::sqlite().await;
    let app = db.app_with(Frontend::Missing, unlimited());
    let mut v: Value = serde_json::from_str(&small(8)).unwrap();
    v["schedules"][0]["expect"] = json!({"verdict": "safe", "typo_invariant": "lost-write"});
    let r = upload(&app, &v.to_string()).await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST, "{}", r.text());
    let j = assert_error_body(&r, "unknown field in expect");
    assert_eq!(j["path"], "schedules[0].expect.typo_invariant", "{j}");
    db.close().await;
}

#[tokio::test]
async fn positional_array_scenario_is_refused() {
    let db = TestDb::sqlite().await;
    let app = db.app_with(Frontend::Missing, unlimited());
    // The scenario's fields by position, as serde's derived structs also accepted.
    let sc = sim_core::Scenario::from_json(&small(9)).unwrap();
    let positional = json!([
        sc.format,
        sc.title,
        sc.description,
        sc.kernel,
        sc.cpus,
        sc.vmas,
        sc.pages,
        sc.thps,
        sc.tlb,
        sc.alloc_pfns,
        sc.threads,
        sc.schedules,
        sc.condition
    ]);
    let r = upload(&app, &positional.to_string()).await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST, "{}", r.text());
    assert_error_body(&r, "positional");
    db.close().await;
}

#[tokio::test]
async fn compressed_bodies_are_415_and_unknown_transfer_codings_501() {
    let db = TestDb::sqlite().await;
    let app = db.app_with(Frontend::Missing, unlimited());
    for coding in ["br", "foo", "gzip", "identity, gzip"] {
        let r = send(
            &app,
            Request::post("/api/scenarios")
                .header("content-type", "application/json")
                .header("content-encoding", coding)
                .body(Body::from(small(10)))
                .unwrap(),
        )
        .await;
        assert_eq!(
            r.status,
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "{coding}: {}",
            r.text()
        );
        assert_error_body(&r, coding);
    }
    let r = send(
        &app,
        Request::post("/api/scenarios")
            .header("content-type", "application/json")
            .header("content-encoding", "identity")
            .body(Body::from(small(10)))
            .unwrap(),
    )
    .await;
    assert_eq!(r.status, StatusCode::CREATED, "identity: {}", r.text());
    let r = send(
        &app,
        Request::post("/api/scenarios")
            .header("content-type", "application/json")
            .header("transfer-encoding", "gzip, chunked")
            .body(Body::from(small(11)))
            .unwrap(),
    )
    .await;
    assert_eq!(r.status, StatusCode::NOT_IMPLEMENTED, "{}", r.text());
    assert_error_body(&r, "gzip, chunked");
    db.close().await;
}

// -------------------------------------------------------------------------------------------
// 6. The rate limit keyed on the exact address; X-Forwarded-For.

#[tokio::test]
async fn ipv6_clients_in_one_64_share_a_rate_limit() {
    let db = TestDb::sqlite().await;
    let mut options = Options::default();
    options.limits.uploads_per_minute = 1;
    options.limits.upload_burst = 2;
    let app = db.app_with(Frontend::Missing, options);
    let mut statuses = Vec::new();
    for (i, peer) in [
        "[2001:db8:1:2::1]:5000",
        "[2001:db8:1:2:ffff::9]:5001",
        "[2001:db8:1:2:abcd:1:2:3]:5002",
    ]
    .iter()
    .enumerate()
    {
        statuses.push(
            send(&app, from(peer, post_json(small(20 + i))))
                .await
                .status,
        );
    }
    assert_eq!(
        statuses,
        [
            StatusCode::CREATED,
            StatusCode::CREATED,
            StatusCode::TOO_MANY_REQUESTS
        ]
    );
    // The next /64 is another client.
    let r = send(&app, from("[2001:db8:1:3::1]:5003", post_json(small(30)))).await;
    assert_eq!(r.status, StatusCode::CREATED);
    // IPv4: by address.
    let r = send(&app, from("192.0.2.10:1", post_json(small(31)))).await;
    assert_eq!(r.status, StatusCode::CREATED);
    db.close().await;
}

#[tokio::test]
async fn x_forwarded_for_counts_only_from_trusted_proxies() {
    let db = TestDb::sqlite().await;
    let mut options = Options::default();
    options.limits.uploads_per_minute = 1;
    options.limits.upload_burst = 1;
    options.trusted_proxies = vec!["10.0.0.0/8".parse().unwrap()];
    let app = db.app_with(Frontend::Missing, options);
    let xff = |peer: &str, forwarded: &str, n: usize| {
        let mut req = from(peer, post_json(small(n)));
        req.headers_mut()
            .insert("x-forwarded-for", forwarded.parse().unwrap());
        req
    };
    // Through the trusted proxy: two clients, one upload each.
    assert_eq!(
        send(&app, xff("10.0.0.1:1", "203.0.113.1", 40))
            .await
            .status,
        201
    );
    assert_eq!(
        send(&app, xff("10.0.0.1:1", "203.0.113.2", 41))
            .await
            .status,
        201
    );
    assert_eq!(
        send(&app, xff("10.0.0.1:1", "203.0.113.1", 42))
            .await
            .status,
        429
    );
    // A client that is not a proxy cannot pick a fresh address.
    assert_eq!(
        send(&app, xff("198.51.100.1:1", "203.0.113.9", 43))
            .await
            .status,
        201
    );
    assert_eq!(
        send(&app, xff("198.51.100.1:1", "203.0.113.10", 44))
            .await
            .status,
        429
    );
    db.close().await;
}

// -------------------------------------------------------------------------------------------
// 7. The OpenAPI document: an id pattern admitting letters the server refuses; statuses it
// omitted.

#[test]
fn openapi_id_pattern_admits_exactly_the_ids_the_server_reads() {
    let doc: Value = serde_json::from_str(server::api::openapi_document()).unwrap();
    let pattern = doc["paths"]["/api/scenarios/{id}"]["get"]["parameters"][0]["schema"]["pattern"]
        .as_str()
        .unwrap();
    // The pattern is `^[<class>]{20}$`: read the class's ranges.
    let class = pattern
        .strip_prefix("^[")
        .and_then(|p| p.strip_suffix("]{20}$"))
        .unwrap();
    let bytes = class.as_bytes();
    let mut admitted = std::collections::BTreeSet::new();
    let mut i = 0;
    while i < bytes.len() {
        if i + 2 < bytes.len() && bytes[i + 1] == b'-' {
            admitted.extend(bytes[i]..=bytes[i + 2]);
            i += 3;
        } else {
            admitted.insert(bytes[i]);
            i += 1;
        }
    }
    for c in 0x21u8..0x7f {
        let id: String = std::iter::repeat_n(c as char, 20).collect();
        assert_eq!(
            server::id::parse(&id).is_ok(),
            admitted.contains(&c),
            "{:?}",
            c as char
        );
    }
    // The scenario schema is the generated one, whole.
    let schema: Value =
        serde_json::from_str(include_str!("../../assets/scenario.schema.json")).unwrap();
    let served = &doc["components"]["schemas"]["Scenario"];
    assert_eq!(served["required"], schema["required"]);
    assert_eq!(served["additionalProperties"], false);
    for name in schema["$defs"].as_object().unwrap().keys() {
        assert!(
            doc["components"]["schemas"]
                .get(format!("Scenario{name}"))
                .is_some(),
            "{name}"
        );
    }
    assert!(!server::api::openapi_document().contains("#/$defs/"));
}

/// Every status the OpenAPI document lists for a route is one the route answers (a request
/// below produces it), and every status the requests below produce is listed.
#[tokio::test]
async fn openapi_lists_every_status_each_route_returns() {
    let doc: Value = serde_json::from_str(server::api::openapi_document()).unwrap();
    let mut documented = std::collections::BTreeSet::new();
    for (path, ops) in doc["paths"].as_object().unwrap() {
        for (method, op) in ops.as_object().unwrap() {
            for status in op["responses"].as_object().unwrap().keys() {
                documented.insert((method.to_uppercase(), path.clone(), status.clone()));
            }
        }
    }
    let mut seen = std::collections::BTreeSet::new();
    let mut note = |method: &str, route: &str, r: &Reply| {
        // The pages' own errors are pages; /healthz answers its `Health` body.
        let own_body = ["/s/{id}", "/embed/{id}", "/healthz"].contains(&route);
        if r.status.as_u16() >= 400 && !own_body {
            assert_error_body(r, &format!("{method} {route} {}", r.status));
        }
        seen.insert((
            method.to_owned(),
            route.to_owned(),
            r.status.as_str().to_owned(),
        ));
    };

    // One server with every limit small, one whose database is gone, one with no frontend.
    let db = TestDb::sqlite().await;
    let mut options = Options::default();
    options.limits.uploads_per_minute = 1;
    options.limits.upload_burst = 3;
    options.limits.body_timeout = Duration::from_millis(200);
    options.limits.explorer_concurrency = 1;
    options.limits.explorer_wait = Duration::from_millis(100);
    options.limits.max_replay_steps = 40;
    let dist = TempDir::new("openapi-dist");
    std::fs::write(
        dist.path().join("index.html"),
        "<!doctype html><head></head>",
    )
    .unwrap();
    let state = AppState::with_options(
        db.store.clone(),
        Frontend::Dir(dist.path().to_path_buf()),
        options,
    );
    let app = server::web::router(state.clone());
    let post = |body: Body, ct: &str| {
        Request::post("/api/scenarios")
            .header("content-type", ct)
            .body(body)
            .unwrap()
    };
    let stored = send(&app, from("192.0.2.1:1", post_json(small(50)))).await;
    note("POST", "/api/scenarios", &stored);
    let id = stored.json()["id"].as_str().unwrap().to_owned();
    let again = send(&app, from("192.0.2.1:1", post_json(small(50)))).await;
    note("POST", "/api/scenarios", &again);
    let mut long = serde_json::from_str::<Value>(&small(51)).unwrap();
    long["schedules"][0]["steps"] = json!("0*");
    long["schedules"]
        .as_array_mut()
        .unwrap()
        .push(json!({"name": "again", "steps": "0*"}));
    for (req, peer) in [
        (
            post(Body::from(long.to_string()), "application/json"),
            "192.0.2.1:1",
        ),
        (post(Body::from("{"), "application/json"), "192.0.2.2:1"),
        (post(Body::from("{}"), "text/plain"), "192.0.2.6:1"),
        (
            post(Body::from(vec![b' '; 300 * 1024]), "application/json"),
            "192.0.2.7:1",
        ),
        (post(Body::new(Stalled), "application/json"), "192.0.2.8:1"),
        (post_json(small(52)), "192.0.2.1:1"),
        (
            {
                let mut r = post_json(small(53));
                r.headers_mut()
                    .insert("transfer-encoding", "gzip, chunked".parse().unwrap());
                r
            },
            "192.0.2.3:1",
        ),
    ] {
        note("POST", "/api/scenarios", &send(&app, from(peer, req)).await);
    }
    // Every explorer slot busy.
    let held = state.shared.explorer.clone().acquire_owned().await.unwrap();
    note(
        "POST",
        "/api/scenarios",
        &send(&app, from("192.0.2.4:1", post_json(small(54)))).await,
    );
    drop(held);

    for route in [
        "/api/scenarios/{id}",
        "/api/scenarios/{id}/info",
        "/s/{id}",
        "/embed/{id}",
    ] {
        for raw in [id.as_str(), "00000000000000000000", "not-an-id"] {
            let r = get(&app, &route.replace("{id}", raw)).await;
            note("GET", route, &r);
        }
    }
    let r = request(
        &app,
        Method::GET,
        &format!("/api/scenarios/{id}"),
        &[("if-none-match", &format!("\"{id}\""))],
    )
    .await;
    note("GET", "/api/scenarios/{id}", &r);
    for route in ["/healthz", "/metrics", "/api/openapi.json", "/api/examples"] {
        note("GET", route, &get(&app, route).await);
    }

    // The database gone: reads of what is not in memory, uploads, health.
    let gone = TestDb::sqlite().await;
    let gone_app = server::web::router(AppState::with_options(
        gone.store.clone(),
        Frontend::Dir(dist.path().to_path_buf()),
        unlimited(),
    ));
    gone.store.close().await;
    for route in [
        "/api/scenarios/{id}",
        "/api/scenarios/{id}/info",
        "/s/{id}",
        "/embed/{id}",
    ] {
        note(
            "GET",
            route,
            &get(&gone_app, &route.replace("{id}", &id)).await,
        );
    }
    note("GET", "/healthz", &get(&gone_app, "/healthz").await);
    note(
        "POST",
        "/api/scenarios",
        &send(&gone_app, from("192.0.2.5:1", post_json(small(55)))).await,
    );
    // No index.html: the pages' own 503.
    let bare = db.app_with(Frontend::Missing, unlimited());
    note("GET", "/s/{id}", &get(&bare, &format!("/s/{id}")).await);

    let missing: Vec<_> = documented.difference(&seen).collect();
    let undocumented: Vec<_> = seen.difference(&documented).collect();
    assert!(
        missing.is_empty() && undocumented.is_empty(),
        "documented but not produced: {missing:?}\nproduced but not documented: {undocumented:?}"
    );
    db.close().await;
}

/// A request body that never arrives.
struct Stalled;

impl http_body::Body for Stalled {
    type Data = bytes::Bytes;
    type Error = std::convert::Infallible;
    fn poll_frame(
        self: std::pin::Pin<&mut Self>,
        _: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Option<Result<http_body::Frame<Self::Data>, Self::Error>>> {
        std::task::Poll::Pending
    }
}
