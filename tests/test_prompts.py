"""Prompt templates: every shipped template parses, renders strictly, and overrides win."""

import pytest

from dataset_gen.errors import PromptError
from dataset_gen.prompts import GENERIC, LANGUAGES, PROMPTS_DIR, load_prompt, parse_template

GENERATE_VARS = {"task", "extra_rules", "document", "heading_path", "chunk", "fence"}
SECTIONS = ["system", "user", "user_comparison", "task_factual", "task_explanation", "task_comparison",
            "task_unanswerable", "reasoning_rule", "audience_rule"]


@pytest.mark.parametrize("language", LANGUAGES)
def test_every_language_has_both_templates_with_the_same_variables(language):
    generate = load_prompt("qa_generate", language)
    repair = load_prompt("qa_repair", language)
    assert (generate.meta.name, generate.meta.language, generate.meta.version) == ("qa_generate", language, "5")
    assert generate.variables == GENERATE_VARS
    assert list(generate.sections) == SECTIONS
    assert generate.variables_of("user_comparison") == {"document", "heading_path_a", "chunk_a", "heading_path_b", "chunk_b",
                                                        "fence"}
    assert all(generate.variables_of(f"task_{kind}") == {"n"} for kind in ("factual", "explanation", "comparison", "unanswerable"))
    assert generate.variables_of("audience_rule") == {"audience"}
    assert repair.variables == {"problem", "n"}
    assert repair.meta.version == "3"
    # No copyable example: a small model copied {"question": "...", ...} as its whole reply.
    for template in (generate, repair):
        assert all('"..."' not in text and "…" not in text for text in template.sections.values())
    judge = load_prompt("qa_judge", language)
    assert (judge.meta.version, judge.variables) == ("3", {"source", "question", "answer", "fence"})


def test_generic_templates_have_the_same_sections_and_variables_plus_the_language_name():
    generate = load_prompt("qa_generate", GENERIC)
    assert generate.meta.language == GENERIC
    assert generate.variables == GENERATE_VARS | {"language_name"}
    assert list(generate.sections) == SECTIONS
    assert load_prompt("qa_repair", GENERIC).variables == {"problem", "n", "language_name"}
    assert load_prompt("qa_judge", GENERIC).variables == {"source", "question", "answer", "fence", "language_name"}


def test_render_puts_the_chunk_between_delimiters_and_keeps_braces_in_values():
    template = load_prompt("qa_generate", "en")
    rendered = template.render(task=template.part("task_factual", n=2), extra_rules="", document="a.md",
                               heading_path="Intro > Setup", chunk="x = {{n}} and {y}", fence="chunk-0123456789ab")
    user = rendered.messages[1]["content"]
    assert user.startswith("<chunk-0123456789ab>\nDocument: a.md\nSection: Intro > Setup\n\nx = {{n}} and {y}\n"
                           "</chunk-0123456789ab>\n")
    assert "Text between a <chunk-0123456789ab> line and a </chunk-0123456789ab> line" in rendered.messages[0]["content"]
    assert "- Write exactly 2 question-answer pairs about facts" in rendered.messages[0]["content"]
    assert (rendered.name, rendered.version, rendered.language) == ("qa_generate", "5", "en")


def test_parts_render_strictly_and_unknown_sections_are_errors():
    template = load_prompt("qa_generate", "zh-TW")
    assert template.part("audience_rule", audience="新進員工") == "- 問題與答案的措辭要適合新進員工。"
    with pytest.raises(PromptError, match="missing values for audience"):
        template.part("audience_rule")
    with pytest.raises(PromptError, match="has no '=== task_poem ===' section"):
        template.part("task_poem", n=1)


def test_missing_and_unused_variables_are_errors():
    template = load_prompt("qa_repair", "zh-TW")
    with pytest.raises(PromptError, match="missing values for n"):
        template.render(problem="bad")
    with pytest.raises(PromptError, match="values never used: extra"):
        template.render(problem="bad", n=1, extra=3)


