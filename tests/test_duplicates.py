"""Near-duplicate clustering of questions: normalisation, the ratio rule, transitivity, the kept id,
embeddings, and a 5,000-question set through the MinHash path. Offline, exact values."""

import random

import numpy as np
import pytest
from rapidfuzz import fuzz

from dataset_gen import duplicates
from dataset_gen.duplicates import Cluster, duplicate_rate, find_duplicates, normalise

PORT = "What port does Ollama use?"
PORT_WHICH = "Which port does Ollama use?"
UNRELATED = "How do I install Streamlit on Windows?"


@pytest.fixture(params=["all pairs", "minhash"])
def path(request, monkeypatch):
    """Run a test once comparing all pairs and once through MinHash LSH candidates."""
    if request.param == "minhash":
        monkeypatch.setattr(duplicates, "EXACT_UP_TO", 0)
    return request.param


def ratio(a: str, b: str) -> float:
    return fuzz.ratio(normalise(a), normalise(b))


def test_normalise_folds_case_width_punctuation_and_spaces():
    assert normalise("  What PORT does Ｏｌｌａｍａ use？ ") == "whatportdoesollamause"
    assert normalise("Ollama 的預設埠號是多少？") == "ollama的預設埠號是多少"
    assert normalise("C++ costs 5 $, 100% ok?\u200b") == "c++costs5$100ok"  # symbols stay; % is punctuation
    assert normalise("Straße") == "strasse"


def test_identical_after_normalisation_cluster_at_100(path):
    items = [
        (4, "What port does Ollama use?"),
        (9, "what port does ollama use"),
        (2, "ＷＨＡＴ　ＰＯＲＴ　ＤＯＥＳ　ＯＬＬＡＭＡ　ＵＳＥ？"),
        (7, "What-port does Ollama use!!"),
        (5, "Whatport  does\tOllama use ?"),
        (1, UNRELATED),
    ]
    assert find_duplicates(items, threshold=100) == [Cluster(2, (2, 4, 5, 7, 9), 100.0)]


def test_question_word_change_links_at_85_not_90_and_not_with_unrelated(path):
    items = [(1, PORT), (2, PORT_WHICH), (3, UNRELATED)]
    score = 100 * 38 / 43  # whatportdoesollamause / whichportdoesollamause: LCS 19 of 21 + 22
    assert ratio(PORT, PORT_WHICH) == pytest.approx(score)
    assert find_duplicates(items, threshold=85) == [Cluster(1, (1, 2), pytest.approx(score))]
    assert find_duplicates(items, threshold=90) == []


def test_traditional_chinese_near_duplicates_cluster(path):
    items = [(10, "Ollama 的預設埠號是多少？"), (11, "Ollama 預設的埠號是多少？"), (12, "如何在 Windows 上安裝 Streamlit？")]
    score = 100 * 26 / 28  # 14 characters each, LCS 13
    assert find_duplicates(items) == [Cluster(10, (10, 11), pytest.approx(score))]


def test_links_are_transitive_and_similarity_is_the_weakest_spanning_link(path):
    a = "How many GPUs does the server have?"
    b = "How many GPUs does the server own?"
    c = "How many CPUs does the server own?"
    assert ratio(a, c) < 85 <= ratio(a, b) < ratio(b, c)
    clusters = find_duplicates([(3, c), (1, a), (2, b), (4, UNRELATED)], threshold=85)
    assert clusters == [Cluster(1, (1, 2, 3), pytest.approx(ratio(a, b)))]


def test_preferred_id_is_kept_lowest_among_several(path):
    items = [(3, PORT), (7, PORT.lower()), (9, PORT.upper()), (20, UNRELATED), (21, UNRELATED + "!")]
    assert find_duplicates(items, preferred={9, 7, 20}) == [
        Cluster(7, (3, 7, 9), 100.0),
        Cluster(20, (20, 21), 100.0),
    ]
    assert find_duplicates(items, preferred=[9])[0].keep == 9
    assert find_duplicates(items, preferred=[99])[0].keep == 3


def test_clusters_sorted_by_keep_and_singletons_left_out(path):
    items = [(50, "Ollama 預設的埠號是多少？"), (8, UNRELATED), (40, PORT), (45, PORT + "?"), (6, "Ollama 的預設埠號是多少？")]
    clusters = find_duplicates(items)
    assert [c.keep for c in clusters] == [6, 40]
    assert [c.members for c in clusters] == [(6, 50), (40, 45)]


def test_embeddings_link_textually_different_questions():
    reset = "How do I reset my password?"
    forgot = "I forgot my login credentials, what now?"
    assert ratio(reset, forgot) < 50
    vector = [0.6, 0.8, 0.0]
    embeddings = {1: vector, 2: [0.6, 0.79, 0.01], 3: [0.0, 0.0, 1.0], 4: [0.0, 0.0, 0.0]}
    items = [(1, reset), (2, forgot), (3, UNRELATED), (4, "Where are the logs?"), (5, PORT)]
    assert find_duplicates(items) == []
    clusters = find_duplicates(items, embeddings=embeddings)
    cosine = (0.36 + 0.632) / np.linalg.norm([0.6, 0.79, 0.01])
    assert clusters == [Cluster(1, (1, 2), pytest.approx(100 * cosine, abs=1e-4))]
    assert find_duplicates(items, embeddings=embeddings, cosine_threshold=0.99995) == []


