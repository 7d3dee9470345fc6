//! `lyra bench generate`: generation to files against its peer, a plain sequential write of
//! the same number of bytes to the same disk, measured in the same run.

use std::io::{IsTerminal, Write};
use std::path::PathBuf;
use std::time::Instant;

use crate::DataArgs;

/// The throughput PRODUCT.md holds the generator to.
const GOAL_TXNS_PER_SECOND: f64 = 1_000_000.0;

/// Runs the benchmark and prints both figures and their ratio.
pub fn generate(args: &DataArgs, dir: Option<PathBuf>) -> anyhow::Result<()> {
    let dir = dir.unwrap_or_else(|| {
        std::env::temp_dir().join(format!("lyra-bench-gen-{}", std::process::id()))
    });
    let config = args.config()?;
    eprintln!(
        "generating {} customers, {} merchants, {} months with {} threads into {}",
        config.customers,
        config.merchants,
        config.months,
        args.threads(),
        dir.display()
    );
    let (summary, seconds) = crate::generate::to_files(args, &dir)?;
    let bytes: u64 = walk_size(&dir)?;
    std::fs::remove_dir_all(&dir).ok();

    // The peer: write the same number of bytes, 1 MiB at a time, and sync.
    std::fs::create_dir_all(&dir)?;
    let path = dir.join("plain-write");
    let block = vec![b'x'; 1 << 20];
    let started = Instant::now();
    let mut file = std::io::BufWriter::new(std::fs::File::create(&path)?);
    let mut left = bytes;
    while left > 0 {
        let n = left.min(block.len() as u64) as usize;
        file.write_all(&block[..n])?;
        left -= n as u64;
    }
    file.flush()?;
    let plain = started.elapsed().as_secs_f64();
    std::fs::remove_dir_all(&dir).ok();

    let rate = summary.transactions as f64 / seconds;
    println!("transactions:           {}", summary.transactions);
    println!("bytes written:          {bytes}");
    println!(
        "lyra generate:          {seconds:.2} s  {rate:.0} transactions/s  {:.0} MB/s",
        bytes as f64 / seconds / 1e6
    );
    println!(
        "plain write, same bytes: {plain:.2} s  {:.0} MB/s",
        bytes as f64 / plain / 1e6
    );
    println!("ratio generate/plain write time: {:.2}", seconds / plain);
    println!(
        "goal {} transactions/s: {} ({:.2}x)",
        GOAL_TXNS_PER_SECOND,
        if rate >= GOAL_TXNS_PER_SECOND {
            "met"
        } else {
            "MISSED"
        },
        rate / GOAL_TXNS_PER_SECOND
    );
    Ok(())
}

fn walk_size(dir: &std::path::Path) -> std::io::Result<u64> {
    let mut total = 0;
    for entry in std::fs::read_dir(dir)? {
        let entry = entry?;
        let meta = entry.metadata()?;
        total += if meta.is_dir() {
            walk_size(&entry.path())?
        } else {
            meta.len()
        };
    }
    Ok(total)
}

/// Latency and throughput of one batch of requests.
struct Measured {
    p50_ms: f64,
    p99_ms: f64,
    per_second: f64,
    errors: usize,
}

async fn measure(url: &str, token: Option<&str>, requests: usize, concurrency: usize) -> Measured {
    let http = reqwest::Client::builder()
        .pool_max_idle_per_host(concurrency)
        .build()
        .expect("client");
    let started = std::time::Instant::now();
    let tasks: Vec<_> = (0..concurrency)
        .map(|worker| {
            let (http, url, token) = (http.clone(), url.to_string(), token.map(str::to_string));
            let n = requests / concurrency + usize::from(worker < requests % concurrency);
            tokio::spawn(async move {
                let mut latencies = Vec::with_capacity(n);
                let mut errors = 0;
                for _ in 0..n {
                    let t = std::time::Instant::now();
                    let mut request = http.get(&url);
                    if let Some(token) = &token {
                        request = request.bearer_auth(token);
                    }
                    match request.send().await {
                        Ok(r) if r.status().is_success() => {
                            let _ = r.bytes().await;
                        }
                        _ => errors += 1,
                    }
                    latencies.push(t.elapsed().as_secs_f64() * 1000.0);
                }
                (latencies, errors)
            })
        })
        .collect();
    let mut latencies = Vec::with_capacity(requests);
    let mut errors = 0;
    for task in tasks {
        let (l, e) = task.await.expect("worker");
        latencies.extend(l);
        errors += e;
    }
    let seconds = started.elapsed().as_secs_f64();
    latencies.sort_by(f64::total_cmp);
    let sorted = Latencies {
        ms: latencies,
        errors,
    };
    Measured {
        p50_ms: sorted.at(0.50),
        p99_ms: sorted.at(0.99),
        per_second: requests as f64 / seconds,
        errors: sorted.errors,
    }
}

/// The settings of an in-process benchmark against the database of `lyra db start` (or
/// DATABASE_URL): quiet logs, ports chosen by the system, and the gateway's rate limits out
/// of the way (the benchmarks measure the services, not the limiter).
fn bench_settings() -> anyhow::Result<lyra_common::Settings> {
    let mut settings = crate::db::settings()?;
    settings.log.filter = "warn".into();
    lyra_common::telemetry::init(&settings.log);
    for service in lyra_common::Service::ALL {
        settings.services.of_mut(service).port = 0;
    }
    settings.gateway.per_address_per_second = 1_000_000;
    settings.gateway.per_address_burst = 1_000_000;
    settings.gateway.per_token_per_second = 1_000_000;
    settings.gateway.per_token_burst = 1_000_000;
    Ok(settings)
}