def test_project_override_is_used_and_marked_in_the_version():
    text = "---\nname: qa_repair\nlanguage: en\nversion: 7\n---\n=== user ===\nFix: {{problem}} ({{n}})\n"
    template = load_prompt("qa_repair", "en", {"qa_repair.en": text})
    assert template.meta.version == "7+override"
    assert template.render(problem="p", n=3).messages == [{"role": "user", "content": "Fix: p (3)"}]


@pytest.mark.parametrize(
    "text, message",
    [
        ("no front matter", "must start with a '---' front matter block"),
        ("---\nname: x\n", "front matter is not closed"),
        ("---\nname: x\nlanguage: en\n---\n=== system ===\nhi\n", "bad front matter \\(version: Field required\\)"),
        ("---\nname: x\nlanguage: en\nversion: 1\n---\n=== system ===\nhi\n", "needs a '=== user ===' section"),
    ],
)
def test_broken_templates_say_what_is_wrong(text, message):
    with pytest.raises(PromptError, match=message):
        parse_template(text, "custom")


def test_unknown_template_names_the_file():
    with pytest.raises(PromptError, match="No prompt template qa_poem.fr.txt"):
        load_prompt("qa_poem", "fr")
    with pytest.raises(PromptError, match="No prompt template qa_poem.ja.txt"):
        load_prompt("qa_poem", "ja")
    assert (PROMPTS_DIR / "qa_generate.zh-TW.txt").is_file()


@pytest.mark.parametrize("name, version", [("qa_generate", "5"), ("qa_repair", "3"), ("qa_judge", "3")])
def test_generic_template_names_the_document_language(name, version):
    template = load_prompt(name, "de")
    assert (template.meta.name, template.meta.language, template.meta.version, template.key) == (
        name, "de", version, f"{name}.de")
    assert template.source == f"{name}.{GENERIC}.txt for German"
    assert "language_name" not in "".join(template.sections.values())
    assert "German" in "".join(template.sections.values())
    cyrillic = load_prompt(name, "und-Cyrl")
    assert "the language of the document (Cyrillic script)" in "".join(cyrillic.sections.values())


def test_generic_template_renders_the_language_into_the_rules():
    template = load_prompt("qa_generate", "fr")
    rendered = template.render(task=template.part("task_factual", n=1), extra_rules="", document="a.md",
                               heading_path="-", chunk="Le chat dort.", fence="chunk-0123456789ab")
    assert ("- Write the questions and answers in French, as the document is; do not translate them\n"
            "  into English. Keep technical terms and code as they are.") in rendered.messages[0]["content"]
    assert rendered.messages[1]["content"].endswith("reply with the JSON, in French.")
    assert (rendered.name, rendered.version, rendered.language) == ("qa_generate", "5", "fr")


def test_generic_template_override_and_a_language_override_win_in_that_order():
    generic = "---\nname: qa_repair\nlanguage: any\nversion: 4\n---\n=== user ===\n{{problem}} {{n}} in {{language_name}}\n"
    german = "---\nname: qa_repair\nlanguage: de\nversion: 5\n---\n=== user ===\n{{problem}} {{n}} auf Deutsch\n"
    template = load_prompt("qa_repair", "de", {"qa_repair.any": generic})
    assert (template.meta.version, template.render(problem="p", n=1).messages[0]["content"]) == (
        "4+override", "p 1 in German")
    template = load_prompt("qa_repair", "de", {"qa_repair.any": generic, "qa_repair.de": german})
    assert (template.meta.version, template.render(problem="p", n=1).messages[0]["content"]) == (
        "5+override", "p 1 auf Deutsch")


@pytest.mark.parametrize("language, rule", [
    ("ja", "- 質問と回答は必ず自然な日本語（漢字とかなを使った文）で書いてください。"),
    ("ko", "- 질문과 답변은 반드시 한국어(한글)로 작성하십시오."),
])
def test_japanese_and_korean_templates_ask_for_their_language(language, rule):
    template = load_prompt("qa_generate", language)
    assert rule in template.sections["system"]
    assert template.meta.description
    assert "한국어로" in load_prompt("qa_judge", "ko").sections["system"]
    assert "日本語で" in load_prompt("qa_judge", "ja").sections["system"]
