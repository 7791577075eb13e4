//! What every HTTP model adapter shares: one client with connect and read timeouts, retries with
//! exponential backoff and jitter on 429/5xx and unreachable hosts (a `Retry-After` answer wins),
//! upstream errors reduced to the provider's own code, and a server-sent-events reader.

use std::time::Duration;

use futures_util::{Stream, StreamExt};
use reqwest::{RequestBuilder, Response, StatusCode};
use serde_json::Value;
use services::ports::PortError;

/// How an adapter reaches its provider.
#[derive(Clone, Debug)]
pub struct Upstream {
    /// Provider name (for errors and logs).
    pub name: String,
    /// API base URL, without a trailing slash.
    pub base_url: String,
    /// API key, if the provider needs one.
    pub api_key: Option<String>,
    client: reqwest::Client,
    retries: u32,
    backoff: Duration,
}

/// Longest `Retry-After` honoured; a provider asking for more fails the call instead.
const MAX_RETRY_AFTER: Duration = Duration::from_secs(30);

impl Upstream {
    /// A provider at `base_url` whose calls time out after `timeout`, retried `retries` times.
    pub fn new(
        name: &str,
        base_url: &str,
        api_key: Option<String>,
        timeout: Duration,
        retries: u32,
        backoff: Duration,
    ) -> Result<Self, String> {
        // Connect and read timeouts, not a total one: a long stream that keeps flowing must not be
        // cut off (the gateway bounds non-streaming calls as a whole).
        let client = reqwest::Client::builder()
            .connect_timeout(timeout)
            .read_timeout(timeout)
            .build()
            .map_err(|e| e.to_string())?;
        Ok(Self {
            name: name.into(),
            base_url: base_url.trim_end_matches('/').into(),
            api_key,
            client,
            retries,
            backoff,
        })
    }

    /// An error of this provider.
    pub fn error(&self, message: impl Into<String>, code: Option<String>) -> PortError {
        PortError { service: "provider", message: format!("{}: {}", self.name, message.into()), code }
    }

    /// POSTs JSON to `path` (after `build` adds headers), retrying as configured; a non-2xx
    /// final answer becomes an error carrying the provider's code.
    pub async fn post(
        &self,
        path: &str,
        body: &Value,
        build: impl Fn(RequestBuilder) -> RequestBuilder,
    ) -> Result<Response, PortError> {
        let url = format!("{}{path}", self.base_url);
        let mut attempt = 0;
        loop {
            let sent = build(self.client.post(&url).json(body)).send().await;
            let retry_after = match &sent {
                Ok(res) if res.status().is_success() => {
                    return sent.map_err(|e| self.error(e.to_string(), None))
                }
                Ok(res) if retryable(res.status()) && attempt < self.retries => retry_after(res),
                Ok(_) => {
                    let res = sent.map_err(|e| self.error(e.to_string(), None))?;
                    return Err(self.upstream_error(res).await);
                }
                // Only a call that never reached the provider is retried after a transport error:
                // a timed-out one may have been done (and billed) upstream.
                Err(e) if e.is_connect() && !e.is_timeout() && attempt < self.retries => None,
                Err(e) => {
                    let code = if e.is_timeout() { "timeout" } else { "unreachable" };
                    return Err(self.error(e.to_string(), Some(code.into())));
                }
            };
            let wait = match retry_after {
                Some(w) if w > MAX_RETRY_AFTER => {
                    return Err(self.error(format!("asked to retry after {w:?}"), Some("rate_limited".into())))
                }
                Some(w) => w,
                None => {
                    let base = self.backoff.saturating_mul(2u32.saturating_pow(attempt));
                    base + base.mul_f64(rand::random::<f64>() / 2.0)
                }
            };
            tracing::debug!(provider = %self.name, attempt, ?wait, "retrying the provider");
            tokio::time::sleep(wait).await;
            attempt += 1;
        }
    }

    async fn upstream_error(&self, res: Response) -> PortError {
        let status = res.status();
        let body: Value = res.json().await.unwrap_or(Value::Null);
        let code = error_code(&body).unwrap_or_else(|| format!("http_{}", status.as_u16()));
        let message =
            body["error"]["message"].as_str().or(body["message"].as_str()).unwrap_or("").to_string();
        self.error(format!("answered {status}: {message}"), Some(code))
    }

    /// Reads a JSON answer.
    pub async fn json(&self, res: Response) -> Result<Value, PortError> {
        res.json()
            .await
            .map_err(|e| self.error(format!("unreadable answer: {e}"), Some("bad_response".into())))
    }
}

fn retryable(status: StatusCode) -> bool {
    status == StatusCode::TOO_MANY_REQUESTS || status.is_server_error()
}

/// `Retry-After` in seconds (HTTP dates are treated as absent).
fn retry_after(res: &Response) -> Option<Duration> {
    res.headers()
        .get("retry-after")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse::<f64>().ok())
        .filter(|s| s.is_finite() && *s >= 0.0)
        .map(Duration::from_secs_f64)
}

