//! The scenario store's API, in-process, against SQLite and against PostgreSQL (the same test
//! bodies; see `on_both_backends!`): upload → fetch byte-identical, dedup by content, the
//! table of bad inputs, ids, the short-link pages and their escaping, security headers,
//! limits, metrics, and the OpenAPI document.

mod common;

use std::net::SocketAddr;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use axum::body::Body;
use axum::extract::ConnectInfo;
use axum::http::{Method, Request};
use common::{
    canonical, get, request, request_body, seed, send, small, unlimited, upload, variant, Reply,
    TestDb, SMALL,
};
use serde_json::{json, Value};
use server::frontend::Frontend;
use server::state::{AppState, Options};

const INDEX: &str = "<!doctype html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n<title>mmrace — step through Linux mm races</title>\n<meta name=\"description\" content=\"default description\">\n<link rel=\"stylesheet\" href=\"./style.css\">\n<script type=\"module\" src=\"./boot.js\"></script>\n</head>\n<body></body>\n</html>\n";

/// A --static-dir frontend with INDEX (the tests need an index.html to inject into).
fn frontend(dir: &common::TempDir) -> Frontend {
    let www = dir.path().join("www");
    std::fs::create_dir_all(&www).unwrap();
    std::fs::write(www.join("index.html"), INDEX).unwrap();
    std::fs::write(www.join("boot.js"), "import('./mmrace.js');").unwrap();
    Frontend::select(Some(www))
}

fn header<'a>(r: &'a Reply, name: &str) -> Option<&'a str> {
    r.headers.get(name).map(|v| v.to_str().unwrap())
}

fn id_of(r: &Reply) -> String {
    r.json()["id"].as_str().unwrap().to_owned()
}

on_both_backends!(
    upload_then_fetch_is_byte_identical,
    same_content_same_id_stored_once,
    concurrent_uploads_of_one_scenario_store_it_once,
    bad_inputs_get_clear_4xx_answers,
    ids_malformed_unknown_and_forgiving,
    share_and_embed_pages,
    html_in_every_text_field_is_inert,
    scenarios_survive_a_restart,
    metrics_count_requests_and_scenarios,
    the_verdict_is_stored_with_the_scenario,
);

async fn upload_then_fetch_is_byte_identical(db: &TestDb) {
    let app = db.app(Frontend::Missing);
    for text in [SMALL, seed()] {
        let up = upload(&app, text).await;
        assert_eq!(up.status, 201, "{}", up.text());
        let body = up.json();
        let id = body["id"].as_str().unwrap();
        assert_eq!(id.len(), 20);
        assert!(id
            .bytes()
            .all(|b| b.is_ascii_digit() || b.is_ascii_lowercase()));
        assert_eq!(body["url"], format!("/s/{id}"));
        assert_eq!(body["api"], format!("/api/scenarios/{id}"));
        assert_eq!(body["format"], 1);
        assert!(body.get("verdict").is_some(), "verdict key present: {body}");
        assert_eq!(
            header(&up, "location"),
            Some(&*format!("/api/scenarios/{id}"))
        );
        assert_eq!(id, server::id::scenario_id(canonical(text).as_bytes()));

        // From the cache (just stored) and from the database (a fresh app).
        for app in [app.clone(), db.app(Frontend::Missing)] {
            let got = get(&app, &format!("/api/scenarios/{id}")).await;
            assert_eq!(got.status, 200);
            assert_eq!(got.text(), canonical(text), "byte-identical canonical JSON");
            assert_eq!(got.content_type(), "application/json");
            assert_eq!(header(&got, "x-mmrace-format"), Some("1"));
            assert_eq!(header(&got, "etag"), Some(&*format!("\"{id}\"")));
            assert_eq!(
                header(&got, "cache-control"),
                Some("public, max-age=31536000, immutable")
            );
            let etag = format!("\"{id}\"");
            let again = request(
                &app,
                Method::GET,
                &format!("/api/scenarios/{id}"),
                &[("if-none-match", &etag)],
            )
            .await;
            assert_eq!(again.status, 304);
            assert!(again.body.is_empty());
            let head = request(&app, Method::HEAD, &format!("/api/scenarios/{id}"), &[]).await;
            assert_eq!(head.status, 200);
            assert!(head.body.is_empty());
        }

        let info = get(&app, &format!("/api/scenarios/{id}/info")).await;
        assert_eq!(info.status, 200);
        let info = info.json();
        assert_eq!(info["id"], id);
        assert_eq!(info["format"], 1);
        let sc = sim_core::Scenario::from_json(text).unwrap();
        assert_eq!(info["title"], sc.title);
        assert!(info["created_at"].as_str().unwrap().ends_with('Z'));
    }
}

