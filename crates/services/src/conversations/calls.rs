//! The tools as a model calls them (SPEC §10.3): their OpenAI function specs with exactly the
//! declared parameters, and [`call`], which refuses an undeclared argument, runs the tool through
//! [`Tools`] (where the guards live), and answers the model with a JSON result — or
//! `{"error": {"code", "message"}}` — plus the structured reply items the guest sees.

use chrono::NaiveDate;
use models::booking::{PropertyKind, Shift};
use models::conversation::{Choice, IdentityStep, MediaItem, ReplyItem};
use serde_json::{json, Map, Value};

use super::tools::{booking_summary, Refusal, Resolution, Tools};
use crate::desk::payments::TypedProof;
use crate::ports::ToolSpec;

fn string(description: &str) -> Value {
    json!({"type": "string", "description": description})
}

fn object(properties: Value, required: &[&str]) -> Value {
    json!({"type": "object", "properties": properties, "required": required, "additionalProperties": false})
}

/// The tool set, with exactly these names and parameters.
pub fn specs() -> Vec<ToolSpec> {
    let property = || object(json!({"property": string("the property's name or id")}), &["property"]);
    let reference = |required: bool| {
        object(
            json!({"reference": string("booking reference, like HB-7KQ2M9")}),
            if required { &["reference"] } else { &[] },
        )
    };
    vec![
        ToolSpec { name: "introduction", description: "What you can do, the details to share and the four shifts with their times.", parameters: object(json!({}), &[]) },
        ToolSpec {
            name: "set_search_preferences",
            description: "Record what the guest is looking for (any of type, date, shift, guests, price range).",
            parameters: object(
                json!({
                    "type": {"type": "string", "enum": ["farm", "hut"]},
                    "date": string("YYYY-MM-DD"),
                    "shift": {"type": "string", "enum": ["day", "night", "full_day", "full_night"]},
                    "guests": {"type": "integer", "minimum": 1},
                    "min_price": {"type": "integer", "description": "rupees"},
                    "max_price": {"type": "integer", "description": "rupees"},
                }),
                &[],
            ),
        },
        ToolSpec {
            name: "check_date",
            description: "Whether a date (and shift) can be booked.",
            parameters: object(json!({"date": string("YYYY-MM-DD"), "shift": {"type": "string", "enum": ["day", "night", "full_day", "full_night"]}}), &["date"]),
        },
        ToolSpec { name: "search_properties", description: "Free properties for the recorded type, date, shift and guests, cheapest first.", parameters: object(json!({}), &[]) },
        ToolSpec { name: "resolve_property", description: "Find a property by (part of) its name; ambiguous names give up to three choices.", parameters: property() },
        ToolSpec { name: "property_details", description: "Description, capacity and amenities of a property.", parameters: property() },
        ToolSpec { name: "property_pricing", description: "The price of a property for the recorded date and shift (or its price range).", parameters: property() },
        ToolSpec { name: "property_images", description: "Send the property's pictures (each once per conversation).", parameters: property() },
        ToolSpec { name: "property_videos", description: "Send the property's videos (each once per conversation).", parameters: property() },
        ToolSpec {
            name: "prepare_booking_details",
            description: "Record the guest's full name and/or 13-digit CNIC for the booking; shows them to the guest for confirmation.",
            parameters: object(json!({"name": string("full name"), "cnic": string("13 digits, like 42201-1234567-1")}), &[]),
        },
        ToolSpec { name: "confirm_booking_details", description: "Mark the name and CNIC confirmed; only after the guest's own explicit yes.", parameters: object(json!({}), &[]) },
        ToolSpec {
            name: "create_booking",
            description: "Book the chosen property for the recorded date, shift and guests; needs confirmed booking details.",
            parameters: object(json!({"property": string("the property's name or id, if not chosen yet")}), &[]),
        },
        ToolSpec { name: "booking_status", description: "The status of one of the guest's bookings.", parameters: reference(true) },
        ToolSpec { name: "my_bookings", description: "Every booking of the guest.", parameters: object(json!({}), &[]) },
        ToolSpec { name: "payment_instructions", description: "How to pay the advance of a booking.", parameters: reference(false) },
        ToolSpec {
            name: "submit_payment_details",
            description: "Record typed payment details as proof for a pending booking.",
            parameters: object(
                json!({
                    "reference": string("booking reference"),
                    "amount": {"type": "integer", "description": "rupees paid"},
                    "transaction_id": string("the transaction id"),
                    "sender_name": string("who paid"),
                    "sender_phone": string("the sender's phone"),
                    "method": {"type": "string", "enum": ["easypaisa", "jazzcash", "bank_transfer"]},
                }),
                &["amount", "transaction_id", "sender_name"],
            ),
        },
        ToolSpec { name: "cancel_booking", description: "Cancel one of the guest's bookings (after the guest confirmed).", parameters: reference(true) },
        ToolSpec { name: "request_human", description: "Hand the conversation to a person of the team.", parameters: object(json!({"reason": string("why")}), &[]) },
    ]
}

