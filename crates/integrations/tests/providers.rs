//! Each model adapter against a loopback fake speaking that provider's wire format: answers,
//! tool calls, images, usage, errors with the provider's code, 429 with `Retry-After`, timeouts,
//! and (OpenAI) streamed chunks ending in the usage chunk.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::time::{Duration, Instant};

use futures_util::StreamExt;
use integrations::providers::{Anthropic, Cohere, Gemini, OpenAiCompatible, Upstream};
use serde_json::{json, Value};
use services::gateway::decide::Operation;
use services::ports::{ModelCall, ModelProvider, StreamEvent};
use wiremock::matchers::{header, method, path};
use wiremock::{Mock, MockServer, ResponseTemplate};

fn up(name: &str, server: &MockServer, base: &str, timeout_ms: u64) -> Upstream {
    Upstream::new(
        name,
        &format!("{}{base}", server.uri()),
        Some("test-key".into()),
        Duration::from_millis(timeout_ms),
        2,
        Duration::from_millis(10),
    )
    .unwrap()
}

fn chat(model: &str, body: Value) -> ModelCall {
    ModelCall { model: model.into(), operation: Operation::Chat, body }
}

fn tool_conversation() -> Value {
    json!({
        "max_tokens": 200, "temperature": 0.2,
        "messages": [
            {"role": "system", "content": "You book farmhouses."},
            {"role": "user", "content": [
                {"type": "text", "text": "What is in this picture?"},
                {"type": "image_url", "image_url": {"url": "data:image/png;base64,iVBORw0KGgo="}},
            ]},
            {"role": "assistant", "content": null, "tool_calls": [
                {"id": "call_1", "type": "function", "function": {"name": "search", "arguments": "{\"city\":\"Karachi\"}"}}]},
            {"role": "tool", "tool_call_id": "call_1", "content": "{\"found\":2}"},
        ],
        "tools": [{"type": "function", "function": {"name": "search", "description": "find places",
            "parameters": {"type": "object", "properties": {"city": {"type": "string"}}}}}],
    })
}

async fn body_of(server: &MockServer) -> Value {
    let got = server.received_requests().await.unwrap();
    serde_json::from_slice(&got.last().unwrap().body).unwrap()
}

#[tokio::test]
async fn openai_answers_tools_usage_and_errors() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/v1/chat/completions"))
        .and(header("authorization", "Bearer test-key"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({
            "id": "chatcmpl-1", "object": "chat.completion", "model": "gpt-4o-mini",
            "choices": [{"index": 0, "finish_reason": "tool_calls", "message": {"role": "assistant", "content": null,
                "tool_calls": [{"id": "call_9", "type": "function", "function": {"name": "search", "arguments": "{}"}}]}}],
            "usage": {"prompt_tokens": 42, "completion_tokens": 7, "total_tokens": 49},
        })))
        .mount(&server)
        .await;
    let p = OpenAiCompatible::new(up("openai", &server, "/v1", 2000));
    let reply = p.call(&chat("gpt-4o-mini", tool_conversation())).await.unwrap();
    assert_eq!((reply.input_tokens, reply.output_tokens), (42, 7));
    assert_eq!(reply.body["choices"][0]["message"]["tool_calls"][0]["id"], "call_9");
    // Passed through: model set, images and tools untouched, no stream flag.
    let sent = body_of(&server).await;
    assert_eq!(sent["model"], "gpt-4o-mini");
    assert_eq!(sent["messages"][1]["content"][1]["type"], "image_url");
    assert_eq!(sent["tools"][0]["function"]["name"], "search");
    assert!(sent.get("stream").is_none());

    // An upstream error keeps the provider's code; a 4xx is not retried.
    let bad = MockServer::start().await;
    Mock::given(method("POST"))
        .respond_with(
            ResponseTemplate::new(401).set_body_json(json!({"error": {"message": "Incorrect API key",
            "type": "invalid_request_error", "code": "invalid_api_key"}})),
        )
        .mount(&bad)
        .await;
    let e = OpenAiCompatible::new(up("openai", &bad, "/v1", 2000))
        .call(&chat("gpt-4o", json!({"messages": []})))
        .await
        .unwrap_err();
    assert_eq!(e.code.as_deref(), Some("invalid_api_key"));
    assert_eq!(bad.received_requests().await.unwrap().len(), 1);
}

