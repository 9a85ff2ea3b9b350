"""WhatsApp Cloud API message limits (shared/reference/msg91-whatsapp.md §2.4, §2.5, §2.6).

One place for the numbers, so the Graph payload builders and the Meta simulator's validator agree.
They equal `supportbot.msg91.limits` (same WhatsApp rules); the packages are peers and do not
import each other until a provider interface gives them a common home.
"""

from __future__ import annotations

TEXT_MAX = 4096
INTERACTIVE_BODY_MAX = 1024
HEADER_TEXT_MAX = 60
"""Interactive text header / footer: not in the reference (same value as the MSG91 builders;
unconfirmed)."""
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
"""Media caption: not in the reference (unconfirmed; Meta's media doc)."""

WINDOW_SECONDS = 24 * 3600
"""Customer-service window: free-form messages only within 24 h of the last inbound (§2.7)."""
TYPING_INDICATOR_SECONDS = 25.0
"""The typing indicator disappears on reply or after 25 s (§2.5)."""
PAIR_RATE_SECONDS = 6.0
"""Pair rate limit: about one message per 6 s to the same user (§2.8, 131056)."""
MEDIA_URL_SECONDS = 5 * 60
"""A media URL from ``GET /<media_id>`` is valid for about 5 minutes (§2.6)."""

MEDIA_KINDS = ("image", "document", "video", "audio", "sticker")
CAPTIONED_MEDIA = frozenset({"image", "document", "video"})
"""Media types that take a caption (audio and stickers do not; Meta's media doc, unconfirmed)."""
