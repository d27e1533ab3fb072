-- Every tag with the number of articles using it, kept by a trigger on article_tags, so that
-- GET /api/tags reads one small index instead of every article's tags. A count (not a row that
-- comes and goes) because the upsert and the update lock the tag's row: concurrent writers
-- cannot leave a tag in use missing, as an insert racing a "delete if unused" could.
CREATE TABLE tags (
    name TEXT PRIMARY KEY,
    uses BIGINT NOT NULL
);
INSERT INTO tags (name, uses) SELECT tag, COUNT(*) FROM article_tags GROUP BY tag;
CREATE INDEX tags_in_use ON tags (name) WHERE uses > 0;

CREATE FUNCTION count_tag_uses() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'INSERT' THEN
        INSERT INTO tags (name, uses) VALUES (NEW.tag, 1)
        ON CONFLICT (name) DO UPDATE SET uses = tags.uses + 1;
    ELSE
        UPDATE tags SET uses = uses - 1 WHERE name = OLD.tag;
    END IF;
    RETURN NULL;
END
$$;
CREATE TRIGGER article_tags_count AFTER INSERT OR DELETE ON article_tags
    FOR EACH ROW EXECUTE FUNCTION count_tag_uses();
