//! The auth service over real HTTP with a real database: logins, tokens, sessions,
//! throttling, user and token management, and the tenant wall on every object route.

use lyra_auth::admin::{self, Membership};
use lyra_common::db::OrgId;
use lyra_common::testing::{Running, TestDb, fresh_db};
use lyra_common::token::{Claims, Role};
use serde_json::{Value, json};
use sqlx::PgPool;

const PASSWORD: &str = "Tundra-Lantern-Violet-42";
const A: OrgId = OrgId(1_001);
const B: OrgId = OrgId(2_002);

struct TestAuth {
    running: Running,
    db: TestDb,
    admin: PgPool,
    http: reqwest::Client,
}

impl TestAuth {
    async fn spawn() -> TestAuth {
        let db = fresh_db().await;
        let admin = db.admin_pool().await;
        for (org, name) in [(A, "Alpha"), (B, "Beta")] {
            admin::create_org(&admin, name, Some(org.0)).await.unwrap();
        }
        let app = lyra_auth::build(db.settings()).await.unwrap();
        TestAuth {
            running: Running::start(app),
            db,
            admin,
            http: reqwest::Client::new(),
        }
    }

    async fn user(&self, email: &str, org: OrgId, role: Role) -> uuid::Uuid {
        admin::create_user(
            &self.admin,
            email,
            "Test User",
            PASSWORD,
            Membership::Member(org, role),
        )
        .await
        .unwrap()
    }

    async fn post(&self, path: &str, body: Value, ip: &str) -> reqwest::Response {
        self.http
            .post(self.running.url(path))
            .header("x-forwarded-for", ip)
            .json(&body)
            .send()
            .await
            .unwrap()
    }

    async fn login(&self, email: &str, password: &str, ip: &str) -> reqwest::Response {
        self.post(
            "/v1/auth/login",
            json!({"email": email, "password": password}),
            ip,
        )
        .await
    }

    /// Logs in and returns (access token, refresh token).
    async fn tokens(&self, email: &str) -> (String, String) {
        let response = self.login(email, PASSWORD, "192.0.2.1").await;
        assert_eq!(response.status(), 200);
        let body: Value = response.json().await.unwrap();
        (
            body["access_token"].as_str().unwrap().into(),
            body["refresh_token"].as_str().unwrap().into(),
        )
    }

    async fn call(
        &self,
        method: reqwest::Method,
        path: &str,
        token: Option<&str>,
        body: Option<Value>,
    ) -> reqwest::Response {
        let mut request = self.http.request(method, self.running.url(path));
        if let Some(token) = token {
            request = request.bearer_auth(token);
        }
        if let Some(body) = body {
            request = request.json(&body);
        }
        request.send().await.unwrap()
    }

    async fn refresh(&self, refresh: &str) -> reqwest::Response {
        self.post(
            "/v1/auth/refresh",
            json!({"refresh_token": refresh}),
            "192.0.2.1",
        )
        .await
    }

    async fn audit_events(&self) -> Vec<String> {
        sqlx::query_scalar("SELECT event FROM auth.audit_log ORDER BY audit_id")
            .fetch_all(&self.admin)
            .await
            .unwrap()
    }
}

#[tokio::test]
async fn login_issues_an_eddsa_access_token_and_a_refresh_token() {
    let t = TestAuth::spawn().await;
    let user = t.user("owner@alpha.example", A, Role::Owner).await;
    let (access, refresh) = t.tokens("Owner@Alpha.example").await;
    assert!(refresh.starts_with("rt."));
    let header = jsonwebtoken::decode_header(&access).unwrap();
    assert_eq!(header.alg, jsonwebtoken::Algorithm::EdDSA);
    assert!(header.kid.is_some());
    let me: Claims = t
        .call(reqwest::Method::GET, "/v1/auth/me", Some(&access), None)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(me.sub, user.to_string());
    assert_eq!(me.org, Some(A));
    assert_eq!(me.role, Role::Owner);
    assert_eq!(me.exp - me.iat, 900);
    assert!(!me.jti.is_empty());
    let jwks: Value = t
        .call(reqwest::Method::GET, "/.well-known/jwks.json", None, None)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(jwks["keys"][0]["kid"], header.kid.unwrap());
    assert_eq!(jwks["keys"][0]["crv"], "Ed25519");
    assert!(
        jwks["keys"][0].get("d").is_none(),
        "no private part in the JWKS"
    );
}

