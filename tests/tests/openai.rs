//! The OpenAI-compatible API through HTTP: chat (JSON and SSE), embeddings, the model list,
//! OpenAI-shaped refusals, and a client that disconnects mid-stream. SQLite and PostgreSQL.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::sync::Arc;
use std::time::Duration;

use futures_util::StreamExt;
use integrations::fakes::{Script, ScriptedProvider};
use reqwest::Method;
use serde_json::{json, Value};
use system_tests::spend::*;
use system_tests::{Backend, TestApp, TestDb};

async fn v1(app: &TestApp, s: &Spender, path: &str, body: &Value) -> reqwest::Response {
    app.send(Method::POST, path, Some(&s.key), Some(body), &[("x-steward-project", &s.project)]).await
}

/// `(status, error.code)` of an OpenAI-shaped error.
async fn openai_error(res: reqwest::Response) -> (u16, String) {
    let status = res.status().as_u16();
    let v: Value = res.json().await.unwrap();
    assert!(v["error"]["message"].is_string() && v["error"]["type"].is_string(), "{v}");
    (status, v["error"]["code"].as_str().unwrap().to_string())
}

/// Reads an SSE body into its `data:` payloads.
fn sse(text: &str) -> Vec<String> {
    text.split("\n\n").filter_map(|e| e.strip_prefix("data: ")).map(str::to_string).collect()
}

async fn chat_embeddings_and_models(app: TestApp) {
    set_prices(&app, "local", "echo", (1_000_000, 2_000_000, 0));
    let s = spender(&app, 5_000_000, open_policy()).await;
    let chat = json!({"model": "local/echo", "max_tokens": 100, "messages": [{"role": "user", "content": "hello there"}]});

    let res = v1(&app, &s, "/v1/chat/completions", &chat).await;
    assert_eq!(res.status(), 200);
    let v: Value = res.json().await.unwrap();
    assert_eq!(v["object"], "chat.completion");
    assert_eq!(v["model"], "local/echo");
    assert_eq!(v["choices"][0]["message"]["content"], "echo: hello there");
    assert_eq!(
        (v["usage"]["prompt_tokens"].as_u64(), v["usage"]["completion_tokens"].as_u64()),
        (Some(3), Some(5))
    );
    let receipt = &v["x_steward"];
    assert_eq!(receipt["decision"]["outcome"], "approved");
    assert_eq!(receipt["payment"]["status"], "committed");
    // 3 input tokens at 1 USDC/M and 5 output at 2 USDC/M: 3 + 10 micro, + 5 % fee rounded up.
    assert_eq!(receipt["cost"]["charged"].as_i64(), Some(13 + 1));
    let id = receipt["request_id"].as_str().unwrap();
    let r: Value = app.get(&format!("/api/v1/requests/{id}"), &s.key).await.json().await.unwrap();
    assert_eq!(r["status"], "executed");

    // Streaming: chunks, then a final chunk with usage and the receipt, then [DONE].
    let mut streamed = chat.clone();
    streamed["stream"] = json!(true);
    let res = v1(&app, &s, "/v1/chat/completions", &streamed).await;
    assert_eq!(res.status(), 200);
    assert!(res.headers()["content-type"].to_str().unwrap().starts_with("text/event-stream"));
    let events = sse(&res.text().await.unwrap());
    assert_eq!(events.last().unwrap(), "[DONE]");
    let chunks: Vec<Value> =
        events[..events.len() - 1].iter().map(|e| serde_json::from_str(e).unwrap()).collect();
    let text: String = chunks.iter().filter_map(|c| c["choices"][0]["delta"]["content"].as_str()).collect();
    assert_eq!(text, "echo: hello there");
    let last = chunks.last().unwrap();
    assert_eq!(
        (last["usage"]["completion_tokens"].as_u64(), last["x_steward"]["payment"]["status"].as_str()),
        (Some(5), Some("committed"))
    );

    // Embeddings.
    let res = v1(&app, &s, "/v1/embeddings", &json!({"model": "local/echo", "input": ["a", "bb"]})).await;
    assert_eq!(res.status(), 200);
    let v: Value = res.json().await.unwrap();
    assert_eq!(v["data"].as_array().unwrap().len(), 2);
    assert_eq!(v["x_steward"]["decision"]["outcome"], "approved");
    let r: Value = app
        .get(&format!("/api/v1/requests/{}", v["x_steward"]["request_id"].as_str().unwrap()), &s.key)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(r["operation"], "embedding");

    // Models: only what the project's policy allows.
    let res =
        app.send(Method::GET, "/v1/models", Some(&s.key), None, &[("x-steward-project", &s.project)]).await;
    let v: Value = res.json().await.unwrap();
    let ids: Vec<&str> = v["data"].as_array().unwrap().iter().map(|m| m["id"].as_str().unwrap()).collect();
    assert_eq!(ids, ["local/echo"]);
    let mut wider = open_policy();
    wider["allowed_providers"] = json!(["local", "openai"]);
    wider["allowed_models"] = json!(["local/echo", "openai/gpt-4o-mini"]);
    put_policy(&app, &s.key, &s.project, wider).await;
    let v: Value = app
        .send(Method::GET, "/v1/models", Some(&s.key), None, &[("x-steward-project", &s.project)])
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(v["data"].as_array().unwrap().len(), 2);

    // Policies reach embeddings too.
    let mut no_embeddings = open_policy();
    no_embeddings["forbidden_operations"] = json!(["local.echo.embedding"]);
    put_policy(&app, &s.key, &s.project, no_embeddings).await;
    let res = v1(&app, &s, "/v1/embeddings", &json!({"model": "local/echo", "input": "a"})).await;
    assert_eq!(openai_error(res).await, (403, "OPERATION_FORBIDDEN".into()));
    put_policy(&app, &s.key, &s.project, open_policy()).await;

    // Refusals and errors in OpenAI's shape, with Steward's codes; nothing charged.
    let before = money(&app, &s.uid).await;
    put_budget(&app, &s, 10, 10, 1000).await;
    assert_eq!(
        openai_error(v1(&app, &s, "/v1/chat/completions", &chat).await).await,
        (403, "EXCEEDS_PER_REQUEST_LIMIT".into())
    );
    let mut bare = chat.clone();
    bare["model"] = json!("echo");
    assert_eq!(
        openai_error(v1(&app, &s, "/v1/chat/completions", &bare).await).await,
        (404, "MODEL_NOT_FOUND".into())
    );
    let res = app.send(Method::POST, "/v1/chat/completions", Some("sk-nope"), Some(&chat), &[]).await;
    assert_eq!(openai_error(res).await, (401, "INVALID_API_KEY".into()));
    let res = app.post_raw("/v1/chat/completions", &s.key, b"{".to_vec(), &[]).await;
    assert_eq!(openai_error(res).await.0, 400);
    assert_eq!(money(&app, &s.uid).await, before);
    assert_books(&app, &s.uid).await;
    let audit = app.audit("action=request.decided").await;
    assert!(audit.len() >= 4, "every /v1 call is audited");
}

