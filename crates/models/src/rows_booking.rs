//! Row structs of the booking desk.

use chrono::NaiveDateTime;
use diesel::prelude::*;

use crate::schema::{
    admin_notifications, booking_payments, booking_slots, bookings, guest_sessions, guests, job_runs,
    messages, properties, property_amenities, property_media, property_prices, property_seasons,
    season_prices,
};

/// A farmhouse or hut.
#[derive(Clone, Debug, PartialEq, Queryable, Selectable, Identifiable)]
#[diesel(table_name = properties)]
pub struct Property {
    /// Internal key.
    pub id: i64,
    /// `prp_…`.
    pub public_id: String,
    /// Name.
    pub name: String,
    /// Description.
    pub description: String,
    /// `farm` or `hut`.
    pub kind: String,
    /// Street address.
    pub address: String,
    /// City.
    pub city: String,
    /// Province.
    pub province: String,
    /// Country.
    pub country: String,
    /// Capacity.
    pub max_guests: i32,
    /// Contact person.
    pub contact_person: String,
    /// Contact number.
    pub contact_number: String,
    /// Advance due, percent of the total.
    pub advance_percent: i32,
    /// Special-offer note.
    pub special_offer: Option<String>,
    /// Offered in search.
    pub active: bool,
    /// Creation.
    pub created_at: NaiveDateTime,
    /// Last change.
    pub updated_at: NaiveDateTime,
}

/// What a list of properties shows of each (search results, the agent's property lists).
#[derive(Clone, Debug, PartialEq, Queryable, Selectable)]
#[diesel(table_name = properties)]
pub struct PropertySummary {
    /// Internal key.
    pub id: i64,
    /// `prp_…`.
    pub public_id: String,
    /// Name.
    pub name: String,
    /// `farm` or `hut`.
    pub kind: String,
    /// City.
    pub city: String,
    /// Capacity.
    pub max_guests: i32,
    /// Advance due, percent of the total.
    pub advance_percent: i32,
    /// Special-offer note.
    pub special_offer: Option<String>,
}

/// A new property.
#[derive(Clone, Debug, Insertable)]
#[diesel(table_name = properties)]
pub struct NewProperty {
    /// `prp_…`.
    pub public_id: String,
    /// Name.
    pub name: String,
    /// Description.
    pub description: String,
    /// Kind text.
    pub kind: String,
    /// Address.
    pub address: String,
    /// City.
    pub city: String,
    /// Province.
    pub province: String,
    /// Country.
    pub country: String,
    /// Capacity.
    pub max_guests: i32,
    /// Contact person.
    pub contact_person: String,
    /// Contact number.
    pub contact_number: String,
    /// Advance percent.
    pub advance_percent: i32,
    /// Special offer.
    pub special_offer: Option<String>,
    /// Active.
    pub active: bool,
    /// Creation.
    pub created_at: NaiveDateTime,
    /// Same.
    pub updated_at: NaiveDateTime,
}

/// Changes to a property; `None` keeps a field.
#[derive(Clone, Debug, Default, AsChangeset)]
#[diesel(table_name = properties)]
pub struct PropertyChanges {
    /// Name.
    pub name: Option<String>,
    /// Description.
    pub description: Option<String>,
    /// Kind text.
    pub kind: Option<String>,
    /// Address.
    pub address: Option<String>,
    /// City.
    pub city: Option<String>,
    /// Province.
    pub province: Option<String>,
    /// Country.
    pub country: Option<String>,
    /// Capacity.
    pub max_guests: Option<i32>,
    /// Contact person.
    pub contact_person: Option<String>,
    /// Contact number.
    pub contact_number: Option<String>,
    /// Advance percent.
    pub advance_percent: Option<i32>,
    /// Special offer (Some(None) clears it).
    pub special_offer: Option<Option<String>>,
    /// Active flag.
    pub active: Option<bool>,
    /// Always set.
    pub updated_at: Option<NaiveDateTime>,
}

/// A base weekly price.
#[derive(Clone, Debug, PartialEq, Queryable, Selectable, Insertable)]
#[diesel(table_name = property_prices)]
pub struct PropertyPrice {
    /// Property.
    pub property_id: i64,
    /// Monday = 0.
    pub weekday: i32,
    /// Shift text.
    pub shift: String,
    /// Minor units.
    pub amount: i64,
}

/// A seasonal override period.
#[derive(Clone, Debug, PartialEq, Queryable, Selectable)]
#[diesel(table_name = property_seasons)]
pub struct Season {
    /// Internal key.
    pub id: i64,
    /// Property.
    pub property_id: i64,
    /// Label.
    pub name: String,
    /// First date, `YYYY-MM-DD`.
    pub start_date: String,
    /// Last date (inclusive).
    pub end_date: String,
}

