"""A responder for :class:`tests.fake_ollama.FakeOllama` that answers the distillation, expansion
and tagging prompts like a well-behaved model, deterministically; anything else goes to
:func:`tests.fake_ollama.qa_responder`.

By the JSON schema sent (``format``): ``tags`` → a tree of ``top`` tags with ``children`` sub-tags
each (from the topic, or from the heading lines of a ``tag_tree`` prompt); ``questions`` → the
schema's ``minItems`` questions naming the subject; ``answer`` → an answer repeating the subject;
``records`` → the asked number of distinct records from a fixed pool (English, or Traditional
Chinese when the examples hold CJK); ``assignments`` → item ``i`` gets tag ``(i - 1) % tags + 1``.
"""

from __future__ import annotations

import itertools
import json
import re
import threading

from tests.fake_ollama import Reply, qa_responder

_CJK = re.compile(r"[\u4e00-\u9fff]")
_FENCED = re.compile(r"^<([a-z]+-[0-9a-f]+)>\n(.*?)\n</\1>", re.MULTILINE | re.DOTALL)
_SUBJECT = re.compile(r"^(?:Subject|子題|子题|小テーマ|하위 주제)[:：]\s*(.+)$", re.MULTILINE)
_QUESTION = re.compile(r"^(?:Question|問題|问题|質問|질문)[:：]\s*(.+)$", re.MULTILINE)
_NUMBERED = re.compile(r"^(\d+)\. ", re.MULTILINE)

POOL_EN = ("How do I reverse a list in Python?", "What does HTTP status 404 mean?", "Why is the sky blue at noon?",
           "How many bones does an adult human have?", "What is the boiling point of water at sea level?",
           "Who wrote the novel Pride and Prejudice?", "Which planet has the most moons?",
           "What unit measures electrical resistance?", "How does a refrigerator keep food cold?",
           "What is the capital city of Australia?", "Why do cats purr when they rest?",
           "Which gas do plants take in for photosynthesis?")
POOL_ZH = ("如何在終端機列出目前的資料夾？", "台灣最高的山是哪一座？", "光合作用需要哪些原料？", "為什麼海水是鹹的？",
           "一年有幾個節氣？", "電腦的記憶體與硬碟有什麼不同？", "咖啡因對睡眠有什麼影響？", "颱風通常在哪個季節形成？",
           "鋼琴有多少個琴鍵？", "月亮為什麼會有圓缺變化？", "珍珠奶茶起源於哪個城市？", "血液中的紅血球負責什麼工作？")


class DistillResponder:
    """Callable responder (see the module docstring); ``top``/``children``: the tree's shape."""

    def __init__(self, top: int = 2, children: int = 2):
        self.top, self.children = top, children
        self._records = itertools.count()
        self._lock = threading.Lock()

    def __call__(self, request: dict) -> Reply:
        fmt = request.get("format")
        props = (fmt.get("properties") or {}) if isinstance(fmt, dict) else {}
        text = "\n".join(str(m.get("content") or "") for m in request.get("messages") or [] if m.get("role") == "user")
        fenced = _FENCED.findall(text)
        body = fenced[-1][1] if fenced else ""
        cjk = bool(_CJK.search(body))
        if "tags" in props:
            return Reply(json.dumps({"tags": self._tree(body, cjk)}, ensure_ascii=False))
        if "questions" in props:
            n = props["questions"].get("minItems", 3)
            subject = _SUBJECT.search(body)
            name = subject.group(1).strip() if subject else "the subject"
            asked = [f"「{name}」的第 {i} 個重點是什麼？" if cjk else f"What is key point {i} of {name}?"
                     for i in range(1, n + 1)]
            return Reply(json.dumps({"questions": asked}, ensure_ascii=False))
        if "answer" in props:
            question = _QUESTION.search(body)
            asked = question.group(1).strip() if question else ""
            answer = f"這是關於{asked}的說明，內容來自模型本身的知識。" if cjk else f"Here is an explanation of {asked} from the model's own knowledge."
            return Reply(json.dumps({"answer": answer}, ensure_ascii=False))
        if "records" in props:
            n = _wanted("\n".join(str(m.get("content") or "") for m in request.get("messages") or []))
            pool = POOL_ZH if cjk else POOL_EN
            with self._lock:
                picked = [next(self._records) for _ in range(n)]
            records = [{"question": pool[i % len(pool)] + ("" if i < len(pool) else f" ({i})"),
                        "answer": ("這是一個完整的回答。" if cjk else "This is a complete answer.")} for i in picked]
            return Reply(json.dumps({"records": records}, ensure_ascii=False))
        if "assignments" in props:
            tags_part, _, items_part = text.partition("<")
            tags = len(_NUMBERED.findall(tags_part))
            items = len(_NUMBERED.findall(body))
            return Reply(json.dumps({"assignments": [{"item": i, "tag": (i - 1) % max(1, tags) + 1}
                                                     for i in range(1, items + 1)]}))
        return qa_responder(request)

    def _tree(self, body: str, cjk: bool) -> list[dict]:
        headings = [line.split(": ", 1)[1].split(" > ") for line in body.splitlines() if ": " in line]
        if headings:  # a tag_tree prompt: the second-level headings, in order, grouped
            names = list(dict.fromkeys(path[1] for path in headings if len(path) > 1))
            size = max(1, -(-len(names) // self.top))
            return [{"name": f"{group[0]}等主題" if cjk else f"{group[0]} and more", "children": group}
                    for group in (names[i:i + size] for i in range(0, len(names), size))]
        topic = " ".join(body.split())[:40]
        return [{"name": f"{topic}：第{t}類" if cjk else f"{topic}: area {t}",
                 "children": [f"第{t}類之{c}" if cjk else f"area {t} part {c}" for c in range(1, self.children + 1)]}
                for t in range(1, self.top + 1)]


def _wanted(text: str) -> int:
    found = re.search(r"(?:exactly|剛好寫出|刚好写出|ちょうど|정확히)\s*(\d+)", text)
    return int(found.group(1)) if found else 3