async fn disconnect_mid_stream_charges_what_was_streamed(backend: Backend) {
    let Some(db) = tokio::task::spawn_blocking(move || TestDb::new(backend)).await.unwrap() else { return };
    let app = TestApp::start_with(
        db,
        |_| {},
        |a| {
            a.providers.push(Arc::new(ScriptedProvider::new(
                "drip",
                Script::SlowStream(50, Duration::from_millis(40)),
            )))
        },
    )
    .await;
    // 1 USDC per million output tokens, 0 input: the charge counts output only.
    set_prices(&app, "drip", "x", (0, 1_000_000, 0));
    let mut policy = open_policy();
    policy["allowed_providers"] = json!(["drip"]);
    policy["allowed_models"] = json!(["drip/x"]);
    let s = spender(&app, 5_000_000, policy).await;
    let body = json!({"model": "drip/x", "stream": true, "max_tokens": 1000,
        "messages": [{"role": "user", "content": "tell me a long story"}]});
    let res = v1(&app, &s, "/v1/chat/completions", &body).await;
    assert_eq!(res.status(), 200);
    let request = res.headers()["x-steward-request-id"].to_str().unwrap().to_string();
    let mut stream = res.bytes_stream();
    let mut received = String::new();
    while received.matches("word ").count() < 5 {
        received.push_str(&String::from_utf8_lossy(&stream.next().await.unwrap().unwrap()));
    }
    drop(stream); // the client goes away after about 5 of 50 words
    let mut r = Value::Null;
    for _ in 0..100 {
        tokio::time::sleep(Duration::from_millis(50)).await;
        r = app.get(&format!("/api/v1/requests/{request}"), &s.key).await.json().await.unwrap();
        if r["status"] != "executing" {
            break;
        }
    }
    assert_eq!(r["status"], "executed", "{r}");
    assert!(r["error"].as_str().unwrap().contains("disconnected"));
    let streamed =
        r["response"]["choices"][0]["message"]["content"].as_str().unwrap().matches("word ").count();
    assert!((5..50).contains(&streamed), "{streamed} words streamed before the disconnect");
    let output_tokens = r["usage"]["output_tokens"].as_i64().unwrap();
    assert_eq!(output_tokens, (streamed as i64 * 5 + 3) / 4, "charged for what was streamed");
    let cost = output_tokens; // 1 micro-USDC per output token
    assert_eq!(r["charged"].as_i64(), Some(cost + (cost * 500 + 9_999) / 10_000));
    assert_eq!(r["payment"]["status"], "committed");
    assert!(r["charged"].as_i64() < r["estimated"].as_i64());
    assert_eq!(
        money(&app, &s.uid).await,
        (5_000_000 - r["charged"].as_i64().unwrap(), 0),
        "the rest is released"
    );
    assert_books(&app, &s.uid).await;
}

