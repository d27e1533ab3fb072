-- Every tag with the number of articles using it, kept by triggers on article_tags, so that
-- GET /api/tags reads one small index instead of every article's tags (see the PostgreSQL
-- migration for why a count).
CREATE TABLE tags (
    name TEXT PRIMARY KEY,
    uses INTEGER NOT NULL
);
INSERT INTO tags (name, uses) SELECT tag, COUNT(*) FROM article_tags GROUP BY tag;
CREATE INDEX tags_in_use ON tags (name) WHERE uses > 0;

CREATE TRIGGER article_tags_added AFTER INSERT ON article_tags BEGIN
    INSERT INTO tags (name, uses) VALUES (NEW.tag, 1) ON CONFLICT (name) DO UPDATE SET uses = uses + 1;
END;
CREATE TRIGGER article_tags_removed AFTER DELETE ON article_tags BEGIN
    UPDATE tags SET uses = uses - 1 WHERE name = OLD.tag;
END;
