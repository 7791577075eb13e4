//! The reference of every setting: one line of description per key. Defaults and env names are
//! derived from the code, so the generated table cannot drift from it.

use crate::{env_name, Settings};

/// Documentation of one setting.
#[derive(Clone, Copy, Debug)]
pub struct KeyDoc {
    /// Dotted key.
    pub key: &'static str,
    /// What it does.
    pub description: &'static str,
}

/// Every setting, in the order of the reference table.
pub const KEYS: &[KeyDoc] = &[
    KeyDoc { key: "server.host", description: "Address the HTTP server binds." },
    KeyDoc { key: "server.port", description: "Port the HTTP server binds; 0 picks a free port." },
    KeyDoc { key: "server.workers", description: "HTTP worker threads; 0 means one per CPU core." },
    KeyDoc { key: "server.body_limit_bytes", description: "Largest accepted JSON request body, in bytes (at least 1024)." },
    KeyDoc { key: "server.shutdown_timeout_secs", description: "Seconds in-flight requests get to finish after SIGTERM/SIGINT." },
    KeyDoc { key: "server.keep_alive_secs", description: "Seconds an idle keep-alive connection stays open. Keep it longer than the idle timeout of every client and load balancer in front (nginx and cloud balancers: 60 s), so the peer always closes first." },
    KeyDoc { key: "database.url", description: "`sqlite://path/to.db`, a bare file path, or `postgres://user:pass@host/db`. Secret: the password is masked in output." },
    KeyDoc { key: "database.pool_max_size", description: "Most database connections the pool holds." },
    KeyDoc { key: "database.connect_timeout_secs", description: "Seconds to wait for a database connection before failing." },
    KeyDoc { key: "database.sqlite_busy_timeout_ms", description: "SQLite `busy_timeout`: how long a writer waits for the write lock." },
    KeyDoc { key: "database.sqlite_create_dir", description: "Create the SQLite file's missing parent directory (logged). When false, a missing directory is an error." },
    KeyDoc { key: "database.migrate_on_start", description: "Apply pending migrations when `steward serve` starts." },
    KeyDoc { key: "telemetry.format", description: "Log format: `pretty` (development) or `json` (one object per line)." },
    KeyDoc { key: "telemetry.filter", description: "tracing filter directive, e.g. `info` or `info,api=debug`. `RUST_LOG` overrides it." },
    KeyDoc { key: "idempotency.retention_hours", description: "Hours a stored response is replayed for the same `Idempotency-Key`." },
    KeyDoc { key: "idempotency.in_flight_timeout_secs", description: "Deadline in seconds of a request made under an `Idempotency-Key` (AI calls get `gateway.provider_timeout_secs` on top). Past it the request is abandoned with 503 `DEADLINE_EXCEEDED`, and a retry with the same key (also after a crash) takes the key over." },
    KeyDoc { key: "audit.chain_interval_ms", description: "Milliseconds between runs of the chainer that links committed audit events into the hash chain." },
    KeyDoc { key: "audit.chain_batch_size", description: "Most audit events linked in one chainer transaction." },
    KeyDoc { key: "booking.timezone", description: "IANA time zone of business dates and shift times." },
    KeyDoc { key: "booking.months_ahead", description: "Bookings open from now to the end of the calendar month this many months ahead (0 = this month)." },
    KeyDoc { key: "booking.capacity_tolerance", description: "Guests allowed above a property's `max_guests`." },
    KeyDoc { key: "booking.hold_minutes", description: "Minutes a pending booking holds its slot while the guest pays the advance." },
    KeyDoc { key: "booking.review_reminder_minutes", description: "Minutes a payment proof may wait for review before admins are reminded." },
    KeyDoc { key: "booking.auto_confirm_below", description: "Confirm a booking without a human when every payment check passes and the amount (minor units) is below this; 0 = off." },
    KeyDoc { key: "booking.currency", description: "ISO currency of booking amounts; amounts are integers of minor units (paisa for PKR)." },
    KeyDoc { key: "booking.refund_note", description: "Told to the guest when a confirmed booking is cancelled." },
    KeyDoc { key: "booking.search_cache_ms", description: "Milliseconds a search page may be served from memory. A write committed by this process ends it at once; the time bounds how long another replica's booking goes unseen by search (booking always checks the database). 0 turns the cache off." },
    KeyDoc { key: "payments.methods", description: "Accounts quoted in payment instructions: an array of tables with `kind` (`easypaisa`, `jazzcash`, `bank_transfer`), `account_number`, `holder_name`, optional `bank_name`." },
    KeyDoc { key: "payments.extractor_model", description: "`provider/model` of the vision model that reads payment screenshots through the spend gateway, paid by `agent.project`; empty (the default): every screenshot goes to manual review, marked \"not machine-checked\"." },
    KeyDoc { key: "media.store", description: "Where payment screenshots go: `local` (files under `media.local_dir`, served at unguessable URLs) or `cloudinary`." },
    KeyDoc { key: "media.local_dir", description: "Directory of the local media store." },
    KeyDoc { key: "media.max_upload_bytes", description: "Largest accepted upload (screenshots), in bytes." },
    KeyDoc { key: "media.cloudinary.cloud_name", description: "Cloudinary cloud name (required with `media.store = \"cloudinary\"`)." },
    KeyDoc { key: "media.cloudinary.api_key", description: "Cloudinary API key (required with Cloudinary)." },
    KeyDoc { key: "media.cloudinary.api_secret", description: "Cloudinary API secret (required with Cloudinary). Secret: masked in output." },
    KeyDoc { key: "media.cloudinary.api_base", description: "Cloudinary API base URL." },
    KeyDoc { key: "media.cloudinary.folder", description: "Cloudinary folder for uploads." },
    KeyDoc { key: "gateway.provider_timeout_secs", description: "Seconds a model provider call may take; a slower call fails, is not charged and its reservation is released." },
    KeyDoc { key: "gateway.default_max_tokens", description: "`max_tokens` sent with text-generating calls that name none, so the reservation bounds what the provider may produce." },
    KeyDoc { key: "gateway.provider_retries", description: "Retries of a provider call answered 429 or 5xx, or whose host could not be reached (a timed-out call is not retried: the provider may have done the work)." },
    KeyDoc { key: "gateway.provider_backoff_ms", description: "First retry delay of a provider call in milliseconds, doubled on each retry, with jitter; the provider's `Retry-After` takes precedence." },
    KeyDoc { key: "gateway.stale_reservation_secs", description: "Seconds after which a job releases the reservation of a request that never settled (its process died). Longer than the provider timeout." },
    KeyDoc { key: "gateway.webhook_max_attempts", description: "Attempts to deliver an alert webhook before it is marked failed." },
    KeyDoc { key: "gateway.webhook_backoff_ms", description: "Delay before the first webhook retry, in milliseconds; doubled on each later attempt." },
    KeyDoc { key: "gateway.webhook_timeout_secs", description: "Seconds a webhook receiver gets to answer." },
    KeyDoc { key: "chatbot.model", description: "`provider/model` the help chatbot answers with, through the spend gateway; empty means it quotes the user guide." },
    KeyDoc { key: "chatbot.project", description: "Project (`prj_…`) whose budget and owner's balance pay for the chatbot's calls; required with `chatbot.model`." },
    KeyDoc { key: "conversation.idle_hours", description: "Hours without a guest message after which a conversation's search state (facts, summary, identity draft, current booking) is cleared; messages and bookings stay." },
    KeyDoc { key: "conversation.turn_lease_secs", description: "Seconds a conversation's turn lease lasts; a process that dies mid-turn holds the conversation this long." },
    KeyDoc { key: "agent.mode", description: "`guided` (rules in English and Roman Urdu, no LLM) or `llm` (a tool-calling model through the spend gateway; the guided agent answers a turn the model fails)." },
    KeyDoc { key: "agent.model", description: "`provider/model` the LLM agent calls; required when `agent.mode = llm`." },
    KeyDoc { key: "agent.project", description: "The project paying for the agent's model calls: `booking-desk` (the platform project `steward migrate` creates) or a `prj_…` id." },
    KeyDoc { key: "agent.history_messages", description: "Earlier messages of the conversation the model sees with each turn (0–50)." },
    KeyDoc { key: "whatsapp.enabled", description: "Serve the WhatsApp webhook (`/webhooks/whatsapp`) and send replies through Meta's Cloud API." },
    KeyDoc { key: "whatsapp.verify_token", description: "Secret: the token Meta sends in the webhook verification handshake (required when enabled)." },
    KeyDoc { key: "whatsapp.app_secret", description: "Secret: the Meta app secret that signs webhook bodies (`X-Hub-Signature-256`; required when enabled)." },
    KeyDoc { key: "whatsapp.access_token", description: "Secret: the Graph API bearer token for sends and media (required when enabled)." },
    KeyDoc { key: "whatsapp.phone_number_id", description: "The sending phone number's id, a string (a numeric environment value is accepted; required when enabled)." },
    KeyDoc { key: "whatsapp.graph_url", description: "Graph API base URL." },
    KeyDoc { key: "whatsapp.api_version", description: "Graph API version in request paths." },
    KeyDoc { key: "whatsapp.admin_numbers", description: "Admins' WhatsApp numbers, digits with country code (e.g. `[\"923001234567\"]`); their messages are admin commands, never agent turns." },
    KeyDoc { key: "whatsapp.template_name", description: "The approved re-engagement template sent when the 24-hour window is closed (error 131047); empty: none." },
    KeyDoc { key: "whatsapp.template_language", description: "The template's language code." },
    KeyDoc { key: "whatsapp.max_attempts", description: "Attempts of one outbound WhatsApp message (5xx, timeouts, rate limits) before it is marked failed." },
    KeyDoc { key: "whatsapp.timeout_secs", description: "Seconds one Graph API call may take." },
    KeyDoc { key: "whatsapp.event_lease_secs", description: "Seconds a worker's claim on a webhook event lasts; an event whose process died is taken again after this." },
    KeyDoc { key: "whatsapp.pacing_burst", description: "Messages one recipient may get at once (a multi-message reply goes out together) before pacing starts." },
    KeyDoc { key: "whatsapp.pacing_interval_ms", description: "Milliseconds between messages to one recipient after the burst (WhatsApp's pair rate limit is about one message per 6 s); 0 turns pacing off." },
    KeyDoc { key: "gateway.webhook_allow_private", description: "Accept alert webhook URLs on loopback, private or link-local addresses (`localhost`, `10.…`, `192.168.…`); off in production so webhooks cannot probe internal hosts." },
    KeyDoc { key: "jobs.enabled", description: "Run the background job scheduler in `steward serve`." },
    KeyDoc { key: "jobs.tick_secs", description: "Seconds between scheduler ticks; each job runs when its own interval has passed." },
];

