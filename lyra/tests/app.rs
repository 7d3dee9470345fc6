//! The dashboard end to end, through the gateway with real auth, metrics (and, for the
//! browser test, model-svc and the pipeline's jobs) on a generated bank:
//!
//! - over HTTP with a hand-kept cookie jar: login with CSRF, the cookies' attributes, every
//!   page, KPIs against SQL, another organisation's outlet, CSV downloads, a refresh of an
//!   expired session (twice at once), language, settings, logout;
//! - in real Chromium (Debian's package, driven by playwright-core from
//!   `app/tests/browser`): the same as a person would do it, with a screenshot of every page
//!   saved under `target/browser-artifacts/`.

mod support;

use std::collections::BTreeMap;
use std::path::PathBuf;

use lyra_common::config::Secret;
use lyra_common::db::{Db, DbRole, OrgId};
use lyra_common::testing::{Running, TestDb, fresh_db};
use reqwest::StatusCode;
use reqwest::header::{HeaderMap, LOCATION, SET_COOKIE};
use sqlx::PgPool;
use time::{Date, Duration};

struct World {
    _db: TestDb,
    admin: PgPool,
    gateway: Running,
    _services: Vec<Running>,
    org: OrgId,
    outlets: Vec<i64>,
}

/// The KPIs of the overview, computed from the transactions.
#[derive(Debug, PartialEq)]
struct Kpis {
    revenue: i64,
    transactions: i64,
    customers: i64,
}

impl World {
    async fn start(with_models: bool) -> World {
        let db = fresh_db().await;
        support::small_bank(&db).await;
        let admin = db.admin_pool().await;
        let (org, _) = lyra_auth::admin::ensure_demo_logins(&admin).await.unwrap();
        let mut settings = db.settings();
        let mut services = Vec::new();
        let auth = Running::start(lyra_auth::build(settings.clone()).await.unwrap());
        settings.gateway.upstreams.auth = Some(auth.base.clone());
        services.push(auth);
        let metrics = Running::start(lyra_metrics::build(settings.clone()).await.unwrap());
        settings.gateway.upstreams.metrics = Some(metrics.base.clone());
        services.push(metrics);
        if with_models {
            let models_dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../ml/models");
            lyra_model_svc::registry::register_dir(&admin, &models_dir, true)
                .await
                .unwrap();
            let models = Running::start(lyra_model_svc::build(settings.clone()).await.unwrap());
            settings.gateway.upstreams.model_svc = Some(models.base.clone());
            services.push(models);
            let token = support::bank_admin_api_token(&db, &["models:predict"]).await;
            let mut pipeline = settings.clone();
            pipeline.pipeline.api_token = Some(Secret::new(token));
            let platform = Db::connect_as(DbRole::Platform, &pipeline.database)
                .await
                .unwrap();
            let ctx = lyra_pipeline::context(&platform, &pipeline);
            lyra::pipeline::run_jobs(&ctx, "all", None).await.unwrap();
        }
        let app = Running::start(lyra_app::build(settings.clone()).await.unwrap());
        settings.gateway.upstreams.app = Some(app.base.clone());
        services.push(app);
        let gateway = Running::start(lyra_gateway::build(settings.clone()).await.unwrap());
        let outlets: Vec<i64> = sqlx::query_scalar(
            "SELECT merchant_id FROM ingest.merchants WHERE org_id = $1 ORDER BY merchant_id",
        )
        .bind(org.0)
        .fetch_all(&admin)
        .await
        .unwrap();
        assert!(!outlets.is_empty());
        World {
            _db: db,
            admin,
            gateway,
            _services: services,
            org,
            outlets,
        }
    }

    /// The last day with sales at `outlets` (the dashboard's default end).
    async fn last_day(&self, outlets: &[i64]) -> Date {
        sqlx::query_scalar(
            "SELECT max(day) FROM ingest.merchant_daily WHERE merchant_id = ANY ($1)",
        )
        .bind(outlets)
        .fetch_one(&self.admin)
        .await
        .unwrap()
    }

