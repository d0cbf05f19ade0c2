-- Usage ingest writes a key's last use, batch after batch: that is not an edit of the key, so
-- it no longer moves the key's updated_at (nor runs the trigger's function for it).
DROP TRIGGER api_keys_updated_at ON api_keys;
CREATE TRIGGER api_keys_updated_at BEFORE UPDATE ON api_keys FOR EACH ROW
    WHEN (OLD.last_used_at IS NOT DISTINCT FROM NEW.last_used_at)
    EXECUTE FUNCTION set_updated_at();