/// The Markdown reference table (key, environment variable, default, description).
pub fn reference_markdown() -> String {
    let defaults = serde_json::to_value(Settings::default()).unwrap_or_default();
    let mut out = String::from("| Key | Environment variable | Default | Description |\n|---|---|---|---|\n");
    for doc in KEYS {
        let default = doc
            .key
            .split('.')
            .try_fold(&defaults, |v, part| v.get(part))
            .map(|v| v.to_string())
            .unwrap_or_default();
        out.push_str(&format!(
            "| `{}` | `{}` | `{}` | {} |\n",
            doc.key,
            env_name(doc.key),
            default,
            doc.description
        ));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::known_keys;

    #[test]
    fn every_setting_is_documented_once() {
        let mut documented: Vec<_> = KEYS.iter().map(|k| k.key.to_string()).collect();
        let mut known = known_keys();
        documented.sort();
        known.sort();
        assert_eq!(documented, known, "KEYS must list exactly the settings");
    }

    #[test]
    fn configuration_md_matches_the_code() {
        let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../../docs/configuration.md");
        let doc = std::fs::read_to_string(path).expect("docs/configuration.md exists");
        let table = reference_markdown();
        assert!(
            doc.contains(&table),
            "docs/configuration.md is out of date; regenerate the table with `steward config reference`:\n{table}"
        );
    }
}
