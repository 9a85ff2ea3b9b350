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

WINDOW_SECONDS = 24 * 3600
"""Meta's customer-service window: free-form messages only within 24 h of the last inbound."""