#[tokio::test]
async fn openai_embeddings() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/v1/embeddings"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({"object": "list",
            "data": [{"object": "embedding", "index": 0, "embedding": [0.1, 0.2]}],
            "usage": {"prompt_tokens": 3, "total_tokens": 3}})))
        .mount(&server)
        .await;
    let call = ModelCall {
        model: "text-embedding-3-small".into(),
        operation: Operation::Embedding,
        body: json!({"input": "hi"}),
    };
    let reply = OpenAiCompatible::new(up("openai", &server, "/v1", 2000)).call(&call).await.unwrap();
    assert_eq!((reply.input_tokens, reply.output_tokens), (3, 0));
    assert_eq!(body_of(&server).await["input"], "hi");
}

#[tokio::test]
async fn openai_streams_chunks_then_the_usage_chunk() {
    let server = MockServer::start().await;
    let sse = [
        json!({"id": "c", "object": "chat.completion.chunk", "choices": [{"index": 0, "delta": {"role": "assistant", "content": ""}}]}),
        json!({"id": "c", "object": "chat.completion.chunk", "choices": [{"index": 0, "delta": {"content": "Hel"}}]}),
        json!({"id": "c", "object": "chat.completion.chunk", "choices": [{"index": 0, "delta": {"content": "lo"}, "finish_reason": "stop"}]}),
        json!({"id": "c", "object": "chat.completion.chunk", "choices": [], "usage": {"prompt_tokens": 9, "completion_tokens": 2, "total_tokens": 11}}),
    ]
    .iter()
    .map(|c| format!("data: {c}\r\n\r\n"))
    .collect::<String>()
        + "data: [DONE]\r\n\r\n";
    Mock::given(method("POST"))
        .and(path("/v1/chat/completions"))
        .respond_with(
            ResponseTemplate::new(200)
                .insert_header("content-type", "text/event-stream")
                .set_body_string(sse),
        )
        .mount(&server)
        .await;
    let p = OpenAiCompatible::new(up("openai", &server, "/v1", 2000));
    let events: Vec<StreamEvent> = p
        .stream(&chat("gpt-4o-mini", json!({"messages": [{"role": "user", "content": "hi"}]})))
        .await
        .unwrap()
        .map(|e| e.unwrap())
        .collect()
        .await;
    let text: String = events
        .iter()
        .filter_map(|e| match e {
            StreamEvent::Chunk(c) => c["choices"][0]["delta"]["content"].as_str().map(str::to_string),
            _ => None,
        })
        .collect();
    assert_eq!(text, "Hello");
    assert_eq!(events.last().unwrap(), &StreamEvent::Usage { input_tokens: 9, output_tokens: 2 });
    let sent = body_of(&server).await;
    assert_eq!(
        (sent["stream"].as_bool(), sent["stream_options"]["include_usage"].as_bool()),
        (Some(true), Some(true))
    );
}

#[tokio::test]
async fn retries_429_after_retry_after_and_5xx_with_backoff() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .respond_with(
            ResponseTemplate::new(429)
                .insert_header("retry-after", "1")
                .set_body_json(json!({"error": {"type": "rate_limit"}})),
        )
        .up_to_n_times(1)
        .with_priority(1)
        .mount(&server)
        .await;
    Mock::given(method("POST"))
        .respond_with(ResponseTemplate::new(503))
        .up_to_n_times(1)
        .with_priority(2)
        .mount(&server)
        .await;
    Mock::given(method("POST"))
        .respond_with(ResponseTemplate::new(200).set_body_json(
            json!({"choices": [{"index": 0, "message": {"role": "assistant", "content": "ok"}}],
            "usage": {"prompt_tokens": 1, "completion_tokens": 1}}),
        ))
        .with_priority(3)
        .mount(&server)
        .await;
    let started = Instant::now();
    let reply = OpenAiCompatible::new(up("openai", &server, "", 2000))
        .call(&chat("m", json!({"messages": []})))
        .await
        .unwrap();
    assert_eq!(reply.body["choices"][0]["message"]["content"], "ok");
    assert_eq!(server.received_requests().await.unwrap().len(), 3, "429, 503, then success");
    assert!(started.elapsed() >= Duration::from_secs(1), "waited as Retry-After asked");

    // Retries run out: the last answer's code is reported.
    let busy = MockServer::start().await;
    Mock::given(method("POST"))
        .respond_with(ResponseTemplate::new(529).set_body_json(
            json!({"type": "error", "error": {"type": "overloaded_error", "message": "busy"}}),
        ))
        .mount(&busy)
        .await;
    let e = Anthropic::new(up("anthropic", &busy, "", 2000))
        .call(&chat("claude", json!({"messages": []})))
        .await
        .unwrap_err();
    assert_eq!(e.code.as_deref(), Some("overloaded_error"));
    assert_eq!(busy.received_requests().await.unwrap().len(), 3, "the first try and two retries");
}

