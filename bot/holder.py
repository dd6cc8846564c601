"""The knowledge in force and its understanding, checked before use and swapped on live reload."""
from __future__ import annotations

import logging
from datetime import datetime
from pathlib import Path

from bot.answering import menu_problems
from bot.clock import STOCKHOLM
from bot.collisions import collision_problems
from bot.commands import TEXT_KEYS as COMMAND_TEXT_KEYS
from bot.knowledge import Knowledge, KnowledgeError, Problem, check_knowledge
from bot.placeholders import placeholder_problems
from bot.understanding import Understanding
from common.gcpolicy import after_replace
from flows.registry import required_text_keys

log = logging.getLogger("halmstad.app")

CORE_TEXT_KEYS = {
    "core.menu", "core.help", "core.cancelled", "core.nothing_to_cancel", "core.language_set",
    "core.clarify", "core.none_of_these", "core.fallback", "core.fallback_twice", "core.not_an_answer",
    "core.resume", "core.other_flow_offer", "core.anything_else", "core.error", "core.rate_limited",
    "menu.human", "privacy.masked_warning", "privacy.notice", "core.flow_paused", "core.resume_button",
    "core.none_of_these_menu", "core.nothing_to_resume",
} | COMMAND_TEXT_KEYS


def knowledge_checks(flows) -> list:
    """Return the extra checks the loader runs: the text keys code needs exist, the menu works,
    and placeholders staff must replace are named."""
    needed = required_text_keys(flows) | CORE_TEXT_KEYS

    def texts_exist(knowledge: Knowledge) -> list[Problem]:
        missing = sorted(k for k in needed if k not in knowledge.texts)
        return [Problem("knowledge/texts", 1, f"the text '{k}' is missing",
                        f"add '{k}:' with 'sv:' and 'en:' to a file in knowledge/texts/") for k in missing]

    def menu_works(knowledge: Knowledge) -> list[Problem]:
        return menu_problems(knowledge, flows)
    return [texts_exist, menu_works, placeholder_problems]


def load_checked(root: Path, flows) -> tuple[Knowledge, Understanding]:
    """Load and check a knowledge folder exactly as `knowledge check` does, including phrasings
    the matcher would give to another entry, and build its understanding; KnowledgeError lists
    every error. Blocking (a live reload runs it in a thread)."""
    knowledge, problems = check_knowledge(root, extra_checks=knowledge_checks(flows))
    errors = [p for p in problems if p.severity == "error"]
    if knowledge is None or errors:
        raise KnowledgeError(errors)
    understanding = Understanding(knowledge)
    collisions = [p for p in collision_problems(knowledge, understanding) if p.severity == "error"]
    if collisions:
        raise KnowledgeError(collisions)
    return knowledge, understanding


class KnowledgeHolder:
    """Holds the knowledge in force and its understanding; `reload` swaps them only when valid."""

    def __init__(self, root: Path, flows) -> None:
        self.root = Path(root)
        self.flows = flows
        self.last_error: str | None = None
        self.knowledge, self.understanding = self._load()
        self.loaded_at: datetime | None = datetime.now(STOCKHOLM)

    def _load(self) -> tuple[Knowledge, Understanding]:
        return load_checked(self.root, self.flows)

    def install(self, knowledge: Knowledge, understanding: Understanding) -> None:
        """Swap in a checked knowledge and its understanding together."""
        self.knowledge, self.understanding = knowledge, understanding
        self.last_error = None
        self.loaded_at = datetime.now(STOCKHOLM)
        after_replace()  # a serving process froze the old version (common/gcpolicy.py)
        log.info("knowledge reloaded version=%s", knowledge.version)

    def reload(self) -> bool:
        """Load the files again; keep serving the old knowledge if the new one has errors."""
        try:
            knowledge, understanding = self._load()
        except KnowledgeError as exc:
            self.last_error = "\n".join(str(p) for p in exc.problems)
            log.warning("knowledge reload refused errors=%d", len(exc.problems))
            return False
        self.install(knowledge, understanding)
        return True

    @property
    def version(self) -> str:
        return self.knowledge.version