/// Through Steward to an OpenAI-compatible upstream (a loopback fake) with the real adapter:
/// tool calls pass through, the charge follows the upstream's usage, streams pass through, and
/// an upstream failure is a 502 carrying the upstream's code with nothing charged.
async fn through_a_real_adapter(backend: Backend) {
    use wiremock::matchers::{body_partial_json, method, path};
    use wiremock::{Mock, MockServer, ResponseTemplate};
    let Some(db) = tokio::task::spawn_blocking(move || TestDb::new(backend)).await.unwrap() else { return };
    let upstream = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/v1/chat/completions"))
        .and(body_partial_json(json!({"stream": true})))
        .respond_with(ResponseTemplate::new(200).insert_header("content-type", "text/event-stream").set_body_string(
            [
                json!({"choices": [{"index": 0, "delta": {"content": "Hi "}}]}),
                json!({"choices": [{"index": 0, "delta": {"content": "there"}, "finish_reason": "stop"}]}),
                json!({"choices": [], "usage": {"prompt_tokens": 1000, "completion_tokens": 2000}}),
            ]
            .iter()
            .map(|c| format!("data: {c}\n\n"))
            .collect::<String>()
                + "data: [DONE]\n\n",
        ))
        .with_priority(1)
        .mount(&upstream)
        .await;
    Mock::given(method("POST"))
        .and(path("/v1/chat/completions"))
        .and(body_partial_json(json!({"messages": [{"role": "user", "content": "break"}]})))
        .respond_with(ResponseTemplate::new(400).set_body_json(json!({"error": {"message": "bad", "type": "invalid_request_error", "code": "context_length_exceeded"}})))
        .with_priority(2)
        .mount(&upstream)
        .await;
    Mock::given(method("POST"))
        .and(path("/v1/chat/completions"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({
            "id": "chatcmpl-up", "object": "chat.completion", "model": "gpt-4o-mini",
            "choices": [{"index": 0, "finish_reason": "tool_calls", "message": {"role": "assistant", "content": null,
                "tool_calls": [{"id": "call_1", "type": "function", "function": {"name": "book", "arguments": "{}"}}]}}],
            "usage": {"prompt_tokens": 1000, "completion_tokens": 2000, "total_tokens": 3000},
        })))
        .with_priority(3)
        .mount(&upstream)
        .await;
    let base = format!("{}/v1", upstream.uri());
    let app = TestApp::start_with(
        db,
        |_| {},
        move |a| {
            a.providers.push(openai_compatible("openai", &base));
        },
    )
    .await;
    let mut policy = open_policy();
    policy["allowed_providers"] = json!(["openai"]);
    policy["allowed_models"] = json!(["openai/gpt-4o-mini"]);
    let s = spender(&app, 5_000_000, policy).await;
    let ask = |content: &str, stream: bool| {
        json!({"model": "openai/gpt-4o-mini", "max_tokens": 4000, "stream": stream,
        "messages": [{"role": "user", "content": content}],
        "tools": [{"type": "function", "function": {"name": "book", "parameters": {"type": "object"}}}]})
    };
    // gpt-4o-mini list price: 0.15 / 0.60 USDC per million tokens → 150 + 1200 micro, + 5 % fee.
    let expected = 150 + 1200 + (1350 * 500 + 9_999) / 10_000;

    let res = v1(&app, &s, "/v1/chat/completions", &ask("book it", false)).await;
    assert_eq!(res.status(), 200);
    let v: Value = res.json().await.unwrap();
    assert_eq!(v["choices"][0]["message"]["tool_calls"][0]["function"]["name"], "book");
    assert_eq!(v["model"], "openai/gpt-4o-mini");
    assert_eq!(v["x_steward"]["cost"]["charged"].as_i64(), Some(expected));

    let res = v1(&app, &s, "/v1/chat/completions", &ask("hello", true)).await;
    let events = sse(&res.text().await.unwrap());
    let chunks: Vec<Value> =
        events[..events.len() - 1].iter().map(|e| serde_json::from_str(e).unwrap()).collect();
    let text: String = chunks.iter().filter_map(|c| c["choices"][0]["delta"]["content"].as_str()).collect();
    assert_eq!(text, "Hi there");
    assert_eq!(chunks.last().unwrap()["x_steward"]["cost"]["charged"].as_i64(), Some(expected));

    // A call naming no max_tokens is sent with the default cap, which the reservation covers.
    let mut uncapped = ask("book it", false);
    uncapped.as_object_mut().unwrap().remove("max_tokens");
    let res = v1(&app, &s, "/v1/chat/completions", &uncapped).await;
    assert_eq!(res.status(), 200);
    let third: Value = res.json().await.unwrap();
    // (The fake reports more output than the cap allows; the charge stops at the reservation.)
    let third = third["x_steward"]["cost"]["charged"].as_i64().unwrap();
    assert!(third > 0 && third < expected);
    let sent: Value =
        serde_json::from_slice(&upstream.received_requests().await.unwrap().last().unwrap().body).unwrap();
    assert_eq!(sent["max_tokens"].as_u64(), Some(app.settings.gateway.default_max_tokens));

    let before = money(&app, &s.uid).await;
    let res = v1(&app, &s, "/v1/chat/completions", &ask("break", false)).await;
    assert_eq!(res.status(), 502);
    let e: Value = res.json().await.unwrap();
    assert_eq!(
        (e["error"]["code"].as_str(), e["error"]["upstream_code"].as_str()),
        (Some("PROVIDER_FAILED"), Some("context_length_exceeded"))
    );
    assert_eq!(money(&app, &s.uid).await, before, "nothing charged");
    assert_eq!(money(&app, &s.uid).await.0, 5_000_000 - 2 * expected - third);
    assert_books(&app, &s.uid).await;
}

