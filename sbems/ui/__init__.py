"""The Streamlit control panel: ``streamlit run sbems/ui/app.py`` (pages call ``sbems.services`` only)."""