#[tokio::test]
async fn stored_hashes_carry_the_argon2_parameters_and_weak_ones_are_upgraded_at_login() {
    let t = TestAuth::spawn().await;
    let user = t.user("hash@alpha.example", A, Role::Viewer).await;
    let phc: String = sqlx::query_scalar("SELECT password_hash FROM auth.users WHERE user_id = $1")
        .bind(user)
        .fetch_one(&t.admin)
        .await
        .unwrap();
    assert!(phc.starts_with("$argon2id$v=19$m=19456,t=2,p=1$"), "{phc}");

    use argon2::password_hash::{PasswordHasher, SaltString};
    let weak = argon2::Argon2::new(
        argon2::Algorithm::Argon2id,
        argon2::Version::V0x13,
        argon2::Params::new(8192, 1, 1, None).unwrap(),
    )
    .hash_password(
        PASSWORD.as_bytes(),
        &SaltString::encode_b64(b"0123456789abcdef").unwrap(),
    )
    .unwrap()
    .to_string();
    sqlx::query("UPDATE auth.users SET password_hash = $2 WHERE user_id = $1")
        .bind(user)
        .bind(&weak)
        .execute(&t.admin)
        .await
        .unwrap();
    t.tokens("hash@alpha.example").await;
    let after: String =
        sqlx::query_scalar("SELECT password_hash FROM auth.users WHERE user_id = $1")
            .bind(user)
            .fetch_one(&t.admin)
            .await
            .unwrap();
    assert!(
        after.starts_with("$argon2id$v=19$m=19456,t=2,p=1$"),
        "rehashed at login: {after}"
    );
}

#[tokio::test]
async fn refresh_tokens_rotate_and_a_reused_one_revokes_the_family() {
    let t = TestAuth::spawn().await;
    t.user("rot@alpha.example", A, Role::Marketer).await;
    let (_, r1) = t.tokens("rot@alpha.example").await;
    let first = t.refresh(&r1).await;
    assert_eq!(first.status(), 200);
    let r2 = first.json::<Value>().await.unwrap()["refresh_token"]
        .as_str()
        .unwrap()
        .to_string();
    assert_ne!(r1, r2);
    assert_eq!(
        t.refresh(&r1).await.status(),
        401,
        "a used token is refused"
    );
    assert_eq!(
        t.refresh(&r2).await.status(),
        401,
        "and the whole family is revoked"
    );
    assert!(
        t.audit_events()
            .await
            .contains(&"refresh_token_reuse".to_string())
    );
    let stored: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM auth.refresh_tokens WHERE token_hash = sha256($1::bytea)",
    )
    .bind(r2.as_bytes())
    .fetch_one(&t.admin)
    .await
    .unwrap();
    assert_eq!(stored, 1, "stored as its SHA-256");
    let plain: i64 =
        sqlx::query_scalar("SELECT count(*) FROM auth.refresh_tokens WHERE token_hash = $1::bytea")
            .bind(r2.as_bytes())
            .fetch_one(&t.admin)
            .await
            .unwrap();
    assert_eq!(plain, 0, "never in plain");
}

#[tokio::test]
async fn sessions_end_at_logout_at_absolute_expiry_on_disable_and_on_password_change() {
    let t = TestAuth::spawn().await;
    t.user("boss@alpha.example", A, Role::Owner).await;
    let staff = t.user("staff@alpha.example", A, Role::Viewer).await;

    let (_, r) = t.tokens("staff@alpha.example").await;
    assert_eq!(
        t.post("/v1/auth/logout", json!({"refresh_token": r}), "192.0.2.1")
            .await
            .status(),
        204
    );
    assert_eq!(t.refresh(&r).await.status(), 401, "logout");

    let (_, r) = t.tokens("staff@alpha.example").await;
    sqlx::query(
        "UPDATE auth.sessions SET expires_at = now() - interval '1 second' WHERE user_id = $1",
    )
    .bind(staff)
    .execute(&t.admin)
    .await
    .unwrap();
    assert_eq!(t.refresh(&r).await.status(), 401, "absolute expiry");

    let (access, r) = t.tokens("staff@alpha.example").await;
    let changed = t
        .call(
            reqwest::Method::POST,
            "/v1/auth/password",
            Some(&access),
            Some(
                json!({"current_password": PASSWORD, "new_password": "Glacier-Orchid-Harbour-77"}),
            ),
        )
        .await;
    assert_eq!(changed.status(), 204);
    assert_eq!(t.refresh(&r).await.status(), 401, "password change");
    let ok = t
        .login(
            "staff@alpha.example",
            "Glacier-Orchid-Harbour-77",
            "192.0.2.1",
        )
        .await;
    assert_eq!(ok.status(), 200);
    let r = ok.json::<Value>().await.unwrap()["refresh_token"]
        .as_str()
        .unwrap()
        .to_string();

    let (boss, _) = t.tokens("boss@alpha.example").await;
    let disabled = t
        .call(
            reqwest::Method::PATCH,
            &format!("/v1/users/{staff}"),
            Some(&boss),
            Some(json!({"disabled": true})),
        )
        .await;
    assert_eq!(disabled.status(), 200);
    assert_eq!(t.refresh(&r).await.status(), 401, "disabled");
    assert_eq!(
        t.login(
            "staff@alpha.example",
            "Glacier-Orchid-Harbour-77",
            "192.0.2.1"
        )
        .await
        .status(),
        401
    );
}

