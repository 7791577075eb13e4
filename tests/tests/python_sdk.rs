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
    let venv = tempfile::tempdir().unwrap();
    let path = venv.path().to_path_buf();
    let python = tokio::task::spawn_blocking(move || venv_with_openai(&path)).await.unwrap();

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
