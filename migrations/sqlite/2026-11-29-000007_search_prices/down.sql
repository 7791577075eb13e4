DROP TABLE search_prices;