/// The provider's own error code: `error.code`, `error.type`, `error.status`, or a top-level `type`
/// other than `error`.
pub fn error_code(body: &Value) -> Option<String> {
    let e = &body["error"];
    e["code"]
        .as_str()
        .or(e["type"].as_str())
        .or(e["status"].as_str())
        .map(str::to_string)
        .or_else(|| e["code"].as_i64().map(|c| format!("http_{c}")))
        .or_else(|| body["type"].as_str().filter(|t| *t != "error").map(str::to_string))
}

/// The end of the first event in `buf` (a blank line: `\n\n`, `\r\n\r\n` or `\r\r`): `(end of
/// the event, start of the next)`.
fn event_end(buf: &[u8]) -> Option<(usize, usize)> {
    [&b"\r\n\r\n"[..], b"\n\n", b"\r\r"]
        .iter()
        .filter_map(|sep| buf.windows(sep.len()).position(|w| w == *sep).map(|i| (i, i + sep.len())))
        .min()
}

/// The data of one event: its `data:` lines (one leading space removed), joined by newlines.
fn event_data(event: &[u8]) -> Option<String> {
    let text = String::from_utf8_lossy(event);
    let lines: Vec<&str> = text
        .split(['\n', '\r'])
        .filter_map(|l| l.strip_prefix("data:"))
        .map(|d| d.strip_prefix(' ').unwrap_or(d))
        .collect();
    (!lines.is_empty()).then(|| lines.join("\n"))
}

/// The `data:` payloads of a server-sent-events body, until `[DONE]` or the end. Events are cut
/// on bytes, so a character or a line ending split across network chunks is put back together.
pub fn sse_data(res: Response) -> impl Stream<Item = Result<String, String>> + Send {
    sse_events(res.bytes_stream())
}

/// [`sse_data`] over any byte stream.
pub fn sse_events<S, E>(bytes: S) -> impl Stream<Item = Result<String, String>> + Send
where
    S: Stream<Item = Result<bytes::Bytes, E>> + Send + Unpin,
    E: std::fmt::Display,
{
    futures_util::stream::unfold((bytes, Vec::<u8>::new(), false), |(mut bytes, mut buf, done)| async move {
        if done {
            return None;
        }
        loop {
            // A lone trailing `\r` may be the first half of `\r\n`: wait for more before cutting.
            let cut = event_end(&buf).filter(|(_, next)| !(buf.ends_with(b"\r") && *next == buf.len()));
            if let Some((end, next)) = cut {
                let event: Vec<u8> = buf.drain(..next).take(end).collect();
                match event_data(&event) {
                    None => continue,
                    Some(d) if d == "[DONE]" => return None,
                    Some(d) => return Some((Ok(d), (bytes, buf, false))),
                }
            }
            match bytes.next().await {
                Some(Ok(chunk)) => buf.extend_from_slice(&chunk),
                Some(Err(e)) => return Some((Err(e.to_string()), (bytes, buf, true))),
                None => {
                    // The body ended: a last event without its blank line still counts.
                    let rest = std::mem::take(&mut buf);
                    return event_data(&rest).filter(|d| d != "[DONE]").map(|d| (Ok(d), (bytes, buf, true)));
                }
            }
        }
    })
}

/// An SSE answer translated event by event into stream events by `translate`, which keeps its
/// own state (e.g. the input tokens announced at the start) and may emit several events per
/// provider event; the provider name labels transport and parse errors.
pub fn translated_stream<S, F>(
    name: String,
    res: Response,
    state: S,
    translate: F,
) -> services::ports::ReplyStream
where
    S: Send + 'static,
    F: FnMut(&mut S, Value) -> Vec<services::ports::StreamEvent> + Send + 'static,
{
    use services::ports::StreamEvent;
    let events = sse_data(res).scan((state, translate), move |(state, translate), data| {
        let out: Vec<Result<StreamEvent, PortError>> = match data {
            Err(e) => {
                vec![Err(PortError { service: "provider", message: format!("{name}: {e}"), code: None })]
            }
            Ok(text) => match serde_json::from_str::<Value>(&text) {
                Ok(v) => translate(state, v).into_iter().map(Ok).collect(),
                Err(e) => vec![Err(PortError {
                    service: "provider",
                    message: format!("{name}: unreadable event: {e}"),
                    code: Some("bad_response".into()),
                })],
            },
        };
        futures_util::future::ready(Some(futures_util::stream::iter(out)))
    });
    events.flatten().boxed()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Events split anywhere — inside a multi-byte character, between `\r\n` halves — read back
    /// whole; `[DONE]` ends the stream.
    #[tokio::test]
    async fn events_survive_any_split() {
        let body = "data: {\"a\":\"é\"}\r\n\r\ndata: second\n\n: comment\n\ndata:third\r\rdata: [DONE]\n\ndata: after\n\n";
        let bytes = body.as_bytes();
        for size in 1..=7 {
            let chunks: Vec<Result<bytes::Bytes, std::io::Error>> =
                bytes.chunks(size).map(|c| Ok(bytes::Bytes::copy_from_slice(c))).collect();
            let got: Vec<String> =
                sse_events(futures_util::stream::iter(chunks)).map(|e| e.unwrap()).collect().await;
            assert_eq!(got, ["{\"a\":\"é\"}", "second", "third"], "chunks of {size}");
        }
    }
}
