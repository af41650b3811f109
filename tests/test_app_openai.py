"""The app with an OpenAI-compatible server: the Projects page saves the server kind, base URL and
the name of the key's variable (never a key), and the Generate page lists the server's models,
tries a chunk and runs generation through it (AppTest, real store, tests/fake_openai.py)."""

from dataset_gen.store import Store
from tests.fake_openai import FakeOpenAI
from tests.test_app import open_app, seeded_project
from ui.safe import md_escape

MODEL = "qwen2.5-7b-instruct"


def test_projects_page_saves_the_server_kind_base_url_and_key_variable(app_data_dir):
    at = open_app()
    at.text_input[0].input("vllm")
    at.button[0].click().run()
    next(s for s in at.selectbox if s.label == "Server kind").select("openai")
    next(w for w in at.text_input if w.label.startswith("OpenAI-compatible base URL")).input("localhost:8000")
    next(w for w in at.text_input if w.label.startswith("Environment variable holding")).input("VLLM_KEY")
    next(b for b in at.button if b.label == "Save settings").click().run()
    assert not at.exception
    with Store.open(app_data_dir) as store:
        saved = store.get_settings(store.project_id("vllm"))
    assert (saved["api"], saved["base_url"], saved["api_key_env"]) == ("openai", "localhost:8000", "VLLM_KEY")

    at.run()  # as a person's next interaction does: the form is drawn again with the saved values
    next(w for w in at.text_input if w.label.startswith("Environment variable holding")).input("not a name")
    next(b for b in at.button if b.label == "Save settings").click().run()
    assert not at.exception
    assert [e.value for e in at.error][1:] == [md_escape("api_key_env: String should match pattern "
                                                     "'^[A-Za-z_][A-Za-z0-9_]{0,127}$'")]


def test_generate_page_runs_through_an_openai_compatible_server(app_data_dir, monkeypatch):
    monkeypatch.setenv("PROJECT_SERVER_KEY", "sk-app")
    with FakeOpenAI(api_key="sk-app", reasoning="think") as fake:
        project_id = seeded_project(app_data_dir)
        with Store.open(app_data_dir) as store:
            store.set_settings(project_id, {"api": "openai", "base_url": fake.url, "api_key_env": "PROJECT_SERVER_KEY"})
        at = open_app("generate", project_id)
        assert at.success[0].value == md_escape(f"An OpenAI-compatible server with 1 model is running at {fake.url}.")
        next(s for s in at.selectbox if s.label == "Model").select(MODEL).run()
        next(b for b in at.button if b.label == "Try one chunk").click().run()
        assert not at.exception
        assert any(c.value.startswith('{"pairs"') for c in at.code)
        assert any(c.value == "The user wants pairs from the text. I will quote it closely." for c in at.code)
        next(b for b in at.button if b.label == "Start generation").click().run()
        from ui.common import get_registry

        job = get_registry().get(project_id)
        job.thread.join(timeout=60)
        assert job.state == "finished", job.error
        with Store.open(app_data_dir) as store:
            assert store.count_pairs(project_id) == 3 * len(store.list_chunks(project_id))
