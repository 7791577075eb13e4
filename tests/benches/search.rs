//! Search at scale (`make bench`): `GET /api/v1/search` over 10,000 properties with 1,000
//! bookings on the searched shift, 16 connections, on SQLite and PostgreSQL, beside `GET /healthz`
//! (the same server answering without touching the database) as the floor in the same run, and
//! the same searches on a second server over the same database with the page cache off (every
//! search a query). Target: p99 ≤ 2 ms.
//!
//! `STEWARD_BENCH_PROPERTIES` (default 10000), `STEWARD_BENCH_BOOKINGS` (1000),
//! `STEWARD_BENCH_REQUESTS` (4000), `STEWARD_BENCH_CONCURRENCY` (16).

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::time::Instant;

use chrono::{Duration as Days, NaiveDate};
use models::booking::Shift;
use models::rows_booking::{BookingSlot, NewBooking, NewGuest, NewProperty, PropertyPrice};
use reqwest::Method;
use system_tests::bench::{env, load, ms, Run};
use system_tests::{Backend, TestApp, TestDb};

/// Fills the catalogue: `properties` farms and huts in a few cities, prices spread over 500
/// levels (many ties, so the name orders them too), and `bookings` of `date`'s night spread over
/// the cheapest ranks, so a search must skip taken properties.
fn seed(db: &repositories::Db, properties: usize, bookings: usize, date: NaiveDate) {
    use repositories::{bookings as booking_repo, catalogue, guests};
    let mut conn = db.conn().unwrap();
    repositories::write_tx(&mut conn, |conn| -> Result<(), repositories::RepoError> {
        let now = models::time::now();
        let guest = guests::insert(
            conn,
            &NewGuest {
                public_id: models::ids::public_id("gst"),
                name: Some("Bench Guest".into()),
                phone: None,
                cnic: None,
                website_user_id: None,
                external_id: None,
                channel: "web".into(),
                address: None,
                created_at: now,
                updated_at: now,
            },
        )?;
        let cities = ["Karachi", "Lahore", "Islamabad", "Hyderabad"];
        let mut ids = Vec::with_capacity(properties);
        for i in 0..properties {
            let p = catalogue::insert(
                conn,
                &NewProperty {
                    public_id: models::ids::public_id("prp"),
                    name: format!("Property {:05}", (i * 7919) % properties),
                    description: String::new(),
                    kind: if i % 5 == 4 { "hut" } else { "farm" }.into(),
                    address: String::new(),
                    city: cities[i % cities.len()].into(),
                    province: String::new(),
                    country: "Pakistan".into(),
                    max_guests: 20 + (i % 40) as i32,
                    contact_person: String::new(),
                    contact_number: String::new(),
                    advance_percent: 50,
                    special_offer: None,
                    active: true,
                    created_at: now,
                    updated_at: now,
                },
            )?;
            let level = (i % 500) as i64;
            let prices: Vec<PropertyPrice> = (0..7)
                .flat_map(|weekday| {
                    Shift::ALL.iter().map(move |shift| PropertyPrice {
                        property_id: p.id,
                        weekday,
                        shift: shift.as_str().into(),
                        amount: 1_500_000 + level * 10_000 + i64::from(weekday) * 1000,
                    })
                })
                .collect();
            catalogue::replace_prices(conn, p.id, &prices)?;
            ids.push((p.id, level));
        }
        // The cheapest properties are the likeliest to be booked.
        ids.sort_by_key(|(_, level)| *level);
        for (n, (property_id, _)) in
            ids.iter().step_by((properties / bookings.max(1)).max(1) / 2 + 1).take(bookings).enumerate()
        {
            let reference = format!("HB-B{n:05}");
            let b = booking_repo::insert(
                conn,
                &NewBooking {
                    reference,
                    property_id: *property_id,
                    guest_id: guest.id,
                    date: date.to_string(),
                    shift: "night".into(),
                    guests: 10,
                    status: "confirmed".into(),
                    total_amount: 1,
                    advance_amount: 0,
                    currency: "PKR".into(),
                    guest_name: "Bench Guest".into(),
                    guest_cnic: "4220112345671".into(),
                    starts_at: now,
                    ends_at: now,
                    hold_expires_at: None,
                    created_by: "bench".into(),
                    created_at: now,
                    updated_at: now,
                },
            )?;
            booking_repo::take_slot(
                conn,
                &BookingSlot {
                    property_id: *property_id,
                    date: date.to_string(),
                    half: "night".into(),
                    booking_id: b.id,
                },
            )?;
        }
        Ok(())
    })
    .unwrap();
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let properties = env("STEWARD_BENCH_PROPERTIES", 10_000);
    let bookings = env("STEWARD_BENCH_BOOKINGS", 1_000);
    let n = env("STEWARD_BENCH_REQUESTS", 4_000);
    let c = env("STEWARD_BENCH_CONCURRENCY", 16);
    let date = chrono::Utc::now().date_naive() + Days::days(5);
    let mut rows: Vec<(String, Run)> = Vec::new();
    for backend in [Backend::Sqlite, Backend::Postgres] {
        let Some(db) = tokio::task::spawn_blocking(move || TestDb::new(backend)).await.unwrap() else {
            eprintln!("{backend:?}: no database, skipped");
            continue;
        };
        let app = TestApp::start(db, |s| s.database.pool_max_size = 16).await;
        let name = if backend == Backend::Sqlite { "SQLite" } else { "PostgreSQL" };
        let started = Instant::now();
        let pool = app.db.db.clone();
        tokio::task::spawn_blocking(move || seed(&pool, properties, bookings, date)).await.unwrap();
        eprintln!(
            "{name}: seeded {properties} properties and {bookings} bookings in {:.1?}",
            started.elapsed()
        );
        let base = app.address.clone();
        let health = format!("{base}/healthz");
        // Every request a different search: all four shifts, both kinds, with and without a city,
        // and the first three pages.
        let searches: Vec<String> = (0..64)
            .map(|i| {
                let shift = ["night", "day", "full_day", "full_night"][i % 4];
                let kind = if i % 8 < 6 { "farm" } else { "hut" };
                let city = if i % 3 == 0 { "&city=lahore" } else { "" };
                format!("{base}/api/v1/search?type={kind}&date={date}&shift={shift}&guests=12{city}")
            })
            .collect();
        let first = reqwest::get(&searches[0]).await.unwrap().json::<serde_json::Value>().await.unwrap();
        assert_eq!(first["items"].as_array().map(Vec::len), Some(20), "a full first page");
        load(Method::GET, |i| searches[i % searches.len()].clone(), vec![], None, 500, c).await;
        let floor = load(Method::GET, |_| health.clone(), vec![], None, n, c).await;
        let run = load(Method::GET, |i| searches[i % searches.len()].clone(), vec![], None, n, c).await;
        let cursor = first["next_cursor"].as_str().unwrap().to_string();
        let next = format!("{}&cursor={cursor}", searches[0]);
        let paged = load(Method::GET, |_| next.clone(), vec![], None, n, c).await;
        // The same searches with the page cache off (booking.search_cache_ms = 0): every one a
        // query.
        let mut settings = app.settings.clone();
        settings.booking.search_cache_ms = 0;
        let ports = integrations::ports(&settings).unwrap();
        let uncached = system_tests::application(&settings, app.db.db.clone(), ports);
        let uncached_base = format!("http://127.0.0.1:{}", uncached.port());
        let handle = uncached.handle();
        tokio::spawn(uncached.run_until_stopped());
        let direct: Vec<String> = searches.iter().map(|u| u.replace(&base, &uncached_base)).collect();
        load(Method::GET, |i| direct[i % direct.len()].clone(), vec![], None, 500, c).await;
        let queried = load(Method::GET, |i| direct[i % direct.len()].clone(), vec![], None, n, c).await;
        handle.stop(true).await;
        rows.push((format!("{name}: GET /healthz (floor)"), floor));
        rows.push((format!("{name}: GET /api/v1/search, first page"), run));
        rows.push((format!("{name}: GET /api/v1/search, second page"), paged));
        rows.push((format!("{name}: GET /api/v1/search, first page, cache off"), queried));
    }
    println!(
        "\nSearch over {properties} properties with {bookings} bookings, {n} requests, {c} concurrent, 2 server workers\n"
    );
    println!("| path | requests/s | p50 ms | p99 ms | p99 ≤ 2 ms | errors |");
    println!("|---|---:|---:|---:|:---:|---:|");
    for (name, r) in &rows {
        let target = if name.contains("healthz") {
            "–"
        } else if r.p99.as_secs_f64() <= 0.002 {
            "yes"
        } else {
            "no"
        };
        println!("| {name} | {:.0} | {} | {} | {target} | {} |", r.rps, ms(r.p50), ms(r.p99), r.errors);
    }
}
