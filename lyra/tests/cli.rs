//! The `lyra` command as a user runs it: a real process, a real database, real files.

mod support;

use std::io::Read;
use std::path::Path;
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use lyra_common::db::DbRole;
use lyra_common::localpg;
use lyra_common::testing::fresh_db;

fn lyra() -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_lyra"));
    cmd.env_remove("DATABASE_URL")
        .env_remove("LYRA_CONFIG")
        .stdin(Stdio::null());
    for (key, _) in std::env::vars() {
        if key.starts_with("LYRA_") {
            cmd.env_remove(key);
        }
    }
    cmd
}

fn run(cmd: &mut Command) -> Output {
    let output = cmd.output().expect("lyra runs");
    if !output.status.success() {
        panic!(
            "lyra failed: {}\n{}",
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        );
    }
    output
}

fn same_files(a: &Path, b: &Path) -> bool {
    let (mut fa, mut fb) = (
        std::fs::File::open(a).unwrap(),
        std::fs::File::open(b).unwrap(),
    );
    if fa.metadata().unwrap().len() != fb.metadata().unwrap().len() {
        return false;
    }
    let (mut ba, mut bb) = (vec![0u8; 1 << 20], vec![0u8; 1 << 20]);
    loop {
        let n = fa.read(&mut ba).unwrap();
        let mut m = 0;
        while m < n {
            let k = fb.read(&mut bb[m..n]).unwrap();
            assert!(k > 0);
            m += k;
        }
        if ba[..n] != bb[..n] {
            return false;
        }
        if n == 0 {
            return true;
        }
    }
}

#[test]
fn demo_generation_is_byte_identical_for_a_seed_and_differs_across_seeds() {
    let dir = tempfile::tempdir().unwrap();
    let (a, b, c) = (
        dir.path().join("a"),
        dir.path().join("b"),
        dir.path().join("c"),
    );
    for (out, seed, threads) in [(&a, "7", "1"), (&b, "7", "2"), (&c, "8", "2")] {
        run(lyra()
            .args([
                "generate",
                "--preset",
                "demo",
                "--seed",
                seed,
                "--threads",
                threads,
                "--out",
            ])
            .arg(out));
    }
    for name in [
        "organisations.csv",
        "customers.csv",
        "merchants.csv",
        "transactions.csv",
        "truth/customers.csv",
        "truth/switches.csv",
    ] {
        assert!(
            same_files(&a.join(name), &b.join(name)),
            "seed 7 twice differs in {name}"
        );
        assert!(
            !same_files(&a.join(name), &c.join(name)),
            "seeds 7 and 8 agree on {name}"
        );
    }
    let transactions = std::fs::metadata(a.join("transactions.csv")).unwrap().len();
    assert!(
        transactions > 200_000_000,
        "the demo holds millions of transactions ({transactions} bytes)"
    );
}

#[test]
fn db_start_url_stop_with_a_private_cluster() {
    let dir = tempfile::Builder::new()
        .prefix("lyra-cli-")
        .tempdir_in(std::env::temp_dir())
        .unwrap();
    // The server user (when tests run as root) must reach the directory.
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
    let started = run(lyra().current_dir(dir.path()).args(["db", "start"]));
    let url = String::from_utf8(started.stdout)
        .unwrap()
        .trim()
        .to_string();
    assert!(url.starts_with("postgres://lyra_admin@127.0.0.1:"), "{url}");
    let again = run(lyra().current_dir(dir.path()).args(["db", "url"]));
    assert_eq!(String::from_utf8(again.stdout).unwrap().trim(), url);
    let rt = tokio::runtime::Runtime::new().unwrap();
    rt.block_on(async {
        let pool = sqlx::PgPool::connect(&url)
            .await
            .expect("the printed URL works");
        pool.close().await;
    });
    run(lyra().current_dir(dir.path()).args(["db", "migrate"]));
    run(lyra().current_dir(dir.path()).args(["db", "stop"]));
    let stopped = lyra()
        .current_dir(dir.path())
        .args(["db", "url"])
        .output()
        .unwrap();
    assert!(!stopped.status.success());
    assert!(String::from_utf8_lossy(&stopped.stderr).contains("lyra db start"));
    assert!(dir.path().join(".lyra").exists() || dir.path().join(".lyra/pg-location").exists());
}

