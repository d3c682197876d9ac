-- The orders service's second database: its CQRS read side (alias orders_read). The postgres
-- image runs this once, when it initializes an empty data directory.
CREATE DATABASE orders_read;
