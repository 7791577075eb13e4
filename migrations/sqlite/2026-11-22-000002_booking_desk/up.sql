-- Booking desk: catalogue, guests, bookings with their half-slots, payment proofs, notifications, jobs.
CREATE TABLE properties (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    public_id TEXT NOT NULL CONSTRAINT properties_public_id_key UNIQUE,
    name TEXT NOT NULL,
    description TEXT NOT NULL DEFAULT '',
    kind TEXT NOT NULL CONSTRAINT properties_kind_check CHECK (kind IN ('farm', 'hut')),
    address TEXT NOT NULL DEFAULT '',
    city TEXT NOT NULL,
    province TEXT NOT NULL DEFAULT '',
    country TEXT NOT NULL,
    max_guests INTEGER NOT NULL CONSTRAINT properties_max_guests_check CHECK (max_guests > 0),
    contact_person TEXT NOT NULL DEFAULT '',
    contact_number TEXT NOT NULL DEFAULT '',
    advance_percent INTEGER NOT NULL CONSTRAINT properties_advance_percent_check CHECK (advance_percent BETWEEN 0 AND 100),
    special_offer TEXT,
    active BOOLEAN NOT NULL DEFAULT TRUE,
    created_at TIMESTAMP NOT NULL,
    updated_at TIMESTAMP NOT NULL
);
CREATE INDEX properties_search_idx ON properties (active, kind, city);

CREATE TABLE property_owners (
    property_id BIGINT NOT NULL REFERENCES properties (id),
    user_id BIGINT NOT NULL REFERENCES users (id),
    PRIMARY KEY (property_id, user_id)
);
CREATE INDEX property_owners_user_idx ON property_owners (user_id);

CREATE TABLE property_prices (
    property_id BIGINT NOT NULL REFERENCES properties (id),
    weekday INTEGER NOT NULL CONSTRAINT property_prices_weekday_check CHECK (weekday BETWEEN 0 AND 6),
    shift TEXT NOT NULL CONSTRAINT property_prices_shift_check CHECK (shift IN ('day', 'night', 'full_day', 'full_night')),
    amount BIGINT NOT NULL CONSTRAINT property_prices_amount_check CHECK (amount > 0),
    PRIMARY KEY (property_id, weekday, shift)
);

CREATE TABLE property_seasons (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    property_id BIGINT NOT NULL REFERENCES properties (id),
    name TEXT NOT NULL,
    start_date TEXT NOT NULL,
    end_date TEXT NOT NULL,
    CONSTRAINT property_seasons_range_check CHECK (start_date <= end_date)
);
CREATE INDEX property_seasons_property_idx ON property_seasons (property_id);

CREATE TABLE season_prices (
    season_id BIGINT NOT NULL REFERENCES property_seasons (id),
    weekday INTEGER NOT NULL CONSTRAINT season_prices_weekday_check CHECK (weekday BETWEEN 0 AND 6),
    shift TEXT NOT NULL CONSTRAINT season_prices_shift_check CHECK (shift IN ('day', 'night', 'full_day', 'full_night')),
    amount BIGINT NOT NULL CONSTRAINT season_prices_amount_check CHECK (amount > 0),
    PRIMARY KEY (season_id, weekday, shift)
);

CREATE TABLE property_media (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    public_id TEXT NOT NULL CONSTRAINT property_media_public_id_key UNIQUE,
    property_id BIGINT NOT NULL REFERENCES properties (id),
    kind TEXT NOT NULL CONSTRAINT property_media_kind_check CHECK (kind IN ('image', 'video')),
    url TEXT NOT NULL,
    position INTEGER NOT NULL,
    created_at TIMESTAMP NOT NULL
);
CREATE INDEX property_media_property_idx ON property_media (property_id, position);

CREATE TABLE property_amenities (
    property_id BIGINT NOT NULL REFERENCES properties (id),
    kind TEXT NOT NULL,
    value TEXT NOT NULL,
    PRIMARY KEY (property_id, kind, value)
);

CREATE TABLE guests (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    public_id TEXT NOT NULL CONSTRAINT guests_public_id_key UNIQUE,
    name TEXT,
    phone TEXT,
    cnic TEXT CONSTRAINT guests_cnic_check CHECK (cnic IS NULL OR length(cnic) = 13),
    website_user_id BIGINT REFERENCES users (id),
    external_id TEXT,
    channel TEXT NOT NULL DEFAULT 'web',
    address TEXT,
    created_at TIMESTAMP NOT NULL,
    updated_at TIMESTAMP NOT NULL,
    CONSTRAINT guests_website_external_key UNIQUE (website_user_id, external_id)
);

CREATE TABLE guest_sessions (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    token_hash TEXT NOT NULL CONSTRAINT guest_sessions_token_hash_key UNIQUE,
    guest_id BIGINT NOT NULL REFERENCES guests (id),
    created_at TIMESTAMP NOT NULL,
    last_used_at TIMESTAMP
);