#[tokio::test]
async fn timeouts_fail_with_a_timeout_code() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .respond_with(
            ResponseTemplate::new(200).set_delay(Duration::from_millis(800)).set_body_json(json!({})),
        )
        .mount(&server)
        .await;
    let slow =
        Upstream::new("openai", &server.uri(), None, Duration::from_millis(100), 0, Duration::from_millis(1))
            .unwrap();
    let e = OpenAiCompatible::new(slow).call(&chat("m", json!({"messages": []}))).await.unwrap_err();
    assert_eq!(e.code.as_deref(), Some("timeout"));
}

#[tokio::test]
async fn anthropic_translates_both_ways() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/v1/messages"))
        .and(header("x-api-key", "test-key"))
        .and(header("anthropic-version", "2023-06-01"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({
            "id": "msg_1", "type": "message", "role": "assistant", "model": "claude-sonnet-4-20250514",
            "content": [{"type": "text", "text": "Two farms. "}, {"type": "tool_use", "id": "toolu_1", "name": "book", "input": {"farm": "A"}}],
            "stop_reason": "tool_use", "usage": {"input_tokens": 120, "output_tokens": 30},
        })))
        .mount(&server)
        .await;
    let p = Anthropic::new(up("anthropic", &server, "", 2000));
    let reply = p.call(&chat("claude-sonnet-4-20250514", tool_conversation())).await.unwrap();
    assert_eq!((reply.input_tokens, reply.output_tokens), (120, 30));
    let m = &reply.body["choices"][0];
    assert_eq!(
        (m["finish_reason"].as_str(), m["message"]["content"].as_str()),
        (Some("tool_calls"), Some("Two farms. "))
    );
    assert_eq!(m["message"]["tool_calls"][0]["function"]["name"], "book");
    assert_eq!(m["message"]["tool_calls"][0]["function"]["arguments"], "{\"farm\":\"A\"}");

    let sent = body_of(&server).await;
    assert_eq!(sent["system"], "You book farmhouses.");
    assert_eq!((sent["max_tokens"].as_u64(), sent["temperature"].as_f64()), (Some(200), Some(0.2)));
    assert_eq!(
        sent["messages"][0]["content"][1],
        json!({"type": "image", "source": {"type": "base64", "media_type": "image/png", "data": "iVBORw0KGgo="}})
    );
    assert_eq!(
        sent["messages"][1]["content"][0],
        json!({"type": "tool_use", "id": "call_1", "name": "search", "input": {"city": "Karachi"}})
    );
    assert_eq!(sent["messages"][2]["content"][0]["type"], "tool_result");
    assert_eq!(sent["tools"][0]["input_schema"]["properties"]["city"]["type"], "string");
}

