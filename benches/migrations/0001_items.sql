CREATE TABLE items (id BIGINT NOT NULL PRIMARY KEY, name VARCHAR(100) NOT NULL);
INSERT INTO items (id, name) VALUES (1, 'one'), (2, 'two'), (3, 'three');