#[tokio::test]
async fn the_101st_failed_login_in_an_hour_is_refused_from_any_address() {
    let t = TestAuth::spawn().await;
    t.user("target@alpha.example", A, Role::Viewer).await;
    for i in 0..100 {
        let ip = format!("10.{}.{}.{}", i / 250, i % 250, 7);
        let response = t
            .login("target@alpha.example", "Wrong-Password-123456", &ip)
            .await;
        assert_eq!(response.status(), 401, "attempt {}", i + 1);
    }
    let response = t
        .login("target@alpha.example", PASSWORD, "203.0.113.200")
        .await;
    assert_eq!(
        response.status(),
        429,
        "even with the right password, from a fresh address"
    );
    assert!(response.headers().contains_key("retry-after"));
    // Another account is not affected: throttling, not a global lock.
    t.user("other@alpha.example", A, Role::Viewer).await;
    assert_eq!(
        t.login("other@alpha.example", PASSWORD, "203.0.113.201")
            .await
            .status(),
        200
    );
}

#[tokio::test]
async fn one_address_backs_off_after_repeated_failures() {
    let t = TestAuth::spawn().await;
    for i in 0..10 {
        let response = t
            .login(
                &format!("spray{i}@alpha.example"),
                "Wrong-Password-123456",
                "203.0.113.9",
            )
            .await;
        assert_eq!(response.status(), 401);
    }
    let response = t
        .login(
            "spray-next@alpha.example",
            "Wrong-Password-123456",
            "203.0.113.9",
        )
        .await;
    assert_eq!(response.status(), 429);
    assert_eq!(
        t.login(
            "spray-next@alpha.example",
            "Wrong-Password-123456",
            "203.0.113.10"
        )
        .await
        .status(),
        401
    );
}

#[tokio::test]
async fn forged_and_wrong_tokens_are_refused() {
    let t = TestAuth::spawn().await;
    t.user("jwt@alpha.example", A, Role::Owner).await;
    let (access, refresh) = t.tokens("jwt@alpha.example").await;
    let valid: Claims = t
        .call(reqwest::Method::GET, "/v1/auth/me", Some(&access), None)
        .await
        .json()
        .await
        .unwrap();
    let (kid, private, public): (String, Vec<u8>, Vec<u8>) = sqlx::query_as(
        "SELECT kid, private_der, public_raw FROM auth.signing_keys WHERE retired_at IS NULL",
    )
    .fetch_one(&t.admin)
    .await
    .unwrap();
    let mut cases = lyra_common::testing::forged_tokens(&kid, &private, &public, &valid);
    cases.push(("a refresh token as an access token", refresh));
    for (name, token) in cases {
        let response = t
            .call(reqwest::Method::GET, "/v1/auth/me", Some(&token), None)
            .await;
        assert_eq!(response.status(), 401, "{name}");
    }
    let ok = t
        .call(reqwest::Method::GET, "/v1/auth/me", Some(&access), None)
        .await;
    assert_eq!(ok.status(), 200, "the genuine token still works");
}

