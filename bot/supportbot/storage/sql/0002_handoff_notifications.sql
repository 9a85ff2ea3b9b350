-- PLACEHOLDER on branch `media` only: version 0002 belongs to branch `notify`
-- (0002_handoff_notifications.sql). Migration versions must be contiguous, so this empty file
-- keeps 0003_media.sql loadable until the two branches merge; on merge take notify's file
-- (git reports an add/add conflict on this path).
SELECT 1;