/// `lyra bench gateway`: auth and the gateway in this process against the database of
/// `lyra db start` (or DATABASE_URL); the same requests direct and through the gateway.
pub async fn gateway(requests: usize, concurrency: usize) -> anyhow::Result<()> {
    let mut settings = bench_settings()?;
    let services = InProcess::new();
    let spawn = |app| services.spawn(app);
    let auth = spawn(lyra_auth::build(settings.clone()).await?);
    settings.gateway.upstreams.auth = Some(auth.clone());
    let gateway = spawn(lyra_gateway::build(settings.clone()).await?);

    // A token for the authenticated route: the demo owner's, when the demo is loaded.
    let (_, email, password) = lyra_auth::admin::DEMO_LOGINS[0];
    let login = reqwest::Client::new()
        .post(format!("{auth}/v1/auth/login"))
        .json(&serde_json::json!({"email": email, "password": password}))
        .send()
        .await?;
    let token = if login.status().is_success() {
        login.json::<serde_json::Value>().await?["access_token"]
            .as_str()
            .map(str::to_string)
    } else {
        eprintln!(
            "(no demo login in this database: run `lyra up` once to bench the authenticated route too)"
        );
        None
    };

    println!("{requests} requests, {concurrency} concurrent connections, loopback, this machine");
    println!(
        "{:<44} {:>9} {:>9} {:>10} {:>7}",
        "route", "p50 ms", "p99 ms", "req/s", "errors"
    );
    let mut cases = vec![(
        "GET /.well-known/jwks.json (public)",
        "/.well-known/jwks.json",
        None,
    )];
    if let Some(token) = &token {
        cases.push((
            "GET /v1/auth/me (token verified)",
            "/v1/auth/me",
            Some(token.as_str()),
        ));
    }
    for (name, path, token) in cases {
        // Warm both paths, then measure direct and through the gateway back to back.
        measure(&format!("{auth}{path}"), token, 500, concurrency).await;
        measure(&format!("{gateway}{path}"), token, 500, concurrency).await;
        let direct = measure(&format!("{auth}{path}"), token, requests, concurrency).await;
        let via = measure(&format!("{gateway}{path}"), token, requests, concurrency).await;
        for (label, m) in [("direct to auth", &direct), ("through the gateway", &via)] {
            println!(
                "{:<44} {:>9.2} {:>9.2} {:>10.0} {:>7}",
                format!("{name}, {label}"),
                m.p50_ms,
                m.p99_ms,
                m.per_second,
                m.errors
            );
        }
        println!(
            "  ratio gateway/direct: p50 {:.2}x, p99 {:.2}x, throughput {:.2}x",
            via.p50_ms / direct.p50_ms,
            via.p99_ms / direct.p99_ms,
            via.per_second / direct.per_second
        );
    }
    services.stop().await;
    Ok(())
}

/// PRODUCT.md §8: a dashboard page within 0.5 s at the 99th percentile.
const PAGE_BUDGET_MS: f64 = 500.0;
/// The metrics issue's goal: 0.1 s at the 99th percentile.
const PAGE_GOAL_MS: f64 = 100.0;