    /// Revenue (net), purchases and distinct buyers at `outlets` over Moscow days.
    async fn kpis(&self, outlets: &[i64], from: Date, to: Date) -> Kpis {
        let (revenue, transactions, customers): (i64, i64, i64) = sqlx::query_as(
            "SELECT coalesce(sum(amount_minor), 0)::bigint,
                    count(*) FILTER (WHERE amount_minor > 0),
                    count(DISTINCT customer_id) FILTER (WHERE amount_minor > 0)
               FROM ingest.transactions
              WHERE merchant_id = ANY ($1)
                AND (booked_at AT TIME ZONE 'Europe/Moscow')::date BETWEEN $2 AND $3",
        )
        .bind(outlets)
        .bind(from)
        .bind(to)
        .fetch_one(&self.admin)
        .await
        .unwrap();
        Kpis {
            revenue,
            transactions,
            customers,
        }
    }

    fn browser(&self) -> Browser {
        Browser {
            http: reqwest::Client::builder()
                .redirect(reqwest::redirect::Policy::none())
                .build()
                .unwrap(),
            base: self.gateway.base.clone(),
            jar: BTreeMap::new(),
        }
    }
}

/// A browser without a browser: keeps cookies by name as a browser would (a cookie with
/// `Max-Age=0` is removed) and sends what it has on every request.
struct Browser {
    http: reqwest::Client,
    base: String,
    jar: BTreeMap<String, String>,
}

struct Page {
    status: StatusCode,
    headers: HeaderMap,
    body: String,
}

impl Page {
    fn location(&self) -> &str {
        self.headers
            .get(LOCATION)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
    }

    fn set_cookies(&self) -> Vec<&str> {
        self.headers
            .get_all(SET_COOKIE)
            .iter()
            .filter_map(|v| v.to_str().ok())
            .collect()
    }

    fn csrf(&self) -> String {
        let marker = "name=\"csrf\" value=\"";
        let start = self.body.find(marker).expect("a form with a CSRF token") + marker.len();
        self.body[start..].split('"').next().unwrap().to_string()
    }

    /// The raw `data-value` of a KPI card.
    fn kpi(&self, name: &str) -> i64 {
        let card = format!("data-kpi=\"{name}\"");
        let rest = &self.body[self
            .body
            .find(&card)
            .unwrap_or_else(|| panic!("{name} card"))..];
        let marker = "data-value=\"";
        let start = rest.find(marker).unwrap() + marker.len();
        let value = rest[start..].split('"').next().unwrap();
        value
            .parse::<f64>()
            .unwrap_or_else(|_| panic!("{name}: {value:?}")) as i64
    }
}

impl Browser {
    fn cookie_header(&self) -> String {
        self.jar
            .iter()
            .map(|(k, v)| format!("{k}={v}"))
            .collect::<Vec<_>>()
            .join("; ")
    }

    async fn send(&mut self, request: reqwest::RequestBuilder) -> Page {
        let request = request
            .header("cookie", self.cookie_header())
            .header("accept-language", "en-GB,en;q=0.9");
        let response = request.send().await.unwrap();
        let page = Page {
            status: response.status(),
            headers: response.headers().clone(),
            body: response.text().await.unwrap(),
        };
        for cookie in page.set_cookies() {
            let pair = cookie.split(';').next().unwrap();
            let (name, value) = pair.split_once('=').unwrap();
            if cookie.contains("Max-Age=0") {
                self.jar.remove(name);
            } else {
                self.jar.insert(name.to_string(), value.to_string());
            }
        }
        page
    }

    async fn get(&mut self, path: &str) -> Page {
        let request = self.http.get(format!("{}{path}", self.base));
        self.send(request).await
    }

    async fn post(&mut self, path: &str, form: &[(&str, &str)]) -> Page {
        let request = self.http.post(format!("{}{path}", self.base)).form(form);
        self.send(request).await
    }

