"""The experience survey's free text under the members' data keys (docs/erasure.md): sealed when a response
is taken, opened for authorised staff. One copy of the crypto: services.common.member_keys. Pure."""

from __future__ import annotations

from contracts.surveys import ExperienceAnswers, RecordedExperienceAnswers
from services.common.member_keys import ERASED_TEXT, KeyRing

QUESTIONS = tuple(ExperienceAnswers.model_fields)


def seal(keys: KeyRing, member_id: str, answers: ExperienceAnswers) -> RecordedExperienceAnswers:
    """The answers as `survey.responded` carries them (`UnreadableText` when the member was erased)."""
    return RecordedExperienceAnswers(**{q: keys.seal(member_id, getattr(answers, q)) for q in QUESTIONS})


def plain(answers: ExperienceAnswers | None) -> dict[str, str | None]:
    """A request's answers in the shape `opened` returns (to compare a resubmission with the stored one)."""
    return {q: None if answers is None else getattr(answers, q) for q in QUESTIONS}


def opened(keys: KeyRing, member_id: str, recorded: RecordedExperienceAnswers | None) -> dict[str, str | None]:
    """Each answer in clear for staff; `[erased]` where the member's key is gone."""
    texts = {q: None if recorded is None else getattr(recorded, q) for q in QUESTIONS}
    return {q: None if text is None else keys.read(member_id, text) for q, text in texts.items()}


def erased(recorded: RecordedExperienceAnswers | None) -> RecordedExperienceAnswers | None:
    """An erased member's answers in the survey state: which questions were answered, never what."""
    if recorded is None:
        return None
    return RecordedExperienceAnswers(**{q: ERASED_TEXT if getattr(recorded, q) is not None else None
                                        for q in QUESTIONS})