/// `lyra bench metrics`: auth and metrics in this process against the database of
/// `lyra db start` (or DATABASE_URL), which must hold the demo data and migration 0010. The
/// demo owner opens every metrics page of its first outlet, `concurrency` requests at a
/// time with no pause between them, over the last 30 days and over 12 months: the first
/// (cold) request, then p50 and p99 against the budget of PRODUCT.md (0.5 s) and the goal
/// (0.1 s).
pub async fn metrics(requests: usize, concurrency: usize) -> anyhow::Result<()> {
    let mut settings = bench_settings()?;
    let admin = crate::db::admin_pool().await?;
    let (org, name) = lyra_auth::admin::ensure_demo_logins(&admin).await?;
    let services = InProcess::new();
    let auth = services.spawn(lyra_auth::build(settings.clone()).await?);
    settings.gateway.upstreams.auth = Some(auth.clone());
    let metrics = services.spawn(lyra_metrics::build(settings.clone()).await?);
    let (_, email, password) = lyra_auth::admin::DEMO_LOGINS[0];
    let http = reqwest::Client::new();
    let login: serde_json::Value = http
        .post(format!("{auth}/v1/auth/login"))
        .json(&serde_json::json!({"email": email, "password": password}))
        .send()
        .await?
        .error_for_status()?
        .json()
        .await?;
    let token = login["access_token"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    // Its first outlet: one outlet's pages include the peer figures.
    let outlet: i64 =
        sqlx::query_scalar("SELECT min(merchant_id) FROM ingest.merchants WHERE org_id = $1")
            .bind(org.0)
            .fetch_one(&admin)
            .await?;
    let overview: serde_json::Value = http
        .get(format!("{metrics}/v1/metrics/overview?merchant={outlet}"))
        .bearer_auth(&token)
        .send()
        .await?
        .error_for_status()?
        .json()
        .await?;
    let to = overview["meta"]["to"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    let year_from = time::Date::parse(
        &to,
        time::macros::format_description!("[year]-[month]-[day]"),
    )? - time::Duration::days(364);

    println!(
        "organisation {} ({name}), outlet {outlet} (peer group {}, {} peers); {requests} requests per page, {concurrency} at a time",
        org.0, overview["peer_group"]["category_group"], overview["peer_group"]["peers"]
    );
    println!(
        "{:<44} {:>9} {:>9} {:>9} {:>8} {:>7}",
        "page", "cold ms", "p50 ms", "p99 ms", "req/s", "errors"
    );
    let mut worst: f64 = 0.0;
    for (label, range) in [
        ("30 days", format!("?merchant={outlet}")),
        (
            "12 months",
            format!("?merchant={outlet}&from={year_from}&to={to}"),
        ),
    ] {
        for spec in lyra_metrics::route_specs() {
            if spec.access != lyra_metrics::Access::Tenant {
                continue;
            }
            let url = format!("{metrics}{}{range}", spec.path);
            let cold = measure(&url, Some(&token), 1, 1).await;
            measure(&url, Some(&token), concurrency, concurrency).await;
            let m = measure(&url, Some(&token), requests, concurrency).await;
            worst = worst.max(m.p99_ms);
            println!(
                "{:<44} {:>9.1} {:>9.1} {:>9.1} {:>8.0} {:>7}",
                format!("{} ({label})", spec.path.trim_start_matches("/v1/metrics/")),
                cold.p50_ms,
                m.p50_ms,
                m.p99_ms,
                m.per_second,
                m.errors
            );
        }
    }
    println!(
        "worst p99 {worst:.1} ms: {:.2}x the budget of {PAGE_BUDGET_MS} ms ({}), {:.2}x the goal of {PAGE_GOAL_MS} ms ({})",
        worst / PAGE_BUDGET_MS,
        if worst <= PAGE_BUDGET_MS {
            "met"
        } else {
            "MISSED"
        },
        worst / PAGE_GOAL_MS,
        if worst <= PAGE_GOAL_MS {
            "met"
        } else {
            "missed"
        },
    );
    services.stop().await;
    Ok(())
}

/// Latencies of one kind of request, sorted, with the failures.
struct Latencies {
    ms: Vec<f64>,
    errors: usize,
}

impl Latencies {
    fn at(&self, q: f64) -> f64 {
        if self.ms.is_empty() {
            return f64::NAN;
        }
        self.ms[((self.ms.len() as f64 * q) as usize).min(self.ms.len() - 1)]
    }
}

/// Runs `work(worker, i)` from `workers` tasks in a closed loop for `seconds`; each call
/// returns which kind of request it was and whether it succeeded.
async fn closed_loop<F, Fut>(workers: usize, seconds: f64, work: F) -> Vec<Latencies>
where
    F: Fn(usize, usize) -> Fut + Clone + Send + 'static,
    Fut: std::future::Future<Output = (usize, bool)> + Send,
{
    let until = std::time::Instant::now() + std::time::Duration::from_secs_f64(seconds);
    let tasks: Vec<_> = (0..workers)
        .map(|worker| {
            let work = work.clone();
            tokio::spawn(async move {
                let mut seen: Vec<(usize, f64, bool)> = Vec::new();
                let mut i = worker;
                while std::time::Instant::now() < until {
                    let t = std::time::Instant::now();
                    let (kind, ok) = work(worker, i).await;
                    seen.push((kind, t.elapsed().as_secs_f64() * 1000.0, ok));
                    i += 1;
                }
                seen
            })
        })
        .collect();
    let mut kinds: Vec<Latencies> = Vec::new();
    for task in tasks {
        for (kind, ms, ok) in task.await.expect("worker") {
            while kinds.len() <= kind {
                kinds.push(Latencies {
                    ms: Vec::new(),
                    errors: 0,
                });
            }
            kinds[kind].ms.push(ms);
            if !ok {
                kinds[kind].errors += 1;
            }
        }
    }
    for k in &mut kinds {
        k.ms.sort_by(f64::total_cmp);
    }
    kinds
}

/// Logs in through the app's login form (CSRF cookie and token, then the password) and
/// returns the browser's `Cookie` header.
async fn browser_login(
    http: &reqwest::Client,
    base: &str,
    email: &str,
    password: &str,
) -> anyhow::Result<String> {
    let mut jar: Vec<String> = Vec::new();
    let keep = |jar: &mut Vec<String>, r: &reqwest::Response| {
        for c in r.headers().get_all(reqwest::header::SET_COOKIE) {
            if let Some(pair) = c.to_str().ok().and_then(|c| c.split(';').next()) {
                jar.push(pair.to_string());
            }
        }
    };
    let form = http.get(format!("{base}/login")).send().await?;
    keep(&mut jar, &form);
    let body = form.text().await?;
    let marker = "name=\"csrf\" value=\"";
    let csrf = body
        .split(marker)
        .nth(1)
        .and_then(|rest| rest.split('"').next())
        .ok_or_else(|| anyhow::anyhow!("no CSRF token on the login page"))?
        .to_string();
    let done = http
        .post(format!("{base}/login"))
        .header("cookie", jar.join("; "))
        .form(&[("email", email), ("password", password), ("csrf", &csrf)])
        .send()
        .await?;
    anyhow::ensure!(
        done.status() == reqwest::StatusCode::SEE_OTHER,
        "login answered {}",
        done.status()
    );
    keep(&mut jar, &done);
    Ok(jar.join("; "))
}

/// `lyra bench app`: PRODUCT.md §8 and the dashboard issue's load test. Auth, metrics, the
/// app and the gateway in this process against the database of `lyra db start` (or
/// DATABASE_URL) holding the demo data; `sessions` browsers log in through the login form
/// and load the overview and customers pages of the demo owner's first outlet (30 days)
/// in a closed loop for `seconds`. The peer: the overview's KPI queries (the period, the
/// comparison period and the peers) run straight in Postgres, as the application role for
/// the organisation, by as many concurrent clients for a quarter of the time.
pub async fn app(seconds: u64, sessions: usize) -> anyhow::Result<()> {
    use lyra_common::db::{Db, DbRole};
    let mut settings = bench_settings()?;
    let admin = crate::db::admin_pool().await?;
    let (org, name) = lyra_auth::admin::ensure_demo_logins(&admin).await?;
    let outlet: i64 =
        sqlx::query_scalar("SELECT min(merchant_id) FROM ingest.merchants WHERE org_id = $1")
            .bind(org.0)
            .fetch_one(&admin)
            .await?;
    let to: time::Date =
        sqlx::query_scalar("SELECT max(day) FROM ingest.merchant_daily WHERE merchant_id = $1")
            .bind(outlet)
            .fetch_one(&admin)
            .await?;
    let services = InProcess::new();
    let auth = services.spawn(lyra_auth::build(settings.clone()).await?);
    settings.gateway.upstreams.auth = Some(auth);
    let metrics = services.spawn(lyra_metrics::build(settings.clone()).await?);
    settings.gateway.upstreams.metrics = Some(metrics);
    let app = services.spawn(lyra_app::build(settings.clone()).await?);
    settings.gateway.upstreams.app = Some(app);
    let gateway = services.spawn(lyra_gateway::build(settings.clone()).await?);

    let http = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .pool_max_idle_per_host(sessions)
        .build()?;
    let (_, email, password) = lyra_auth::admin::DEMO_LOGINS[0];
    let mut cookies = Vec::with_capacity(sessions);
    for _ in 0..sessions {
        cookies.push(browser_login(&http, &gateway, email, password).await?);
    }
    let cookies = std::sync::Arc::new(cookies);
    let pages = std::sync::Arc::new([
        format!("{gateway}/?merchant={outlet}&range=30"),
        format!("{gateway}/customers?merchant={outlet}&range=30"),
    ]);
    println!(
        "organisation {} ({name}), outlet {outlet}, 30 days to {to}; {sessions} logged-in sessions, closed loop, loopback, this machine",
        org.0
    );
    let load = |seconds: f64| {
        let (http, cookies, pages) = (http.clone(), cookies.clone(), pages.clone());
        closed_loop(sessions, seconds, move |worker, i| {
            let (http, cookies, pages) = (http.clone(), cookies.clone(), pages.clone());
            async move {
                let kind = i % pages.len();
                let ok = match http
                    .get(&pages[kind])
                    .header("cookie", &cookies[worker])
                    .send()
                    .await
                {
                    Ok(r) if r.status() == reqwest::StatusCode::OK => r.bytes().await.is_ok(),
                    _ => false,
                };
                (kind, ok)
            }
        })
    };
    load(3.0).await; // warm-up
    let measured = load(seconds as f64).await;

    let mut db_settings = settings.database.clone();
    db_settings.max_connections = sessions.min(40) as u32;
    let db = Db::connect_as(DbRole::App, &db_settings).await?;
    let from = to - time::Duration::days(29);
    let before = (
        from - time::Duration::days(30),
        from - time::Duration::days(1),
    );
    let sql = closed_loop(sessions, (seconds as f64 / 4.0).max(5.0), move |_, _| {
        let db = db.clone();
        async move {
            let run = async {
                let mut tx = db.begin_for_org(org).await?;
                for (a, b) in [(from, to), before] {
                    sqlx::query("SELECT * FROM metrics.kpis($1, $2, $3)")
                        .bind(outlet)
                        .bind(a)
                        .bind(b)
                        .fetch_all(&mut *tx)
                        .await?;
                }
                sqlx::query("SELECT * FROM metrics.peer_kpis($1, $2, $3)")
                    .bind(outlet)
                    .bind(from)
                    .bind(to)
                    .fetch_all(&mut *tx)
                    .await?;
                tx.commit().await?;
                anyhow::Ok(())
            };
            (0, run.await.is_ok())
        }
    })
    .await;

    println!(
        "{:<52} {:>9} {:>9} {:>9} {:>8}",
        "", "requests", "p50 ms", "p99 ms", "errors"
    );
    let names = [
        "overview page (through the gateway)",
        "customers page (through the gateway)",
    ];
    for (name, l) in names.iter().zip(&measured) {
        println!(
            "{name:<52} {:>9} {:>9.1} {:>9.1} {:>8}",
            l.ms.len(),
            l.at(0.5),
            l.at(0.99),
            l.errors
        );
    }
    let peer = &sql[0];
    println!(
        "{:<52} {:>9} {:>9.1} {:>9.1} {:>8}",
        "overview KPI queries straight in Postgres",
        peer.ms.len(),
        peer.at(0.5),
        peer.at(0.99),
        peer.errors
    );
    let overview = &measured[0];
    println!(
        "ratio overview page / its SQL: p50 {:.2}x, p99 {:.2}x",
        overview.at(0.5) / peer.at(0.5),
        overview.at(0.99) / peer.at(0.99)
    );
    let worst = measured.iter().map(|l| l.at(0.99)).fold(0.0, f64::max);
    let errors: usize = measured.iter().map(|l| l.errors).sum();
    println!(
        "worst page p99 {worst:.1} ms: goal {PAGE_GOAL_MS} ms {}, budget {PAGE_BUDGET_MS} ms {}; errors {errors}",
        if worst <= PAGE_GOAL_MS {
            "met"
        } else {
            "MISSED"
        },
        if worst <= PAGE_BUDGET_MS {
            "met"
        } else {
            "MISSED"
        },
    );
    services.stop().await;
    Ok(())
}

/// `lyra bench ingest`: the same generated transactions file into the same partitioned,
/// indexed table with `psql \copy` and through the ingest service (parse, validate,
/// stage, deduplicate by bank id, insert, queue rollups, batch record), in alternation:
/// `rounds` rounds, each starting from empty tables; the median ratio is the figure.
pub async fn ingest(args: &DataArgs, rounds: usize) -> anyhow::Result<()> {
    anyhow::ensure!(rounds >= 1, "--rounds must be at least 1");
    use lyra_common::Service;
    use lyra_common::config::Secret;
    use lyra_common::db::DbRole;
    use sqlx::Executor;

    let admin_url = crate::db::admin_url()?;
    let mut bench_url = url::Url::parse(&admin_url)?;
    bench_url.set_path("lyra_bench_ingest");
    {
        let pool = crate::db::admin_pool().await?;
        pool.execute("DROP DATABASE IF EXISTS lyra_bench_ingest WITH (FORCE)")
            .await?;
        pool.execute("CREATE DATABASE lyra_bench_ingest").await?;
        pool.close().await;
    }
    let admin = sqlx::postgres::PgPoolOptions::new()
        .max_connections(2)
        .connect(bench_url.as_str())
        .await?;
    lyra_common::db::migrate(&admin).await?;

    let dir = std::env::temp_dir().join(format!("lyra-bench-ingest-{}", std::process::id()));
    let config = args.config()?;
    eprintln!(
        "generating {} customers, {} merchants, {} months into {}",
        config.customers,
        config.merchants,
        config.months,
        dir.display()
    );
    let mut sink = lyra_datagen::FileSink::create(&dir, lyra_datagen::Format::Csv)?;
    lyra_datagen::generate(
        &config,
        lyra_datagen::Format::Csv,
        &mut sink,
        args.threads(),
        &mut |_, _| {},
    )?;
    sink.finish()?;
    let file = dir.join("transactions.csv");
    let rows = std::fs::read_to_string(&file)?.lines().count() as u64 - 1;
    let bytes = std::fs::metadata(&file)?.len();

    // Master data straight in: it is not what is measured.
    let mut conn = admin.acquire().await?;
    for (table, name) in [
        ("auth.organisations (org_id, name)", "organisations.csv"),
        ("ingest.customers", "customers.csv"),
        ("ingest.merchants", "merchants.csv"),
    ] {
        let mut copy = conn
            .copy_in_raw(&format!(
                "COPY {table} FROM STDIN WITH (FORMAT csv, HEADER true)"
            ))
            .await?;
        copy.send(std::fs::read(dir.join(name))?).await?;
        copy.finish().await?;
    }
    let start =
        lyra_datagen::world::window_start(config.end, config.months) - time::Duration::days(1);
    sqlx::query("SELECT ingest.ensure_transaction_partitions($1, $2)")
        .bind(start)
        .bind(config.end)
        .execute(&mut *conn)
        .await?;
    conn.execute("ANALYZE").await?;
    drop(conn);

    // Lyra: auth and ingest in this process, the file streamed from disk over HTTP.
    let mut settings = crate::db::settings()?;
    settings.log.filter = "warn,sqlx=error".into();
    lyra_common::telemetry::init(&settings.log);
    for (role, slot) in [
        (DbRole::App, &mut settings.database.app_url),
        (DbRole::Platform, &mut settings.database.platform_url),
        (DbRole::Auth, &mut settings.database.auth_url),
    ] {
        *slot = Secret::new(crate::db::role_url(bench_url.as_str(), role.role_name())?);
    }
    for service in Service::ALL {
        settings.services.of_mut(service).port = 0;
    }
    let services = InProcess::new();
    let spawn = |app| services.spawn(app);
    let auth = spawn(lyra_auth::build(settings.clone()).await?);
    settings.gateway.upstreams.auth = Some(auth.clone());
    let ingest_url = spawn(lyra_ingest::build(settings.clone()).await?);
    lyra_auth::admin::create_user(
        &admin,
        "bench@bank.example",
        "Bench",
        "Tundra-Lantern-Violet-42",
        lyra_auth::admin::Membership::BankAdmin,
    )
    .await?;
    let api_token = lyra_auth::admin::create_platform_token(
        &admin,
        "bench@bank.example",
        "bench",
        &["ingest:write".into()],
    )
    .await?;
    let http = reqwest::Client::new();
    let exchanged: serde_json::Value = http
        .post(format!("{auth}/v1/auth/token"))
        .json(&serde_json::json!({"api_token": api_token}))
        .send()
        .await?
        .json()
        .await?;
    let token = exchanged["access_token"]
        .as_str()
        .unwrap_or_default()
        .to_string();

    println!(
        "{rows} transactions, {bytes} bytes of CSV, into ingest.transactions (partitioned, 2 indexes)"
    );
    println!("round  psql \\copy            lyra ingest (HTTP)     ratio");
    let columns = lyra_common::formats::Entity::Transactions
        .fields()
        .join(", ");
    // Every load starts from empty tables, after a checkpoint, with no rollups pending.
    let empty = || async {
        admin
            .execute(
                "TRUNCATE ingest.transactions, ingest.transaction_ids, ingest.merchant_daily,
                          ingest.merchant_customers, ingest.rollup_queue",
            )
            .await?;
        admin.execute("CHECKPOINT").await?;
        anyhow::Ok(())
    };
    let mut ratios = Vec::new();
    for round in 1..=rounds {
        // The peer: psql's \copy into the same table, same indexes.
        empty().await?;
        let started = std::time::Instant::now();
        let status = tokio::process::Command::new("psql")
            .arg(bench_url.as_str())
            .args(["-v", "ON_ERROR_STOP=1", "-q", "-c"])
            .arg(format!(
                "\\copy ingest.transactions ({columns}) FROM '{}' WITH (FORMAT csv, HEADER true)",
                file.display()
            ))
            .status()
            .await
            .map_err(|e| anyhow::anyhow!("cannot run psql (install the PostgreSQL client): {e}"))?;
        anyhow::ensure!(status.success(), "psql \\copy failed");
        let copy_seconds = started.elapsed().as_secs_f64();

        empty().await?;
        let started = std::time::Instant::now();
        let stream = crate::ingest::file_chunks(&file, |_| {}).await?;
        let response = http
            .post(format!("{ingest_url}/v1/transactions"))
            .bearer_auth(&token)
            .header("idempotency-key", format!("bench-{round}"))
            .header("content-type", "text/csv")
            .body(reqwest::Body::wrap_stream(stream))
            .send()
            .await?;
        let status = response.status();
        let report: serde_json::Value = response.json().await?;
        let lyra_seconds = started.elapsed().as_secs_f64();
        anyhow::ensure!(status.as_u16() == 201, "ingest answered {status}: {report}");
        anyhow::ensure!(
            report["rows_stored"].as_u64() == Some(rows),
            "stored {} of {rows}",
            report["rows_stored"]
        );
        // The rollup worker recomputes right after the commit: let it finish first.
        while sqlx::query_scalar::<_, i64>("SELECT count(*) FROM ingest.rollup_queue")
            .fetch_one(&admin)
            .await?
            > 0
        {
            tokio::time::sleep(std::time::Duration::from_millis(100)).await;
        }
        let ratio = copy_seconds / lyra_seconds;
        ratios.push(ratio);
        println!(
            "{round:>5}  {copy_seconds:>5.2} s {:>7.0} rows/s  {lyra_seconds:>5.2} s {:>7.0} rows/s  {ratio:.2}",
            rows as f64 / copy_seconds,
            rows as f64 / lyra_seconds,
        );
    }

    services.stop().await;
    admin.close().await;
    std::fs::remove_dir_all(&dir).ok();
    {
        let pool = crate::db::admin_pool().await?;
        pool.execute("DROP DATABASE IF EXISTS lyra_bench_ingest WITH (FORCE)")
            .await?;
    }
    let (median, _, _) = spread(ratios);
    println!(
        "ratio lyra/\\copy, median of {rounds}: {median:.2} (goal 0.70; Lyra also validates, \
         deduplicates by bank id, queues rollups and records the batch)"
    );
    Ok(())
}

/// Services started in this process for a benchmark, stopped together.
struct InProcess {
    stop: tokio::sync::watch::Sender<bool>,
}

impl InProcess {
    fn new() -> InProcess {
        InProcess {
            stop: tokio::sync::watch::channel(false).0,
        }
    }

    /// Runs `app` in the background; returns its base URL.
    fn spawn(&self, app: lyra_common::Application) -> String {
        let port = app.port();
        let mut stopped = self.stop.subscribe();
        tokio::spawn(app.run_until_stopped(async move {
            let _ = stopped.wait_for(|s| *s).await;
        }));
        format!("http://127.0.0.1:{port}")
    }

    async fn stop(self) {
        self.stop.send(true).ok();
        tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    }
}

/// Where `lyra bench models` looks for ONNX Runtime: `$LYRA_ML_VENV`, else the ml/ venv.
fn ml_python() -> anyhow::Result<PathBuf> {
    let venv = std::env::var_os("LYRA_ML_VENV")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".cache/lyra-ml-venv")))
        .ok_or_else(|| anyhow::anyhow!("set LYRA_ML_VENV to a Python venv with onnxruntime"))?;
    let python = venv.join("bin/python");
    let works = std::process::Command::new(&python)
        .args(["-c", "import onnxruntime, numpy"])
        .stderr(std::process::Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    anyhow::ensure!(
        works,
        "{} has no onnxruntime; create it with\n  python3 -m venv {v} && {v}/bin/pip install onnxruntime numpy\n(or point LYRA_ML_VENV at a venv that has it)",
        python.display(),
        v = venv.display()
    );
    Ok(python)
}

