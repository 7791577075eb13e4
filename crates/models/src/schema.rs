//! diesel table definitions, shared by both backends (portable types only).

diesel::table! {
    users (id) {
        id -> BigInt,
        public_id -> Text,
        name -> Text,
        email -> Text,
        role -> Text,
        status -> Text,
        created_at -> Timestamp,
        updated_at -> Timestamp,
        verified -> Bool,
        tier -> Text,
        balance -> BigInt,
        reserved -> BigInt,
        deposited -> BigInt,
    }
}

diesel::table! {
    ledger_entries (id) {
        id -> BigInt,
        public_id -> Text,
        user_id -> BigInt,
        kind -> Text,
        amount -> BigInt,
        balance_after -> BigInt,
        reserved_after -> BigInt,
        reference -> Nullable<Text>,
        note -> Text,
        created_at -> Timestamp,
    }
}

diesel::table! {
    api_keys (id) {
        id -> BigInt,
        public_id -> Text,
        user_id -> BigInt,
        name -> Text,
        key_hash -> Text,
        prefix -> Text,
        role -> Text,
        project -> Nullable<Text>,
        agent -> Nullable<Text>,
        status -> Text,
        usage_count -> BigInt,
        last_used_at -> Nullable<Timestamp>,
        expires_at -> Nullable<Timestamp>,
        created_at -> Timestamp,
        revoked_at -> Nullable<Timestamp>,
    }
}

diesel::table! {
    idempotency_keys (id) {
        id -> BigInt,
        owner -> Text,
        idem_key -> Text,
        method -> Text,
        path -> Text,
        fingerprint -> Text,
        state -> Text,
        response_status -> Nullable<Integer>,
        response_content_type -> Nullable<Text>,
        response_body -> Nullable<Binary>,
        locked_at -> Timestamp,
        created_at -> Timestamp,
        expires_at -> Timestamp,
    }
}

diesel::table! {
    audit_events (id) {
        id -> BigInt,
        event_id -> Text,
        occurred_at -> Timestamp,
        actor_type -> Text,
        actor_id -> Nullable<Text>,
        action -> Text,
        subject_type -> Text,
        subject_id -> Nullable<Text>,
        request_id -> Nullable<Text>,
        details -> Text,
        result -> Text,
        seq -> Nullable<BigInt>,
        prev_hash -> Nullable<Text>,
        hash -> Nullable<Text>,
    }
}

diesel::table! {
    audit_chain_head (id) {
        id -> Integer,
        last_seq -> BigInt,
        last_hash -> Text,
    }
}

diesel::table! {
    properties (id) {
        id -> BigInt,
        public_id -> Text,
        name -> Text,
        description -> Text,
        kind -> Text,
        address -> Text,
        city -> Text,
        province -> Text,
        country -> Text,
        max_guests -> Integer,
        contact_person -> Text,
        contact_number -> Text,
        advance_percent -> Integer,
        special_offer -> Nullable<Text>,
        active -> Bool,
        created_at -> Timestamp,
        updated_at -> Timestamp,
    }
}

diesel::table! {
    property_owners (property_id, user_id) {
        property_id -> BigInt,
        user_id -> BigInt,
    }
}

diesel::table! {
    property_prices (property_id, weekday, shift) {
        property_id -> BigInt,
        weekday -> Integer,
        shift -> Text,
        amount -> BigInt,
    }
}

diesel::table! {
    property_seasons (id) {
        id -> BigInt,
        property_id -> BigInt,
        name -> Text,
        start_date -> Text,
        end_date -> Text,
    }
}

diesel::table! {
    season_prices (season_id, weekday, shift) {
        season_id -> BigInt,
        weekday -> Integer,
        shift -> Text,
        amount -> BigInt,
    }
}

diesel::table! {
    property_media (id) {
        id -> BigInt,
        public_id -> Text,
        property_id -> BigInt,
        kind -> Text,
        url -> Text,
        position -> Integer,
        created_at -> Timestamp,
    }
}

diesel::table! {
    property_amenities (property_id, kind, value) {
        property_id -> BigInt,
        kind -> Text,
        value -> Text,
    }
}