/// A new season.
#[derive(Clone, Debug, Insertable)]
#[diesel(table_name = property_seasons)]
pub struct NewSeason {
    /// Property.
    pub property_id: i64,
    /// Label.
    pub name: String,
    /// First date.
    pub start_date: String,
    /// Last date.
    pub end_date: String,
}

/// A seasonal price.
#[derive(Clone, Debug, PartialEq, Queryable, Selectable, Insertable)]
#[diesel(table_name = season_prices)]
pub struct SeasonPrice {
    /// Season.
    pub season_id: i64,
    /// Monday = 0.
    pub weekday: i32,
    /// Shift text.
    pub shift: String,
    /// Minor units.
    pub amount: i64,
}

/// A picture or video of a property.
#[derive(Clone, Debug, PartialEq, Queryable, Selectable)]
#[diesel(table_name = property_media)]
pub struct PropertyMedia {
    /// Internal key.
    pub id: i64,
    /// `med_…`.
    pub public_id: String,
    /// Property.
    pub property_id: i64,
    /// `image` or `video`.
    pub kind: String,
    /// URL.
    pub url: String,
    /// Order.
    pub position: i32,
    /// Creation.
    pub created_at: NaiveDateTime,
}

/// A new media item.
#[derive(Clone, Debug, Insertable)]
#[diesel(table_name = property_media)]
pub struct NewPropertyMedia {
    /// `med_…`.
    pub public_id: String,
    /// Property.
    pub property_id: i64,
    /// Kind text.
    pub kind: String,
    /// URL.
    pub url: String,
    /// Order.
    pub position: i32,
    /// Creation.
    pub created_at: NaiveDateTime,
}

/// An amenity (kind, value), e.g. facility/Pool.
#[derive(Clone, Debug, PartialEq, Queryable, Selectable, Insertable)]
#[diesel(table_name = property_amenities)]
pub struct Amenity {
    /// Property.
    pub property_id: i64,
    /// Kind, e.g. `facility`.
    pub kind: String,
    /// Value, e.g. `Pool`.
    pub value: String,
}

/// A person who chats and books.
#[derive(Clone, Debug, PartialEq, Queryable, Selectable)]
#[diesel(table_name = guests)]
pub struct Guest {
    /// Internal key.
    pub id: i64,
    /// `gst_…`.
    pub public_id: String,
    /// Name, once given.
    pub name: Option<String>,
    /// Digits with country code.
    pub phone: Option<String>,
    /// 13 digits.
    pub cnic: Option<String>,
    /// The website (platform user) that created the guest.
    pub website_user_id: Option<i64>,
    /// The website's own id for the guest.
    pub external_id: Option<String>,
    /// Where notifications go: `web` (conversation history) or an outside channel.
    pub channel: String,
    /// The guest's address on that channel (e.g. a WhatsApp id).
    pub address: Option<String>,
    /// Creation.
    pub created_at: NaiveDateTime,
    /// Last change.
    pub updated_at: NaiveDateTime,
}

/// A new guest.
#[derive(Clone, Debug, Insertable)]
#[diesel(table_name = guests)]
pub struct NewGuest {
    /// `gst_…`.
    pub public_id: String,
    /// Name.
    pub name: Option<String>,
    /// Phone.
    pub phone: Option<String>,
    /// CNIC.
    pub cnic: Option<String>,
    /// Website.
    pub website_user_id: Option<i64>,
    /// Website's id.
    pub external_id: Option<String>,
    /// Channel (`web`).
    pub channel: String,
    /// Address on the channel.
    pub address: Option<String>,
    /// Creation.
    pub created_at: NaiveDateTime,
    /// Same.
    pub updated_at: NaiveDateTime,
}

/// A web guest session (token hash only).
#[derive(Clone, Debug, Insertable)]
#[diesel(table_name = guest_sessions)]
pub struct NewGuestSession {
    /// SHA-256 of the token.
    pub token_hash: String,
    /// Guest.
    pub guest_id: i64,
    /// Creation.
    pub created_at: NaiveDateTime,
}

/// A conversation message.
#[derive(Clone, Debug, PartialEq, Queryable, Selectable)]
#[diesel(table_name = messages)]
pub struct Message {
    /// Internal key.
    pub id: i64,
    /// `msg_…`.
    pub public_id: String,
    /// Guest.
    pub guest_id: i64,
    /// `guest`, `bot`, `admin`.
    pub sender: String,
    /// `web` (WhatsApp later).
    pub channel: String,
    /// Text.
    pub text: String,
    /// Structured reply (JSON), when any.
    pub payload: Option<String>,
    /// `delivered` (web), `pending`, `sent`, `read`, `failed`.
    pub delivery_status: String,
    /// Delivery attempts on an outside channel.
    pub attempts: i32,
    /// Last delivery error.
    pub last_error: Option<String>,
    /// Creation.
    pub created_at: NaiveDateTime,
    /// The channel's own id of the message (a WhatsApp `wamid`), unique per channel.
    pub channel_message_id: Option<String>,
    /// For a bot reply: the guest message it answers.
    pub reply_to: Option<i64>,
    /// For a guest message: when its turn ran (`None` while it waits).
    pub processed_at: Option<NaiveDateTime>,
    /// For an outbound message on an outside channel: the channel's message body (JSON).
    pub wire: Option<String>,
}