#[tokio::test]
async fn key_rotation_keeps_earlier_tokens_valid() {
    let t = TestAuth::spawn().await;
    t.user("keys@alpha.example", A, Role::Viewer).await;
    let (old, _) = t.tokens("keys@alpha.example").await;
    let old_kid = jsonwebtoken::decode_header(&old).unwrap().kid.unwrap();
    let new_kid = admin::rotate_keys(&t.admin).await.unwrap();
    assert_ne!(old_kid, new_kid);
    let (new, _) = t.tokens("keys@alpha.example").await;
    assert_eq!(
        jsonwebtoken::decode_header(&new).unwrap().kid.unwrap(),
        new_kid
    );
    for token in [&old, &new] {
        assert_eq!(
            t.call(reqwest::Method::GET, "/v1/auth/me", Some(token), None)
                .await
                .status(),
            200
        );
    }
    let jwks: Value = t
        .call(reqwest::Method::GET, "/.well-known/jwks.json", None, None)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(jwks["keys"].as_array().unwrap().len(), 2);
    // Once the old key has been retired for longer than a token lives, it leaves the JWKS.
    sqlx::query(
        "UPDATE auth.signing_keys SET retired_at = now() - interval '1 hour' WHERE kid = $1",
    )
    .bind(&old_kid)
    .execute(&t.admin)
    .await
    .unwrap();
    let jwks: Value = t
        .call(reqwest::Method::GET, "/.well-known/jwks.json", None, None)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(jwks["keys"].as_array().unwrap().len(), 1);
    assert!(t.audit_events().await.contains(&"key_rotation".to_string()));
}

#[tokio::test]
async fn owners_manage_users_and_the_policy_refuses_weak_passwords() {
    let t = TestAuth::spawn().await;
    t.user("owner@alpha.example", A, Role::Owner).await;
    t.user("viewer@alpha.example", A, Role::Viewer).await;
    let (owner, _) = t.tokens("owner@alpha.example").await;
    let (viewer, _) = t.tokens("viewer@alpha.example").await;
    let new = |password: &str| json!({"email": "new@alpha.example", "display_name": "New", "role": "marketer", "password": password});
    let weak = t
        .call(
            reqwest::Method::POST,
            "/v1/users",
            Some(&owner),
            Some(new("password1234")),
        )
        .await;
    assert_eq!(weak.status(), 400);
    assert!(weak.text().await.unwrap().contains("password"));
    let short = t
        .call(
            reqwest::Method::POST,
            "/v1/users",
            Some(&owner),
            Some(new("Ab1!")),
        )
        .await;
    assert_eq!(short.status(), 400);
    assert_eq!(
        t.call(
            reqwest::Method::POST,
            "/v1/users",
            Some(&viewer),
            Some(new(PASSWORD))
        )
        .await
        .status(),
        403
    );
    let created = t
        .call(
            reqwest::Method::POST,
            "/v1/users",
            Some(&owner),
            Some(new(PASSWORD)),
        )
        .await;
    assert_eq!(created.status(), 201);
    let id = created.json::<Value>().await.unwrap()["user_id"]
        .as_str()
        .unwrap()
        .to_string();
    assert_eq!(
        t.call(
            reqwest::Method::POST,
            "/v1/users",
            Some(&owner),
            Some(new(PASSWORD))
        )
        .await
        .status(),
        409
    );
    let changed = t
        .call(
            reqwest::Method::PATCH,
            &format!("/v1/users/{id}"),
            Some(&owner),
            Some(json!({"role": "viewer"})),
        )
        .await;
    assert_eq!(changed.status(), 200);
    let list: Value = t
        .call(reqwest::Method::GET, "/v1/users", Some(&owner), None)
        .await
        .json()
        .await
        .unwrap();
    let users = list["users"].as_array().unwrap();
    assert_eq!(users.len(), 3);
    assert!(
        users
            .iter()
            .any(|u| u["email"] == "new@alpha.example" && u["role"] == "viewer")
    );
    assert!(
        t.audit_events()
            .await
            .contains(&"access_denied".to_string())
    );
}