async fn same_content_same_id_stored_once(db: &TestDb) {
    let app = db.app(Frontend::Missing);
    let first = upload(&app, SMALL).await;
    assert_eq!(first.status, 201, "{}", first.text());
    // The same scenario written differently: other key order, no whitespace, defaults spelled
    // out.
    let mut v = small();
    v["cpus"] = json!(1);
    v["vmas"][0]["anon_vma"] = json!(true);
    let mut reordered = serde_json::Map::new();
    for key in [
        "threads", "vmas", "pages", "kernel", "title", "cpus", "format",
    ] {
        reordered.insert(key.to_owned(), v[key].clone());
    }
    let second = upload(&app, &Value::Object(reordered).to_string()).await;
    assert_eq!(second.status, 200, "{}", second.text());
    assert_eq!(id_of(&first), id_of(&second));
    assert_eq!(second.json(), first.json(), "same answer");
    assert_eq!(db.store.count_scenarios().await.unwrap(), 1);

    let other = upload(&app, &variant(1)).await;
    assert_eq!(other.status, 201);
    assert_ne!(id_of(&other), id_of(&first));
    assert_eq!(db.store.count_scenarios().await.unwrap(), 2);
}

async fn concurrent_uploads_of_one_scenario_store_it_once(db: &TestDb) {
    // Two "instances" (separate stores and caches on the same database), eight uploads each,
    // all at once, of the same two scenarios.
    let a = db.app_with(Frontend::Missing, unlimited());
    let other = db.reopen().await;
    let b = server::web::router(AppState::with_options(
        other.clone(),
        Frontend::Missing,
        unlimited(),
    ));
    let mut tasks = Vec::new();
    for i in 0..16 {
        let app = if i % 2 == 0 { a.clone() } else { b.clone() };
        let text = variant(100 + i % 4 / 2);
        tasks.push(tokio::spawn(async move { upload(&app, &text).await }));
    }
    let mut created = std::collections::BTreeMap::<String, usize>::new();
    for t in tasks {
        let r = t.await.unwrap();
        assert!(
            r.status == 201 || r.status == 200,
            "{} {}",
            r.status,
            r.text()
        );
        *created.entry(id_of(&r)).or_default() += usize::from(r.status == 201);
    }
    assert_eq!(created.len(), 2, "{created:?}");
    assert!(
        created.values().all(|&n| n == 1),
        "one 201 per id: {created:?}"
    );
    assert_eq!(db.store.count_scenarios().await.unwrap(), 2);
    other.close().await;
}

