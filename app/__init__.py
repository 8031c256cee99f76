"""The Streamlit analytics app: `streamlit run app/main.py`. Reads only; never writes."""