#[tokio::test]
async fn gemini_translates_both_ways_and_embeds() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/v1beta/models/gemini-2.0-flash:generateContent"))
        .and(header("x-goog-api-key", "test-key"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({
            "candidates": [{"content": {"role": "model", "parts": [{"text": "Booking."}, {"functionCall": {"name": "book", "args": {"farm": "A"}}}]},
                "finishReason": "STOP"}],
            "usageMetadata": {"promptTokenCount": 80, "candidatesTokenCount": 12, "totalTokenCount": 92},
        })))
        .mount(&server)
        .await;
    Mock::given(method("POST"))
        .and(path("/v1beta/models/text-embedding-004:batchEmbedContents"))
        .respond_with(
            ResponseTemplate::new(200)
                .set_body_json(json!({"embeddings": [{"values": [0.5, 0.5]}, {"values": [0.1, 0.9]}]})),
        )
        .mount(&server)
        .await;
    Mock::given(method("POST"))
        .and(path("/v1beta/models/nope:generateContent"))
        .respond_with(
            ResponseTemplate::new(404).set_body_json(
                json!({"error": {"code": 404, "message": "not found", "status": "NOT_FOUND"}}),
            ),
        )
        .mount(&server)
        .await;
    let p = Gemini::new(up("gemini", &server, "/v1beta", 2000));
    let reply = p.call(&chat("gemini-2.0-flash", tool_conversation())).await.unwrap();
    assert_eq!((reply.input_tokens, reply.output_tokens), (80, 12));
    let m = &reply.body["choices"][0];
    assert_eq!(
        (m["finish_reason"].as_str(), m["message"]["tool_calls"][0]["function"]["name"].as_str()),
        (Some("tool_calls"), Some("book"))
    );
    let sent = body_of(&server).await;
    assert_eq!(sent["systemInstruction"]["parts"][0]["text"], "You book farmhouses.");
    assert_eq!(
        sent["contents"][0]["parts"][1],
        json!({"inline_data": {"mime_type": "image/png", "data": "iVBORw0KGgo="}})
    );
    assert_eq!(sent["contents"][1]["parts"][0]["functionCall"]["args"], json!({"city": "Karachi"}));
    assert_eq!(
        sent["contents"][2]["parts"][0]["functionResponse"],
        json!({"name": "search", "response": {"found": 2}})
    );
    assert_eq!(sent["generationConfig"], json!({"maxOutputTokens": 200, "temperature": 0.2}));
    assert_eq!(sent["tools"][0]["functionDeclarations"][0]["name"], "search");

    let call = ModelCall {
        model: "text-embedding-004".into(),
        operation: Operation::Embedding,
        body: json!({"input": ["abcd", "efgh"]}),
    };
    let emb = p.call(&call).await.unwrap();
    assert_eq!(emb.body["data"][1]["embedding"], json!([0.1, 0.9]));
    assert_eq!(emb.input_tokens, 2);
    let e = p.call(&chat("nope", json!({"messages": []}))).await.unwrap_err();
    assert_eq!(e.code.as_deref(), Some("NOT_FOUND"));
}

#[tokio::test]
async fn cohere_translates_both_ways_and_embeds() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/v2/chat"))
        .and(header("authorization", "Bearer test-key"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({
            "id": "co-1", "finish_reason": "TOOL_CALL",
            "message": {"role": "assistant", "content": [{"type": "text", "text": "Let me book."}],
                "tool_calls": [{"id": "tc_1", "type": "function", "function": {"name": "book", "arguments": "{\"farm\":\"A\"}"}}]},
            "usage": {"billed_units": {"input_tokens": 50, "output_tokens": 9}, "tokens": {"input_tokens": 60, "output_tokens": 9}},
        })))
        .mount(&server)
        .await;
    Mock::given(method("POST"))
        .and(path("/v2/embed"))
        .respond_with(
            ResponseTemplate::new(200)
                .set_body_json(json!({"id": "e", "embeddings": {"float": [[0.3, 0.4]]},
            "meta": {"billed_units": {"input_tokens": 4}}})),
        )
        .mount(&server)
        .await;
    let p = Cohere::new(up("cohere", &server, "", 2000));
    let reply = p.call(&chat("command-r", tool_conversation())).await.unwrap();
    assert_eq!((reply.input_tokens, reply.output_tokens), (60, 9));
    let m = &reply.body["choices"][0];
    assert_eq!(
        (m["finish_reason"].as_str(), m["message"]["content"].as_str()),
        (Some("tool_calls"), Some("Let me book."))
    );
    assert_eq!(m["message"]["tool_calls"][0]["id"], "tc_1");
    let sent = body_of(&server).await;
    assert_eq!(sent["messages"][1]["content"], "What is in this picture?", "text parts flattened");
    assert_eq!(sent["messages"][2]["tool_calls"][0]["id"], "call_1");
    assert_eq!(sent["messages"][3]["tool_call_id"], "call_1");
    assert_eq!(sent["tools"][0]["function"]["name"], "search");
    let call = ModelCall {
        model: "embed-english-v3.0".into(),
        operation: Operation::Embedding,
        body: json!({"input": "abcd"}),
    };
    let emb = p.call(&call).await.unwrap();
    assert_eq!((emb.body["data"][0]["embedding"].clone(), emb.input_tokens), (json!([0.3, 0.4]), 4));
}

