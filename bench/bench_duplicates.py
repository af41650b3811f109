"""Near-duplicate questions: seconds of :func:`dataset_gen.duplicates.find_duplicates` for 5k and 50k
questions, and recall of the duplicates injected into them.

    python bench/bench_duplicates.py [--sizes 5000 50000] [--threshold 90] [--exact-up-to 5000]
                                     [--embeddings 50000] [--dim 768] [--repeat 3] [--seed 0]

The questions are synthetic but shaped like generated ones: English and Traditional Chinese, from
templates filled with shared product names, settings and numbers (so unrelated questions share much
of their wording). A tenth of them are copies of another question with one or two small edits
(a changed question word, a typo, a dropped or added particle, case, full-width forms, punctuation).

Figures printed for each size:

* ``seconds``: best of ``--repeat`` runs of ``find_duplicates`` (text only).
* ``injected recall``: share of injected pairs whose ``fuzz.ratio`` of the normalised texts is at
  least the threshold (the ones the rule says must link) that end up in one cluster.
* ``exact recall`` (sizes up to ``--exact-up-to``): share of *all* pairs at or above the threshold,
  found by an all-pairs ``rapidfuzz.process.cdist``, that end up in one cluster; with its seconds.
* With ``--embeddings N``: seconds of ``find_duplicates`` with N random vectors of ``--dim``
  (one in a hundred followed by a near copy of itself) and texts that never link.

Measured on the 2-core development machine (seed 0; other work was running, so times vary ±20 %):

    threshold 90   5k: 0.15 s, injected recall 524/524, exact recall 0.9960 (all-pairs cdist 1.5 s)
                  50k: 3.2–4.1 s, injected recall 5,021/5,022, exact recall 0.9988 (all-pairs 141 s)
    threshold 85   5k: 0.19 s, injected recall 536/536, exact recall 0.9950
                  50k: 5.3 s, injected recall 5,177/5,178
    embeddings    50k x 768: 19–26 s (blocked exact cosine, O(n²·dim)), 500 of 500 planted pairs

The one injected pair missed at 50k is a 16-character Chinese question with two characters swapped.
"""

from __future__ import annotations

import argparse
import random
import sys
import time
from pathlib import Path

import numpy as np
from rapidfuzz import fuzz, process

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from dataset_gen.duplicates import duplicate_rate, find_duplicates, normalise  # noqa: E402

EN_TEMPLATES = [
    "What is the default {attr} of {prod}?",
    "What {attr} does {prod} use by default?",
    "How do I change the {attr} of {prod} in version {ver}?",
    "Which {attr} is recommended for {prod} on {os}?",
    "Why does {prod} fail when the {attr} is set to {num}?",
    "When was the {attr} setting added to {prod}?",
    "Who is responsible for approving changes to the {attr} of {prod}?",
    "What happens if the {attr} of {prod} exceeds {num}?",
    "How does {prod} handle a missing {attr} on {os}?",
    "Where is the {attr} of {prod} stored on {os}?",
    "Can {prod} run with a {attr} lower than {num}?",
    "Is the {attr} of {prod} checked at start-up in version {ver}?",
    "What error does {prod} report when the {attr} is invalid?",
    "How long does {prod} take to apply a new {attr}?",
    "According to the {doc}, what is the maximum {attr} for {prod}?",
    "What does the {doc} say about the {attr} of {prod}?",
    "In the {doc}, which section describes the {attr} of {prod}?",
    "How many {unit} of {attr} does {prod} need on {os}?",
    "What was the {attr} of {prod} in {year}?",
    "Why did the team lower the {attr} of {prod} in {year}?",
    "How is the {attr} of {prod} related to the {attr2} of {prod2}?",
    "Does raising the {attr} of {prod} affect the {attr2}?",
    "What is the difference between the {attr} and the {attr2} in {prod}?",
    "Which team owns {prod} according to the {doc}?",
    "What are the steps to reset {prod} after a {event}?",
    "How should {prod} be configured to survive a {event}?",
    "What did the {year} audit find about {prod}?",
    "Which metric shows that {prod} is running out of {attr}?",
    "What is the purpose of {prod} in the {doc}?",
    "How does {prod} notify {prod2} about a {event}?",
]
ZH_TEMPLATES = [
    "{prod}的預設{attr}是多少？",
    "請問{prod}在 {os} 上的{attr}要怎麼設定？",
    "如何在 {ver} 版中變更{prod}的{attr}？",
    "為什麼{prod}的{attr}設為 {num} 時會失敗？",
    "{prod}的{attr}超過 {num} 會發生什麼事？",
    "{doc}中對{prod}的{attr}有什麼規定？",
    "{prod}在 {year} 年的{attr}是多少？",
    "誰負責核准{prod}的{attr}變更？",
    "{prod}的{attr}儲存在 {os} 的哪個位置？",
    "根據{doc}，{prod}的{attr}上限是多少？",
    "{prod}在啟動時會檢查{attr}嗎？",
    "{prod}需要多少{unit}的{attr}才能在 {os} 上執行？",
    "{prod}的{attr}無效時會回報什麼錯誤？",
    "為什麼團隊在 {year} 年調低了{prod}的{attr}？",
    "{prod}套用新的{attr}需要多久時間？",
    "{prod}的{attr}和{prod2}的{attr2}有什麼關係？",
    "提高{prod}的{attr}會影響{attr2}嗎？",
    "{prod}發生{event}後要如何重設？",
    "{year} 年的稽核對{prod}有什麼發現？",
    "{doc}提到{prod}的用途是什麼？",
    "{prod}如何通知{prod2}發生了{event}？",
    "哪個指標顯示{prod}的{attr}不足？",
]
QUALIFIERS_EN = [
    "billing", "backup", "search", "payment", "reporting", "ingest", "export", "label", "VPN",
    "build", "thermal", "firmware", "HR", "mobile", "audit", "inventory", "shipping", "email",
    "analytics", "login", "archive", "sensor", "camera", "print", "render", "routing", "pricing",
    "feedback", "ticket", "cache", "storage", "network", "calendar", "chat", "document", "map",
]
NOUNS_EN = [
    "service", "gateway", "index", "pipeline", "worker", "module", "portal", "scheduler", "relay",
    "crawler", "router", "server", "client", "job", "daemon", "dashboard", "controller", "queue",
    "proxy", "bridge", "monitor", "store", "engine", "console", "plug-in", "adapter",
]
NAMES = ["Ollama", "Streamlit", "PostgreSQL", "Nginx", "Redis", "Kubernetes", "SQLite", "Qwen2.5",
         "Llama 3", "Kafka", "Grafana", "Jenkins", "the X200 sensor", "the T9 printer"]