/// A new message.
#[derive(Clone, Debug, Insertable)]
#[diesel(table_name = messages)]
pub struct NewMessage {
    /// `msg_…`.
    pub public_id: String,
    /// Guest.
    pub guest_id: i64,
    /// Sender text.
    pub sender: String,
    /// Channel.
    pub channel: String,
    /// Text.
    pub text: String,
    /// Payload JSON.
    pub payload: Option<String>,
    /// Delivery status.
    pub delivery_status: String,
    /// Creation.
    pub created_at: NaiveDateTime,
    /// The channel's own id of the message.
    pub channel_message_id: Option<String>,
    /// The guest message a reply answers.
    pub reply_to: Option<i64>,
    /// When a guest message was processed (bot and admin messages: at once).
    pub processed_at: Option<NaiveDateTime>,
    /// For an outbound message on an outside channel: the channel's message body (JSON).
    pub wire: Option<String>,
}

/// An entry in the admins' inbox.
#[derive(Clone, Debug, PartialEq, Queryable, Selectable)]
#[diesel(table_name = admin_notifications)]
pub struct AdminNotification {
    /// Internal key.
    pub id: i64,
    /// `ntf_…`.
    pub public_id: String,
    /// Kind, e.g. `payment_proof`.
    pub kind: String,
    /// Text.
    pub text: String,
    /// Booking concerned.
    pub booking_ref: Option<String>,
    /// Creation.
    pub created_at: NaiveDateTime,
}

/// A new admin notification.
#[derive(Clone, Debug, Insertable)]
#[diesel(table_name = admin_notifications)]
pub struct NewAdminNotification {
    /// `ntf_…`.
    pub public_id: String,
    /// Kind.
    pub kind: String,
    /// Text.
    pub text: String,
    /// Booking.
    pub booking_ref: Option<String>,
    /// Creation.
    pub created_at: NaiveDateTime,
}

/// A booking.
#[derive(Clone, Debug, PartialEq, Queryable, Selectable)]
#[diesel(table_name = bookings)]
pub struct Booking {
    /// Internal key.
    pub id: i64,
    /// `HB-XXXXXX`.
    pub reference: String,
    /// Property.
    pub property_id: i64,
    /// Guest.
    pub guest_id: i64,
    /// Start date, `YYYY-MM-DD` (business time zone).
    pub date: String,
    /// Shift text.
    pub shift: String,
    /// Number of guests.
    pub guests: i32,
    /// Status text.
    pub status: String,
    /// Total price, minor units.
    pub total_amount: i64,
    /// Advance due.
    pub advance_amount: i64,
    /// Currency.
    pub currency: String,
    /// Guest's name at booking.
    pub guest_name: String,
    /// Guest's CNIC (13 digits).
    pub guest_cnic: String,
    /// Shift start (UTC).
    pub starts_at: NaiveDateTime,
    /// Shift end (UTC).
    pub ends_at: NaiveDateTime,
    /// Hold deadline while pending.
    pub hold_expires_at: Option<NaiveDateTime>,
    /// Reason of the last admin change.
    pub status_reason: Option<String>,
    /// Who created it (`guest:…`, `user:…`).
    pub created_by: String,
    /// Creation.
    pub created_at: NaiveDateTime,
    /// Last change.
    pub updated_at: NaiveDateTime,
}

/// A new booking.
#[derive(Clone, Debug, Insertable)]
#[diesel(table_name = bookings)]
pub struct NewBooking {
    /// Reference.
    pub reference: String,
    /// Property.
    pub property_id: i64,
    /// Guest.
    pub guest_id: i64,
    /// Date.
    pub date: String,
    /// Shift.
    pub shift: String,
    /// Guests.
    pub guests: i32,
    /// Status.
    pub status: String,
    /// Total.
    pub total_amount: i64,
    /// Advance.
    pub advance_amount: i64,
    /// Currency.
    pub currency: String,
    /// Name.
    pub guest_name: String,
    /// CNIC.
    pub guest_cnic: String,
    /// Start.
    pub starts_at: NaiveDateTime,
    /// End.
    pub ends_at: NaiveDateTime,
    /// Hold deadline.
    pub hold_expires_at: Option<NaiveDateTime>,
    /// Creator.
    pub created_by: String,
    /// Creation.
    pub created_at: NaiveDateTime,
    /// Same.
    pub updated_at: NaiveDateTime,
}

