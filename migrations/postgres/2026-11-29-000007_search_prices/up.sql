-- Search reads one index in result order: a row per (active property, price) with what the
-- filters need, kept by the repository in the transaction of every property or price change.
-- Base weekly prices are valid on every date (rank ''); a season's prices on its dates, and the
-- season that starts latest (then the newest) wins, as in price_on. Names sort bytewise
-- (COLLATE "C"), as on SQLite; city and country keys are trimmed and lowercased in ASCII only.
CREATE TABLE search_prices (
    id BIGSERIAL PRIMARY KEY,
    property_id BIGINT NOT NULL REFERENCES properties (id),
    kind TEXT NOT NULL,
    city_key TEXT COLLATE "C" NOT NULL,
    country_key TEXT COLLATE "C" NOT NULL,
    max_guests INTEGER NOT NULL,
    weekday INTEGER NOT NULL,
    shift TEXT NOT NULL,
    amount BIGINT NOT NULL,
    sort_name TEXT COLLATE "C" NOT NULL,
    valid_from TEXT COLLATE "C" NOT NULL,
    valid_to TEXT COLLATE "C" NOT NULL,
    rank TEXT COLLATE "C" NOT NULL
);
CREATE INDEX search_prices_order_idx ON search_prices (kind, weekday, shift, amount, sort_name, property_id);
CREATE INDEX search_prices_city_idx ON search_prices (kind, city_key, weekday, shift, amount, sort_name, property_id);
CREATE INDEX search_prices_property_idx ON search_prices (property_id, weekday, shift, rank);

INSERT INTO search_prices (property_id, kind, city_key, country_key, max_guests, weekday, shift, amount,
                           sort_name, valid_from, valid_to, rank)
SELECT p.id, p.kind, translate(trim(p.city), 'ABCDEFGHIJKLMNOPQRSTUVWXYZ', 'abcdefghijklmnopqrstuvwxyz'),
       translate(trim(p.country), 'ABCDEFGHIJKLMNOPQRSTUVWXYZ', 'abcdefghijklmnopqrstuvwxyz'), p.max_guests, pp.weekday, pp.shift,
       pp.amount, p.name, '0000-01-01', '9999-12-31', ''
FROM properties p JOIN property_prices pp ON pp.property_id = p.id
WHERE p.active;

INSERT INTO search_prices (property_id, kind, city_key, country_key, max_guests, weekday, shift, amount,
                           sort_name, valid_from, valid_to, rank)
SELECT p.id, p.kind, translate(trim(p.city), 'ABCDEFGHIJKLMNOPQRSTUVWXYZ', 'abcdefghijklmnopqrstuvwxyz'),
       translate(trim(p.country), 'ABCDEFGHIJKLMNOPQRSTUVWXYZ', 'abcdefghijklmnopqrstuvwxyz'), p.max_guests, sp.weekday, sp.shift,
       sp.amount, p.name, s.start_date, s.end_date, s.start_date || '#' || lpad(s.id::text, 20, '0')
FROM properties p
JOIN property_seasons s ON s.property_id = p.id
JOIN season_prices sp ON sp.season_id = s.id
WHERE p.active;
