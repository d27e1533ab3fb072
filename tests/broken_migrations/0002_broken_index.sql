CREATE INDEX things_missing ON things (no_such_column);
