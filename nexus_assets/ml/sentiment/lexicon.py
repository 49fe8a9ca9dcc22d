"""The offline scorer: a compact finance word list with negation, in the spirit of Loughran-McDonald.

Why a curated list in the package rather than a dependency: the Loughran-McDonald master
dictionary is licensed for academic use only, the PyPI packages that bundle it are unmaintained
and pull in NLTK/pandas, and general-purpose lexicons (VADER) misread finance ("liability",
"crude", "bull"). A few hundred words cover the headlines a fallback has to handle; it is
deterministic, so a fallback score is reproducible by construction.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

LEXICON_VERSION = "lexicon-v1"

_POSITIVE_WORDS = """
    beat beats beating exceed exceeds exceeded outperform outperforms outperformed upgrade upgrades
    upgraded raise raises raised record records strong stronger strongest growth grow grows grew
    gain gains gained rally rallies rallied surge surges surged soar soars soared jump jumps jumped
    rise rises rose profit profits profitable profitability buyback buybacks dividend win wins won
    award awarded approval approved approves boost boosts boosted improve improves improved
    improvement recovery recover recovers rebound rebounds expand expands expansion accelerate
    accelerates accelerating upbeat optimistic bullish breakthrough success successful robust
    resilient momentum tops topped partnership launch launches innovative efficiency
"""
_NEGATIVE_WORDS = """
    miss misses missed cut cuts cutting downgrade downgrades downgraded weak weaker weakest
    decline declines declined fall falls fell drop drops dropped plunge plunges plunged slump
    slumps slumped tumble tumbles tumbled crash crashes crashed sink sinks sank loss losses lose
    loses lost warn warns warning warned lawsuit lawsuits litigation fraud investigation probe
    subpoena fine fined penalty recall recalls recalled bankruptcy bankrupt default defaults
    layoff layoffs restructuring impairment writedown shortfall delay delays delayed halt halted
    suspend suspended breach breaches downturn bearish pessimistic concern concerns risk risks
    volatile volatility adverse negative uncertainty uncertain scandal resign resigns resigned
    shortage deficit dilution dilutive sell-off selloff underperform underperforms underperformed
"""
POSITIVE: frozenset[str] = frozenset(_POSITIVE_WORDS.split())
NEGATIVE: frozenset[str] = frozenset(_NEGATIVE_WORDS.split())
NEGATORS: frozenset[str] = frozenset(
    {"not", "no", "never", "without", "fails", "fail", "failed", "neither", "nor"}
)
_WORD = re.compile(r"[a-z][a-z\-']*")
_NEGATION_REACH = 3
"""A negator flips the words up to this far after it ("did not beat" is negative)."""


@dataclass(frozen=True)
class LexiconScore:
    score: float
    confidence: float
    matched: int
    note: str


def latin_share(text: str) -> float:
    """Share of letters that are ASCII: a word list in English says nothing about other scripts."""
    letters = [c for c in text if c.isalpha()]
    return sum(c.isascii() for c in letters) / len(letters) if letters else 0.0


def lexicon_score(text: str) -> LexiconScore:
    """Tone in [-1, 1] as (positive - negative) / (positive + negative) over matched words.

    Confidence grows with the number of matched words (1 word 0.3, 3+ words 0.6) and is never
    higher: a word list is a weak reader. Non-English or empty text is neutral with zero
    confidence, so it can never move a decision.
    """
    if not text.strip():
        return LexiconScore(0.0, 0.0, 0, "empty headline")
    if latin_share(text) < 0.8:
        return LexiconScore(0.0, 0.0, 0, "not English: the word list cannot read it")
    words = _WORD.findall(text.lower())
    positive = negative = 0
    flip_until = -1
    for i, word in enumerate(words):
        if word in NEGATORS:
            flip_until = i + _NEGATION_REACH
            continue
        sign = 1 if word in POSITIVE else -1 if word in NEGATIVE else 0
        if sign and i <= flip_until:
            sign = -sign
        positive += sign > 0
        negative += sign < 0
    matched = positive + negative
    if not matched:
        return LexiconScore(0.0, 0.1, 0, "no finance words")
    score = (positive - negative) / matched
    return LexiconScore(score, min(0.3 + 0.15 * (matched - 1), 0.6), matched, f"{matched} finance words")