QUALIFIERS_ZH = [
    "帳務", "備份", "搜尋", "付款", "報表", "匯入", "匯出", "標籤", "建置", "韌體", "人資", "行動",
    "稽核", "庫存", "出貨", "郵件", "分析", "登入", "封存", "感測", "影像", "列印", "路由", "定價",
    "客服", "快取", "儲存", "網路", "行事曆", "文件", "地圖", "門禁",
]
NOUNS_ZH = [
    "服務", "代理程式", "閘道", "索引", "管線", "工作程序", "模組", "入口網站", "排程器", "爬蟲",
    "路由器", "伺服器", "用戶端", "背景程式", "儀表板", "控制器", "佇列", "代理伺服器", "監控器",
    "引擎", "主控台", "外掛", "轉接器",
]
EN_ATTRS = [
    "port", "timeout", "memory limit", "context length", "batch size", "retry count", "log level",
    "cache size", "temperature", "sampling rate", "thread count", "disk quota", "page size",
    "connection pool size", "heartbeat interval", "token budget", "upload limit", "login lifetime",
    "refresh rate", "operating voltage", "warranty period", "licence fee", "response time target",
    "backup schedule", "password policy", "encryption mode", "queue depth", "chunk overlap",
    "retention period", "rate limit", "failover delay", "checksum algorithm", "replica count",
    "cooling threshold", "audit trail", "time zone", "character encoding", "default language",
    "maximum file size", "idle timeout", "lock timeout", "compression level", "buffer size",
    "polling interval", "shard count", "key length", "certificate lifetime", "grace period",
]
ZH_ATTRS = [
    "埠號", "逾時時間", "記憶體上限", "上下文長度", "批次大小", "重試次數", "日誌等級", "快取大小",
    "溫度參數", "取樣頻率", "執行緒數量", "磁碟配額", "分頁大小", "連線池大小", "心跳間隔",
    "權杖預算", "上傳限制", "工作階段長度", "更新頻率", "工作電壓", "保固期限", "授權費用",
    "回應時間目標", "備份排程", "密碼政策", "加密模式", "佇列深度", "區塊重疊", "保存期限",
    "速率限制", "容錯移轉延遲", "校驗演算法", "副本數量", "散熱門檻", "稽核軌跡", "時區設定",
    "字元編碼", "預設語言", "檔案大小上限", "閒置逾時", "鎖定逾時", "壓縮等級", "緩衝區大小",
    "輪詢間隔", "分片數量", "金鑰長度", "憑證效期", "寬限期",
]
EVENTS_EN = ["power failure", "disk failure", "network outage", "failed upgrade", "data breach",
             "certificate expiry", "database corruption", "sudden traffic spike"]