/// Every bad input: a clear 4xx with a JSON `error`, and the server still healthy after.
async fn bad_inputs_get_clear_4xx_answers(db: &TestDb) {
    let app = db.app_with(Frontend::Missing, unlimited());
    let with = |f: &dyn Fn(&mut Value)| {
        let mut v = small();
        f(&mut v);
        v.to_string()
    };
    let mut deep = String::from("{\"format\":1,\"title\":");
    deep.push_str(&"[".repeat(100));
    deep.push_str(&"]".repeat(100));
    deep.push('}');
    let huge = format!("{{\"format\":1,\"title\":\"{}\"}}", "x".repeat(300 * 1024));
    let seed_bad_thread = {
        let mut v: Value = serde_json::from_str(seed()).unwrap();
        v["schedules"][0]["steps"] = json!([0, 1, 7]);
        v.to_string()
    };
    /// (case, content type, body, status, text in "error", "path")
    type Case<'a> = (&'a str, &'a str, Vec<u8>, u16, &'a str, Option<&'a str>);
    let cases: Vec<Case> = vec![
        (
            "malformed JSON",
            "application/json",
            b"{\"format\": 1,".to_vec(),
            400,
            "invalid JSON",
            None,
        ),
        (
            "not JSON at all",
            "application/json",
            b"hello".to_vec(),
            400,
            "invalid JSON",
            None,
        ),
        (
            "empty body",
            "application/json",
            Vec::new(),
            400,
            "invalid JSON",
            None,
        ),
        (
            "JSON null",
            "application/json",
            b"null".to_vec(),
            400,
            "",
            Some("$"),
        ),
        (
            "JSON array",
            "application/json",
            b"[]".to_vec(),
            400,
            "",
            Some("$"),
        ),
        (
            "not UTF-8",
            "application/json",
            b"{\"title\": \"\xff\xfe\"}".to_vec(),
            400,
            "not UTF-8",
            None,
        ),
        (
            "wrong type",
            "application/json",
            with(&|v| v["cpus"] = json!("two")).into_bytes(),
            400,
            "",
            Some("cpus"),
        ),
        (
            "wrong type deep inside",
            "application/json",
            with(&|v| v["vmas"][0]["end"] = json!([1])).into_bytes(),
            400,
            "invalid type",
            Some("vmas[0].end"),
        ),
        (
            "wrong type inside an operation",
            "application/json",
            with(&|v| v["threads"][0]["ops"][0]["len"] = json!([1])).into_bytes(),
            400,
            "invalid type",
            Some("threads[0].ops[0].len"),
        ),
        (
            "unknown field",
            "application/json",
            with(&|v| v["colour"] = json!("red")).into_bytes(),
            400,
            "unknown field",
            Some("colour"),
        ),
        (
            "unknown format version",
            "application/json",
            with(&|v| {
                v["format"] = json!(2);
                v["new_in_v2"] = json!(true);
            })
            .into_bytes(),
            400,
            "unsupported format version 2",
            Some("format"),
        ),
        (
            "missing format",
            "application/json",
            with(&|v| {
                v.as_object_mut().unwrap().remove("format");
            })
            .into_bytes(),
            400,
            "format",
            None,
        ),
        (
            "oversized body",
            "application/json",
            huge.into_bytes(),
            413,
            "262144-byte limit",
            None,
        ),
        (
            "deeply nested JSON",
            "application/json",
            deep.into_bytes(),
            400,
            "JSON nesting deeper than 64",
            None,
        ),
        (
            "overlapping VMAs",
            "application/json",
            with(&|v| {
                v["vmas"] = json!([
                    {"start": "0x7f0000000000", "end": "0x7f0000002000", "prot": "PROT_READ"},
                    {"start": "0x7f0000001000", "end": "0x7f0000003000", "prot": "PROT_READ"}
                ]);
                v["pages"] = json!([]);
            })
            .into_bytes(),
            400,
            "overlaps vmas[0]",
            Some("vmas[1]"),
        ),
        (
            "bad alignment",
            "application/json",
            with(&|v| v["vmas"][0]["start"] = json!("0x7f0000000123")).into_bytes(),
            400,
            "not page-aligned",
            Some("vmas[0].start"),
        ),
        (
            "unknown thread in a schedule",
            "application/json",
            seed_bad_thread.into_bytes(),
            400,
            "no thread 7",
            Some("schedules[0].steps[2]"),
        ),
        (
            "thread on a CPU that does not exist",
            "application/json",
            with(&|v| v["threads"][0]["cpu"] = json!(5)).into_bytes(),
            400,
            "CPU 5 does not exist",
            Some("threads[0].cpu"),
        ),
        (
            "too many threads (a sim-core limit)",
            "application/json",
            with(&|v| {
                let t = v["threads"][0].clone();
                v["threads"] = Value::Array(
                    (0..9)
                        .map(|i| {
                            let mut t = t.clone();
                            t["name"] = json!(format!("T{i}"));
                            t
                        })
                        .collect(),
                );
            })
            .into_bytes(),
            400,
            "at most 8 threads",
            Some("threads"),
        ),
        (
            "title too long (a sim-core limit)",
            "application/json",
            with(&|v| v["title"] = json!("t".repeat(201))).into_bytes(),
            400,
            "longer than 200",
            Some("title"),
        ),
        (
            "not JSON content type",
            "text/plain",
            SMALL.as_bytes().to_vec(),
            415,
            "application/json",
            None,
        ),
        (
            "form content type",
            "application/x-www-form-urlencoded",
            SMALL.as_bytes().to_vec(),
            415,
            "application/json",
            None,
        ),
    ];
    for (case, ty, body, status, text, path) in cases {
        let r = request_body(
            &app,
            Method::POST,
            "/api/scenarios",
            &[("content-type", ty)],
            body,
        )
        .await;
        assert_eq!(r.status, status, "{case}: {}", r.text());
        assert!(r.content_type().starts_with("application/json"), "{case}");
        let j = r.json();
        let error = j["error"].as_str().unwrap_or_else(|| panic!("{case}: {j}"));
        assert!(error.contains(text), "{case}: {error:?} lacks {text:?}");
        if let Some(path) = path {
            assert_eq!(j["path"], path, "{case}: {j}");
        }
    }
    // Small enough as sent, too large once canonical (pretty-printed lists of steps): the
    // stored form must load again in the app, which has the same size limit.
    {
        let mut v = small();
        let op = v["threads"][0]["ops"][0].clone();
        v["cpus"] = json!(8);
        v["threads"] = (0..8)
            .map(|i| json!({ "name": format!("T{i}"), "cpu": i, "ops": vec![op.clone(); 16] }))
            .collect();
        let sc = sim_core::Scenario::from_json(&v.to_string()).unwrap();
        let steps = sim_core::schedule::expand(&mut sc.build().unwrap(), "0* 1* 2* 3* 4* 5* 6* 7*")
            .unwrap();
        let schedules: Vec<Value> = (0..32)
            .map(|i| json!({ "name": format!("s{i}"), "description": "d".repeat(3000), "steps": steps }))
            .collect();
        v["schedules"] = Value::Array(schedules);
        let text = v.to_string();
        assert!(
            text.len() < 256 * 1024,
            "{} steps, {} bytes",
            steps.len(),
            text.len()
        );
        let pretty = sim_core::Scenario::from_json(&text)
            .unwrap()
            .to_json()
            .len();
        assert!(
            pretty > 256 * 1024,
            "{} steps: {} bytes, canonical {pretty}",
            steps.len(),
            text.len()
        );
        let r = upload(&app, &text).await;
        assert_eq!(r.status, 413, "{}", r.text());
        assert!(r.json()["error"]
            .as_str()
            .unwrap()
            .contains("canonical form"));
    }
    // No content type at all.
    let r = send(
        &app,
        Request::post("/api/scenarios")
            .body(Body::from(SMALL))
            .unwrap(),
    )
    .await;
    assert_eq!(r.status, 415);
    // Wrong methods.
    let r = request(&app, Method::DELETE, "/api/scenarios", &[]).await;
    assert_eq!(r.status, 405);
    let r = request(
        &app,
        Method::PUT,
        "/api/scenarios/0000000000000000000a",
        &[],
    )
    .await;
    assert_eq!(r.status, 405);
    // Nothing was stored, and the server is fine.
    assert_eq!(db.store.count_scenarios().await.unwrap(), 0);
    assert_eq!(get(&app, "/healthz").await.status, 200);
    assert_eq!(upload(&app, SMALL).await.status, 201);
}