/// What a tool call produced.
#[derive(Debug, Default)]
pub struct CallResult {
    /// The JSON the model reads.
    pub value: Value,
    /// Items the guest sees.
    pub items: Vec<ReplyItem>,
}

fn refused(r: Refusal) -> CallResult {
    CallResult { value: json!({"error": {"code": r.code, "message": r.message}}), items: Vec::new() }
}

fn bad(code: &'static str, message: impl Into<String>) -> CallResult {
    refused(Refusal { code, message: message.into() })
}

fn text_arg(args: &Map<String, Value>, key: &str) -> Option<String> {
    args.get(key).and_then(Value::as_str).map(str::trim).filter(|s| !s.is_empty()).map(str::to_string)
}

/// Runs tool `name` with `arguments` (the model's JSON text) for the guest whose latest message
/// is `guest_said`.
pub async fn call(tools: &mut Tools<'_>, name: &str, arguments: &str, guest_said: &str) -> CallResult {
    let Some(spec) = specs().into_iter().find(|s| s.name == name) else {
        return bad("UNKNOWN_TOOL", format!("there is no tool {name}"));
    };
    let args: Map<String, Value> =
        match serde_json::from_str::<Value>(if arguments.trim().is_empty() { "{}" } else { arguments }) {
            Ok(Value::Object(m)) => m,
            _ => return bad("INVALID_ARGUMENTS", "the arguments must be a JSON object"),
        };
    let declared = spec.parameters["properties"].as_object().cloned().unwrap_or_default();
    if let Some(extra) = args.keys().find(|k| !declared.contains_key(*k)) {
        return bad("UNDECLARED_ARGUMENT", format!("{name} takes no argument {extra}"));
    }
    match run(tools, name, &args, guest_said).await {
        Ok(r) => r,
        Err(r) => refused(r),
    }
}

async fn property_id(tools: &Tools<'_>, args: &Map<String, Value>) -> Result<String, Refusal> {
    let named = text_arg(args, "property").or_else(|| tools.state().facts.property_id.clone());
    let Some(named) = named else {
        return Err(Refusal { code: "MISSING_ARGUMENT", message: "name the property".into() });
    };
    if named.starts_with("prp_") {
        return Ok(named);
    }
    match tools.resolve_property(&named).await? {
        Resolution::One(p) => Ok(p.public_id),
        Resolution::Several(ps) => Err(Refusal {
            code: "AMBIGUOUS_PROPERTY",
            message: format!(
                "several match: {}",
                ps.iter().map(|p| p.name.as_str()).collect::<Vec<_>>().join(", ")
            ),
        }),
        Resolution::Nothing => {
            Err(Refusal { code: "NOT_FOUND", message: format!("no property named {named}") })
        }
    }
}

