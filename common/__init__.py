"""Small pieces every package uses: message types, text folding, atomic files, per-key locks,
session ids, client addresses, login throttling, masking and the contact calendar.

`common` imports nothing from `bot`, `flows` or `backends`, so each of them may import it.
"""