async fn ids_malformed_unknown_and_forgiving(db: &TestDb) {
    let dir = common::TempDir::new("ids");
    let app = db.app(frontend(&dir));
    let id = id_of(&upload(&app, SMALL).await);
    // Same length, other first character: well-formed, never stored.
    let unknown = format!(
        "{}{}",
        if id.starts_with('0') { '1' } else { '0' },
        &id[1..]
    );
    for (uri, status) in [
        (format!("/api/scenarios/{unknown}"), 404),
        (format!("/api/scenarios/{unknown}/info"), 404),
        ("/api/scenarios/short".to_owned(), 400),
        ("/api/scenarios/uuuuuuuuuuuuuuuuuuuu".to_owned(), 400),
        (format!("/api/scenarios/{id}x"), 400),
        (
            "/api/scenarios/..%2F..%2F..%2F..%2Fetc%2Fpasswd".to_owned(),
            400,
        ),
        (
            "/api/scenarios/%2e%2e%2f%2e%2e%2f%2e%2e%2fetc%2fpasswd".to_owned(),
            400,
        ),
        (
            "/api/scenarios/%00%00%00%00%00%00%00%00%00%00%00%00%00%00%00%00%00%00%00%00"
                .to_owned(),
            400,
        ),
        ("/api/scenarios/x/y".to_owned(), 404),
    ] {
        let r = get(&app, &uri).await;
        assert_eq!(r.status, status, "{uri}: {}", r.text());
        assert!(r.json()["error"].is_string(), "{uri}");
        assert!(!r.text().contains("root:"), "{uri}");
        assert_ne!(
            header(&r, "cache-control"),
            Some("public, max-age=31536000, immutable")
        );
    }
    // Upper case and look-alikes reach the same scenario.
    let shouty = id.to_uppercase().replace('0', "O").replace('1', "l");
    let r = get(&app, &format!("/api/scenarios/{shouty}")).await;
    assert_eq!(r.status, 200);
    assert_eq!(r.text(), canonical(SMALL));
    let page = get(&app, &format!("/s/{shouty}")).await;
    assert_eq!(page.status, 200);
    assert!(page
        .text()
        .contains(&format!("<meta name=\"mmrace-scenario\" content=\"{id}\">")));

    for (uri, status) in [
        (format!("/s/{unknown}"), 404),
        (format!("/embed/{unknown}"), 404),
        ("/s/not-an-id".to_owned(), 400),
        ("/embed/..%2F..%2Fetc%2Fpasswd".to_owned(), 400),
        ("/s/%3Cscript%3Ealert(1)%3C%2Fscript%3E".to_owned(), 400),
    ] {
        let r = get(&app, &uri).await;
        assert_eq!(r.status, status, "{uri}");
        assert_eq!(r.content_type(), "text/html; charset=utf-8", "{uri}");
        let text = r.text();
        assert!(
            text.contains("<meta name=\"mmrace-error\""),
            "{uri}: {text}"
        );
        assert!(!text.contains("<script>alert"), "{uri}: {text}");
        assert_eq!(
            text.contains("mmrace-scenario"),
            status == 404,
            "{uri}: the id is named only when well-formed"
        );
    }
}

