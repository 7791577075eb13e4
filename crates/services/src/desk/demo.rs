//! `steward demo`: a demo catalogue of farms and huts in Karachi with the source system's weekly
//! price table (SPEC §8), media URLs and amenities. Idempotent: properties are found by name.

use models::booking::{MediaKind, PropertyKind, Shift};
use models::ids::public_id;
use models::rows_booking::{Amenity, NewProperty, NewPropertyMedia, PropertyPrice};
use models::Role;
use repositories::{catalogue, Db};

use crate::audit::AuditContext;
use crate::{in_tx, ServiceError};

/// PKR per shift (day, night, full day, full night) by weekday, Monday first.
pub const WEEKLY_PRICES_PKR: [[i64; 4]; 7] = [
    [18_000, 22_000, 35_000, 35_000],
    [18_000, 22_000, 35_000, 35_000],
    [18_000, 22_000, 35_000, 35_000],
    [18_000, 22_000, 35_000, 35_000],
    [25_000, 30_000, 50_000, 50_000],
    [28_000, 35_000, 55_000, 55_000],
    [28_000, 35_000, 55_000, 55_000],
];

struct DemoProperty {
    name: &'static str,
    kind: PropertyKind,
    area: &'static str,
    max_guests: i32,
    description: &'static str,
    amenities: &'static [(&'static str, &'static str)],
}

const PROPERTIES: &[DemoProperty] = &[
    DemoProperty {
        name: "Green Valley Farmhouse",
        kind: PropertyKind::Farm,
        area: "Gadap Town",
        max_guests: 40,
        description: "A large lawn, a pool and a barbecue area, 40 minutes from the city.",
        amenities: &[
            ("facility", "Pool"),
            ("facility", "Lawn"),
            ("facility", "BBQ area"),
            ("rooms", "3 bedrooms"),
        ],
    },
    DemoProperty {
        name: "Palm Grove Farmhouse",
        kind: PropertyKind::Farm,
        area: "Super Highway",
        max_guests: 25,
        description: "A quiet farmhouse with a covered pool and a cricket pitch.",
        amenities: &[("facility", "Covered pool"), ("facility", "Cricket pitch"), ("rooms", "2 bedrooms")],
    },
    DemoProperty {
        name: "Sea Breeze Hut",
        kind: PropertyKind::Hut,
        area: "Hawksbay",
        max_guests: 20,
        description: "A beach hut on Hawksbay with a terrace facing the sea.",
        amenities: &[("facility", "Sea-facing terrace"), ("facility", "Kitchen"), ("rooms", "2 rooms")],
    },
    DemoProperty {
        name: "Turtle Beach Hut",
        kind: PropertyKind::Hut,
        area: "Sandspit",
        max_guests: 15,
        description: "A family hut on Sandspit beach.",
        amenities: &[("facility", "Beach access"), ("facility", "Shower"), ("rooms", "1 room")],
    },
];

/// Seeds the demo owner and catalogue; returns how many properties were created (0 when present).
pub async fn seed(db: &Db) -> Result<usize, ServiceError> {
    let owner = crate::users::ensure(
        db,
        AuditContext::system(),
        "Demo Owner",
        "owner@demo.steward.local",
        Role::Owner,
    )
    .await?;
    in_tx(db, move |conn| {
        let mut created = 0;
        for d in PROPERTIES {
            if catalogue::active_named(conn, d.kind.as_str(), d.name)? {
                continue;
            }
            let now = models::time::now();
            let p = catalogue::insert(
                conn,
                &NewProperty {
                    public_id: public_id("prp"),
                    name: d.name.into(),
                    description: d.description.into(),
                    kind: d.kind.as_str().into(),
                    address: format!("{}, Karachi", d.area),
                    city: "Karachi".into(),
                    province: "Sindh".into(),
                    country: "Pakistan".into(),
                    max_guests: d.max_guests,
                    contact_person: "Demo Caretaker".into(),
                    contact_number: "0300-0000000".into(),
                    advance_percent: 50,
                    special_offer: None,
                    active: true,
                    created_at: now,
                    updated_at: now,
                },
            )?;
            catalogue::add_owner(conn, p.id, owner.id)?;
            let mut prices = Vec::new();
            for (weekday, row) in WEEKLY_PRICES_PKR.iter().enumerate() {
                for (shift, pkr) in Shift::ALL.iter().zip(row) {
                    prices.push(PropertyPrice {
                        property_id: p.id,
                        weekday: weekday as i32,
                        shift: shift.as_str().into(),
                        amount: pkr * 100,
                    });
                }
            }
            catalogue::replace_prices(conn, p.id, &prices)?;
            // Pictures Steward serves itself (`/pictures/…`), so the demo shows them offline.
            let pictures: &[&str] = if d.kind == PropertyKind::Hut {
                &["hut.svg", "beach.svg"]
            } else {
                &["farmhouse.svg", "pool.svg"]
            };
            for (n, name) in pictures.iter().enumerate() {
                catalogue::add_media(
                    conn,
                    NewPropertyMedia {
                        public_id: public_id("med"),
                        property_id: p.id,
                        kind: MediaKind::Image.as_str().into(),
                        url: format!("/pictures/{name}"),
                        position: n as i32,
                        created_at: now,
                    },
                )?;
            }
            let amenities: Vec<Amenity> = d
                .amenities
                .iter()
                .map(|(k, v)| Amenity { property_id: p.id, kind: (*k).into(), value: (*v).into() })
                .collect();
            catalogue::replace_amenities(conn, p.id, &amenities)?;
            created += 1;
        }
        Ok(created)
    })
    .await
}