EVENTS_ZH = ["停電", "磁碟故障", "網路中斷", "升級失敗", "資料外洩", "憑證過期", "資料庫損毀", "流量暴增"]
OSES = ["Linux", "Windows 11", "macOS", "Ubuntu 22.04", "Debian", "Android", "iOS", "FreeBSD"]
DOCS_EN = ["user manual", "release notes", "security policy", "installation guide", "FAQ",
           "annual report", "service agreement", "design document", "operations runbook",
           "onboarding guide", "incident report", "architecture overview"]
DOCS_ZH = ["使用手冊", "版本說明", "資安政策", "安裝指南", "常見問題", "年度報告", "服務合約", "設計文件",
           "維運手冊", "新進人員指南", "事故報告", "架構總覽"]
UNITS_EN = ["gigabytes", "megabytes", "cores", "seconds", "watts", "licences"]
UNITS_ZH = ["GB", "MB", "核心", "秒", "瓦", "授權"]

EN_SWAPS = [("What", "Which"), ("How do I", "How can I"), ("Why does", "Why would"),
            ("default", "standard"), ("change", "modify"), ("recommended", "suggested"),
            ("Where is", "Where's"), ("How long does", "How long will")]
ZH_SWAPS = [("多少", "幾"), ("怎麼", "如何"), ("為什麼", "為何"), ("請問", ""), ("的預設", "預設的"),
            ("會發生什麼事", "會怎樣"), ("需要", "要"), ("位置", "地方"), ("變更", "更改")]
FULL_WIDTH = {chr(c): chr(c + 0xFEE0) for c in range(0x21, 0x7F)}


def _product(rng: random.Random, zh: bool) -> str:
    if rng.random() < 0.15:
        name = rng.choice(NAMES)
        return f" {name} " if zh else name
    if zh:
        return rng.choice(QUALIFIERS_ZH) + rng.choice(NOUNS_ZH)
    return f"the {rng.choice(QUALIFIERS_EN)} {rng.choice(NOUNS_EN)}"


def _fill(rng: random.Random, zh: bool) -> str:
    template = rng.choice(ZH_TEMPLATES if zh else EN_TEMPLATES)
    attrs = ZH_ATTRS if zh else EN_ATTRS
    text = template.format(
        prod=_product(rng, zh),
        prod2=_product(rng, zh),
        attr=rng.choice(attrs),
        attr2=rng.choice(attrs),
        event=rng.choice(EVENTS_ZH if zh else EVENTS_EN),
        os=rng.choice(OSES),
        ver=f"{rng.randint(1, 9)}.{rng.randint(0, 20)}",
        num=rng.choice([rng.randint(2, 99), rng.randint(100, 65535)]),
        doc=rng.choice(DOCS_ZH if zh else DOCS_EN),
        unit=rng.choice(UNITS_ZH if zh else UNITS_EN),
        year=rng.randint(1998, 2025),
    )
    return text.replace("  ", " ").strip()


def _mutate(rng: random.Random, text: str) -> str:
    """One or two small edits of the kind seen between generated near-duplicate questions."""
    zh = any("\u4e00" <= ch <= "\u9fff" for ch in text)
    for _ in range(rng.choice([1, 1, 2])):
        kind = rng.randrange(6)
        swaps = [(a, b) for a, b in (ZH_SWAPS if zh else EN_SWAPS) if a in text]
        if kind == 0 and swaps:
            old, new = rng.choice(swaps)
            text = text.replace(old, new, 1)
        elif kind == 1 and len(text) > 6:  # typo: drop, double or swap one character
            i = rng.randrange(1, len(text) - 2)
            op = rng.randrange(3)
            text = (text[:i] + text[i + 1:] if op == 0 else text[:i] + text[i] + text[i:]
                    if op == 1 else text[:i] + text[i + 1] + text[i] + text[i + 2:])
        elif kind == 2:
            text = text.upper() if not zh and rng.random() < 0.3 else text.lower()
        elif kind == 3:
            text = "".join(FULL_WIDTH.get(ch, ch) for ch in text)
        elif kind == 4:
            text = text.rstrip("?？") + rng.choice(["", "?!", " ?", "？", "..."])
        else:
            text = (rng.choice(["請問", "想問一下，"]) + text) if zh else text.replace(" the ", " ", 1)
    return text


