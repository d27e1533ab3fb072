-- Portable across SQLite, PostgreSQL and MySQL.
CREATE TABLE items (
    id BIGINT NOT NULL PRIMARY KEY,
    name VARCHAR(100) NOT NULL,
    CONSTRAINT items_name_unique UNIQUE (name)
);
