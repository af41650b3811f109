"""Language and script: detection on the real corpus and on strings, the checks on replies, and
generation for Japanese and Korean documents through the fake Ollama server."""

import json
from pathlib import Path
from typing import get_args

import pytest

from dataset_gen.backends import OllamaBackend
from dataset_gen.config import ChunkSettings, ProjectConfig, Settings
from dataset_gen.documents import parse_file
from dataset_gen.generation import run_generation, trial_chunk
from dataset_gen.ingest import ingest_bytes
from dataset_gen.judge import judge_pairs
from dataset_gen.language import detect_language, language_matches, language_name, script_problem
from dataset_gen.language_scripts import letter_counts, prose
from dataset_gen.prompts import LANGUAGES
from dataset_gen.store import Store
from tests.fake_ollama import Reply

CORPUS = Path(__file__).resolve().parent / "data" / "corpus"


@pytest.mark.parametrize("name, language", [
    ("ollama-notes-zh-TW.md", "zh-TW"),
    ("ollama-notes-zh-TW.docx", "zh-TW"),
    ("ollama-notes-zh-TW.pdf", "zh-TW"),
    ("txt_big5_zh_hant.txt", "zh-TW"),
    ("md_zh_html_tables_longlines.md", "zh-CN"),  # Han is 10.4% of all letters, 21.9% once code and HTML are out
    ("pdf_cjk_zh_fake_bold_dupchars.pdf", "zh-CN"),
    ("txt_gbk_zh_hans_mixed_hant.txt", "zh-CN"),
    ("pdf_cjk_ja_vertical_nonembedded.pdf", "ja"),  # 251 kanji, 614 kana
    ("txt_cp949_ko.txt", "ko"),
    ("pdf_cjk_ko_tables_ctrlchars.pdf", "ko"),
    ("pdf_long_117p_de_math.pdf", "de"),  # its first 20,000 characters are mostly the table of contents
    ("pdf_multicolumn_latex_2col.pdf", "und-Latn"),  # Lorem ipsum: Latin script, none of the seven languages
    ("pdf_federal_register_3col_15p.pdf", "en"),
    ("pdf_table_nics_ruled_grid.pdf", "en"),
    ("docx_long_872p_handbook.docx", "en"),
    ("docx_nested_lists.docx", "en"),
    ("md_commonmark_spec_frontmatter.txt", "en"),
    ("md_frontmatter_mkdocs_admonitions.md", "en"),
    ("md_codeblocks_sniffed_as_html.md", "en"),  # nearly all code: no prose letters left, so English
])
def test_corpus_documents_are_detected(name, language):
    assert detect_language(parse_file(CORPUS / name).text) == language


@pytest.mark.parametrize("text, language", [
    ("東京大学の研究者が新しい方法を発表した。", "ja"),  # 12 kanji, 7 kana
    ("這家店的招牌寫著「カラオケ」，店裡提供各種歌曲，營業時間從晚上七點到凌晨三點，週末人潮眾多，需要事先訂位。", "zh-TW"),
    ("大韓民國은 民主共和國이다. 대한민국의 주권은 국민에게 있고, 모든 권력은 국민으로부터 나온다.", "ko"),
    ("Москва — столица России, крупнейший по численности населения город страны.", "ru"),
    ("Київ — столиця України, найбільше місто країни, розташоване на річці Дніпро.", "uk"),
    ("Београд је главни и највећи град Србије, налази се на ушћу Саве у Дунав.", "und-Cyrl"),
    ("Η Αθήνα είναι η πρωτεύουσα της Ελλάδας και μία από τις αρχαιότερες πόλεις του κόσμου.", "el"),
    ("กรุงเทพมหานครเป็นเมืองหลวงและนครที่มีประชากรมากที่สุดของประเทศไทย", "th"),
    ("القاهرة هي عاصمة جمهورية مصر العربية وأكبر مدنها من حيث عدد السكان.", "ar"),
    ("تهران پایتخت ایران و بزرگ‌ترین شهر این کشور است که در شمال کشور قرار گرفته.", "und-Arab"),
    ("नई दिल्ली भारत की राजधानी है और यह देश के उत्तर में स्थित है।", "und-Deva"),
    ("Die Stadt liegt am Rhein und ist für ihren Dom bekannt, der zu den größten Kirchen der Welt gehört.", "de"),
    ("La ville est située sur la Seine et elle est connue pour ses musées qui sont parmi les plus visités.", "fr"),
    ("La ciudad está situada en el centro del país y es conocida por sus museos, que son muy visitados.", "es"),
    ("La città si trova nel nord del paese ed è famosa per il suo duomo, che è uno dei più grandi.", "it"),
    ("A cidade fica no sul do país e é conhecida pelas suas praias, que são muito visitadas no verão.", "pt"),
    ("De stad ligt aan de rivier en is bekend om het museum, dat ook voor kinderen een mooie plek is.", "nl"),
    ("The city lies on the river and is known for its cathedral, which is one of the largest.", "en"),
    ("Stadt am Rhein", "en"),  # too few words to tell: English
    ("12 345 67.8", "en"),
])
def test_strings_are_detected(text, language):
    assert detect_language(text) == language