#[tokio::test]
async fn api_tokens_are_shown_once_scoped_exchangeable_and_revocable() {
    let t = TestAuth::spawn().await;
    t.user("tok@alpha.example", A, Role::Owner).await;
    let (owner, _) = t.tokens("tok@alpha.example").await;
    let refused = t
        .call(
            reqwest::Method::POST,
            "/v1/tokens",
            Some(&owner),
            Some(json!({"name": "etl", "scopes": ["ingest:write"]})),
        )
        .await;
    assert_eq!(
        refused.status(),
        400,
        "organisations cannot write bank data"
    );
    let created: Value = t
        .call(
            reqwest::Method::POST,
            "/v1/tokens",
            Some(&owner),
            Some(json!({"name": "bi", "scopes": ["metrics:read"]})),
        )
        .await
        .json()
        .await
        .unwrap();
    let token = created["token"].as_str().unwrap().to_string();
    let listed = t
        .call(reqwest::Method::GET, "/v1/tokens", Some(&owner), None)
        .await
        .text()
        .await
        .unwrap();
    assert!(
        !listed.contains(&token[20..]),
        "the secret is shown once only"
    );
    let exchanged = t
        .post("/v1/auth/token", json!({"api_token": token}), "192.0.2.5")
        .await;
    assert_eq!(exchanged.status(), 200);
    let access = exchanged.json::<Value>().await.unwrap()["access_token"]
        .as_str()
        .unwrap()
        .to_string();
    let me: Claims = t
        .call(reqwest::Method::GET, "/v1/auth/me", Some(&access), None)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!((me.role, me.org), (Role::Service, Some(A)));
    assert!(me.has_scope("metrics:read") && !me.has_scope("ingest:write"));
    let id = created["token_id"].as_str().unwrap();
    assert_eq!(
        t.call(
            reqwest::Method::DELETE,
            &format!("/v1/tokens/{id}"),
            Some(&owner),
            None
        )
        .await
        .status(),
        204
    );
    assert_eq!(
        t.post("/v1/auth/token", json!({"api_token": token}), "192.0.2.5")
            .await
            .status(),
        401
    );
    let stored: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM auth.api_tokens WHERE position($1::bytea in secret_hash) > 0",
    )
    .bind(token.as_bytes())
    .fetch_one(&t.admin)
    .await
    .unwrap();
    assert_eq!(stored, 0);
}

#[tokio::test]
async fn every_route_needs_its_access_level() {
    let t = TestAuth::spawn().await;
    t.user("viewer2@alpha.example", A, Role::Viewer).await;
    let (viewer, _) = t.tokens("viewer2@alpha.example").await;
    let id = uuid::Uuid::new_v4();
    for spec in lyra_auth::route_specs() {
        let path = spec.path.replace("{id}", &id.to_string());
        let body = Some(json!({}));
        match spec.access {
            lyra_auth::Access::Public => continue,
            lyra_auth::Access::Authenticated | lyra_auth::Access::Owner => {
                let anonymous = t.call(spec.method.clone(), &path, None, body.clone()).await;
                assert_eq!(anonymous.status(), 401, "{} {}", spec.method, spec.path);
            }
        }
        if spec.access == lyra_auth::Access::Owner {
            let response = t
                .call(spec.method.clone(), &path, Some(&viewer), body.clone())
                .await;
            assert_eq!(response.status(), 403, "{} {}", spec.method, spec.path);
        }
    }
}

/// Creates an object of organisation `org` for a route with an id, and returns its id.
async fn fixture(t: &TestAuth, path: &str, org: OrgId) -> String {
    match path {
        "/v1/users/{id}" => t
            .user(&format!("victim{}@beta.example", org.0), org, Role::Viewer)
            .await
            .to_string(),
        "/v1/tokens/{id}" => {
            let owner = t
                .user(
                    &format!("tokenowner{}@beta.example", org.0),
                    org,
                    Role::Owner,
                )
                .await;
            let mut conn = t.admin.acquire().await.unwrap();
            let (id, _) = admin::insert_api_token(
                &mut conn,
                Some(org),
                "victim",
                &["metrics:read".into()],
                owner,
            )
            .await
            .unwrap();
            id.to_string()
        }
        other => panic!("no tenant-matrix fixture for route {other}: add one so it is covered"),
    }
}

