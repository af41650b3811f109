"""The Streamlit web app's pages and shared pieces. Durable state lives in the store; the UI keeps
only ids in ``st.session_state``."""
