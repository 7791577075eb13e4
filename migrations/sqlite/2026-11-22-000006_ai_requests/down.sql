DROP TABLE webhook_deliveries;
DROP TABLE webhook_endpoints;
DROP TABLE alerts;
DROP TABLE request_payments;
DROP TABLE ai_requests;
DROP TABLE model_price_history;
DROP TABLE catalogue_models;
DROP TABLE providers;