/// One model's rows per second at each batch size, through model-svc's inference code.
fn tract_rows_per_second(
    model: &lyra_model_svc::inference::Model,
    sample: &[Vec<Option<f64>>],
    batches: &[usize],
    seconds: f64,
) -> anyhow::Result<Vec<f64>> {
    let width = model.contract().input.width();
    let mut out = Vec::new();
    for &batch in batches {
        // The sample rows, repeated to fill the batch (ONNX Runtime's side does the same).
        let input: Vec<f32> = (0..batch)
            .flat_map(|r| sample[r % sample.len()].iter())
            .map(|v| v.map(|x| x as f32).unwrap_or(f32::NAN))
            .collect();
        anyhow::ensure!(
            input.len() == batch * width,
            "sample rows are not {width} wide"
        );
        for _ in 0..20 {
            model.infer(&input, batch)?;
        }
        let (mut runs, started) = (0u64, Instant::now());
        loop {
            std::hint::black_box(model.infer(&input, batch)?);
            runs += 1;
            let elapsed = started.elapsed().as_secs_f64();
            if elapsed >= seconds && runs >= 10 {
                out.push(batch as f64 * runs as f64 / elapsed);
                break;
            }
        }
    }
    Ok(out)
}

/// ONNX Runtime's side of one model: `ml/bench_onnxruntime.py --serve` in a child process,
/// the session loaded once, measuring all batch sizes each time it is asked.
struct OnnxRuntime {
    child: std::process::Child,
    stdin: std::process::ChildStdin,
    stdout: std::io::BufReader<std::process::ChildStdout>,
}

