//! The official OpenAI Python SDK against a running Steward: a virtualenv created here, `openai`
//! installed from PyPI, and `tests/python/openai_sdk_check.py` run against the server (chat,
//! streaming, embeddings, models, a budget refusal, an unknown model).
//!
//! Set `STEWARD_SKIP_PYTHON_SDK=1` to skip on a machine without PyPI; CI never sets it.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::process::Command;

use serde_json::json;
use system_tests::spend::*;
use system_tests::{Backend, TestApp};

/// One virtualenv with `openai` for every test here.
static VENV: std::sync::OnceLock<(tempfile::TempDir, std::path::PathBuf)> = std::sync::OnceLock::new();

fn python() -> std::path::PathBuf {
    VENV.get_or_init(|| {
        let dir = tempfile::tempdir().unwrap();
        let python = venv_with_openai(dir.path());
        (dir, python)
    })
    .1
    .clone()
}

fn venv_with_openai(dir: &std::path::Path) -> std::path::PathBuf {
    let ok = Command::new("python3").args(["-m", "venv"]).arg(dir).status().unwrap().success();
    assert!(ok, "python3 -m venv");
    let pip = dir.join("bin/pip");
    let out = Command::new(&pip)
        .args(["install", "--quiet", "--disable-pip-version-check", "openai>=1.40"])
        .output()
        .unwrap();
    assert!(out.status.success(), "pip install openai: {}", String::from_utf8_lossy(&out.stderr));
    dir.join("bin/python")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_openai_python_sdk_works_against_steward() {
    if std::env::var("STEWARD_SKIP_PYTHON_SDK").is_ok_and(|v| v == "1") {
        eprintln!("skipped: STEWARD_SKIP_PYTHON_SDK=1");
        return;
    }
    let python = tokio::task::spawn_blocking(python).await.unwrap();

    let app = TestApp::spawn(Backend::Sqlite).await.unwrap();
    set_price(&app, "local", "echo", 100_000);
    let s = spender(&app, 10_000_000, open_policy()).await;
    let res = app.post("/api/v1/projects", &s.key, &json!({"name": "Tight"})).await;
    let tight = res.json::<serde_json::Value>().await.unwrap()["id"].as_str().unwrap().to_string();
    put_policy(&app, &s.key, &tight, open_policy()).await;
    let t = Spender { key: s.key.clone(), uid: s.uid.clone(), project: tight.clone() };
    put_budget(&app, &t, CALL, CALL, 100 * CALL).await;

    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/python/openai_sdk_check.py");
    let (base, key, project) = (format!("{}/v1", app.address), s.key.clone(), s.project.clone());
    let out = tokio::task::spawn_blocking(move || {
        Command::new(python)
            .arg(script)
            .env("STEWARD_BASE_URL", base)
            .env("STEWARD_KEY", key)
            .env("STEWARD_PROJECT", project)
            .env("STEWARD_TIGHT_PROJECT", tight)
            .output()
            .unwrap()
    })
    .await
    .unwrap();
    let (stdout, stderr) = (String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    assert!(out.status.success(), "{stdout}\n{stderr}");
    assert!(stdout.contains("all OpenAI SDK checks passed"), "{stdout}");
    println!("{stdout}");
    assert_books(&app, &s.uid).await;
}

/// The README's snippet, as written, against a server seeded like `steward demo`: the base URL and
/// the demo member key are all it needs (the key is scoped to the demo project).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_readme_snippet_works_with_the_demo_member_key_alone() {
    if std::env::var("STEWARD_SKIP_PYTHON_SDK").is_ok_and(|v| v == "1") {
        eprintln!("skipped: STEWARD_SKIP_PYTHON_SDK=1");
        return;
    }
    let python = tokio::task::spawn_blocking(python).await.unwrap();
    let app = TestApp::spawn(Backend::Sqlite).await.unwrap();
    let (_, project) = services::gateway::accounts::seed_demo(&app.db.db, models::time::now()).await.unwrap();
    let (_, _, member_key) = services::keys::create_scoped_for_cli(
        &app.db.db,
        "Demo Member",
        "member@demo.steward.local",
        models::Role::Member,
        Some(project),
    )
    .await
    .unwrap();
    let readme = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../README.md")).unwrap();
    let snippet = readme
        .split("```python\n")
        .nth(1)
        .and_then(|rest| rest.split("```").next())
        .expect("the README has a python snippet")
        .replace("http://127.0.0.1:8080", &app.address);
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir(dir.path().join("data")).unwrap();
    std::fs::write(dir.path().join("data/demo-member.key"), format!("{member_key}\n")).unwrap();
    let cwd = dir.path().to_path_buf();
    let out = tokio::task::spawn_blocking(move || {
        Command::new(python).arg("-c").arg(snippet).current_dir(cwd).output().unwrap()
    })
    .await
    .unwrap();
    let (stdout, stderr) = (String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    assert!(out.status.success(), "{stdout}\n{stderr}");
    assert!(stdout.starts_with("echo: hi") && stdout.contains("committed"), "{stdout}");
}
