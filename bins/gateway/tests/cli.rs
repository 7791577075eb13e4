//! The `steward` binary, driven as an operator would.

#![allow(clippy::expect_used, clippy::unwrap_used)]

use std::io::{BufRead, BufReader, Read};
use std::path::Path;
use std::process::{Child, Command, Output, Stdio};
use std::time::Duration;

use repositories::testing::TestDb;
use repositories::Backend;

const STEWARD: &str = env!("CARGO_BIN_EXE_steward");

/// A `steward` command with a clean STEWARD_* environment, run in `dir`.
fn steward(dir: &Path, url: &str) -> Command {
    let mut cmd = Command::new(STEWARD);
    for (k, _) in std::env::vars() {
        if k.starts_with("STEWARD_") || k == "RUST_LOG" {
            cmd.env_remove(k);
        }
    }
    cmd.current_dir(dir).env("STEWARD_DATABASE__URL", url).env("STEWARD_SERVER__PORT", "0");
    cmd
}

fn text(out: &Output) -> (String, String) {
    (String::from_utf8_lossy(&out.stdout).into_owned(), String::from_utf8_lossy(&out.stderr).into_owned())
}

fn assert_no_panic(stderr: &str) {
    assert!(!stderr.contains("panicked") && !stderr.contains("stack backtrace"), "{stderr}");
}

#[test]
fn bad_configuration_names_every_key_and_exits_non_zero() {
    let dir = tempfile::tempdir().unwrap();
    let out = steward(dir.path(), "mysql://db/steward")
        .env("STEWARD_SERVER__PORT", "eighty")
        .env("STEWARD_SERVER__PROT", "1")
        .env("RUST_BACKTRACE", "1")
        .args(["config", "check"])
        .output()
        .unwrap();
    let (_, err) = text(&out);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(err.contains("3 problem(s)"), "{err}");
    assert!(err.contains("database.url has unknown scheme `mysql`"), "{err}");
    assert!(err.contains("server.port") && err.contains("STEWARD_SERVER__PORT"), "{err}");
    assert!(err.contains("server.prot is not a known setting"), "{err}");
    assert_no_panic(&err);

    // The same checks guard `serve`, and a TOML file's unknown keys are caught too.
    std::fs::write(dir.path().join("steward.toml"), "[telemetry]\nformat = \"xml\"\ncolour = true\n")
        .unwrap();
    let out =
        steward(dir.path(), "sqlite://x.db").args(["--config", "steward.toml", "serve"]).output().unwrap();
    let (_, err) = text(&out);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(err.contains("telemetry.colour is not a known setting"), "{err}");
    assert!(err.contains("telemetry.format"), "{err}");
    assert!(!dir.path().join("x.db").exists(), "nothing is created on a bad configuration");
}

#[test]
fn config_check_masks_secrets() {
    let dir = tempfile::tempdir().unwrap();
    let out = steward(dir.path(), "postgres://app:hunter2@db.internal/steward")
        .args(["config", "check"])
        .output()
        .unwrap();
    let (stdout, err) = text(&out);
    assert!(out.status.success(), "{err}");
    assert!(stdout.contains("postgres://app:********@db.internal/steward"), "{stdout}");
    assert!(!stdout.contains("hunter2") && !err.contains("hunter2"));
}

#[test]
fn unreachable_postgres_is_one_clear_message() {
    let dir = tempfile::tempdir().unwrap();
    for cmd in ["migrate", "serve"] {
        let out = steward(dir.path(), "postgres://app:hunter2@127.0.0.1:1/steward")
            .env("STEWARD_DATABASE__CONNECT_TIMEOUT_SECS", "2")
            .arg(cmd)
            .output()
            .unwrap();
        let (_, err) = text(&out);
        assert!(!out.status.success());
        assert!(
            err.contains(
                "database.url: cannot connect to PostgreSQL at postgres://app:********@127.0.0.1:1/steward"
            ),
            "{err}"
        );
        assert!(!err.contains("hunter2"));
        assert_no_panic(&err);
    }
}