def test_code_urls_addresses_markup_and_link_targets_are_not_prose():
    text = ("See [the docs](https://x.org/a_(b)) or mail me@ex.com. Run `pip install x` "
            "<div class=\"a\">hi</div> &nbsp; www.ex.com/page\n```python\nprint(1)\n```\nend <!-- note -->")
    assert prose(text) == "See [the docs]  or mail  . Run    hi     \n \nend  "
    assert letter_counts("東京タワーは３３３ｍ、서울 Москва abc!") == {"Han": 2, "Kana": 4, "Hangul": 2, "Cyrillic": 6,
                                                                   "Latin": 4}


def test_a_chinese_readme_full_of_code_and_html_is_chinese():
    readme = "\n".join(["# 项目", '<div align="center"><img src="https://example.com/logo.png" alt="logo"></div>',
                        "[![badge](https://img.shields.io/badge/python-3.10-blue)](https://github.com/x/y)",
                        "```bash\npip install -e \".[torch,metrics]\" --no-build-isolation\nllamafactory-cli train "
                        "examples/train_lora/llama3_lora_sft.yaml\n```",
                        "使用 `llamafactory-cli` 命令进行训练，详见 https://llamafactory.readthedocs.io/zh-cn/latest/ 。"])
    assert detect_language(readme) == "zh-CN"


@pytest.mark.parametrize("text, language, problem", [
    ("What is the default port? It is 11434.", "ja", "written in English; use Japanese"),
    ("東京都的人口是多少？一千四百萬人。", "ja", "written in Traditional Chinese; use Japanese"),
    ("東京都の人口はどれくらいですか？約千四百万人です。", "ja", None),
    ("東京都の人口は？ 14,000,000", "ja", None),
    ("서울의 인구는 얼마입니까? 약 천만 명입니다.", "ko", None),
    ("Python의 list comprehension은 리스트를 만드는 간결한 방법입니다.", "ko", None),
    ("首爾的人口是多少？大約一千萬人。", "ko", "written in Traditional Chinese; use Korean"),
    ("ソウルの人口は？約一千万人です。", "ko", "written in Japanese; use Korean"),
    ("大韓民國의 憲法은 共和國을 規定한다고 합니다", "ko",
     "written in Korean mixed with other scripts (11 Han, 9 Hangul); use Korean only"),
    ("What is the population of Seoul? About ten million.", "ko", "written in English; use Korean"),
    ("東京都の人口はどれくらいですか？約千四百万人です。", "zh-TW", "written in Japanese; use Traditional Chinese"),
    ("關於「ollama create」，文件說明了什麼？ ollama create my-assistant -f ./Modelfile", "zh-TW", None),
    ("What does ollama create do? It builds a model from a Modelfile.", "zh-TW",
     "written in English; use Traditional Chinese"),
    ("这个服务怎么启动？执行 ollama serve 启动服务。", "zh-TW",
     "written in Simplified Chinese (10 Simplified-only characters); use Traditional Chinese"),
    ("Wie heißt die Stadt am Rhein? Die Stadt heißt Köln und ist für ihren Dom bekannt.", "de", None),
    ("What is the city on the Rhine called? The city is Cologne and it is known for the cathedral.", "de",
     "written in English; use German"),
    ("Köln.", "de", None),
    ("Wie heißt die Stadt am Rhein? Die Stadt heißt Köln und ist für ihren Dom bekannt.", "en",
     "written in German; use English"),
    ("Как называется столица России? Столица России — Москва.", "ru", None),
    ("What is the capital of Russia? Moscow.", "und-Cyrl", "written in English; use the language of the document "
     "(Cyrillic script)"),
    ("```python\nprint(1)\n``` https://example.com", "ko", None),
])
def test_reply_language_problems(text, language, problem):
    assert script_problem(text, language) == problem
    assert language_matches(text, language) is (problem is None)