CREATE TABLE messages (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    public_id TEXT NOT NULL CONSTRAINT messages_public_id_key UNIQUE,
    guest_id BIGINT NOT NULL REFERENCES guests (id),
    sender TEXT NOT NULL CONSTRAINT messages_sender_check CHECK (sender IN ('guest', 'bot', 'admin')),
    channel TEXT NOT NULL,
    text TEXT NOT NULL,
    payload TEXT,
    delivery_status TEXT NOT NULL
        CONSTRAINT messages_delivery_status_check CHECK (delivery_status IN ('delivered', 'pending', 'sent', 'failed')),
    attempts INTEGER NOT NULL DEFAULT 0,
    last_error TEXT,
    created_at TIMESTAMP NOT NULL
);
CREATE INDEX messages_guest_idx ON messages (guest_id, id);
CREATE INDEX messages_outbox_idx ON messages (delivery_status, id);

CREATE TABLE admin_notifications (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    public_id TEXT NOT NULL CONSTRAINT admin_notifications_public_id_key UNIQUE,
    kind TEXT NOT NULL,
    text TEXT NOT NULL,
    booking_ref TEXT,
    created_at TIMESTAMP NOT NULL
);

CREATE TABLE bookings (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    reference TEXT NOT NULL CONSTRAINT bookings_reference_key UNIQUE,
    property_id BIGINT NOT NULL REFERENCES properties (id),
    guest_id BIGINT NOT NULL REFERENCES guests (id),
    date TEXT NOT NULL,
    shift TEXT NOT NULL CONSTRAINT bookings_shift_check CHECK (shift IN ('day', 'night', 'full_day', 'full_night')),
    guests INTEGER NOT NULL CONSTRAINT bookings_guests_check CHECK (guests > 0),
    status TEXT NOT NULL
        CONSTRAINT bookings_status_check CHECK (status IN ('pending', 'waiting', 'confirmed', 'cancelled', 'expired', 'completed')),
    total_amount BIGINT NOT NULL CONSTRAINT bookings_total_check CHECK (total_amount >= 0),
    advance_amount BIGINT NOT NULL CONSTRAINT bookings_advance_check CHECK (advance_amount >= 0 AND advance_amount <= total_amount),
    currency TEXT NOT NULL,
    guest_name TEXT NOT NULL,
    guest_cnic TEXT NOT NULL CONSTRAINT bookings_cnic_check CHECK (length(guest_cnic) = 13),
    starts_at TIMESTAMP NOT NULL,
    ends_at TIMESTAMP NOT NULL,
    hold_expires_at TIMESTAMP,
    status_reason TEXT,
    created_by TEXT NOT NULL,
    created_at TIMESTAMP NOT NULL,
    updated_at TIMESTAMP NOT NULL
);
CREATE INDEX bookings_status_idx ON bookings (status, hold_expires_at);
CREATE INDEX bookings_property_idx ON bookings (property_id, date);
CREATE INDEX bookings_guest_idx ON bookings (guest_id);

-- One row per occupied half-slot: the unique primary key is the availability invariant.
CREATE TABLE booking_slots (
    property_id BIGINT NOT NULL REFERENCES properties (id),
    date TEXT NOT NULL,
    half TEXT NOT NULL CONSTRAINT booking_slots_half_check CHECK (half IN ('day', 'night')),
    booking_id BIGINT NOT NULL REFERENCES bookings (id),
    CONSTRAINT booking_slots_pkey PRIMARY KEY (property_id, date, half)
);
CREATE INDEX booking_slots_booking_idx ON booking_slots (booking_id);

CREATE TABLE booking_payments (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    public_id TEXT NOT NULL CONSTRAINT booking_payments_public_id_key UNIQUE,
    booking_id BIGINT NOT NULL REFERENCES bookings (id),
    kind TEXT NOT NULL CONSTRAINT booking_payments_kind_check CHECK (kind IN ('details', 'screenshot')),
    status TEXT NOT NULL CONSTRAINT booking_payments_status_check CHECK (status IN ('pending_review', 'approved', 'rejected')),
    amount BIGINT CONSTRAINT booking_payments_amount_check CHECK (amount IS NULL OR amount >= 0),
    transaction_id TEXT CONSTRAINT booking_payments_transaction_id_key UNIQUE,
    sender_name TEXT,
    sender_phone TEXT,
    method TEXT,
    image_url TEXT,
    image_sha256 TEXT CONSTRAINT booking_payments_image_sha256_key UNIQUE,
    extraction TEXT,
    machine_checked BOOLEAN NOT NULL,
    checks TEXT NOT NULL,
    decided_by TEXT,
    decided_at TIMESTAMP,
    decision_reason TEXT,
    reminded_at TIMESTAMP,
    created_at TIMESTAMP NOT NULL
);
CREATE INDEX booking_payments_booking_idx ON booking_payments (booking_id);
CREATE INDEX booking_payments_status_idx ON booking_payments (status, created_at);

-- Background jobs: the lease makes one replica run a job at a time; the rest is its last outcome.
CREATE TABLE job_runs (
    name TEXT PRIMARY KEY,
    lease_owner TEXT,
    lease_until TIMESTAMP,
    last_started_at TIMESTAMP,
    last_finished_at TIMESTAMP,
    last_outcome TEXT,
    last_error TEXT,
    last_items BIGINT,
    runs BIGINT NOT NULL DEFAULT 0
);