impl OnnxRuntime {
    fn start(
        python: &std::path::Path,
        script: &std::path::Path,
        model: &std::path::Path,
        threads: u32,
        seconds: f64,
    ) -> anyhow::Result<OnnxRuntime> {
        use std::process::{Command, Stdio};
        let batches = BATCHES.map(|b| b.to_string()).join(",");
        // Its errors (a missing module, an unreadable model) go straight to the terminal.
        let mut child = Command::new(python)
            .arg(script)
            .arg(model)
            .arg("--serve")
            .args(["--batches", &batches])
            .args(["--threads", &threads.to_string()])
            .args(["--seconds", &seconds.to_string()])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()?;
        let (Some(stdin), Some(stdout)) = (child.stdin.take(), child.stdout.take()) else {
            anyhow::bail!("{}: no pipes to the child process", script.display());
        };
        Ok(OnnxRuntime {
            child,
            stdin,
            stdout: std::io::BufReader::new(stdout),
        })
    }

    /// One measurement: rows per second at each batch size, and ONNX Runtime's version.
    fn measure(&mut self) -> anyhow::Result<(Vec<f64>, String)> {
        use std::io::BufRead;
        let mut line = String::new();
        let asked = writeln!(self.stdin).and_then(|_| self.stdin.flush());
        if asked.is_err() || self.stdout.read_line(&mut line)? == 0 {
            anyhow::bail!("ml/bench_onnxruntime.py stopped (its error is printed above)");
        }
        let answer: serde_json::Value = serde_json::from_str(&line)?;
        let rates = BATCHES
            .iter()
            .map(|b| answer["rows_per_second"][b.to_string()].as_f64())
            .collect::<Option<Vec<f64>>>()
            .ok_or_else(|| anyhow::anyhow!("ml/bench_onnxruntime.py answered {line:?}"))?;
        let version = answer["onnxruntime"].as_str().unwrap_or("?").to_string();
        Ok((rates, version))
    }
}