mod through_a_real_adapter {
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn sqlite() {
        super::through_a_real_adapter(super::Backend::Sqlite).await;
    }
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn postgres() {
        super::through_a_real_adapter(super::Backend::Postgres).await;
    }
}

system_tests::system_test!(chat_embeddings_and_models);

mod disconnect_mid_stream_charges_what_was_streamed {
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn sqlite() {
        super::disconnect_mid_stream_charges_what_was_streamed(super::Backend::Sqlite).await;
    }
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn postgres() {
        super::disconnect_mid_stream_charges_what_was_streamed(super::Backend::Postgres).await;
    }
}

async fn chatbot_quotes_the_guide_without_a_model(app: TestApp) {
    let key = app.user_with_key(models::Role::Member).await;
    let res =
        app.post("/api/v1/chatbot/chat", &key, &json!({"message": "how do I raise my daily budget?"})).await;
    assert_eq!(res.status(), 200);
    let v: Value = res.json().await.unwrap();
    assert_eq!(v["mode"], "guide");
    assert_eq!(v["sources"][0], "Budgets");
    let answer = v["answer"].as_str().unwrap();
    assert!(answer.starts_with("Quoting the Steward user guide"), "{answer}");
    assert!(answer.contains("## Budgets") && answer.contains("PUT /api/v1/projects/{id}/budget"), "{answer}");
    let bad = app.post("/api/v1/chatbot/chat", &key, &json!({"message": ""})).await;
    system_tests::expect_problem(bad, 422, "VALIDATION_FAILED").await;
}

