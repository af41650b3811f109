"""dataset-gen: turn your own documents into grounded QA datasets with a local LLM.

The core package. It never imports Streamlit and never prints; the CLI (``dataset_gen.cli``) and
the web app (``app.py``) call into it.
"""

__version__ = "0.1.0"