async fn share_and_embed_pages(db: &TestDb) {
    let dir = common::TempDir::new("pages");
    let app = db.app(frontend(&dir));
    let id = id_of(&upload(&app, seed()).await);
    let sc = sim_core::Scenario::from_json(seed()).unwrap();

    let page = get(&app, &format!("/s/{id}?step=17&schedule=writer-first")).await;
    assert_eq!(page.status, 200);
    assert_eq!(page.content_type(), "text/html; charset=utf-8");
    let html = page.text();
    assert!(html.contains("<head>\n<base href=\"/\">"), "{html}");
    for tag in [
        format!("<meta name=\"mmrace-scenario\" content=\"{id}\">"),
        "<meta name=\"mmrace-step\" content=\"17\">".to_owned(),
        "<meta name=\"mmrace-schedule\" content=\"writer-first\">".to_owned(),
        format!("<meta property=\"og:title\" content=\"{}\">", sc.title),
        format!("<meta name=\"twitter:title\" content=\"{}\">", sc.title),
        "<meta property=\"og:description\" content=\"".to_owned(),
        format!("<title>{} — mmrace</title>", sc.title),
    ] {
        assert!(html.contains(&tag), "missing {tag}\n{html}");
    }
    assert!(!html.contains("mmrace-embed"));
    assert!(!html.contains("mmrace-error"));
    assert!(html.contains("<script type=\"module\" src=\"./boot.js\"></script>"));
    assert_eq!(header(&page, "x-frame-options"), Some("DENY"));
    assert!(header(&page, "content-security-policy")
        .unwrap()
        .contains("frame-ancestors 'none'"));
    assert_eq!(header(&page, "cache-control"), Some("no-cache"));

    let plain = get(&app, &format!("/s/{id}")).await.text();
    assert!(!plain.contains("mmrace-step"));
    let bad_step = get(&app, &format!("/s/{id}?step=-3&step=x")).await.text();
    assert!(!bad_step.contains("mmrace-step"));

    let embed = get(&app, &format!("/embed/{id}?step=2")).await;
    assert_eq!(embed.status, 200);
    let html = embed.text();
    assert!(html.contains("<meta name=\"mmrace-embed\" content=\"1\">"));
    assert!(html.contains("<meta name=\"mmrace-step\" content=\"2\">"));
    assert!(html.contains(&format!("<meta name=\"mmrace-scenario\" content=\"{id}\">")));
    assert_eq!(
        header(&embed, "x-frame-options"),
        None,
        "embed may be framed"
    );
    let csp = header(&embed, "content-security-policy").unwrap();
    assert!(csp.contains("frame-ancestors *"), "{csp}");
    assert!(!csp.contains("frame-ancestors 'none'"), "{csp}");

    // Without a frontend the "not built" page gets the tags all the same.
    let bare = db.app(Frontend::Missing);
    let r = get(&bare, &format!("/s/{id}")).await;
    assert_eq!(r.status, 200);
    assert!(r.text().contains("not built"));
    assert!(r.text().contains(&format!("content=\"{id}\"")));
}

async fn html_in_every_text_field_is_inert(db: &TestDb) {
    let dir = common::TempDir::new("xss");
    let app = db.app(frontend(&dir));
    let evil = |what: &str| {
        format!("\"'><script>alert('{what}')</script><img src=x onerror=alert(1)>&amp;</title>")
    };
    let mut v: Value = serde_json::from_str(seed()).unwrap();
    v["title"] = json!(evil("title").chars().take(200).collect::<String>());
    v["description"] = json!(evil("description"));
    for (i, t) in v["threads"].as_array_mut().unwrap().iter_mut().enumerate() {
        t["name"] = json!(format!("<b>{i}</b><script>x</script>"));
    }
    // The condition names a thread, so it carries HTML too.
    v["condition"] = json!("exists any (\"<b>0</b><script>x</script>\" returned)");
    let s0 = &mut v["schedules"][0];
    s0["name"] = json!("<script>alert('schedule')</script>");
    s0["description"] = json!(evil("schedule description"));
    s0["notes"] = json!({ "0": evil("note") });
    let up = upload(&app, &v.to_string()).await;
    assert_eq!(up.status, 201, "{}", up.text());
    let id = id_of(&up);

    // Stored and served as data, exactly.
    let got = get(&app, &format!("/api/scenarios/{id}")).await;
    assert_eq!(got.text(), canonical(&v.to_string()));
    assert_eq!(header(&got, "x-content-type-options"), Some("nosniff"));

    for uri in [
        format!("/s/{id}"),
        format!("/embed/{id}"),
        format!("/s/{id}?schedule=%3Cscript%3Ealert(1)%3C/script%3E"),
    ] {
        let html = get(&app, &uri).await.text();
        let injected: String = html
            .lines()
            .filter(|l| l.starts_with("<meta") || l.starts_with("<title"))
            .collect::<Vec<_>>()
            .join("\n");
        assert!(!injected.is_empty());
        for raw in ["<script", "<img", "</title><", "onerror=alert(1)>", "'>"] {
            assert!(!injected.contains(raw), "{uri}: raw {raw:?} in\n{injected}");
        }
        assert!(
            injected.contains("&lt;script&gt;alert(&#39;title&#39;)"),
            "{injected}"
        );
        assert!(injected.contains("&amp;amp;"), "{injected}");
        // Exactly the page's own script tag, nothing injected.
        assert_eq!(html.matches("<script").count(), 1, "{uri}:\n{html}");
        assert_eq!(html.matches("<title>").count(), 1, "{uri}");
    }
}