#[test]
fn missing_sqlite_directory_is_refused_when_creation_is_off() {
    let dir = tempfile::tempdir().unwrap();
    let out = steward(dir.path(), "sqlite://missing/dir/steward.db")
        .env("STEWARD_DATABASE__SQLITE_CREATE_DIR", "false")
        .arg("migrate")
        .output()
        .unwrap();
    let (_, err) = text(&out);
    assert!(!out.status.success());
    assert!(err.contains("directory missing/dir for the SQLite database does not exist"), "{err}");
}

/// A running `steward serve` whose output is collected.
struct Served {
    child: Child,
    base: String,
}

fn serve(dir: &Path, url: &str) -> Served {
    serve_with(dir, url, &[])
}

fn serve_with(dir: &Path, url: &str, env: &[(&str, &str)]) -> Served {
    serve_configured(steward(dir, url), env)
}

/// `cmd serve`, with `env`, its output collected.
fn serve_configured(mut cmd: Command, env: &[(&str, &str)]) -> Served {
    let mut child = cmd
        .envs(env.iter().copied())
        .env("RUST_LOG", "debug")
        .env("STEWARD_AUDIT__CHAIN_INTERVAL_MS", "100")
        .arg("serve")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let first = lines.next().expect("a line").unwrap();
    let base = first.rsplit(' ').next().unwrap().to_string();
    assert!(base.starts_with("http://127.0.0.1:"), "{first}");
    // Keep draining stdout so the child never blocks.
    std::thread::spawn(move || for _ in lines {});
    Served { child, base }
}

impl Served {
    /// SIGTERM, wait, and return the exit status and everything logged.
    fn stop(mut self) -> (std::process::ExitStatus, String) {
        let pid = self.child.id().to_string();
        Command::new("kill").args(["-TERM", &pid]).status().unwrap();
        let mut log = String::new();
        self.child.stderr.take().unwrap().read_to_string(&mut log).unwrap();
        let status = self.child.wait().unwrap();
        (status, log)
    }
}

fn get(url: &str, key: Option<&str>) -> (u16, String) {
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    rt.block_on(async {
        let mut req = reqwest::Client::new().get(url).timeout(Duration::from_secs(10));
        if let Some(k) = key {
            req = req.bearer_auth(k);
        }
        let res = req.send().await.unwrap();
        (res.status().as_u16(), res.text().await.unwrap())
    })
}