/// Every adapter shares the retry and timeout rules: a 429 with `Retry-After` is waited out and
/// retried, and a slow answer fails with `timeout`.
#[tokio::test]
async fn every_adapter_honours_retry_after_and_times_out() {
    type Make = fn(Upstream) -> Box<dyn ModelProvider>;
    let adapters: [(&str, Make); 4] = [
        ("openai", |u| Box::new(OpenAiCompatible::new(u))),
        ("anthropic", |u| Box::new(Anthropic::new(u))),
        ("gemini", |u| Box::new(Gemini::new(u))),
        ("cohere", |u| Box::new(Cohere::new(u))),
    ];
    for (name, make) in adapters {
        let server = MockServer::start().await;
        Mock::given(method("POST"))
            .respond_with(ResponseTemplate::new(429).insert_header("retry-after", "1"))
            .up_to_n_times(1)
            .with_priority(1)
            .mount(&server)
            .await;
        Mock::given(method("POST"))
            .respond_with(
                ResponseTemplate::new(400).set_body_json(json!({"error": {"code": "bad_request_seen"}})),
            )
            .with_priority(2)
            .mount(&server)
            .await;
        let started = Instant::now();
        let e =
            make(up(name, &server, "", 5000)).call(&chat("m", json!({"messages": []}))).await.unwrap_err();
        assert_eq!(e.code.as_deref(), Some("bad_request_seen"), "{name}");
        assert_eq!(server.received_requests().await.unwrap().len(), 2, "{name}: retried once after the 429");
        assert!(started.elapsed() >= Duration::from_secs(1), "{name}: waited for Retry-After");

        let slow = MockServer::start().await;
        Mock::given(method("POST"))
            .respond_with(
                ResponseTemplate::new(200).set_delay(Duration::from_millis(800)).set_body_json(json!({})),
            )
            .mount(&slow)
            .await;
        let up = Upstream::new(
            name,
            &slow.uri(),
            Some("k".into()),
            Duration::from_millis(100),
            2,
            Duration::from_millis(1),
        )
        .unwrap();
        let e = make(up).call(&chat("m", json!({"messages": []}))).await.unwrap_err();
        assert_eq!(e.code.as_deref(), Some("timeout"), "{name}");
        assert_eq!(
            slow.received_requests().await.unwrap().len(),
            1,
            "{name}: a timed-out call is not retried"
        );
    }
}

fn sse_body(events: &[(&str, Value)]) -> String {
    events.iter().map(|(name, data)| format!("event: {name}\ndata: {data}\n\n")).collect()
}

async fn collect(p: &dyn ModelProvider, model: &str) -> (String, Vec<Value>, StreamEvent) {
    let events: Vec<StreamEvent> = p
        .stream(&chat(model, json!({"max_tokens": 50, "messages": [{"role": "user", "content": "hi"}]})))
        .await
        .unwrap()
        .map(|e| e.unwrap())
        .collect()
        .await;
    let chunks: Vec<Value> = events
        .iter()
        .filter_map(|e| match e {
            StreamEvent::Chunk(c) => Some(c.clone()),
            _ => None,
        })
        .collect();
    let text = chunks.iter().filter_map(|c| c["choices"][0]["delta"]["content"].as_str()).collect();
    (text, chunks, events.last().unwrap().clone())
}