def test_every_choice_of_the_setting_has_templates_and_a_name():
    assert get_args(ProjectConfig.model_fields["language"].annotation) == ("auto", *LANGUAGES)
    assert [language_name(code) for code in LANGUAGES] == [
        "English", "Traditional Chinese", "Simplified Chinese", "Japanese", "Korean"]
    assert ProjectConfig(language="ja").language == "ja"


# --- generation through the fake server -----------------------------------------------------

JA_RULE = "- 質問と回答は必ず自然な日本語（漢字とかなを使った文）で書いてください。"
KO_RULE = "- 질문과 답변은 반드시 한국어(한글)로 작성하십시오."


@pytest.fixture
def store(tmp_path):
    store = Store.open(tmp_path)
    yield store
    store.close()


def ingest(store, name):
    project_id = store.create_project(name)
    data = (CORPUS / name).read_bytes()
    result = ingest_bytes(store, project_id, data, name, ChunkSettings(), max_bytes=len(data) + 1)
    return project_id, result


def pairs_reply(*pairs):
    return Reply(json.dumps({"pairs": [dict(zip(("question", "answer", "evidence"), p)) for p in pairs]},
                            ensure_ascii=False))


@pytest.mark.parametrize("name, rule", [("pdf_cjk_ja_vertical_nonembedded.pdf", JA_RULE), ("txt_cp949_ko.txt", KO_RULE)])
def test_a_japanese_or_korean_document_is_generated_with_its_template(store, fake_ollama, name, rule):
    project_id, result = ingest(store, name)
    summary = run_generation(store, project_id, OllamaBackend(fake_ollama.url, backoff_s=0.01), "qwen2.5:7b",
                             Settings(concurrency=1, pairs_per_chunk=1))
    assert (summary.status, summary.done, summary.pairs) == ("finished", result.chunks, result.chunks)
    chats = fake_ollama.chat_requests()
    assert len(chats) == result.chunks
    assert all(rule in request["messages"][0]["content"] for request in chats)
    assert store.count_pairs(project_id, language_ok=False) == 0


def test_a_reply_in_english_to_a_japanese_document_is_asked_again_and_flagged(store, fake_ollama):
    project_id, _ = ingest(store, "pdf_cjk_ja_vertical_nonembedded.pdf")
    chunk = store.list_chunks(project_id)[0]
    english = ("What is the self called in the preface?", "A blue light of an alternating current lamp.", "ひとつの青い照明です")
    fake_ollama.push(pairs_reply(english), pairs_reply(english), pairs_reply(english))
    result = trial_chunk(store, project_id, chunk.id, OllamaBackend(fake_ollama.url, backoff_s=0.01), "qwen2.5:7b",
                         Settings(pairs_per_chunk=1))
    assert result.attempts == 3
    assert result.problems == ["it is written in English; use Japanese"] * 3
    assert [(p.question, p.grounded, p.language_ok) for p in result.pairs] == [(english[0], True, False)]
    repair = fake_ollama.chat_requests()[1]["messages"][-1]["content"]
    assert repair.startswith("あなたの返答は使えませんでした：it is written in English; use Japanese\n")
    assert JA_RULE in result.prompt.messages[0]["content"]