/// migrate → keys create → serve → use the key → SIGTERM; then the key is in neither the logs
/// nor the database, and `audit verify` passes until a row is edited.
fn operator_round_trip(backend: Backend, log_format: &str) {
    let Some(db) = TestDb::unmigrated(backend) else { return };
    let dir = tempfile::tempdir().unwrap();
    let url = db.url.clone();

    let out = steward(dir.path(), &url).arg("migrate").output().unwrap();
    let (stdout, err) = text(&out);
    assert!(out.status.success(), "{err}");
    let expected =
        std::fs::read_dir(concat!(env!("CARGO_MANIFEST_DIR"), "/../../migrations/sqlite")).unwrap().count();
    assert!(stdout.contains(&format!("applied {expected} migration(s)")), "{stdout}");

    let out = steward(dir.path(), &url)
        .args(["keys", "create", "--role", "admin", "--name", "ops"])
        .output()
        .unwrap();
    let (stdout, err) = text(&out);
    assert!(out.status.success(), "{err}");
    let key = stdout.trim().to_string();
    assert!(key.starts_with("sk-") && key.len() == 46, "{stdout}");
    assert!(err.contains("shown only once"));

    let served = serve_with(dir.path(), &url, &[("STEWARD_TELEMETRY__FORMAT", log_format)]);
    assert_eq!(get(&format!("{}/healthz", served.base), None).0, 200);
    assert_eq!(get(&format!("{}/readyz", served.base), None).0, 200);
    let (status, body) = get(&format!("{}/api/v1/me", served.base), Some(&key));
    assert_eq!(status, 200, "{body}");
    assert_eq!(get(&format!("{}/api/v1/me", served.base), Some("sk-wrong")).0, 401);
    let (status, log) = served.stop();
    assert!(status.success(), "graceful stop exits 0: {log}");
    assert!(log.contains("shutdown signal received"), "{log}");
    assert!(log.contains("request_id"), "requests are logged with their id");
    assert!(!log.contains(&key) && !log.contains(&key[3..]), "the key never reaches the logs");
    if log_format == "json" {
        let request_lines: Vec<serde_json::Value> = log
            .lines()
            .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
            .filter(|v| v["message"] == "request")
            .collect();
        assert!(request_lines.len() >= 4, "every log line is JSON: {log}");
        assert!(
            request_lines.iter().all(|v| v["span"]["request_id"].is_string() && v["status"].is_u64()),
            "{log}"
        );
    }

    let out = steward(dir.path(), &url).args(["audit", "verify"]).output().unwrap();
    let (stdout, err) = text(&out);
    assert!(out.status.success(), "{stdout}{err}");
    assert!(stdout.contains("\"ok\": true"), "{stdout}");

    // Tamper with the first event; verify names it and fails.
    {
        use diesel::prelude::*;
        use models::schema::audit_events;
        let mut c = db.db.conn().unwrap();
        diesel::update(audit_events::table.filter(audit_events::seq.eq(1)))
            .set(audit_events::action.eq("user.deleted"))
            .execute(&mut **c)
            .unwrap();
    }
    let out = steward(dir.path(), &url).args(["audit", "verify"]).output().unwrap();
    let (_, err) = text(&out);
    assert!(!out.status.success());
    assert!(err.contains("audit chain broken at seq 1"), "{err}");
}

#[test]
fn operator_round_trip_sqlite() {
    operator_round_trip(Backend::Sqlite, "pretty");
}

#[test]
fn operator_round_trip_postgres() {
    operator_round_trip(Backend::Postgres, "json");
}

#[test]
fn serve_migrates_at_start_unless_disabled() {
    let dir = tempfile::tempdir().unwrap();
    let served = serve(dir.path(), "sqlite://data/steward.db");
    assert!(dir.path().join("data/steward.db").is_file(), "the default directory is created on purpose");
    assert_eq!(get(&format!("{}/readyz", served.base), None).0, 200);
    served.stop();

    let dir = tempfile::tempdir().unwrap();
    let served =
        serve_with(dir.path(), "sqlite://fresh.db", &[("STEWARD_DATABASE__MIGRATE_ON_START", "false")]);
    assert_eq!(get(&format!("{}/readyz", served.base), None).0, 503, "pending migrations → not ready");
    served.stop();
}

#[test]
fn demo_is_idempotent_and_keeps_its_key() {
    let dir = tempfile::tempdir().unwrap();
    let first = steward(dir.path(), "sqlite://data/steward.db").arg("demo").output().unwrap();
    let second = steward(dir.path(), "sqlite://data/steward.db").arg("demo").output().unwrap();
    let (a, err) = text(&first);
    assert!(first.status.success(), "{err}");
    let (b, _) = text(&second);
    let key = a.trim().rsplit(' ').next().unwrap();
    assert!(key.starts_with("sk-"));
    assert!(b.contains(key), "the second run reuses the stored key");
    let stored = std::fs::read_to_string(dir.path().join("data/demo-admin.key")).unwrap();
    assert_eq!(stored.trim(), key);
    let member = std::fs::read_to_string(dir.path().join("data/demo-member.key")).unwrap();
    assert!(a.contains(member.trim()) && b.contains(member.trim()), "the member key is kept too");
}