/// With a model configured, the answer comes through the spend gateway, paid by the platform
/// project (here `local/echo`, which repeats the question).
async fn chatbot_answers_through_the_gateway(backend: Backend) {
    let Some(db) = tokio::task::spawn_blocking(move || TestDb::new(backend)).await.unwrap() else { return };
    let app = TestApp::start(db, |s| {
        s.chatbot.model = "local/echo".into();
        s.chatbot.project = "prj_chatbotplatform00".into();
    })
    .await;
    // The platform: a funded user owning the chatbot's project, which allows local/echo.
    let platform = spender(&app, 5_000_000, open_policy()).await;
    {
        let mut conn = app.db.db.conn().unwrap();
        let owner = repositories::users::by_public_id(&mut conn, &platform.uid).unwrap();
        repositories::gateway::projects::insert(
            &mut conn,
            "prj_chatbotplatform00",
            owner.id,
            "Help chatbot",
            "",
            models::time::now(),
        )
        .unwrap();
        // Written past the services, which would clear the gateway's cache of only projects.
        app.db.db.decision_cache().clear();
    }
    put_policy(&app, &platform.key, "prj_chatbotplatform00", open_policy()).await;
    let key = app.user_with_key(models::Role::Member).await;
    let res = app
        .post(
            "/api/v1/chatbot/chat",
            &key,
            &json!({"message": "how do I raise my daily budget?",
        "history": [{"role": "user", "content": "hi"}, {"role": "assistant", "content": "hello"}]}),
        )
        .await;
    let v: Value = res.json().await.unwrap();
    assert_eq!(v["mode"], "llm", "{v}");
    assert_eq!(v["answer"], "echo: how do I raise my daily budget?");
    let id = v["request_id"].as_str().unwrap();
    let r: Value = app.get(&format!("/api/v1/requests/{id}"), &platform.key).await.json().await.unwrap();
    assert_eq!(
        (r["status"].as_str(), r["project"].as_str()),
        (Some("executed"), Some("prj_chatbotplatform00"))
    );
}

system_tests::system_test!(chatbot_quotes_the_guide_without_a_model);

mod chatbot_answers_through_the_gateway {
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn sqlite() {
        super::chatbot_answers_through_the_gateway(super::Backend::Sqlite).await;
    }
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn postgres() {
        super::chatbot_answers_through_the_gateway(super::Backend::Postgres).await;
    }
}