diesel::table! {
    guests (id) {
        id -> BigInt,
        public_id -> Text,
        name -> Nullable<Text>,
        phone -> Nullable<Text>,
        cnic -> Nullable<Text>,
        website_user_id -> Nullable<BigInt>,
        external_id -> Nullable<Text>,
        channel -> Text,
        address -> Nullable<Text>,
        created_at -> Timestamp,
        updated_at -> Timestamp,
    }
}

diesel::table! {
    guest_sessions (id) {
        id -> BigInt,
        token_hash -> Text,
        guest_id -> BigInt,
        created_at -> Timestamp,
        last_used_at -> Nullable<Timestamp>,
    }
}

diesel::table! {
    messages (id) {
        id -> BigInt,
        public_id -> Text,
        guest_id -> BigInt,
        sender -> Text,
        channel -> Text,
        text -> Text,
        payload -> Nullable<Text>,
        delivery_status -> Text,
        attempts -> Integer,
        last_error -> Nullable<Text>,
        created_at -> Timestamp,
        channel_message_id -> Nullable<Text>,
        reply_to -> Nullable<BigInt>,
        processed_at -> Nullable<Timestamp>,
        wire -> Nullable<Text>,
        next_attempt_at -> Nullable<Timestamp>,
        claimed_until -> Nullable<Timestamp>,
    }
}

diesel::table! {
    console_sessions (id) {
        id -> BigInt,
        token_hash -> Text,
        csrf_token -> Text,
        key_id -> BigInt,
        created_at -> Timestamp,
        expires_at -> Timestamp,
        revoked_at -> Nullable<Timestamp>,
    }
}

diesel::joinable!(console_sessions -> api_keys (key_id));
diesel::allow_tables_to_appear_in_same_query!(console_sessions, api_keys);
diesel::allow_tables_to_appear_in_same_query!(console_sessions, users);

diesel::table! {
    whatsapp_inbox (id) {
        id -> BigInt,
        event_key -> Text,
        kind -> Text,
        payload -> Text,
        received_at -> Timestamp,
        attempts -> Integer,
        claimed_until -> Nullable<Timestamp>,
        processed_at -> Nullable<Timestamp>,
        last_error -> Nullable<Text>,
    }
}

diesel::table! {
    conversations (id) {
        id -> BigInt,
        public_id -> Text,
        guest_id -> BigInt,
        channel -> Text,
        mode -> Text,
        needs_human -> Bool,
        language -> Text,
        facts -> Text,
        identity -> Text,
        dialogue -> Text,
        sent_media -> Text,
        current_booking_id -> Nullable<BigInt>,
        summary -> Text,
        turn_owner -> Nullable<Text>,
        turn_until -> Nullable<Timestamp>,
        last_inbound_at -> Nullable<Timestamp>,
        created_at -> Timestamp,
        updated_at -> Timestamp,
    }
}

diesel::joinable!(conversations -> guests (guest_id));
diesel::joinable!(conversations -> bookings (current_booking_id));

diesel::table! {
    admin_notifications (id) {
        id -> BigInt,
        public_id -> Text,
        kind -> Text,
        text -> Text,
        booking_ref -> Nullable<Text>,
        created_at -> Timestamp,
    }
}

diesel::table! {
    bookings (id) {
        id -> BigInt,
        reference -> Text,
        property_id -> BigInt,
        guest_id -> BigInt,
        date -> Text,
        shift -> Text,
        guests -> Integer,
        status -> Text,
        total_amount -> BigInt,
        advance_amount -> BigInt,
        currency -> Text,
        guest_name -> Text,
        guest_cnic -> Text,
        starts_at -> Timestamp,
        ends_at -> Timestamp,
        hold_expires_at -> Nullable<Timestamp>,
        status_reason -> Nullable<Text>,
        created_by -> Text,
        created_at -> Timestamp,
        updated_at -> Timestamp,
    }
}

diesel::table! {
    booking_slots (property_id, date, half) {
        property_id -> BigInt,
        date -> Text,
        half -> Text,
        booking_id -> BigInt,
    }
}

diesel::table! {
    booking_payments (id) {
        id -> BigInt,
        public_id -> Text,
        booking_id -> BigInt,
        kind -> Text,
        status -> Text,
        amount -> Nullable<BigInt>,
        transaction_id -> Nullable<Text>,
        sender_name -> Nullable<Text>,
        sender_phone -> Nullable<Text>,
        method -> Nullable<Text>,
        image_url -> Nullable<Text>,
        image_sha256 -> Nullable<Text>,
        extraction -> Nullable<Text>,
        machine_checked -> Bool,
        checks -> Text,
        decided_by -> Nullable<Text>,
        decided_at -> Nullable<Timestamp>,
        decision_reason -> Nullable<Text>,
        reminded_at -> Nullable<Timestamp>,
        created_at -> Timestamp,
    }
}