async fn run(
    tools: &mut Tools<'_>,
    name: &str,
    args: &Map<String, Value>,
    guest_said: &str,
) -> Result<CallResult, Refusal> {
    let ok = |value: Value| CallResult { value, items: Vec::new() };
    Ok(match name {
        "introduction" => ok(json!({
            "you_can": "find and book farmhouses and huts, tell prices, send pictures and videos, take payment proof",
            "ask_for": ["type (farmhouse or hut)", "date", "shift", "number of guests"],
            "shifts": {"day": "8 AM - 6 PM", "night": "8 PM - 6 AM", "full_day": "8 AM - 6 AM next morning", "full_night": "8 PM - 6 PM next day"},
        })),
        "set_search_preferences" => {
            let mut f = tools.state().facts.clone();
            if let Some(k) = text_arg(args, "type") {
                f.kind = Some(k.parse::<PropertyKind>().map_err(|_| Refusal {
                    code: "INVALID_ARGUMENT",
                    message: "type is farm or hut".into(),
                })?);
            }
            if let Some(d) = text_arg(args, "date") {
                let date = NaiveDate::parse_from_str(&d, "%Y-%m-%d").map_err(|_| Refusal {
                    code: "INVALID_ARGUMENT",
                    message: "date is YYYY-MM-DD".into(),
                })?;
                tools.check_date(date, None)?;
                f.date = Some(date);
            }
            if let Some(s) = text_arg(args, "shift") {
                f.shift = Some(s.parse::<Shift>().map_err(|_| Refusal {
                    code: "INVALID_ARGUMENT",
                    message: "shift is day, night, full_day or full_night".into(),
                })?);
            }
            if let Some(g) = args.get("guests") {
                f.guests =
                    Some(g.as_i64().filter(|g| (1..=10_000).contains(g)).map(|g| g as i32).ok_or(
                        Refusal { code: "INVALID_ARGUMENT", message: "guests is 1 to 10000".into() },
                    )?);
            }
            if let Some(p) = args.get("min_price").and_then(Value::as_i64) {
                f.min_price = Some(p * 100);
            }
            if let Some(p) = args.get("max_price").and_then(Value::as_i64) {
                f.max_price = Some(p * 100);
            }
            tools.state_mut().facts = f.clone();
            ok(json!({"facts": f}))
        }
        "check_date" => {
            let d = text_arg(args, "date").unwrap_or_default();
            let date = NaiveDate::parse_from_str(&d, "%Y-%m-%d")
                .map_err(|_| Refusal { code: "INVALID_ARGUMENT", message: "date is YYYY-MM-DD".into() })?;
            let shift = text_arg(args, "shift").and_then(|s| s.parse::<Shift>().ok());
            tools.check_date(date, shift)?;
            ok(json!({"bookable": true, "date": date.to_string(), "weekday": date.format("%A").to_string()}))
        }
        "search_properties" => {
            let items = tools.search().await?;
            let value = json!({"results": items.iter().map(|p| json!({"id": p.id, "name": p.name, "price_rupees": p.price.amount / 100, "max_guests": p.max_guests})).collect::<Vec<_>>()});
            let choices: Vec<Choice> =
                items.iter().map(|p| Choice { id: p.id.clone(), label: p.name.clone() }).collect();
            let mut items_out = Vec::new();
            if !items.is_empty() {
                items_out.push(ReplyItem::PropertyList { text: String::new(), items });
                items_out.push(ReplyItem::Choices { text: String::new(), choices });
            }
            CallResult { value, items: items_out }
        }
        "resolve_property" => {
            let q = text_arg(args, "property").unwrap_or_default();
            match tools.resolve_property(&q).await? {
                Resolution::One(p) => {
                    tools.state_mut().facts.property_id = Some(p.public_id.clone());
                    ok(json!({"property": {"id": p.public_id, "name": p.name}}))
                }
                Resolution::Several(ps) => CallResult {
                    value: json!({"choices": ps.iter().map(|p| json!({"id": p.public_id, "name": p.name})).collect::<Vec<_>>()}),
                    items: vec![ReplyItem::Choices {
                        text: String::new(),
                        choices: ps.into_iter().map(|p| Choice { id: p.public_id, label: p.name }).collect(),
                    }],
                },
                Resolution::Nothing => {
                    return Err(Refusal { code: "NOT_FOUND", message: format!("no property named {q}") })
                }
            }
        }
        "property_details" => {
            let id = property_id(tools, args).await?;
            let d = tools.property(&id).await?;
            let p = &d.property;
            ok(
                json!({"id": p.public_id, "name": p.name, "type": p.kind, "city": p.city, "max_guests": p.max_guests,
                "description": p.description, "amenities": d.amenities.iter().map(|a| a.value.clone()).collect::<Vec<_>>(),
                "special_offer": p.special_offer}),
            )
        }
        "property_pricing" => {
            let id = property_id(tools, args).await?;
            let f = tools.state().facts.clone();
            match (f.date, f.shift) {
                (Some(date), Some(shift)) => {
                    let q = tools.quote(&id, date, shift).await?;
                    ok(
                        json!({"date": date.to_string(), "shift": shift.as_str(), "total_rupees": q.total.amount / 100,
                        "advance_rupees": q.advance_due.amount / 100, "available": q.available}),
                    )
                }
                _ => {
                    let d = tools.property(&id).await?;
                    let prices: Vec<Value> = d
                        .prices
                        .iter()
                        .map(|p| json!({"weekday": p.weekday, "shift": p.shift, "rupees": p.amount / 100}))
                        .collect();
                    ok(json!({"weekly_prices": prices}))
                }
            }
        }
        "property_images" | "property_videos" => {
            let id = property_id(tools, args).await?;
            let kind = if name == "property_images" { "image" } else { "video" };
            let (items, total): (Vec<MediaItem>, usize) = tools.unsent_media(&id, kind).await?;
            let sent = items.len();
            CallResult {
                value: json!({"sent": sent, "already_sent": total - sent}),
                items: if items.is_empty() { Vec::new() } else { vec![ReplyItem::Media { items }] },
            }
        }
        "prepare_booking_details" => {
            let step = tools.prepare_booking_details(
                text_arg(args, "name").as_deref(),
                text_arg(args, "cnic").as_deref(),
            )?;
            let id = tools.state().identity.clone();
            ok(
                json!({"step": step, "name": id.name, "cnic_masked": id.cnic.as_deref().map(models::booking::mask_cnic),
                "next": match step { IdentityStep::AwaitingConfirmation => "show them and ask the guest to confirm", IdentityStep::Cnic => "ask for the CNIC", _ => "ask for the name" }}),
            )
        }
        "confirm_booking_details" => {
            tools.confirm_booking_details(guest_said)?;
            ok(json!({"confirmed": true}))
        }
        "create_booking" => {
            if args.contains_key("property") {
                let id = property_id(tools, args).await?;
                tools.state_mut().facts.property_id = Some(id);
            }
            let v = tools.create_booking().await?;
            let i = tools.payment_instructions(&v.booking.reference).await?;
            CallResult {
                value: json!({"reference": v.booking.reference, "status": v.booking.status, "payment_instructions": i.text}),
                items: vec![ReplyItem::BookingSummary { booking: booking_summary(&v) }],
            }
        }
        "booking_status" => {
            let reference = text_arg(args, "reference").unwrap_or_default();
            let v = tools.booking(&reference).await?;
            tools.state_mut().current_booking = Some(v.booking.reference.clone());
            CallResult {
                value: json!({"reference": v.booking.reference, "status": v.booking.status, "property": v.property.name, "date": v.booking.date, "shift": v.booking.shift}),
                items: vec![ReplyItem::BookingSummary { booking: booking_summary(&v) }],
            }
        }
        "my_bookings" => {
            let all = tools.my_bookings().await?;
            CallResult {
                value: json!({"bookings": all.iter().map(|v| json!({"reference": v.booking.reference, "status": v.booking.status, "property": v.property.name, "date": v.booking.date})).collect::<Vec<_>>()}),
                items: all
                    .iter()
                    .map(|v| ReplyItem::BookingSummary { booking: booking_summary(v) })
                    .collect(),
            }
        }
        "payment_instructions" => {
            let reference = match text_arg(args, "reference")
                .or_else(|| tools.state().current_booking.clone())
            {
                Some(r) => r,
                None => return Err(Refusal { code: "MISSING_ARGUMENT", message: "name the booking".into() }),
            };
            let i = tools.payment_instructions(&reference).await?;
            ok(json!({"instructions": i.text}))
        }
        "submit_payment_details" => {
            let reference = match text_arg(args, "reference")
                .or_else(|| tools.state().current_booking.clone())
            {
                Some(r) => r,
                None => return Err(Refusal { code: "MISSING_ARGUMENT", message: "name the booking".into() }),
            };
            let proof = TypedProof {
                amount: args.get("amount").and_then(Value::as_i64).unwrap_or(0) * 100,
                transaction_id: text_arg(args, "transaction_id").unwrap_or_default(),
                sender_name: text_arg(args, "sender_name").unwrap_or_default(),
                sender_phone: text_arg(args, "sender_phone"),
                method: text_arg(args, "method").and_then(|m| serde_json::from_value(json!(m)).ok()),
            };
            let s = tools.submit_payment_details(&reference, proof).await?;
            let v = tools.booking(&s.booking.reference).await?;
            CallResult {
                value: json!({"recorded": true, "booking_status": s.booking.status}),
                items: vec![ReplyItem::BookingSummary { booking: booking_summary(&v) }],
            }
        }
        "cancel_booking" => {
            let reference = text_arg(args, "reference").unwrap_or_default();
            let v = tools.cancel_booking(&reference).await?;
            CallResult {
                value: json!({"reference": v.booking.reference, "status": v.booking.status}),
                items: vec![ReplyItem::BookingSummary { booking: booking_summary(&v) }],
            }
        }
        "request_human" => {
            tools
                .request_human(&text_arg(args, "reason").unwrap_or_else(|| "asked in the chat".into()))
                .await?;
            ok(json!({"handed_over": true}))
        }
        other => return Err(Refusal { code: "UNKNOWN_TOOL", message: format!("there is no tool {other}") }),
    })
}

