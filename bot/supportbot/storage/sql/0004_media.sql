-- Media references on messages (issue 16): what a customer sent (image, document, audio, video,
-- sticker) or what the bot/an agent sent, as a reference: the provider's URL and/or Meta media
-- id, MIME type, size in bytes, caption and file name. The file itself is not stored.
--
-- Rolling-upgrade safe: only nullable columns without defaults or CHECKs (a metadata-only ALTER:
-- no table rewrite or scan under its lock); the previous release's INSERTs name their columns
-- and leave these NULL, and its `SELECT *` readers ignore columns they do not know. Location and
-- contacts stay in `body` (the agent API and the export lift them out).
ALTER TABLE messages
    ADD COLUMN media_url      text,
    ADD COLUMN media_id       text,
    ADD COLUMN media_mime     text,
    ADD COLUMN media_size     bigint,
    ADD COLUMN media_caption  text,
    ADD COLUMN media_filename text;