#[test]
fn demo_catalogue_is_searchable_for_tomorrow_night() {
    let dir = tempfile::tempdir().unwrap();
    let config = concat!(env!("CARGO_MANIFEST_DIR"), "/../../config/demo.toml");
    let out =
        steward(dir.path(), "sqlite://data/steward.db").args(["--config", config, "demo"]).output().unwrap();
    let (stdout, err) = text(&out);
    assert!(out.status.success(), "{err}");
    assert!(stdout.contains("seeded the demo catalogue: 4 properties"), "{stdout}");
    let again =
        steward(dir.path(), "sqlite://data/steward.db").args(["--config", config, "demo"]).output().unwrap();
    assert!(!text(&again).0.contains("seeded"), "the second run seeds nothing");

    let served = serve_with(dir.path(), "sqlite://data/steward.db", &[("STEWARD_CONFIG", config)]);
    // Tomorrow in Karachi (UTC+5, no daylight saving).
    let tomorrow = (std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs()
        + 5 * 3600)
        / 86_400
        + 1;
    let date = civil_date(tomorrow as i64);
    let (status, body) =
        get(&format!("{}/api/v1/search?type=farm&date={date}&shift=night&guests=10", served.base), None);
    assert_eq!(status, 200, "{body}");
    let v: serde_json::Value = serde_json::from_str(&body).unwrap();
    let names: Vec<&str> =
        v["items"].as_array().unwrap().iter().map(|h| h["name"].as_str().unwrap()).collect();
    assert_eq!(names, vec!["Green Valley Farmhouse", "Palm Grove Farmhouse"], "{body}");
    let price = v["items"][0]["price"]["amount"].as_i64().unwrap();
    assert!([2_200_000, 3_000_000, 3_500_000].contains(&price), "a Night price of the demo table: {price}");
    let (_, body) =
        get(&format!("{}/api/v1/search?type=hut&date={date}&shift=night&guests=10", served.base), None);
    assert_eq!(
        serde_json::from_str::<serde_json::Value>(&body).unwrap()["items"].as_array().unwrap().len(),
        2
    );

    // The demo member can call local/echo through the spend gateway right away.
    let member = std::fs::read_to_string(dir.path().join("data/demo-member.key")).unwrap();
    let project = stdout.split_whitespace().find(|w| w.starts_with("prj_")).unwrap();
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    let (status, body) = rt.block_on(async {
        let res = reqwest::Client::new()
            .post(format!("{}/api/v1/requests", served.base))
            .bearer_auth(member.trim())
            .header("x-steward-project", project)
            .json(&serde_json::json!({"provider": "local", "model": "echo", "operation": "chat",
                "messages": [{"role": "user", "content": "hi"}]}))
            .send()
            .await
            .unwrap();
        (res.status().as_u16(), res.text().await.unwrap())
    });
    assert_eq!(status, 200, "{body}");
    let v: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(
        (v["status"].as_str(), v["response"]["choices"][0]["message"]["content"].as_str()),
        (Some("executed"), Some("echo: hi")),
        "{body}"
    );
    served.stop();
}

/// `YYYY-MM-DD` of a day count since 1970-01-01 (Howard Hinnant's civil-from-days).
fn civil_date(days: i64) -> String {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    format!("{y:04}-{m:02}-{d:02}")
}