#[cfg(test)]
mod tests {
    use super::specs;

    #[test]
    fn the_pinned_tool_names() {
        let names: Vec<&str> = specs().iter().map(|s| s.name).collect();
        assert_eq!(
            names,
            [
                "introduction",
                "set_search_preferences",
                "check_date",
                "search_properties",
                "resolve_property",
                "property_details",
                "property_pricing",
                "property_images",
                "property_videos",
                "prepare_booking_details",
                "confirm_booking_details",
                "create_booking",
                "booking_status",
                "my_bookings",
                "payment_instructions",
                "submit_payment_details",
                "cancel_booking",
                "request_human",
            ]
        );
        for s in specs() {
            assert_eq!(s.parameters["additionalProperties"], false, "{}", s.name);
            for p in s.parameters["properties"].as_object().cloned().unwrap_or_default().keys() {
                assert!(
                    [
                        "type",
                        "date",
                        "shift",
                        "guests",
                        "min_price",
                        "max_price",
                        "property",
                        "reference",
                        "name",
                        "cnic",
                        "amount",
                        "transaction_id",
                        "sender_name",
                        "sender_phone",
                        "method",
                        "reason"
                    ]
                    .contains(&p.as_str()),
                    "{} declares {p}",
                    s.name
                );
            }
        }
    }
}