def test_a_chinese_reply_to_a_korean_document_is_asked_again(store, fake_ollama):
    project_id, _ = ingest(store, "txt_cp949_ko.txt")
    chunk = store.list_chunks(project_id)[0]
    fake_ollama.push(pairs_reply(("歷史耶穌研究者追求什麼？", "作為歷史人物的耶穌。", "역사적 인간으로서의 예수를 추구한다")))
    result = trial_chunk(store, project_id, chunk.id, OllamaBackend(fake_ollama.url, backoff_s=0.01), "qwen2.5:7b",
                         Settings(pairs_per_chunk=1))
    assert result.attempts == 2
    assert result.problems == ["it is written in Traditional Chinese; use Korean"]
    assert [p.language_ok for p in result.pairs] == [True]
    assert fake_ollama.chat_requests()[1]["messages"][-1]["content"].startswith(
        "답변을 사용할 수 없었습니다: it is written in Traditional Chinese; use Korean\n")


def test_a_german_document_gets_the_generic_template_naming_german(store, fake_ollama, tmp_path):
    text = ("# Köln\n\nDie Stadt liegt am Rhein und ist für ihren Dom bekannt, der zu den größten Kirchen der Welt "
            "gehört. Der Bau begann im Jahr 1248 und wurde erst 1880 vollendet. Heute ist der Dom ein Weltkulturerbe "
            "und wird jedes Jahr von Millionen Menschen besucht.\n")
    project_id = store.create_project("de")
    ingest_bytes(store, project_id, text.encode(), "koeln.md", ChunkSettings(), max_bytes=10_000)
    run_generation(store, project_id, OllamaBackend(fake_ollama.url, backoff_s=0.01), "qwen2.5:7b",
                   Settings(concurrency=1, pairs_per_chunk=1))
    system = fake_ollama.chat_requests()[0]["messages"][0]["content"]
    assert "- Write the questions and answers in German, as the document is; do not translate them" in system


def test_the_judge_of_a_japanese_pair_uses_the_japanese_template(store, fake_ollama):
    project_id, result = ingest(store, "pdf_cjk_ja_vertical_nonembedded.pdf")
    backend = OllamaBackend(fake_ollama.url, backoff_s=0.01)
    run_generation(store, project_id, backend, "qwen2.5:7b", Settings(concurrency=1, pairs_per_chunk=1))
    before = len(fake_ollama.chat_requests())
    summary = judge_pairs(store, project_id, backend, "qwen2.5:7b", concurrency=1)
    assert (summary.judged, summary.failures) == (result.chunks, [])
    judged = fake_ollama.chat_requests()[before:]
    assert len(judged) == result.chunks
    assert all("理由を日本語で一文書いてください。" in r["messages"][0]["content"] for r in judged)
    assert all(r["messages"][1]["content"].splitlines()[-2].startswith("回答：") for r in judged)  # then the fence


def test_chunk_language_switches_only_when_the_chunk_is_clearly_in_another_language():
    from dataset_gen.chunk_language import chunk_language

    english = "The server keeps the models in the home folder of the user and it reads them at start. " * 5
    assert chunk_language(english, "zh-TW") == "en"
    assert chunk_language("The server keeps the models in the home folder.", "zh-TW") == "zh-TW"  # too short
    assert chunk_language("a" * 299, "zh-TW") == "zh-TW" and chunk_language("a" * 300, "zh-TW") == "en"
    # Mixed: the English letters are under 80% of the weighted letters.
    mixed = english + "伺服器會把模型存放在使用者的目錄中，並在啟動時讀取它們。" * 2
    assert chunk_language(mixed, "zh-TW") == "zh-TW"
    # Traditional and Simplified: the other script's own characters at least 5 and twice this one's.
    simplified = "这个服务会把模型存放在用户的目录里，启动时读取它们。设置变更后需要重新启动服务。" * 3
    assert chunk_language(simplified, "zh-TW") == "zh-CN"
    assert chunk_language(simplified + "這個設定會變更" * 8, "zh-TW") == "zh-TW"
    # German in an English document: the German stop words at least twice the English ones.
    german = "Der Server speichert die Modelle in dem Ordner des Benutzers und er liest sie beim Start. " * 5
    assert chunk_language(german, "en") == "de"
    # Kanji with a single kana stays Japanese; the project's language is never overridden (caller).
    kanji = "東京都内研究所毎日使用模型保存必要時読込設定変更再起動確認" * 6
    assert chunk_language(kanji, "ja") == "zh-TW"
    assert chunk_language(kanji + "の", "ja") == "ja"
    assert chunk_language("", "ko") == "ko"
