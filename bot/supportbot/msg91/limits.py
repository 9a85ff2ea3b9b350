"""WhatsApp/MSG91 message limits (shared/reference/msg91-whatsapp.md §2.4), in characters.

One place for the numbers, so the send-side builders and the simulator's validator agree.
"""

from __future__ import annotations

TEXT_MAX = 4096
INTERACTIVE_BODY_MAX = 1024
HEADER_TEXT_MAX = 60
FOOTER_TEXT_MAX = 60
BUTTONS_MAX = 3
BUTTON_TITLE_MAX = 20
BUTTON_ID_MAX = 256
LIST_BUTTON_MAX = 20
LIST_ROWS_MAX = 10
LIST_SECTIONS_MAX = 10
LIST_SECTION_TITLE_MAX = 24
LIST_ROW_TITLE_MAX = 24
LIST_ROW_DESCRIPTION_MAX = 72
LIST_ROW_ID_MAX = 200
TEMPLATE_NAME_MAX = 512
CAPTION_MAX = 1024

MB = 1024 * 1024
MEDIA_MAX_BYTES = {
    "image": 5 * MB,
    "video": 16 * MB,
    "audio": 16 * MB,
    "document": 100 * MB,
    "sticker": 100 * 1024,  # static; animated stickers may be 500 KB (STICKER_ANIMATED_MAX_BYTES)
}
"""WhatsApp's size limits per media type (shared/reference/msg91-whatsapp.md §2.6)."""
STICKER_ANIMATED_MAX_BYTES = 500 * 1024
MEDIA_MIME_TYPES: dict[str, frozenset[str] | None] = {
    "image": frozenset({"image/jpeg", "image/png"}),
    "video": frozenset({"video/mp4", "video/3gpp"}),
    "audio": frozenset({"audio/aac", "audio/amr", "audio/mpeg", "audio/mp4", "audio/ogg"}),
    "sticker": frozenset({"image/webp"}),
    "document": None,  # any type
}
"""Allowed MIME types per media type (§2.6; ``None``: any). Parameters (``; codecs=opus``) are
ignored when checking."""
CAPTIONED_MEDIA = frozenset({"image", "video", "document"})
"""Media types that carry a caption (audio and stickers do not)."""
FILENAME_MAX = 240

WINDOW_SECONDS = 24 * 3600
"""Meta's customer-service window: free-form messages only within 24 h of the last inbound."""