#[test]
fn generate_into_the_database_matches_the_files_and_refuses_to_double_load() {
    let rt = tokio::runtime::Runtime::new().unwrap();
    let db = rt.block_on(fresh_db());
    let args = [
        "generate",
        "--preset",
        "small",
        "--seed",
        "11",
        "--customers",
        "1500",
        "--merchants",
        "200",
    ];
    run(lyra().env("DATABASE_URL", db.admin_url()).args(args));

    let files = tempfile::tempdir().unwrap();
    run(lyra().args(args).arg("--out").arg(files.path()));
    let lines = |name: &str| {
        std::fs::read_to_string(files.path().join(name))
            .unwrap()
            .lines()
            .count() as i64
            - 1
    };

    rt.block_on(async {
        let admin = db.admin_pool().await;
        for (table, file) in [
            ("ingest.transactions", "transactions.csv"),
            ("ingest.transaction_ids", "transactions.csv"),
            ("ingest.customers", "customers.csv"),
            ("ingest.merchants", "merchants.csv"),
            ("auth.organisations", "organisations.csv"),
            ("truth.customers", "truth/customers.csv"),
        ] {
            let n: i64 = sqlx::query_scalar(&format!("SELECT count(*) FROM {table}"))
                .fetch_one(&admin)
                .await
                .unwrap();
            assert_eq!(n, lines(file), "{table}");
        }
        let sum: i64 =
            sqlx::query_scalar("SELECT sum(amount_minor)::bigint FROM ingest.transactions")
                .fetch_one(&admin)
                .await
                .unwrap();
        let file_sum: i64 = std::fs::read_to_string(files.path().join("transactions.csv"))
            .unwrap()
            .lines()
            .skip(1)
            .map(|l| l.split(',').nth(4).unwrap().parse::<i64>().unwrap())
            .sum();
        assert_eq!(sum, file_sum);
        let rollup: i64 =
            sqlx::query_scalar("SELECT sum(revenue_minor)::bigint FROM ingest.merchant_daily")
                .fetch_one(&admin)
                .await
                .unwrap();
        assert_eq!(rollup, file_sum, "the rollups are built with the load");

        // A client organisation sees its own outlets through the tenant role, and only those.
        let org: i64 =
            sqlx::query_scalar("SELECT org_id FROM auth.organisations ORDER BY org_id LIMIT 1")
                .fetch_one(&admin)
                .await
                .unwrap();
        let app = lyra_common::db::Db::connect_as(DbRole::App, &db.settings().database)
            .await
            .unwrap();
        let mut tx = app
            .begin_for_org(lyra_common::db::OrgId(org))
            .await
            .unwrap();
        let orgs: Vec<Option<i64>> = sqlx::query_scalar("SELECT org_id FROM ingest.merchants")
            .fetch_all(&mut *tx)
            .await
            .unwrap();
        assert!(!orgs.is_empty() && orgs.iter().all(|o| *o == Some(org)));
    });

    // The demo logins of `lyra up` work for the first client organisation.
    rt.block_on(async {
        let admin = db.admin_pool().await;
        let (org, _) = lyra_auth::admin::ensure_demo_logins(&admin).await.unwrap();
        lyra_auth::admin::ensure_demo_logins(&admin)
            .await
            .expect("idempotent");
        let auth =
            lyra_common::testing::Running::start(lyra_auth::build(db.settings()).await.unwrap());
        for (role, email, password) in lyra_auth::admin::DEMO_LOGINS {
            let body: serde_json::Value = reqwest::Client::new()
                .post(auth.url("/v1/auth/login"))
                .json(&serde_json::json!({"email": email, "password": password}))
                .send()
                .await
                .unwrap()
                .json()
                .await
                .unwrap();
            assert_eq!(body["role"], role);
            if role != "bank_admin" {
                assert_eq!(body["org_id"], org.0);
            }
        }
        auth.stop().await;
    });

    // A second load is refused and changes nothing.
    let again = lyra()
        .env("DATABASE_URL", db.admin_url())
        .args(args)
        .output()
        .unwrap();
    assert!(!again.status.success());
    assert!(String::from_utf8_lossy(&again.stderr).contains("--replace"));
    rt.block_on(async {
        let n: i64 = sqlx::query_scalar("SELECT count(*) FROM ingest.customers")
            .fetch_one(&db.admin_pool().await)
            .await
            .unwrap();
        assert_eq!(n, 1500);
    });
}

#[test]
fn realism_report_passes_on_generated_data() {
    let output = run(lyra().args(["report", "realism", "--seed", "5"]));
    let text = String::from_utf8(output.stdout).unwrap();
    assert!(text.contains("payday") && !text.contains("FAIL"), "{text}");
}

