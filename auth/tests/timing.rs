//! Unknown e-mail and wrong password are indistinguishable: same status, same body, same
//! time at the median. In a test binary of its own, so that no other test loads the CPU
//! while it measures.

use std::time::Instant;

use lyra_auth::admin::{self, Membership};
use lyra_common::db::OrgId;
use lyra_common::testing::{Running, fresh_db};
use lyra_common::token::Role;
use serde_json::json;

#[tokio::test]
async fn unknown_user_and_wrong_password_look_and_time_the_same() {
    let db = fresh_db().await;
    let admin = db.admin_pool().await;
    admin::create_org(&admin, "Alpha", Some(1)).await.unwrap();
    admin::create_user(
        &admin,
        "known@alpha.example",
        "Known",
        "Tundra-Lantern-Violet-42",
        Membership::Member(OrgId(1), Role::Viewer),
    )
    .await
    .unwrap();
    let auth = Running::start(lyra_auth::build(db.settings()).await.unwrap());
    let http = reqwest::Client::new();
    let attempt = |email: &'static str, ip: String| {
        let (http, url) = (http.clone(), auth.url("/v1/auth/login"));
        async move {
            let started = Instant::now();
            let response = http
                .post(url)
                .header("x-forwarded-for", ip)
                .json(&json!({"email": email, "password": "Wrong-Password-123456"}))
                .send()
                .await
                .unwrap();
            let ms = started.elapsed().as_secs_f64() * 1000.0;
            (
                response.status().as_u16(),
                response.text().await.unwrap(),
                ms,
            )
        }
    };
    // Warm up (the dummy hash is made at the first unknown e-mail).
    attempt("nobody@alpha.example", "192.0.2.250".into()).await;
    let mut differences = Vec::new();
    let (mut unknown, mut wrong) = (Vec::new(), Vec::new());
    for i in 0..25 {
        // Alternate the order so that drift in machine load cancels out.
        let (a, b) = if i % 2 == 0 {
            let a = attempt("nobody@alpha.example", format!("198.51.100.{i}")).await;
            let b = attempt("known@alpha.example", format!("198.51.101.{i}")).await;
            (a, b)
        } else {
            let b = attempt("known@alpha.example", format!("198.51.101.{i}")).await;
            let a = attempt("nobody@alpha.example", format!("198.51.100.{i}")).await;
            (a, b)
        };
        assert_eq!((a.0, &a.1), (b.0, &b.1), "same status and body");
        assert_eq!(a.0, 401);
        differences.push(a.2 - b.2);
        unknown.push(a.2);
        wrong.push(b.2);
    }
    let median = |v: &mut Vec<f64>| {
        v.sort_by(f64::total_cmp);
        v[v.len() / 2]
    };
    let (d, u, w) = (
        median(&mut differences),
        median(&mut unknown),
        median(&mut wrong),
    );
    println!(
        "median login: unknown e-mail {u:.1} ms, wrong password {w:.1} ms, paired difference {d:.1} ms"
    );
    assert!(
        d.abs() < 5.0,
        "median paired difference {d:.1} ms (unknown {u:.1} ms, wrong {w:.1} ms)"
    );
}
