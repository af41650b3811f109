"""Prompt templates: every shipped template parses, renders strictly, and overrides win."""

import pytest

from dataset_gen.errors import PromptError
from dataset_gen.prompts import LANGUAGES, PROMPTS_DIR, load_prompt, parse_template

GENERATE_VARS = {"task", "extra_rules", "document", "heading_path", "chunk", "fence"}
SECTIONS = ["system", "user", "user_comparison", "task_factual", "task_explanation", "task_comparison",
            "task_unanswerable", "reasoning_rule", "audience_rule"]


@pytest.mark.parametrize("language", LANGUAGES)
def test_every_language_has_both_templates_with_the_same_variables(language):
    generate = load_prompt("qa_generate", language)
    repair = load_prompt("qa_repair", language)
    assert (generate.meta.name, generate.meta.language, generate.meta.version) == ("qa_generate", language, "4")
    assert generate.variables == GENERATE_VARS
    assert list(generate.sections) == SECTIONS
    assert generate.variables_of("user_comparison") == {"document", "heading_path_a", "chunk_a", "heading_path_b", "chunk_b",
                                                        "fence"}
    assert all(generate.variables_of(f"task_{kind}") == {"n"} for kind in ("factual", "explanation", "comparison", "unanswerable"))
    assert generate.variables_of("audience_rule") == {"audience"}
    assert repair.variables == {"problem", "n"}
    assert repair.meta.version == "2"
    judge = load_prompt("qa_judge", language)
    assert (judge.meta.version, judge.variables) == ("3", {"source", "question", "answer", "fence"})


def test_render_puts_the_chunk_between_delimiters_and_keeps_braces_in_values():
    template = load_prompt("qa_generate", "en")
    rendered = template.render(task=template.part("task_factual", n=2), extra_rules="", document="a.md",
                               heading_path="Intro > Setup", chunk="x = {{n}} and {y}", fence="chunk-0123456789ab")
    user = rendered.messages[1]["content"]
    assert user.startswith("<chunk-0123456789ab>\nDocument: a.md\nSection: Intro > Setup\n\nx = {{n}} and {y}\n"
                           "</chunk-0123456789ab>\n")
    assert "Text between a <chunk-0123456789ab> line and a </chunk-0123456789ab> line" in rendered.messages[0]["content"]
    assert "- Write exactly 2 question-answer pairs about facts" in rendered.messages[0]["content"]
    assert (rendered.name, rendered.version, rendered.language) == ("qa_generate", "4", "en")


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
    with pytest.raises(PromptError, match="No prompt template qa_generate.fr.txt"):
        load_prompt("qa_generate", "fr")
    assert (PROMPTS_DIR / "qa_generate.zh-TW.txt").is_file()