def test_embedding_and_text_links_join_one_cluster():
    items = [(1, PORT), (2, PORT_WHICH), (3, "Which TCP port is Ollama listening on?")]
    embeddings = {2: np.array([1.0, 0.0]), 3: np.array([0.96, 0.28])}  # cosine 0.96
    clusters = find_duplicates(items, threshold=85, embeddings=embeddings)
    assert clusters == [Cluster(1, (1, 2, 3), pytest.approx(min(100 * 38 / 43, 96.0)))]


def test_embeddings_of_different_dimensions_are_refused():
    with pytest.raises(ValueError, match="same dimension"):
        find_duplicates([(1, PORT), (2, UNRELATED)], embeddings={1: [1.0, 0.0], 2: [1.0, 0.0, 0.0]})


def test_empty_input_and_duplicate_ids():
    assert find_duplicates([]) == []
    assert find_duplicates([(1, PORT)]) == []
    assert duplicate_rate([], []) == 0.0
    with pytest.raises(ValueError, match="unique"):
        find_duplicates([(1, PORT), (1, UNRELATED)])


def test_duplicate_rate_counts_members_not_kept():
    items = [(1, PORT), (2, PORT.lower()), (3, PORT.upper()), (4, UNRELATED), (5, "Where are the logs?")]
    clusters = find_duplicates(items)
    assert clusters == [Cluster(1, (1, 2, 3), 100.0)]
    assert duplicate_rate(items, clusters) == 2 / 5
    assert duplicate_rate(items, []) == 0.0


# --- a 5,000-question set ---------------------------------------------------------------------

SETTINGS = ["port", "timeout", "memory limit", "batch size", "retry count", "log level", "cache size"]
TEMPLATES_EN = ["What is the default {s} of {p} in release {n}?", "How do I change the {s} of {p} on host {n}?",
                "Why does {p} fail when the {s} is set to {n}?", "Who approved the {s} of {p} in ticket {n}?"]
SETTINGS_ZH = ["埠號", "逾時時間", "記憶體上限", "批次大小", "重試次數", "日誌等級", "快取大小"]
TEMPLATES_ZH = ["{p}在第 {n} 版的預設{s}是多少？", "如何在主機 {n} 上變更{p}的{s}？", "為什麼{p}的{s}設為 {n} 時會失敗？"]


def _name(rng: random.Random, zh: bool) -> str:
    """A made-up product name, so that unrelated questions stay below the threshold."""
    if zh:
        return "".join(chr(rng.randrange(0x4E00, 0x9FA6)) for _ in range(rng.randrange(4, 6)))
    return "".join(rng.choice("bcdfghklmnprstvwz") + rng.choice("aeiou") for _ in range(rng.randrange(4, 6)))


def _edit(rng: random.Random, text: str) -> str:
    """One small edit that keeps the ratio of a question of this set at 90 or more."""
    kind = rng.randrange(5)
    if kind == 0:
        return text.upper()
    if kind == 1:
        return text.translate({c: c + 0xFEE0 for c in range(0x21, 0x7F)})  # full width
    if kind == 2:
        return text.rstrip("?？") + " ??"
    i = rng.randrange(2, len(text) - 4)
    if kind == 3:
        return text[:i] + text[i + 1 :]  # a character dropped
    return text[:i] + text[i + 1] + text[i] + text[i + 2 :]  # two characters swapped


def synthetic_questions(n: int, seed: int = 7):
    """``n`` questions in English and Traditional Chinese, a tenth of them edited copies of an
    earlier one (possibly itself a copy); returns the items and the ``(original, copy)`` pairs."""
    rng = random.Random(seed)
    texts, injected = [], []
    while len(texts) < n:
        if texts and rng.random() < 0.1:
            source = rng.randrange(len(texts))
            injected.append((source, len(texts)))
            texts.append(_edit(rng, texts[source]))
            continue
        zh = rng.random() < 0.4
        template = rng.choice(TEMPLATES_ZH if zh else TEMPLATES_EN)
        setting = rng.choice(SETTINGS_ZH if zh else SETTINGS)
        texts.append(template.format(p=_name(rng, zh), s=setting, n=rng.randrange(10**6)))
    return list(enumerate(texts)), injected


def _components(n: int, pairs) -> set[tuple[int, ...]]:
    parent = list(range(n))

    def find(x):
        while parent[x] != x:
            parent[x] = parent[parent[x]]
            x = parent[x]
        return x

    for a, b in pairs:
        parent[find(a)] = find(b)
    groups = {}
    for i in range(n):
        groups.setdefault(find(i), []).append(i)
    return {tuple(g) for g in groups.values() if len(g) > 1}


def test_five_thousand_questions_find_every_injected_duplicate(monkeypatch):
    items, injected = synthetic_questions(5_000)
    texts = dict(items)
    assert len(injected) == 510
    assert all(ratio(texts[a], texts[b]) >= 90 for a, b in injected)
    assert len({normalise(t) for t in texts.values()}) > duplicates.EXACT_UP_TO  # the MinHash path

    clusters = find_duplicates(items)
    assert {c.members for c in clusters} == _components(len(items), injected)
    assert all(c.keep == c.members[0] for c in clusters)
    assert duplicate_rate(items, clusters) == len(injected) / len(items)

    monkeypatch.setattr(duplicates, "EXACT_UP_TO", 10**6)
    assert find_duplicates(items) == clusters  # all pairs agree