diesel::table! {
    job_runs (name) {
        name -> Text,
        lease_owner -> Nullable<Text>,
        lease_until -> Nullable<Timestamp>,
        last_started_at -> Nullable<Timestamp>,
        last_finished_at -> Nullable<Timestamp>,
        last_outcome -> Nullable<Text>,
        last_error -> Nullable<Text>,
        last_items -> Nullable<BigInt>,
        runs -> BigInt,
    }
}

diesel::joinable!(api_keys -> users (user_id));
diesel::joinable!(ledger_entries -> users (user_id));
diesel::joinable!(property_owners -> properties (property_id));
diesel::joinable!(property_owners -> users (user_id));
diesel::joinable!(property_prices -> properties (property_id));
diesel::joinable!(property_seasons -> properties (property_id));
diesel::joinable!(season_prices -> property_seasons (season_id));
diesel::joinable!(property_media -> properties (property_id));
diesel::joinable!(property_amenities -> properties (property_id));
diesel::joinable!(guest_sessions -> guests (guest_id));
diesel::joinable!(messages -> guests (guest_id));
diesel::joinable!(bookings -> properties (property_id));
diesel::joinable!(bookings -> guests (guest_id));
diesel::joinable!(booking_slots -> bookings (booking_id));
diesel::joinable!(booking_payments -> bookings (booking_id));
diesel::table! {
    search_prices (id) {
        id -> BigInt,
        property_id -> BigInt,
        kind -> Text,
        city_key -> Text,
        country_key -> Text,
        max_guests -> Integer,
        weekday -> Integer,
        shift -> Text,
        amount -> BigInt,
        sort_name -> Text,
        valid_from -> Text,
        valid_to -> Text,
        rank -> Text,
    }
}

diesel::joinable!(search_prices -> properties (property_id));

diesel::allow_tables_to_appear_in_same_query!(
    users,
    ledger_entries,
    api_keys,
    idempotency_keys,
    audit_events,
    audit_chain_head,
    properties,
    property_owners,
    property_prices,
    property_seasons,
    season_prices,
    property_media,
    property_amenities,
    guests,
    guest_sessions,
    messages,
    admin_notifications,
    bookings,
    booking_slots,
    booking_payments,
    job_runs,
    search_prices,
    conversations,
);

diesel::table! {
    projects (id) {
        id -> BigInt,
        public_id -> Text,
        user_id -> BigInt,
        name -> Text,
        description -> Text,
        created_at -> Timestamp,
        updated_at -> Timestamp,
    }
}

diesel::table! {
    agents (id) {
        id -> BigInt,
        public_id -> Text,
        project_id -> BigInt,
        name -> Text,
        description -> Text,
        created_at -> Timestamp,
    }
}

diesel::table! {
    project_budgets (project_id) {
        project_id -> BigInt,
        per_request -> BigInt,
        daily -> BigInt,
        monthly -> BigInt,
        updated_at -> Timestamp,
    }
}

diesel::table! {
    project_policies (project_id) {
        project_id -> BigInt,
        document -> Text,
        updated_at -> Timestamp,
    }
}

diesel::table! {
    system_policy (id) {
        id -> Integer,
        document -> Text,
        updated_at -> Timestamp,
    }
}

diesel::joinable!(projects -> users (user_id));
diesel::joinable!(agents -> projects (project_id));
diesel::allow_tables_to_appear_in_same_query!(projects, agents, users, project_budgets, project_policies);

diesel::table! {
    project_usage (project_id, period) {
        project_id -> BigInt,
        period -> Text,
        used -> BigInt,
    }
}

diesel::table! {
    providers (name) {
        name -> Text,
        kind -> Text,
        display_name -> Text,
        base_url -> Text,
        api_key_env -> Text,
        enabled -> Bool,
        updated_at -> Timestamp,
    }
}