#[tokio::test]
async fn another_organisations_object_answers_404_like_a_missing_one() {
    let t = TestAuth::spawn().await;
    t.user("owner-a@alpha.example", A, Role::Owner).await;
    let (owner_a, _) = t.tokens("owner-a@alpha.example").await;
    let body = |path: &str| match path {
        "/v1/users/{id}" => Some(json!({"role": "owner"})),
        _ => None,
    };
    for spec in lyra_auth::route_specs()
        .into_iter()
        .filter(|s| s.path.contains("{id}"))
    {
        let theirs = fixture(&t, spec.path, B).await;
        let missing = uuid::Uuid::new_v4().to_string();
        let cross = t
            .call(
                spec.method.clone(),
                &spec.path.replace("{id}", &theirs),
                Some(&owner_a),
                body(spec.path),
            )
            .await;
        let (cross_status, cross_body) = (cross.status(), cross.text().await.unwrap());
        let absent = t
            .call(
                spec.method.clone(),
                &spec.path.replace("{id}", &missing),
                Some(&owner_a),
                body(spec.path),
            )
            .await;
        let (absent_status, absent_body) = (absent.status(), absent.text().await.unwrap());
        assert_eq!(cross_status, 404, "{} {}", spec.method, spec.path);
        assert_eq!(
            (cross_status, cross_body),
            (absent_status, absent_body),
            "{} {}",
            spec.method,
            spec.path
        );
    }
    // And nothing of B's changed.
    let b_roles: Vec<String> =
        sqlx::query_scalar("SELECT role FROM auth.memberships WHERE org_id = $1")
            .bind(B.0)
            .fetch_all(&t.admin)
            .await
            .unwrap();
    assert!(b_roles.iter().all(|r| r != "owner" || b_roles.len() > 1));
    let revoked: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM auth.api_tokens WHERE org_id = $1 AND revoked_at IS NOT NULL",
    )
    .bind(B.0)
    .fetch_one(&t.admin)
    .await
    .unwrap();
    assert_eq!(revoked, 0);
}

#[tokio::test]
async fn the_audit_log_never_holds_a_secret() {
    let t = TestAuth::spawn().await;
    t.user("audit@alpha.example", A, Role::Owner).await;
    let (owner, refresh) = t.tokens("audit@alpha.example").await;
    t.login("audit@alpha.example", "Wrong-Password-123456", "192.0.2.77")
        .await;
    t.refresh(&refresh).await;
    t.refresh(&refresh).await;
    let created: Value = t
        .call(
            reqwest::Method::POST,
            "/v1/tokens",
            Some(&owner),
            Some(json!({"name": "x", "scopes": ["metrics:read"]})),
        )
        .await
        .json()
        .await
        .unwrap();
    let log: Vec<String> =
        sqlx::query_scalar("SELECT concat_ws(' ', event, ip, detail::text) FROM auth.audit_log")
            .fetch_all(&t.admin)
            .await
            .unwrap();
    let text = log.join("\n");
    for secret in [
        PASSWORD,
        "Wrong-Password-123456",
        &refresh,
        &owner,
        created["token"].as_str().unwrap(),
    ] {
        assert!(!text.contains(secret), "audit log holds a secret");
    }
    for event in [
        "login_success",
        "login_failure",
        "refresh_token_reuse",
        "token_created",
    ] {
        assert!(text.contains(event), "{event} missing from:\n{text}");
    }
    // The owner reads their organisation's log through the API, and only theirs.
    let entries: Value = t
        .call(reqwest::Method::GET, "/v1/audit", Some(&owner), None)
        .await
        .json()
        .await
        .unwrap();
    assert!(!entries["entries"].as_array().unwrap().is_empty());
    let _ = &t.db;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_concurrent_burst_cannot_get_past_the_account_limit() {
    let t = TestAuth::spawn().await;
    t.user("burst@alpha.example", A, Role::Viewer).await;
    let attempts = (0..110).map(|i| {
        let (http, url) = (t.http.clone(), t.running.url("/v1/auth/login"));
        async move {
            http.post(url)
                .header("x-forwarded-for", format!("10.9.{}.{}", i / 200, i % 200))
                .json(&json!({"email": "burst@alpha.example", "password": "Wrong-Password-123456"}))
                .send()
                .await
                .unwrap()
                .status()
                .as_u16()
        }
    });
    let statuses = futures::future::join_all(attempts).await;
    let checked = statuses.iter().filter(|s| **s == 401).count();
    let throttled = statuses.iter().filter(|s| **s == 429).count();
    assert_eq!((checked, throttled), (100, 10), "{statuses:?}");
    let failures: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM auth.login_failures WHERE account = 'burst@alpha.example'",
    )
    .fetch_one(&t.admin)
    .await
    .unwrap();
    assert_eq!(failures, 100);
}