    async fn log_in(&mut self, email: &str, password: &str) -> Page {
        let csrf = self.get("/login").await.csrf();
        self.post(
            "/login",
            &[
                ("email", email),
                ("password", password),
                ("csrf", &csrf),
                ("next", "/"),
            ],
        )
        .await
    }
}

fn demo(role: &str) -> (&'static str, &'static str) {
    let (_, email, password) = lyra_auth::admin::DEMO_LOGINS
        .iter()
        .find(|(r, _, _)| *r == role)
        .unwrap();
    (email, password)
}

fn assert_session_cookie(set_cookie: &str) {
    for attribute in ["Path=/", "HttpOnly", "Secure", "SameSite=Lax"] {
        assert!(set_cookie.contains(attribute), "{set_cookie}: {attribute}");
    }
    assert!(set_cookie.starts_with("__Host-"), "{set_cookie}");
    assert!(!set_cookie.contains("Domain"), "{set_cookie}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn login_pages_csv_refresh_settings_and_logout_through_the_gateway() {
    let w = World::start(false).await;
    let mut b = w.browser();
    let (email, password) = demo("owner");

    // Not logged in: to the login page, which sets the CSRF cookie.
    let page = b.get("/customers?range=7").await;
    assert_eq!(page.status, StatusCode::SEE_OTHER);
    assert_eq!(page.location(), "/login?next=/customers%3Frange%3D7");
    let login = b.get("/login").await;
    assert_eq!(login.status, StatusCode::OK);
    assert!(
        login.body.contains("<html lang=\"en\""),
        "Accept-Language decides"
    );
    let csrf_cookie = login
        .set_cookies()
        .into_iter()
        .find(|c| c.starts_with("__Host-lyra-csrf="))
        .expect("a CSRF cookie")
        .to_string();
    assert_session_cookie(&csrf_cookie);
    assert!(
        login.headers["content-security-policy"]
            .to_str()
            .unwrap()
            .contains("frame-ancestors 'none'"),
        "the gateway's headers reach the pages"
    );
    let csrf = login.csrf();

    // Forged or cross-site forms are refused and log nobody in.
    for (token, cross_site) in [
        ("forged-token-forged-token-forged-token", false),
        (csrf.as_str(), true),
    ] {
        let mut request = b.http.post(format!("{}/login", b.base)).form(&[
            ("email", email),
            ("password", password),
            ("csrf", token),
        ]);
        if cross_site {
            request = request.header("sec-fetch-site", "cross-site");
        }
        let page = b.send(request).await;
        assert_eq!(page.status, StatusCode::FORBIDDEN, "{token} {cross_site}");
        assert!(!b.jar.contains_key("__Host-lyra-access"));
    }
    // A wrong password: the form again, with the reason.
    let page = b
        .post(
            "/login",
            &[
                ("email", email),
                ("password", "Wrong-Password-123"),
                ("csrf", &csrf),
            ],
        )
        .await;
    assert_eq!(page.status, StatusCode::UNAUTHORIZED);
    assert!(
        page.body.contains("Wrong e-mail or password."),
        "{}",
        page.body
    );
    // The right one: session cookies and back to where the person was going.
    let page = b
        .post(
            "/login",
            &[
                ("email", email),
                ("password", password),
                ("csrf", &csrf),
                ("next", "/customers?range=7"),
            ],
        )
        .await;
    assert_eq!(page.status, StatusCode::SEE_OTHER, "{}", page.body);
    assert_eq!(page.location(), "/customers?range=7");
    let cookies = page.set_cookies();
    assert_eq!(cookies.len(), 2, "{cookies:?}");
    cookies.iter().for_each(|c| assert_session_cookie(c));
    assert!(
        cookies
            .iter()
            .any(|c| c.starts_with("__Host-lyra-access=") && c.contains("Max-Age=900"))
    );
    // An open redirect is not possible through `next`.
    let mut other = w.browser();
    let csrf2 = other.get("/login").await.csrf();
    let page = other
        .post(
            "/login",
            &[
                ("email", email),
                ("password", password),
                ("csrf", &csrf2),
                ("next", "//evil.example/"),
            ],
        )
        .await;
    assert_eq!(page.location(), "/");

    // The overview's KPIs are the transactions' (one outlet, a custom period).
    let outlet = w.outlets[0];
    let to = w.last_day(&[outlet]).await;
    let from = to - Duration::days(13);
    let page = b
        .get(&format!(
            "/?merchant={outlet}&range=custom&from={from}&to={to}&compare=previous"
        ))
        .await;
    assert_eq!(page.status, StatusCode::OK);
    let expected = w.kpis(&[outlet], from, to).await;
    assert_eq!(
        Kpis {
            revenue: page.kpi("revenue"),
            transactions: page.kpi("transactions"),
            customers: page.kpi("customers"),
        },
        expected
    );
    assert!(page.body.contains("<svg"), "charts");
    assert!(page.body.contains("role=\"img\""));
    // The default: every outlet, the 30 days up to the last day with sales.
    let page = b.get("/").await;
    let to = w.last_day(&w.outlets).await;
    let expected = w.kpis(&w.outlets, to - Duration::days(29), to).await;
    assert_eq!(page.kpi("revenue"), expected.revenue);
    assert_eq!(page.kpi("customers"), expected.customers);
    // Peer medians need one outlet; the page says why there is none.
    assert!(
        page.body.contains("Peer comparisons are for one outlet"),
        "{}",
        page.body
    );

    // Every page answers, with charts and a CSV link under each of them.
    for (path, heading) in [
        ("/", "Overview"),
        ("/customers?range=90", "Customers"),
        ("/categories?range=90", "Categories"),
        (&format!("/competitors?merchant={outlet}"), "Competitors"),
        ("/forecast", "Forecast"),
        ("/settings", "Settings"),
    ] {
        let page = b.get(path).await;
        assert_eq!(page.status, StatusCode::OK, "{path}");
        assert!(page.body.contains(&format!("<h1>{heading}</h1>")), "{path}");
        assert_eq!(page.headers["cache-control"], "no-store", "{path}");
        if path != "/settings" && path != "/forecast" {
            assert!(page.body.contains("class=\"chart\""), "{path}");
            let charts = page.body.matches("class=\"card\"").count();
            let downloads = page.body.matches("<p class=\"downloads\"><a").count();
            assert!(
                charts > 0 && downloads >= charts,
                "{path}: {charts} sections, {downloads} downloads"
            );
        }
    }

    // Competitors are about one outlet: "all outlets" opens the first one.
    let page = b.get("/competitors?range=90").await;
    assert_eq!(page.status, StatusCode::SEE_OTHER);
    assert_eq!(
        page.location(),
        format!(
            "/competitors?merchant={}&range=90&compare=previous",
            w.outlets[0]
        )
    );

    // Another organisation's outlet is not found, like a missing one.
    let foreign: i64 = sqlx::query_scalar(
        "SELECT merchant_id FROM ingest.merchants WHERE org_id IS DISTINCT FROM $1 ORDER BY merchant_id LIMIT 1",
    )
    .bind(w.org.0)
    .fetch_one(&w.admin)
    .await
    .unwrap();
    for id in [foreign, 999_999_999] {
        let page = b.get(&format!("/?merchant={id}")).await;
        assert_eq!(page.status, StatusCode::NOT_FOUND, "{id}");
        assert!(page.body.contains("There is no such outlet"));
        assert!(!page.body.contains("data-value=\"1"), "no figures");
    }

    // A CSV download is the metrics table, formula-safe, as an attachment.
    let page = b
        .get("/csv/overview?days=30&compare=previous&table=kpis")
        .await;
    assert_eq!(page.status, StatusCode::OK);
    assert!(
        page.headers["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/csv")
    );
    assert!(
        page.headers["content-disposition"]
            .to_str()
            .unwrap()
            .starts_with("attachment")
    );
    let header = page.body.lines().next().unwrap();
    assert!(header.starts_with("kpi,unit,value"), "{header}");
    let revenue = page
        .body
        .lines()
        .find(|l| l.starts_with("revenue,"))
        .unwrap();
    assert!(
        revenue.contains(&format!(",{},", expected.revenue)),
        "{revenue}"
    );
    // Only metrics tables: nothing else is reachable through the download route.
    for path in [
        "/csv/overview%3Fx",
        "/csv/a%2F%2Fb",
        "/csv/openapi.json",
        "/csv/v1%2Fusers",
    ] {
        assert_eq!(b.get(path).await.status, StatusCode::NOT_FOUND, "{path}");
    }

    // An expired access token: the refresh token renews both, once, even for two requests
    // at the same time (a second rotation would look like theft and end the session).
    b.jar.insert("__Host-lyra-access".into(), "expired".into());
    let cookie = b.cookie_header();
    let get = |path: &'static str| {
        b.http
            .get(format!("{}{path}", b.base))
            .header("cookie", cookie.clone())
            .send()
    };
    let (one, two) = tokio::join!(get("/"), get("/customers"));
    let (one, two) = (one.unwrap(), two.unwrap());
    assert_eq!(
        (one.status(), two.status()),
        (StatusCode::OK, StatusCode::OK)
    );
    let renewed = |r: &reqwest::Response| -> Vec<String> {
        r.headers()
            .get_all(SET_COOKIE)
            .iter()
            .map(|v| v.to_str().unwrap().split(';').next().unwrap().to_string())
            .collect()
    };
    let (a, c) = (renewed(&one), renewed(&two));
    assert_eq!(a.len(), 2, "{a:?}");
    assert_eq!(a, c, "one refresh for both");
    for pair in a {
        let (k, v) = pair.split_once('=').unwrap();
        b.jar.insert(k.into(), v.into());
    }
    assert_eq!(
        b.get("/").await.status,
        StatusCode::OK,
        "the renewed session works"
    );

    // Language: Russian on request, remembered.
    let csrf = b.get("/").await.csrf();
    let page = b
        .post(
            "/prefs",
            &[("csrf", &csrf), ("lang", "ru"), ("back", "/customers")],
        )
        .await;
    assert_eq!(page.location(), "/customers");
    let page = b.get("/customers").await;
    assert!(page.body.contains("<html lang=\"ru\""));
    assert!(page.body.contains("<h1>Клиенты</h1>"));
    let page = b
        .post(
            "/prefs",
            &[("csrf", &csrf), ("theme", "dark"), ("back", "//evil")],
        )
        .await;
    assert_eq!(page.location(), "/");
    assert!(b.get("/").await.body.contains("data-theme=\"dark\""));
    b.post("/prefs", &[("csrf", &csrf), ("lang", "en")]).await;

    // Settings: the owner creates an API token, shown once; a viewer may not.
    let page = b
        .post(
            "/settings/tokens",
            &[
                ("csrf", &csrf),
                ("name", "BI export"),
                ("scope", "metrics:read"),
            ],
        )
        .await;
    assert_eq!(page.status, StatusCode::OK, "{}", page.body);
    assert!(page.body.contains("id=\"new-token\""), "{}", page.body);
    assert!(b.get("/settings").await.body.contains("BI export"));
    let page = b
        .post(
            "/settings/tokens",
            &[
                ("csrf", "wrong-wrong-wrong-wrong-wrong-wrong"),
                ("name", "x"),
            ],
        )
        .await;
    assert_eq!(page.status, StatusCode::FORBIDDEN);
    let mut viewer = w.browser();
    let (v_email, v_password) = demo("viewer");
    assert_eq!(
        viewer.log_in(v_email, v_password).await.status,
        StatusCode::SEE_OTHER
    );
    let page = viewer.get("/settings").await;
    assert!(
        page.body.contains("Only the organisation's owners"),
        "{}",
        page.body
    );
    let v_csrf = page.csrf();
    let page = viewer
        .post(
            "/settings/tokens",
            &[
                ("csrf", &v_csrf),
                ("name", "mine"),
                ("scope", "metrics:read"),
            ],
        )
        .await;
    assert!(
        page.body.contains("Not saved"),
        "auth refuses a viewer: {}",
        page.body
    );
    assert!(!page.body.contains("id=\"new-token\""));

    // The owner makes the viewer a marketer, through the form.
    let viewer_id: String =
        sqlx::query_scalar("SELECT user_id::text FROM auth.users WHERE email = $1")
            .bind(v_email)
            .fetch_one(&w.admin)
            .await
            .unwrap();
    let page = b
        .post(
            &format!("/settings/users/{viewer_id}"),
            &[("csrf", &csrf), ("role", "marketer"), ("disabled", "false")],
        )
        .await;
    assert!(page.body.contains("Saved."), "{}", page.body);
    let role: String =
        sqlx::query_scalar("SELECT role FROM auth.memberships WHERE user_id = $1::uuid")
            .bind(&viewer_id)
            .fetch_one(&w.admin)
            .await
            .unwrap();
    assert_eq!(role, "marketer");

    // Logout ends the session at auth: the old refresh token no longer renews it.
    let refresh = b.jar["__Host-lyra-refresh"].clone();
    let page = b.post("/logout", &[("csrf", &csrf)]).await;
    assert_eq!(page.status, StatusCode::SEE_OTHER);
    assert!(
        !b.jar.contains_key("__Host-lyra-access") && !b.jar.contains_key("__Host-lyra-refresh")
    );
    assert_eq!(b.get("/").await.status, StatusCode::SEE_OTHER);
    b.jar.insert("__Host-lyra-refresh".into(), refresh);
    let page = b.get("/").await;
    assert_eq!(page.status, StatusCode::SEE_OTHER, "revoked at auth");
    assert!(page.location().starts_with("/login"));
}