#[tokio::test]
async fn anthropic_streams_text_tool_calls_and_usage() {
    let server = MockServer::start().await;
    let body = sse_body(&[
        (
            "message_start",
            json!({"type": "message_start", "message": {"id": "msg_1", "usage": {"input_tokens": 25, "output_tokens": 1}}}),
        ),
        (
            "content_block_start",
            json!({"type": "content_block_start", "index": 0, "content_block": {"type": "text", "text": ""}}),
        ),
        (
            "content_block_delta",
            json!({"type": "content_block_delta", "index": 0, "delta": {"type": "text_delta", "text": "Hel"}}),
        ),
        ("ping", json!({"type": "ping"})),
        (
            "content_block_delta",
            json!({"type": "content_block_delta", "index": 0, "delta": {"type": "text_delta", "text": "lo"}}),
        ),
        (
            "content_block_start",
            json!({"type": "content_block_start", "index": 1, "content_block": {"type": "tool_use", "id": "toolu_1", "name": "book", "input": {}}}),
        ),
        (
            "content_block_delta",
            json!({"type": "content_block_delta", "index": 1, "delta": {"type": "input_json_delta", "partial_json": "{\"farm\":"}}),
        ),
        (
            "content_block_delta",
            json!({"type": "content_block_delta", "index": 1, "delta": {"type": "input_json_delta", "partial_json": "\"A\"}"}}),
        ),
        (
            "message_delta",
            json!({"type": "message_delta", "delta": {"stop_reason": "tool_use"}, "usage": {"output_tokens": 15}}),
        ),
        ("message_stop", json!({"type": "message_stop"})),
    ]);
    Mock::given(method("POST"))
        .and(path("/v1/messages"))
        .respond_with(
            ResponseTemplate::new(200)
                .insert_header("content-type", "text/event-stream")
                .set_body_string(body),
        )
        .mount(&server)
        .await;
    let (text, chunks, last) = collect(&Anthropic::new(up("anthropic", &server, "", 2000)), "claude").await;
    assert_eq!(text, "Hello");
    let args: String = chunks
        .iter()
        .filter_map(|c| c["choices"][0]["delta"]["tool_calls"][0]["function"]["arguments"].as_str())
        .collect();
    assert_eq!(args, "{\"farm\":\"A\"}");
    assert!(chunks.iter().any(|c| c["choices"][0]["finish_reason"] == "tool_calls"));
    assert_eq!(last, StreamEvent::Usage { input_tokens: 25, output_tokens: 15 });
    assert_eq!(body_of(&server).await["stream"], true);
}

#[tokio::test]
async fn gemini_streams_text_and_usage() {
    let server = MockServer::start().await;
    let body = [
        json!({"candidates": [{"content": {"role": "model", "parts": [{"text": "Hel"}]}}], "usageMetadata": {"promptTokenCount": 8}}),
        json!({"candidates": [{"content": {"role": "model", "parts": [{"text": "lo"}]}, "finishReason": "STOP"}],
            "usageMetadata": {"promptTokenCount": 8, "candidatesTokenCount": 2}}),
    ]
    .iter()
    .map(|d| format!("data: {d}\r\n\r\n"))
    .collect::<String>();
    Mock::given(method("POST"))
        .and(path("/v1beta/models/gemini-2.0-flash:streamGenerateContent"))
        .respond_with(
            ResponseTemplate::new(200)
                .insert_header("content-type", "text/event-stream")
                .set_body_string(body),
        )
        .mount(&server)
        .await;
    let (text, _, last) =
        collect(&Gemini::new(up("gemini", &server, "/v1beta", 2000)), "gemini-2.0-flash").await;
    assert_eq!(text, "Hello");
    assert_eq!(last, StreamEvent::Usage { input_tokens: 8, output_tokens: 2 });
    let got = server.received_requests().await.unwrap();
    assert_eq!(got[0].url.query(), Some("alt=sse"));
}

#[tokio::test]
async fn cohere_streams_text_and_usage() {
    let server = MockServer::start().await;
    let body = sse_body(&[
        (
            "message-start",
            json!({"type": "message-start", "id": "c1", "delta": {"message": {"role": "assistant"}}}),
        ),
        (
            "content-delta",
            json!({"type": "content-delta", "index": 0, "delta": {"message": {"content": {"text": "Hel"}}}}),
        ),
        (
            "content-delta",
            json!({"type": "content-delta", "index": 0, "delta": {"message": {"content": {"text": "lo"}}}}),
        ),
        (
            "message-end",
            json!({"type": "message-end", "delta": {"finish_reason": "COMPLETE",
            "usage": {"billed_units": {"input_tokens": 5, "output_tokens": 2}, "tokens": {"input_tokens": 70, "output_tokens": 2}}}}),
        ),
    ]);
    Mock::given(method("POST"))
        .and(path("/v2/chat"))
        .respond_with(
            ResponseTemplate::new(200)
                .insert_header("content-type", "text/event-stream")
                .set_body_string(body),
        )
        .mount(&server)
        .await;
    let (text, _, last) = collect(&Cohere::new(up("cohere", &server, "", 2000)), "command-r").await;
    assert_eq!(text, "Hello");
    assert_eq!(last, StreamEvent::Usage { input_tokens: 70, output_tokens: 2 });
    assert_eq!(body_of(&server).await["stream"], true);
}
