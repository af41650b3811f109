"""dataset-gen web app: ``streamlit run app.py``. Only routes to the pages under ``ui/pages``."""

import streamlit as st

from dataset_gen.errors import StoreError
from ui.common import configure_logging, get_store, read_only_banner, sidebar, start_language
from ui.i18n import t
from ui.safe import md_escape, one_line

# A local file: a Material icon name would make the browser fetch the favicon from a font CDN.
st.set_page_config(page_title="dataset-gen", page_icon="ui/icon.png", layout="wide")
configure_logging()
start_language()
try:
    get_store()
except StoreError as error:  # a data folder that cannot be opened: one line, on every page
    st.error(md_escape(one_line(str(error))))
    st.stop()
sidebar()
read_only_banner()
pages = [
    st.Page("ui/pages/projects.py", title=t("nav.projects"), icon=":material/folder:", url_path="projects", default=True),
    st.Page("ui/pages/documents.py", title=t("nav.documents"), icon=":material/description:", url_path="documents"),
    st.Page("ui/pages/chunks.py", title=t("nav.chunks"), icon=":material/view_agenda:", url_path="chunks"),
    st.Page("ui/pages/generate.py", title=t("nav.generate"), icon=":material/smart_toy:", url_path="generate"),
    st.Page("ui/pages/distill.py", title=t("nav.distill"), icon=":material/psychology:", url_path="distill"),
    st.Page("ui/pages/review.py", title=t("nav.review"), icon=":material/fact_check:", url_path="review"),
    st.Page("ui/pages/export.py", title=t("nav.export"), icon=":material/download:", url_path="export"),
    st.Page("ui/pages/evaluate.py", title=t("nav.evaluate"), icon=":material/leaderboard:", url_path="evaluate"),
]
st.navigation(pages).run()