/// `lyra bench models` on the committed models, with the pinned Python environment
/// (`ml/venv`) as ONNX Runtime's side: every model at every batch size, a median ratio
/// and the range of the rounds, and a goal line per model.
#[test]
fn bench_models_alternates_tract_and_onnx_runtime_on_every_model() {
    let repo = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let python = run(Command::new(repo.join("ml/venv")).stdin(Stdio::null())).stdout;
    let python = Path::new(String::from_utf8(python).unwrap().trim()).to_path_buf();
    let venv = python.parent().and_then(Path::parent).unwrap();
    let output = run(lyra()
        .current_dir(&repo)
        .env("LYRA_ML_VENV", venv)
        .args(["bench", "models", "--rounds", "2", "--seconds", "0.01"]));
    let text = String::from_utf8(output.stdout).unwrap();
    assert!(text.contains("medians of 2 alternating rounds"), "{text}");
    let models = ["category_propensity", "demand_forecast", "purchasing_power", "segmentation"];
    for model in models {
        for batch in ["1", "64", "1024"] {
            let row = text
                .lines()
                .find(|l| l.split_whitespace().take(2).eq([model, batch]))
                .unwrap_or_else(|| panic!("no row for {model} at batch {batch}:\n{text}"));
            // tract, ORT 1t, ratio, its range, ORT default, ratio
            let cells: Vec<&str> = row.split_whitespace().skip(2).collect();
            assert_eq!(cells.len(), 6, "{row}");
            let (low, high) = cells[3].split_once("..").expect(row);
            let (ratio, low, high): (f64, f64, f64) =
                (cells[2].parse().unwrap(), low.parse().unwrap(), high.parse().unwrap());
            assert!(low > 0.0 && low <= ratio && ratio <= high, "{row}");
        }
        assert!(
            text.lines().any(|l| l.starts_with("goal") && l.contains(model)),
            "{text}"
        );
    }
}

#[test]
fn a_bad_configuration_value_fails_fast_and_names_the_key() {
    let output = lyra()
        .env("DATABASE_URL", "postgres://nobody@127.0.0.1:1/none")
        .env("LYRA_SERVICES__INGEST__PORT", "not-a-port")
        .args(["serve", "ingest"])
        .output()
        .unwrap();
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("services.ingest.port"), "{stderr}");

    let output = lyra().args(["serve", "kitchen"]).output().unwrap();
    assert!(String::from_utf8_lossy(&output.stderr).contains("unknown service \"kitchen\""));
}

#[test]
fn serve_all_runs_seven_services_and_stops_cleanly_on_sigterm() {
    let rt = tokio::runtime::Runtime::new().unwrap();
    let db = rt.block_on(fresh_db());
    let mut cmd = lyra();
    cmd.env("LYRA_DATABASE__APP_URL", db.url(DbRole::App))
        .env("LYRA_DATABASE__PLATFORM_URL", db.url(DbRole::Platform))
        .env("LYRA_DATABASE__AUTH_URL", db.url(DbRole::Auth))
        .args(["serve", "all"])
        .stdout(Stdio::null())
        .stderr(Stdio::piped());
    let mut ports = Vec::new();
    for service in lyra_common::Service::ALL {
        let port = localpg::free_port().unwrap();
        let key = format!(
            "LYRA_{}",
            service.port_key().replace('.', "__").to_uppercase()
        );
        cmd.env(key, port.to_string());
        ports.push((service, port));
    }
    let mut child = cmd.spawn().unwrap();
    let deadline = Instant::now() + Duration::from_secs(60);
    for (service, port) in &ports {
        loop {
            let ok = std::net::TcpStream::connect(("127.0.0.1", *port)).is_ok();
            if ok {
                break;
            }
            assert!(
                Instant::now() < deadline,
                "{} did not start",
                service.name()
            );
            std::thread::sleep(Duration::from_millis(100));
        }
        let body = rt.block_on(async {
            reqwest::get(format!("http://127.0.0.1:{port}/readyz"))
                .await
                .unwrap()
                .text()
                .await
                .unwrap()
        });
        assert!(body.contains("ready"), "{}: {body}", service.name());
    }
    Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    let status = child.wait().unwrap();
    let mut stderr = String::new();
    child
        .stderr
        .take()
        .unwrap()
        .read_to_string(&mut stderr)
        .unwrap();
    assert!(status.success(), "{stderr}");
    assert!(stderr.contains("all services stopped"), "{stderr}");
}