impl Drop for OnnxRuntime {
    fn drop(&mut self) {
        // Closing standard input ends the script; kill it in case it is still measuring.
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The batch sizes `lyra bench models` measures.
const BATCHES: [usize; 3] = [1, 64, 1024];

/// The median of some figures, and their smallest and largest.
fn spread(mut values: Vec<f64>) -> (f64, f64, f64) {
    values.sort_by(f64::total_cmp);
    let n = values.len();
    if n == 0 {
        return (f64::NAN, f64::NAN, f64::NAN);
    }
    let median = if n % 2 == 1 {
        values[n / 2]
    } else {
        (values[n / 2 - 1] + values[n / 2]) / 2.0
    };
    (median, values[0], values[n - 1])
}

/// `lyra bench models`: every model under `dir` (default `ml/models`, or model-svc's test
/// fixtures while no model is committed) through model-svc's in-process inference (tract,
/// one thread) and through ONNX Runtime on the same file and rows — single-threaded, the
/// fair comparison, and with its default threading — at batch sizes 1, 64 and 1024.
///
/// The sides alternate: each of `rounds` rounds measures tract, then ONNX Runtime, so the
/// ratio of a round compares two measurements a few seconds apart. This machine's speed
/// drifts by a third from one minute to the next; a ratio of adjacent measurements holds
/// where rows/s do not. Printed: medians over the rounds, and the range of the ratio.
pub fn models(dir: Option<PathBuf>, seconds: f64, rounds: usize) -> anyhow::Result<()> {
    const GOAL: f64 = 1.0;
    anyhow::ensure!(rounds >= 1, "--rounds must be at least 1");
    let model_dirs = |dir: &std::path::Path| -> Vec<PathBuf> {
        let mut dirs: Vec<PathBuf> = std::fs::read_dir(dir)
            .map(|d| {
                d.filter_map(|e| e.ok())
                    .map(|e| e.path())
                    .filter(|p| p.is_dir())
                    .collect()
            })
            .unwrap_or_default();
        dirs.sort();
        dirs
    };
    let (dir, dirs) = match dir {
        Some(dir) => {
            let dirs = model_dirs(&dir);
            anyhow::ensure!(!dirs.is_empty(), "{}: no model directories", dir.display());
            (dir, dirs)
        }
        None => {
            let committed = PathBuf::from("ml/models");
            let dirs = model_dirs(&committed);
            if dirs.is_empty() {
                let fixtures = PathBuf::from("model-svc/tests/fixtures");
                eprintln!(
                    "no model under ml/models yet: benchmarking model-svc's fixture models ({})",
                    fixtures.display()
                );
                let dirs = model_dirs(&fixtures);
                anyhow::ensure!(
                    !dirs.is_empty(),
                    "run from the repository root, or pass --models-dir"
                );
                (fixtures, dirs)
            } else {
                (committed, dirs)
            }
        }
    };
    let python = ml_python()?;
    let script = ["ml/bench_onnxruntime.py", "../ml/bench_onnxruntime.py"]
        .into_iter()
        .map(PathBuf::from)
        .find(|p| p.is_file())
        .ok_or_else(|| {
            anyhow::anyhow!("ml/bench_onnxruntime.py not found: run from the repository root")
        })?;

    println!(
        "models from {}; rows/s at each batch size, {seconds} s per measurement, medians of {rounds} alternating rounds; tract: model-svc's inference code in this process, one thread",
        dir.display()
    );
    println!(
        "ORT 1t: ONNX Runtime with intra_op_num_threads = inter_op_num_threads = 1 (the fair comparison); ORT default: its own threading (all {} cores)",
        std::thread::available_parallelism()
            .map(|n| n.get())
            .unwrap_or(1)
    );
    println!(
        "{:<22} {:>6} {:>13} {:>13} {:>7} {:>13} {:>13} {:>7}",
        "model", "batch", "tract", "ORT 1t", "ratio", "(range)", "ORT default", "ratio"
    );
    let mut at_1024 = Vec::new();
    let mut version = String::new();
    for path in &dirs {
        let name = path
            .file_name()
            .unwrap_or_default()
            .to_string_lossy()
            .into_owned();
        let (onnx, contract, sample) = lyra_model_svc::registry::read_model_dir(path)?;
        let validated = lyra_model_svc::validate::validate(&name, &onnx, &contract, &sample)
            .map_err(|r| anyhow::anyhow!("{name} failed validation:\n{}", r.text()))?;
        let rows = lyra_model_svc::contract::Sample::parse(&sample)
            .map_err(|p| anyhow::anyhow!("{p}"))?
            .input;
        let mut single = OnnxRuntime::start(&python, &script, path, 1, seconds)?;
        let mut default = OnnxRuntime::start(&python, &script, path, 0, seconds)?;
        // Per batch size: (tract, ORT 1t, ORT default) of every round.
        let mut measured = vec![Vec::new(); BATCHES.len()];
        // Progress on a terminal only: in a log, the carriage returns would run together.
        let progress = std::io::stderr().is_terminal();
        for round in 1..=rounds {
            if progress {
                eprint!("\r{name}: round {round}/{rounds}");
            }
            let tract = tract_rows_per_second(&validated.model, &rows, &BATCHES, seconds)?;
            let (one, v) = single.measure()?;
            let (all, _) = default.measure()?;
            version = v;
            for (i, m) in measured.iter_mut().enumerate() {
                m.push((tract[i], one[i], all[i]));
            }
        }
        if progress {
            eprint!("\r{:<40}\r", "");
        }
        for (batch, m) in BATCHES.iter().zip(measured) {
            let column = |f: fn(&(f64, f64, f64)) -> f64| spread(m.iter().map(f).collect());
            let (tract, one, all) = (column(|m| m.0), column(|m| m.1), column(|m| m.2));
            let (ratio, low, high) = column(|m| m.0 / m.1);
            let (ratio_all, _, _) = column(|m| m.0 / m.2);
            println!(
                "{:<22} {:>6} {:>13.0} {:>13.0} {:>7.2} {:>13} {:>13.0} {:>7.2}",
                name,
                batch,
                tract.0,
                one.0,
                ratio,
                format!("{low:.2}..{high:.2}"),
                all.0,
                ratio_all
            );
            if *batch == 1024 {
                at_1024.push((name.clone(), ratio, low, high));
            }
        }
    }
    println!("onnxruntime {version}");
    for (name, ratio, low, high) in at_1024 {
        println!(
            "goal tract/ONNX Runtime >= {GOAL:.1} at batch 1024, one thread each: {name} {ratio:.2} (rounds {low:.2}..{high:.2}) {}",
            if ratio >= GOAL { "met" } else { "MISSED" }
        );
    }
    Ok(())
}