/// One occupied half-slot.
#[derive(Clone, Debug, PartialEq, Queryable, Selectable, Insertable)]
#[diesel(table_name = booking_slots)]
pub struct BookingSlot {
    /// Property.
    pub property_id: i64,
    /// Date.
    pub date: String,
    /// `day` or `night`.
    pub half: String,
    /// Booking holding it.
    pub booking_id: i64,
}

/// A payment proof.
#[derive(Clone, Debug, PartialEq, Queryable, Selectable)]
#[diesel(table_name = booking_payments)]
pub struct BookingPayment {
    /// Internal key.
    pub id: i64,
    /// `pay_…`.
    pub public_id: String,
    /// Booking.
    pub booking_id: i64,
    /// `details` or `screenshot`.
    pub kind: String,
    /// Status text.
    pub status: String,
    /// Amount paid, minor units.
    pub amount: Option<i64>,
    /// Transaction id (unique).
    pub transaction_id: Option<String>,
    /// Sender's name.
    pub sender_name: Option<String>,
    /// Sender's phone.
    pub sender_phone: Option<String>,
    /// Method named by the guest or read from the image.
    pub method: Option<String>,
    /// Screenshot URL.
    pub image_url: Option<String>,
    /// Screenshot SHA-256 (unique).
    pub image_sha256: Option<String>,
    /// Extractor output (JSON).
    pub extraction: Option<String>,
    /// Whether a machine read the image.
    pub machine_checked: bool,
    /// The checks (JSON).
    pub checks: String,
    /// Who decided.
    pub decided_by: Option<String>,
    /// When.
    pub decided_at: Option<NaiveDateTime>,
    /// Why (rejections).
    pub decision_reason: Option<String>,
    /// When admins were last reminded.
    pub reminded_at: Option<NaiveDateTime>,
    /// Submission.
    pub created_at: NaiveDateTime,
}

/// A new payment proof.
#[derive(Clone, Debug, Insertable)]
#[diesel(table_name = booking_payments)]
pub struct NewBookingPayment {
    /// `pay_…`.
    pub public_id: String,
    /// Booking.
    pub booking_id: i64,
    /// Kind text.
    pub kind: String,
    /// Status text.
    pub status: String,
    /// Amount.
    pub amount: Option<i64>,
    /// Transaction id.
    pub transaction_id: Option<String>,
    /// Sender name.
    pub sender_name: Option<String>,
    /// Sender phone.
    pub sender_phone: Option<String>,
    /// Method.
    pub method: Option<String>,
    /// Image URL.
    pub image_url: Option<String>,
    /// Image hash.
    pub image_sha256: Option<String>,
    /// Extraction JSON.
    pub extraction: Option<String>,
    /// Machine-checked.
    pub machine_checked: bool,
    /// Checks JSON.
    pub checks: String,
    /// Submission.
    pub created_at: NaiveDateTime,
}

/// The record of a background job.
#[derive(Clone, Debug, PartialEq, Queryable, Selectable)]
#[diesel(table_name = job_runs)]
pub struct JobRun {
    /// Job name.
    pub name: String,
    /// Replica holding the lease.
    pub lease_owner: Option<String>,
    /// Lease end.
    pub lease_until: Option<NaiveDateTime>,
    /// Last start.
    pub last_started_at: Option<NaiveDateTime>,
    /// Last finish.
    pub last_finished_at: Option<NaiveDateTime>,
    /// `ok` or `error`.
    pub last_outcome: Option<String>,
    /// Last error message.
    pub last_error: Option<String>,
    /// Items handled by the last run.
    pub last_items: Option<i64>,
    /// Completed runs.
    pub runs: i64,
}

/// A row of the search index: one price of an active property with what search filters on
/// (SPEC §2.3). Kept by `repositories::catalogue` in the transaction of every change.
#[derive(Clone, Debug, PartialEq, Insertable)]
#[diesel(table_name = crate::schema::search_prices)]
pub struct NewSearchPrice {
    /// Property.
    pub property_id: i64,
    /// `farm` or `hut`.
    pub kind: String,
    /// City, trimmed and lowercased (ASCII).
    pub city_key: String,
    /// Country, trimmed and lowercased (ASCII).
    pub country_key: String,
    /// Capacity.
    pub max_guests: i32,
    /// 0 = Monday.
    pub weekday: i32,
    /// Shift wire value.
    pub shift: String,
    /// Minor units.
    pub amount: i64,
    /// The property's name (second sort key).
    pub sort_name: String,
    /// First date the price applies, `YYYY-MM-DD` (`0000-01-01` for base prices).
    pub valid_from: String,
    /// Last date (`9999-12-31` for base prices).
    pub valid_to: String,
    /// Precedence: `''` for base prices, `start_date#season id` for seasons; the highest wins.
    pub rank: String,
}