#[test]
fn admin_commands_onboard_an_organisation_whose_people_can_log_in() {
    use std::io::Write;
    let rt = tokio::runtime::Runtime::new().unwrap();
    let db = rt.block_on(fresh_db());
    rt.block_on(async {
        let admin = db.admin_pool().await;
        sqlx::query(
            "INSERT INTO ingest.merchants (merchant_id, name, mcc, region, city, latitude, longitude, opened_on)
             VALUES (77, 'Corner Cafe', 5812, 'Moscow', 'Moscow', 55.7, 37.6, '2020-01-01')",
        )
        .execute(&admin)
        .await
        .unwrap();
    });
    let admin = |args: &[&str]| {
        let mut cmd = lyra();
        cmd.env("DATABASE_URL", db.admin_url())
            .arg("admin")
            .args(args);
        cmd
    };
    let org = String::from_utf8(run(&mut admin(&["org", "create", "--name", "Cafe Group"])).stdout)
        .unwrap();
    let org = org.trim().to_string();
    run(&mut admin(&["org", "attach", "--org", &org, "77"]));
    let missing = admin(&["org", "attach", "--org", &org, "78"])
        .output()
        .unwrap();
    assert!(String::from_utf8_lossy(&missing.stderr).contains("merchant 78: no such outlet"));

    let mut child = admin(&[
        "user",
        "create",
        "--email",
        "owner@cafe.example",
        "--name",
        "Owner",
        "--org",
        &org,
        "--role",
        "owner",
        "--password-stdin",
    ])
    .stdin(Stdio::piped())
    .stdout(Stdio::piped())
    .stderr(Stdio::piped())
    .spawn()
    .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(b"Tundra-Lantern-Violet-42\n")
        .unwrap();
    assert!(child.wait_with_output().unwrap().status.success());

    let weak = admin(&[
        "user",
        "create",
        "--email",
        "weak@cafe.example",
        "--name",
        "W",
        "--org",
        &org,
        "--role",
        "viewer",
        "--password-stdin",
    ])
    .stdin(Stdio::piped())
    .spawn()
    .and_then(|mut c| {
        c.stdin.take().unwrap().write_all(b"password")?;
        c.wait_with_output()
    })
    .unwrap();
    assert!(!weak.status.success());

    let bank = run(&mut admin(&[
        "user",
        "create",
        "--email",
        "admin@bank.example",
        "--name",
        "Admin",
        "--bank-admin",
    ]));
    let stderr = String::from_utf8(bank.stderr).unwrap();
    let generated = stderr
        .split("password (shown once): ")
        .nth(1)
        .unwrap()
        .trim()
        .to_string();
    let token = String::from_utf8(
        run(&mut admin(&[
            "token",
            "create",
            "--admin",
            "admin@bank.example",
            "--name",
            "etl",
            "--scope",
            "ingest:write",
        ]))
        .stdout,
    )
    .unwrap();
    let token = token.trim().to_string();
    assert!(token.starts_with("lyra_"));
    let kid = String::from_utf8(run(&mut admin(&["keys", "rotate"])).stdout).unwrap();
    assert_eq!(kid.trim().len(), 16);

    rt.block_on(async {
        let auth =
            lyra_common::testing::Running::start(lyra_auth::build(db.settings()).await.unwrap());
        let http = reqwest::Client::new();
        let login = |email: &str, password: &str| {
            http.post(auth.url("/v1/auth/login"))
                .json(&serde_json::json!({"email": email, "password": password}))
                .send()
        };
        let owner: serde_json::Value = login("owner@cafe.example", "Tundra-Lantern-Violet-42")
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        assert_eq!(owner["org_id"].to_string(), org);
        assert_eq!(owner["role"], "owner");
        let bank: serde_json::Value = login("admin@bank.example", &generated)
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        assert_eq!(bank["role"], "bank_admin");
        let exchanged = support::exchange(&auth, &token).await;
        assert_eq!(exchanged["role"], "service");
        let outlet: Option<i64> =
            sqlx::query_scalar("SELECT org_id FROM ingest.merchants WHERE merchant_id = 77")
                .fetch_one(&db.admin_pool().await)
                .await
                .unwrap();
        assert_eq!(outlet.map(|o| o.to_string()), Some(org.clone()));
        auth.stop().await;
    });
}