def make_questions(n: int, seed: int = 0, dup_share: float = 0.1, zh_share: float = 0.4):
    """``n`` questions as ``(id, text)`` and the injected near-duplicate pairs ``(original, copy)``.

    Base questions are distinct after normalisation; ``dup_share`` of all items are mutated copies
    of a random earlier item (possibly itself a copy, giving chains).
    """
    rng = random.Random(seed)
    texts: list[str] = []
    seen: set[str] = set()
    injected: list[tuple[int, int]] = []
    while len(texts) < n:
        if texts and rng.random() < dup_share:
            source = rng.randrange(len(texts))
            texts.append(_mutate(rng, texts[source]))
            injected.append((source, len(texts) - 1))
            continue
        text = _fill(rng, rng.random() < zh_share)
        key = normalise(text)
        if key not in seen:
            seen.add(key)
            texts.append(text)
    return list(enumerate(texts)), injected


def best(fn, repeat: int):
    times, result = [], None
    for _ in range(repeat):
        start = time.perf_counter()
        result = fn()
        times.append(time.perf_counter() - start)
    return min(times), result


def all_pairs_links(keys: list[str], threshold: float) -> set[tuple[int, int]]:
    """Every pair of ``keys`` at or above ``threshold`` (``process.cdist`` in blocks of rows)."""
    links = set()
    for lo in range(0, len(keys), 1000):
        scores = process.cdist(keys[lo : lo + 1000], keys, scorer=fuzz.ratio, score_cutoff=threshold,
                               dtype=np.float64, workers=-1)
        i, j = np.nonzero(scores >= threshold)
        links.update((a, b) for a, b in zip((i + lo).tolist(), j.tolist()) if a < b)
    return links


def same_cluster(clusters) -> dict[int, int]:
    return {member: c.keep for c in clusters for member in c.members}


def run_size(n: int, args) -> None:
    items, injected = make_questions(n, seed=args.seed)
    texts = dict(items)
    seconds, clusters = best(lambda: find_duplicates(items, threshold=args.threshold), args.repeat)
    cluster_of = same_cluster(clusters)
    must = [(a, b) for a, b in injected
            if fuzz.ratio(normalise(texts[a]), normalise(texts[b])) >= args.threshold]
    caught = sum(1 for a, b in must if a in cluster_of and cluster_of[a] == cluster_of.get(b))
    distinct = len({normalise(t) for t in texts.values()})
    rate = duplicate_rate(items, clusters)
    print(f"n={n:,} ({distinct:,} distinct after normalisation), threshold {args.threshold:g}: "
          f"{seconds:.2f} s, {len(clusters):,} clusters, duplicate rate {rate:.3f}")
    print(f"  injected recall: {caught:,}/{len(must):,} = {caught / max(1, len(must)):.4f} "
          f"({len(injected) - len(must)} injected edits fell below the threshold and are not counted)")
    if n <= args.exact_up_to:
        keys = list({normalise(t): None for t in texts.values()})
        start = time.perf_counter()
        truth = all_pairs_links(keys, args.threshold)
        exact_s = time.perf_counter() - start
        index = {k: i for i, k in enumerate(keys)}
        by_key = {}
        for item_id, text in items:
            by_key.setdefault(index[normalise(text)], item_id)
        found = sum(1 for a, b in truth if cluster_of.get(by_key[a], -1) == cluster_of.get(by_key[b], -2))
        # Pairs the rule links need not be true duplicates: template questions that differ in one
        # short slot can reach the threshold too. Both kinds count here.
        print(f"  exact recall (pairs >= threshold by all-pairs cdist, {exact_s:.1f} s): "
              f"{found:,}/{len(truth):,} = {found / max(1, len(truth)):.4f}")


def run_embeddings(n: int, dim: int, repeat: int) -> None:
    rng = np.random.default_rng(0)
    matrix = rng.standard_normal((n, dim), dtype=np.float32)
    matrix[1::100] = matrix[0::100] + 0.05 * rng.standard_normal((len(matrix[1::100]), dim), dtype=np.float32)
    embeddings = {i: matrix[i] for i in range(n)}
    items = [(i, f"{random.Random(i).getrandbits(128):032x}") for i in range(n)]  # texts that never link
    seconds, clusters = best(lambda: find_duplicates(items, embeddings=embeddings), repeat)
    print(f"embeddings n={n:,} x {dim}: {seconds:.2f} s, {len(clusters)} clusters "
          f"(expected {len(matrix[1::100])})")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[5_000, 50_000])
    parser.add_argument("--threshold", type=float, default=90.0)
    parser.add_argument("--exact-up-to", type=int, default=5_000)
    parser.add_argument("--embeddings", type=int, default=0)
    parser.add_argument("--dim", type=int, default=768)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    for n in args.sizes:
        run_size(n, args)
    if args.embeddings:
        run_embeddings(args.embeddings, args.dim, 1)


if __name__ == "__main__":
    main()