/// A WhatsApp message whose webhook got its 200 survives `kill -9` of the server at once: after a
/// restart it is processed and answered exactly once (the fake Graph API never sees one reply
/// twice).
fn whatsapp_message_survives_kill_9(backend: Backend) {
    use wiremock::matchers::{method, path};
    let Some(db) = TestDb::unmigrated(backend) else { return };
    let dir = tempfile::tempdir().unwrap();
    let url = db.url.clone();
    assert!(steward(dir.path(), &url).arg("migrate").output().unwrap().status.success());
    let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(1).enable_all().build().unwrap();
    let graph = rt.block_on(async {
        let graph = wiremock::MockServer::start().await;
        wiremock::Mock::given(method("POST"))
            .and(path("/v23.0/123456/messages"))
            .respond_with(|r: &wiremock::Request| {
                let n = r.body.len();
                wiremock::ResponseTemplate::new(200)
                    .set_body_json(serde_json::json!({"messaging_product": "whatsapp", "messages": [{"id": format!("wamid.R{n}")}]}))
            })
            .mount(&graph)
            .await;
        graph
    });
    let graph_url = graph.uri();
    let env = [
        ("STEWARD_WHATSAPP__ENABLED", "true"),
        ("STEWARD_WHATSAPP__VERIFY_TOKEN", "v"),
        ("STEWARD_WHATSAPP__APP_SECRET", "app-secret"),
        ("STEWARD_WHATSAPP__ACCESS_TOKEN", "t"),
        ("STEWARD_WHATSAPP__PHONE_NUMBER_ID", "123456"),
        ("STEWARD_WHATSAPP__GRAPH_URL", graph_url.as_str()),
        ("STEWARD_WHATSAPP__PACING_INTERVAL_MS", "0"),
        ("STEWARD_WHATSAPP__EVENT_LEASE_SECS", "2"),
        ("STEWARD_CONVERSATION__TURN_LEASE_SECS", "2"),
    ];
    let body = serde_json::to_vec(&serde_json::json!({"object": "whatsapp_business_account", "entry": [{"id": "1", "changes": [{"field": "messages", "value": {
        "messaging_product": "whatsapp", "metadata": {"phone_number_id": "123456"},
        "contacts": [{"profile": {"name": "Sheena"}, "wa_id": "923001234567"}],
        "messages": [{"from": "923001234567", "id": "wamid.CRASH1", "timestamp": "1739321024", "type": "text", "text": {"body": "hi"}}]}}]}]}))
    .unwrap();
    let signature = services::whatsapp::sign("app-secret", &body);
    let post = |base: &str| {
        rt.block_on(async {
            reqwest::Client::new()
                .post(format!("{base}/webhooks/whatsapp"))
                .header("x-hub-signature-256", &signature)
                .body(body.clone())
                .send()
                .await
                .unwrap()
                .status()
                .as_u16()
        })
    };
    let mut served = serve_with(dir.path(), &url, &env);
    assert_eq!(post(&served.base), 200);
    served.child.kill().unwrap();
    served.child.wait().unwrap();
    let sends = || rt.block_on(async { graph.received_requests().await.unwrap_or_default() });
    let before = sends().len();

    let served = serve_with(dir.path(), &url, &env);
    let deadline = std::time::Instant::now() + Duration::from_secs(60);
    while sends().is_empty() {
        assert!(std::time::Instant::now() < deadline, "the message was never answered");
        std::thread::sleep(Duration::from_millis(100));
    }
    // Leases lapse (2 s) and the workers look again: nothing more is sent.
    std::thread::sleep(Duration::from_secs(5));
    let bodies: Vec<Vec<u8>> = sends().into_iter().map(|r| r.body).collect();
    let mut distinct = bodies.clone();
    distinct.sort();
    distinct.dedup();
    assert_eq!(distinct.len(), bodies.len(), "no reply sent twice (sent before the kill: {before})");
    // A redelivery of the same webhook after the restart changes nothing.
    assert_eq!(post(&served.base), 200);
    std::thread::sleep(Duration::from_secs(2));
    assert_eq!(sends().len(), bodies.len(), "a redelivery is not answered again");
    let (_, log) = served.stop();
    assert_no_panic(&log);
}

#[test]
fn whatsapp_message_survives_kill_9_sqlite() {
    whatsapp_message_survives_kill_9(Backend::Sqlite);
}

#[test]
fn whatsapp_message_survives_kill_9_postgres() {
    whatsapp_message_survives_kill_9(Backend::Postgres);
}

/// The guest chat at `/` in headless Chromium (`tests/browser/chat.mjs`, playwright-core and
/// axe-core from npm) against the real binary with the demo data: a booking by clicks and typing
/// on a 360-pixel screen, a screenshot uploaded, the admin's approval seen after a reload, markup
/// rendered as text, no console error, failed request or CSP violation, and no serious
/// accessibility violation. The SQLite run keeps its screenshots in `docs/screenshots/`.
/// Skipped when Node, Chromium or the npm packages are missing, unless `STEWARD_REQUIRE_BROWSER`
/// is set (CI sets it).
fn chat_in_a_browser(backend: Backend) {
    in_a_browser(backend, "chat.mjs", "ok: booked HB-");
}