/// The facility endpoints: text completion and vision on `local/echo`; image generation and
/// speech through the OpenAI-compatible adapter against a loopback fake. Each is priced,
/// charged, audited, and refused by the policy's forbidden operations and by budgets.
async fn facility_endpoints(backend: Backend) {
    use wiremock::matchers::{method, path};
    use wiremock::{Mock, MockServer, ResponseTemplate};
    let Some(db) = tokio::task::spawn_blocking(move || TestDb::new(backend)).await.unwrap() else { return };
    let upstream = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/v1/images/generations"))
        .respond_with(
            ResponseTemplate::new(200)
                .set_body_json(json!({"created": 1, "data": [{"url": "https://img.example/1.png"}]})),
        )
        .mount(&upstream)
        .await;
    Mock::given(method("POST"))
        .and(path("/v1/audio/speech"))
        .respond_with(
            ResponseTemplate::new(200)
                .insert_header("content-type", "audio/mpeg")
                .set_body_bytes(b"ID3-fake-mp3".to_vec()),
        )
        .mount(&upstream)
        .await;
    let base = format!("{}/v1", upstream.uri());
    let app = TestApp::start_with(
        db,
        |_| {},
        move |a| {
            a.providers.push(openai_compatible("openai", &base));
        },
    )
    .await;
    set_price(&app, "local", "echo", 1000);
    let mut policy = open_policy();
    policy["allowed_providers"] = json!(["local", "openai"]);
    policy["allowed_models"] = json!(["local/echo", "openai/dall-e-3", "openai/tts-1"]);
    let s = spender(&app, 5_000_000, policy.clone()).await;

    let res = v1(
        &app,
        &s,
        "/v1/text/completion",
        &json!({"model": "local/echo", "prompt": "once upon", "max_tokens": 50}),
    )
    .await;
    let v: Value = res.json().await.unwrap();
    assert_eq!(
        (v["text"].as_str(), v["x_steward"]["payment"]["status"].as_str()),
        (Some("echo: once upon"), Some("committed"))
    );
    let r: Value = app
        .get(&format!("/api/v1/requests/{}", v["id"].as_str().unwrap()), &s.key)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(r["operation"], "completion");

    let vision = json!({"model": "local/echo", "image_base64": "iVBORw0KGgo=", "content_type": "image/png", "prompt": "what is this"});
    let v: Value = v1(&app, &s, "/v1/vision/analyze", &vision).await.json().await.unwrap();
    assert_eq!(v["analysis"], "echo: what is this");
    let bad = v1(
        &app,
        &s,
        "/v1/vision/analyze",
        &json!({"model": "local/echo", "image_base64": "x", "content_type": "text/plain"}),
    )
    .await;
    assert_eq!(openai_error(bad).await, (400, "VALIDATION_FAILED".into()));

    // dall-e-3 is 0.04 USDC an image (+5 %); tts-1 15 USDC per million characters (+5 %).
    let v: Value = v1(
        &app,
        &s,
        "/v1/images/generate",
        &json!({"model": "openai/dall-e-3", "prompt": "a farmhouse at dusk"}),
    )
    .await
    .json()
    .await
    .unwrap();
    assert_eq!(v["data"][0]["url"], "https://img.example/1.png");
    assert_eq!(v["x_steward"]["cost"]["charged"].as_i64(), Some(42_000));
    let many =
        v1(&app, &s, "/v1/images/generate", &json!({"model": "openai/dall-e-3", "prompt": "x", "n": 3}))
            .await;
    assert_eq!(openai_error(many).await, (400, "VALIDATION_FAILED".into()));
    let text = "Your booking is confirmed.";
    let res =
        v1(&app, &s, "/v1/audio/speech", &json!({"model": "openai/tts-1", "input": text, "voice": "alloy"}))
            .await;
    assert_eq!(res.status(), 200);
    assert_eq!(res.headers()["content-type"], "audio/mpeg");
    let charged: i64 = res.headers()["x-steward-charged"].to_str().unwrap().parse().unwrap();
    let cost = (text.len() as i64 * 15_000_000 + 999_999) / 1_000_000;
    assert_eq!(charged, cost + (cost * 500 + 9_999) / 10_000);
    assert_eq!(&res.bytes().await.unwrap()[..], b"ID3-fake-mp3");

    // Policies and budgets apply to each family; refusals are audited and charge nothing.
    let mut strict = policy.clone();
    strict["forbidden_operations"] =
        json!(["local.echo.vision", "openai.*.image", "openai.tts-1.audio", "local.echo.completion"]);
    put_policy(&app, &s.key, &s.project, strict).await;
    let before = money(&app, &s.uid).await;
    for (path, body) in [
        ("/v1/vision/analyze", vision.clone()),
        ("/v1/images/generate", json!({"model": "openai/dall-e-3", "prompt": "x"})),
        ("/v1/audio/speech", json!({"model": "openai/tts-1", "input": "hi"})),
        ("/v1/text/completion", json!({"model": "local/echo", "prompt": "hi"})),
    ] {
        assert_eq!(
            openai_error(v1(&app, &s, path, &body).await).await,
            (403, "OPERATION_FORBIDDEN".into()),
            "{path}"
        );
    }
    put_policy(&app, &s.key, &s.project, policy).await;
    put_budget(&app, &s, 10, 10, 10).await;
    let res = v1(&app, &s, "/v1/images/generate", &json!({"model": "openai/dall-e-3", "prompt": "x"})).await;
    assert_eq!(openai_error(res).await, (403, "EXCEEDS_PER_REQUEST_LIMIT".into()));
    assert_eq!(money(&app, &s.uid).await, before);
    let denied =
        app.audit("action=request.decided").await.into_iter().filter(|e| e["result"] == "denied").count();
    assert_eq!(denied, 5);
    assert_books(&app, &s.uid).await;
}

mod facility_endpoints {
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn sqlite() {
        super::facility_endpoints(super::Backend::Sqlite).await;
    }
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn postgres() {
        super::facility_endpoints(super::Backend::Postgres).await;
    }
}