/// Real Chromium through playwright-core: `npm ci --prefix app/tests/browser` and Debian's
/// `chromium` must be installed (`.ci/run` does both).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_dashboard_in_chromium() {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..");
    let script = root.join("app/tests/browser/dashboard.mjs");
    let w = World::start(true).await;
    let (email, password) = demo("owner");
    let to = w.last_day(&w.outlets).await;
    let expected = |from: Date| w.kpis(&w.outlets, from, to);
    let month = expected(to - Duration::days(29)).await;
    let week = expected(to - Duration::days(6)).await;
    let artifacts = root.join("target/browser-artifacts");
    let _ = std::fs::remove_dir_all(&artifacts);
    std::fs::create_dir_all(&artifacts).unwrap();
    let input = serde_json::json!({
        "base": w.gateway.base,
        "email": email,
        "password": password,
        "to": to.to_string(),
        "last_year_to": (to - Duration::days(365)).year().to_string(),
        "expected": {
            "30": { "revenue": month.revenue, "transactions": month.transactions, "customers": month.customers },
            "7": { "revenue": week.revenue, "transactions": week.transactions, "customers": week.customers },
        },
        "artifacts": artifacts,
    });
    let output = tokio::process::Command::new("node")
        .arg(&script)
        .env("LYRA_BROWSER_TEST", input.to_string())
        .output()
        .await
        .expect("node (Node.js) is installed");
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        output.status.success(),
        "browser test failed:\n{stdout}\n{stderr}"
    );
    assert!(
        stdout.contains("all browser checks passed"),
        "{stdout}\n{stderr}"
    );
    for page in [
        "overview",
        "customers",
        "categories",
        "competitors",
        "forecast",
        "settings",
    ] {
        let shot = artifacts.join(format!("{page}.png"));
        assert!(
            std::fs::metadata(&shot)
                .map(|m| m.len() > 10_000)
                .unwrap_or(false),
            "{}",
            shot.display()
        );
    }
}