/// The admin console at `/admin` in headless Chromium (`tests/browser/console.mjs`): sign-in with
/// the demo admin key, a proof approved, a conversation taken over, answered and released, a
/// review-queue call approved, the audit chain verified, sign-out; the same checks of errors,
/// markup and accessibility.
fn console_in_a_browser(backend: Backend) {
    in_a_browser(backend, "console.mjs", "ok: approved HB-");
}

fn in_a_browser(backend: Backend, script: &str, expected: &str) {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    let browser_dir = root.join("tests/browser");
    let chromium = std::env::var("CHROMIUM").unwrap_or_else(|_| "/usr/bin/chromium".into());
    let ready = browser_dir.join("node_modules/playwright-core").exists()
        && Path::new(&chromium).exists()
        && Command::new("node").arg("--version").output().is_ok_and(|o| o.status.success());
    if !ready {
        assert!(
            std::env::var_os("STEWARD_REQUIRE_BROWSER").is_none(),
            "browser tests required: install chromium and run `npm ci` in tests/browser"
        );
        eprintln!("skipped: no chromium, node or tests/browser/node_modules");
        return;
    }
    let Some(db) = TestDb::unmigrated(backend) else { return };
    let dir = tempfile::tempdir().unwrap();
    let url = db.url.clone();
    let config = root.join("config/demo.toml");
    let out = steward(dir.path(), &url).arg("--config").arg(&config).arg("demo").output().unwrap();
    assert!(out.status.success(), "{}", text(&out).1);
    let admin_key = std::fs::read_to_string(dir.path().join("data/demo-admin.key")).unwrap();
    // A key of the demo owner, who owns every demo property.
    let out = steward(dir.path(), &url)
        .args([
            "keys",
            "create",
            "--role",
            "owner",
            "--name",
            "Demo Owner",
            "--email",
            "owner@demo.steward.local",
        ])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", text(&out).1);
    let owner_key = text(&out).0.trim().to_string();
    let shots =
        if backend == Backend::Sqlite { root.join("docs/screenshots") } else { dir.path().join("shots") };
    std::fs::create_dir_all(&shots).unwrap();
    let mut cmd = steward(dir.path(), &url);
    cmd.arg("--config").arg(&config);
    let served = serve_configured(cmd, &[]);
    let member_key = std::fs::read_to_string(dir.path().join("data/demo-member.key")).unwrap();
    let run = Command::new("node")
        .current_dir(&browser_dir)
        .env("CHROMIUM", &chromium)
        .env("MEMBER_KEY", member_key.trim())
        .env("OWNER_KEY", &owner_key)
        .arg(script)
        .arg(&served.base)
        .arg(admin_key.trim())
        .arg(&shots)
        .output()
        .unwrap();
    let (stdout, stderr) = text(&run);
    let (_, log) = served.stop();
    assert!(run.status.success(), "{stdout}\n{stderr}\n--- server log tail:\n{}", tail(&log, 40));
    assert!(stdout.contains(expected), "{stdout}");
}

fn tail(log: &str, lines: usize) -> String {
    let all: Vec<&str> = log.lines().collect();
    all[all.len().saturating_sub(lines)..].join("\n")
}

#[test]
fn chat_in_a_browser_sqlite() {
    chat_in_a_browser(Backend::Sqlite);
}

#[test]
fn chat_in_a_browser_postgres() {
    chat_in_a_browser(Backend::Postgres);
}

#[test]
fn console_in_a_browser_sqlite() {
    console_in_a_browser(Backend::Sqlite);
}

#[test]
fn console_in_a_browser_postgres() {
    console_in_a_browser(Backend::Postgres);
}