async fn scenarios_survive_a_restart(db: &TestDb) {
    let app = db.app(Frontend::Missing);
    let mut ids = Vec::new();
    for i in 0..5 {
        let r = upload(&app, &variant(i)).await;
        assert_eq!(r.status, 201);
        ids.push((id_of(&r), canonical(&variant(i))));
    }
    let reopened = db.reopen().await;
    let app = server::web::router(AppState::new(reopened.clone(), Frontend::Missing));
    for (id, body) in &ids {
        let r = get(&app, &format!("/api/scenarios/{id}")).await;
        assert_eq!(r.status, 200);
        assert_eq!(&r.text(), body);
    }
    // Uploading again after the restart: 200, same id, nothing new.
    let r = upload(&app, &variant(0)).await;
    assert_eq!(r.status, 200);
    assert_eq!(id_of(&r), ids[0].0);
    assert_eq!(reopened.count_scenarios().await.unwrap(), 5);
    reopened.close().await;
}

async fn metrics_count_requests_and_scenarios(db: &TestDb) {
    let app = db.app(Frontend::Missing);
    let id = id_of(&upload(&app, SMALL).await);
    for _ in 0..3 {
        assert_eq!(get(&app, &format!("/api/scenarios/{id}")).await.status, 200);
    }
    assert_eq!(get(&app, "/api/scenarios/nope").await.status, 400);
    assert_eq!(get(&app, "/api/nope/nope").await.status, 404);
    // The row count is read in the background (a scrape never waits for the database): the
    // first scrape starts the read, a later one reports it.
    let mut r = get(&app, "/metrics").await;
    for _ in 0..200 {
        if r.text().contains("mmrace_scenarios_stored") {
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
        r = get(&app, "/metrics").await;
    }
    assert_eq!(r.status, 200);
    assert!(r.content_type().starts_with("text/plain; version=0.0.4"));
    let text = r.text();
    for line in [
        "mmrace_http_requests_total{route=\"/api/scenarios/{id}\",method=\"GET\",status=\"200\"} 3",
        "mmrace_http_requests_total{route=\"/api/scenarios/{id}\",method=\"GET\",status=\"400\"} 1",
        "mmrace_http_requests_total{route=\"/api/scenarios\",method=\"POST\",status=\"201\"} 1",
        "mmrace_http_requests_total{route=\"/api/(unknown)\",method=\"GET\",status=\"404\"} 1",
        "mmrace_http_request_duration_seconds_count{route=\"/api/scenarios/{id}\"} 4",
        "mmrace_scenarios_stored 1",
        "mmrace_scenarios_created_total 1",
        "# TYPE mmrace_http_request_duration_seconds histogram",
        "# TYPE mmrace_explorer_runs_total counter",
    ] {
        assert!(
            text.lines().any(|l| l == line),
            "missing {line:?} in\n{text}"
        );
    }
    assert!(
        text.lines()
            .any(|l| l == "mmrace_explorer_runs_total{outcome=\"safe\"} 1"),
        "{text}"
    );
    assert!(!text.contains("nope"), "raw paths never become labels");
}

async fn the_verdict_is_stored_with_the_scenario(db: &TestDb) {
    let app = db.app(Frontend::Missing);
    for (path, outcome) in [
        ("seed-mprotect-vs-migration-v6.4.json", "safe"),
        ("whatif-a-mprotect-no-ptl-v6.4.json", "violated"),
    ] {
        let text = sim_core::library::get(path).unwrap();
        let up = upload(&app, text).await;
        assert_eq!(up.status, 201, "{path}: {}", up.text());
        let v = &up.json()["verdict"];
        assert_eq!(v["outcome"], outcome, "{path}: {v}");
        assert_eq!(v["complete"], true, "{path}: {v}");
        assert!(v["states"].as_u64().unwrap() > 100, "{path}: {v}");
        if outcome == "violated" {
            // Each counterexample replays to the violation it names.
            let sc = sim_core::Scenario::from_json(text).unwrap();
            for violation in v["violations"].as_array().unwrap() {
                let schedule: Vec<usize> =
                    serde_json::from_value(violation["schedule"].clone()).unwrap();
                let (m, _) = sim_core::replay(&sc, &schedule).unwrap();
                let inv = violation["invariant"].as_str().unwrap();
                assert_eq!(
                    m.broken.get(inv).copied(),
                    violation["step"].as_u64().map(|s| s as usize),
                    "{path}: {violation}"
                );
            }
        }
        // Stored: a fresh app (empty cache) reads the same verdict from the database.
        let id = id_of(&up);
        let info = get(
            &db.app(Frontend::Missing),
            &format!("/api/scenarios/{id}/info"),
        )
        .await;
        assert_eq!(&info.json()["verdict"], v, "{path}");
    }
    // A tight budget is a verdict too.
    let mut options = Options::default();
    options.limits.explorer_max_states = 5;
    let tight = db.app_with(Frontend::Missing, options);
    let up = upload(&tight, &variant(77)).await;
    assert_eq!(up.status, 201);
    let v = &up.json()["verdict"];
    assert_eq!(v["outcome"], "budget", "{v}");
    assert_eq!(v["exhausted"], "states", "{v}");
    let m = get(&tight, "/metrics").await.text();
    assert!(
        m.contains("mmrace_explorer_runs_total{outcome=\"budget\"} 1"),
        "{m}"
    );
}

// ---------------------------------------------------------------------------------------------
// Backend-independent tests (SQLite only).

#[tokio::test]
async fn security_headers_on_every_response() {
    let db = TestDb::sqlite().await;
    let dir = common::TempDir::new("headers");
    let app = db.app(frontend(&dir));
    let id = id_of(&upload(&app, SMALL).await);
    for uri in [
        "/".to_owned(),
        "/boot.js".to_owned(),
        "/missing.js".to_owned(),
        "/../etc/passwd".to_owned(),
        "/healthz".to_owned(),
        "/metrics".to_owned(),
        "/api/examples".to_owned(),
        "/api/openapi.json".to_owned(),
        "/api/nope".to_owned(),
        format!("/api/scenarios/{id}"),
        "/api/scenarios/bad".to_owned(),
        format!("/s/{id}"),
        "/s/bad".to_owned(),
        format!("/embed/{id}"),
    ] {
        let r = get(&app, &uri).await;
        let embed = uri.starts_with("/embed/");
        assert_eq!(
            header(&r, "x-content-type-options"),
            Some("nosniff"),
            "{uri}"
        );
        assert_eq!(header(&r, "referrer-policy"), Some("no-referrer"), "{uri}");
        let csp = header(&r, "content-security-policy").unwrap_or_else(|| panic!("{uri}"));
        assert!(
            csp.starts_with("default-src 'self'; script-src 'self' 'wasm-unsafe-eval'; style-src 'self'; img-src 'self' data:; connect-src 'self'"),
            "{uri}: {csp}"
        );
        if embed {
            assert!(csp.ends_with("frame-ancestors *"), "{uri}: {csp}");
            assert_eq!(header(&r, "x-frame-options"), None, "{uri}");
        } else {
            assert!(csp.ends_with("frame-ancestors 'none'"), "{uri}: {csp}");
            assert_eq!(header(&r, "x-frame-options"), Some("DENY"), "{uri}");
        }
    }
    // Also on errors produced before any handler ran (a POST to a GET route, 413, 429).
    let r = request(&app, Method::POST, "/healthz", &[]).await;
    assert_eq!(r.status, 405);
    assert_eq!(header(&r, "x-frame-options"), Some("DENY"));
    db.close().await;
}

#[tokio::test]
async fn examples_list_the_shipped_library() {
    let db = TestDb::sqlite().await;
    let app = db.app(Frontend::Missing);
    let r = get(&app, "/api/examples").await;
    assert_eq!(r.status, 200);
    assert_eq!(r.content_type(), "application/json");
    let list = r.json();
    let list = list.as_array().unwrap();
    assert_eq!(list.len(), sim_core::library::SCENARIOS.len());
    for (item, (path, text)) in list.iter().zip(sim_core::library::SCENARIOS) {
        let sc = sim_core::Scenario::from_json(text).unwrap();
        assert_eq!(item["path"], *path);
        assert_eq!(item["title"], sc.title);
        assert_eq!(item["kernel"], sc.kernel.label());
        assert_eq!(item["description"], sc.description);
        assert_eq!(item["what_if"], !sc.kernel.what_if.is_empty());
    }
    assert!(list.iter().any(|e| e["what_if"] == true));
    db.close().await;
}

#[tokio::test]
async fn uploads_are_rate_limited_per_client() {
    let db = TestDb::sqlite().await;
    let mut options = Options::default();
    options.limits.uploads_per_minute = 6;
    options.limits.upload_burst = 2;
    let app = db.app_with(Frontend::Missing, options);
    let from = |ip: &str, body: String| {
        let mut req = Request::post("/api/scenarios")
            .header("content-type", "application/json")
            .body(Body::from(body))
            .unwrap();
        req.extensions_mut().insert(ConnectInfo(
            format!("{ip}:4000").parse::<SocketAddr>().unwrap(),
        ));
        req
    };
    assert_eq!(send(&app, from("10.1.1.1", variant(1))).await.status, 201);
    assert_eq!(send(&app, from("10.1.1.1", variant(2))).await.status, 201);
    let limited = send(&app, from("10.1.1.1", variant(3))).await;
    assert_eq!(limited.status, 429);
    let retry: u64 = header(&limited, "retry-after").unwrap().parse().unwrap();
    assert!((1..=10).contains(&retry), "{retry}");
    assert!(limited.json()["error"]
        .as_str()
        .unwrap()
        .contains("rate limit"));
    // Other clients are not affected; reads are never limited.
    assert_eq!(send(&app, from("10.1.1.2", variant(3))).await.status, 201);
    assert_eq!(get(&app, "/api/examples").await.status, 200);
    let m = get(&app, "/metrics").await.text();
    assert!(m.contains("mmrace_uploads_rate_limited_total 1"), "{m}");
    db.close().await;
}

/// A request body that never arrives.
struct Stalled;

impl http_body::Body for Stalled {
    type Data = bytes::Bytes;
    type Error = std::convert::Infallible;
    fn poll_frame(
        self: Pin<&mut Self>,
        _: &mut Context<'_>,
    ) -> Poll<Option<Result<http_body::Frame<Self::Data>, Self::Error>>> {
        Poll::Pending
    }
}

#[tokio::test]
async fn slow_bodies_and_slow_requests_time_out() {
    let db = TestDb::sqlite().await;
    let mut options = Options::default();
    options.limits.body_timeout = Duration::from_millis(200);
    let app = db.app_with(Frontend::Missing, options.clone());
    let req = Request::post("/api/scenarios")
        .header("content-type", "application/json")
        .body(Body::new(Stalled))
        .unwrap();
    let r = send(&app, req).await;
    assert_eq!(r.status, 408);
    assert!(r.json()["error"].as_str().unwrap().contains("body timeout"));

    options.limits.body_timeout = Duration::from_secs(60);
    options.limits.request_timeout = Duration::from_millis(200);
    let app = db.app_with(Frontend::Missing, options);
    let req = Request::post("/api/scenarios")
        .header("content-type", "application/json")
        .body(Body::new(Stalled))
        .unwrap();
    let r = send(&app, req).await;
    assert_eq!(r.status, 503);
    assert!(r.json()["error"]
        .as_str()
        .unwrap()
        .contains("request timeout"));
    assert!(r.headers.contains_key("content-security-policy"));
    db.close().await;
}

#[tokio::test]
async fn a_busy_explorer_answers_503_with_retry_after() {
    let db = TestDb::sqlite().await;
    let mut options = Options::default();
    options.limits.explorer_concurrency = 2;
    options.limits.explorer_wait = Duration::from_millis(100);
    let state = AppState::with_options(db.store.clone(), Frontend::Missing, options);
    let app = server::web::router(state.clone());
    let held = state
        .shared
        .explorer
        .clone()
        .acquire_many_owned(2)
        .await
        .unwrap();
    let r = upload(&app, SMALL).await;
    assert_eq!(r.status, 503);
    assert!(header(&r, "retry-after").is_some());
    assert!(r.json()["error"]
        .as_str()
        .unwrap()
        .contains("explorer concurrency limit is 2"));
    drop(held);
    assert_eq!(upload(&app, SMALL).await.status, 201);
    // A stored scenario needs no validation or explorer run: no slot needed.
    let _held = state
        .shared
        .explorer
        .clone()
        .acquire_many_owned(2)
        .await
        .unwrap();
    assert_eq!(upload(&app, SMALL).await.status, 200);
    db.close().await;
}

#[tokio::test]
async fn openapi_lists_exactly_the_routes() {
    let doc: Value = serde_json::from_str(server::api::OPENAPI).expect("openapi.json parses");
    assert_eq!(doc["openapi"], "3.1.0");
    let paths = doc["paths"].as_object().unwrap();
    let mut documented = std::collections::BTreeSet::new();
    for (path, ops) in paths {
        for method in ops.as_object().unwrap().keys() {
            if ["get", "post", "put", "delete", "patch", "head", "options"]
                .contains(&method.as_str())
            {
                documented.insert((method.to_uppercase(), path.clone()));
            }
        }
    }
    let routed: std::collections::BTreeSet<(String, String)> = server::web::routes()
        .iter()
        .map(|(m, p)| ((*m).to_owned(), (*p).to_owned()))
        .collect();
    assert_eq!(documented, routed, "openapi.json and the router disagree");
    // Every response a route documents has a description; every $ref resolves.
    let text = server::api::OPENAPI;
    for r in text.split("\"$ref\": \"#/components/schemas/").skip(1) {
        let name = r.split('"').next().unwrap();
        assert!(doc["components"]["schemas"].get(name).is_some(), "{name}");
    }

    // Every routed path answers something other than the router's own 404/405 for its
    // documented method.
    let db = TestDb::sqlite().await;
    let app = db.app(Frontend::Missing);
    for (method, path) in server::web::routes() {
        let uri = path.replace("{id}", "00000000000000000000");
        let r = request(&app, method.parse().unwrap(), &uri, &[]).await;
        assert_ne!(r.status, 405, "{method} {path}");
        if r.status == 404 {
            assert!(
                r.text().contains("no scenario"),
                "{method} {path}: {}",
                r.text()
            );
        }
    }
    let served = get(&app, "/api/openapi.json").await;
    assert_eq!(served.status, 200);
    assert_eq!(served.text(), server::api::openapi_document());
    db.close().await;
}