diesel::table! {
    catalogue_models (provider, model) {
        provider -> Text,
        model -> Text,
        category -> Text,
        capabilities -> Text,
        context_window -> BigInt,
        input_per_million -> BigInt,
        output_per_million -> BigInt,
        per_request -> BigInt,
        per_image -> BigInt,
        per_million_chars -> BigInt,
        price_read_on -> Text,
        active -> Bool,
        updated_at -> Timestamp,
    }
}

diesel::table! {
    model_price_history (id) {
        id -> BigInt,
        provider -> Text,
        model -> Text,
        input_per_million -> BigInt,
        output_per_million -> BigInt,
        per_request -> BigInt,
        per_image -> BigInt,
        per_million_chars -> BigInt,
        source -> Text,
        effective_from -> Timestamp,
    }
}

diesel::allow_tables_to_appear_in_same_query!(providers, catalogue_models);

diesel::table! {
    user_usage (user_id, period) {
        user_id -> BigInt,
        period -> Text,
        used -> BigInt,
    }
}

diesel::table! {
    ai_requests (id) {
        id -> BigInt,
        public_id -> Text,
        user_id -> BigInt,
        project_id -> BigInt,
        agent_id -> Nullable<BigInt>,
        provider -> Text,
        model -> Text,
        operation -> Text,
        status -> Text,
        outcome -> Text,
        reason -> Nullable<Text>,
        tier -> Text,
        risk_score -> Double,
        decision -> Text,
        body -> Text,
        estimated -> BigInt,
        charged -> BigInt,
        input_tokens -> BigInt,
        output_tokens -> BigInt,
        latency_ms -> Nullable<BigInt>,
        response -> Nullable<Text>,
        error -> Nullable<Text>,
        day -> Text,
        month -> Text,
        fingerprint -> Text,
        idempotency_key -> Nullable<Text>,
        created_at -> Timestamp,
        updated_at -> Timestamp,
    }
}

diesel::table! {
    request_payments (id) {
        id -> BigInt,
        public_id -> Text,
        request_id -> BigInt,
        user_id -> BigInt,
        amount -> BigInt,
        currency -> Text,
        rail -> Text,
        tx_reference -> Nullable<Text>,
        status -> Text,
        estimated -> BigInt,
        actual -> BigInt,
        variance -> BigInt,
        created_at -> Timestamp,
        updated_at -> Timestamp,
    }
}

diesel::table! {
    alerts (id) {
        id -> BigInt,
        public_id -> Text,
        user_id -> BigInt,
        scope -> Text,
        kind -> Text,
        period -> Text,
        message -> Text,
        details -> Text,
        created_at -> Timestamp,
    }
}

diesel::table! {
    webhook_endpoints (user_id) {
        user_id -> BigInt,
        url -> Text,
        secret -> Text,
        updated_at -> Timestamp,
    }
}

diesel::table! {
    webhook_deliveries (id) {
        id -> BigInt,
        public_id -> Text,
        user_id -> BigInt,
        url -> Text,
        payload -> Text,
        status -> Text,
        attempts -> Integer,
        next_attempt_at -> Timestamp,
        last_error -> Nullable<Text>,
        created_at -> Timestamp,
        updated_at -> Timestamp,
    }
}

diesel::joinable!(request_payments -> ai_requests (request_id));
diesel::allow_tables_to_appear_in_same_query!(ai_requests, request_payments);

diesel::table! {
    rate_heads (project_id) {
        project_id -> BigInt,
        minute_next -> BigInt,
        hour_next -> BigInt,
        day_next -> BigInt,
    }
}

diesel::table! {
    rate_slots (project_id, window_secs, slot) {
        project_id -> BigInt,
        window_secs -> Integer,
        slot -> BigInt,
        taken_at -> Timestamp,
        free_at -> Timestamp,
    }
}

diesel::table! {
    project_hours (project_id, hour) {
        project_id -> BigInt,
        hour -> Text,
        admitted -> BigInt,
        rejected -> BigInt,
    }
}

diesel::table! {
    project_days (project_id, day) {
        project_id -> BigInt,
        day -> Text,
        executed -> BigInt,
        charged -> BigInt,
        charged_sq -> Double,
    }
}

diesel::table! {
    user_hours (user_id, hour) {
        user_id -> BigInt,
        hour -> Text,
        charged -> BigInt,
    }
}

diesel::table! {
    project_seen (project_id, kind, value) {
        project_id -> BigInt,
        kind -> Text,
        value -> Text,
        last_day -> Text,
    }
}
