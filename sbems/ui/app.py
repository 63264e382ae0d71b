"""SBEMS control panel entry: ``streamlit run sbems/ui/app.py`` (the database comes from SBEMS_DATABASE_URL).

Logged out: the login form, at every page's address (a deep link such as /zones opens that page after
the login). Logged in: the pages the user's role may see (a URL each), a building selector and a logout
button in the sidebar. A signed session cookie keeps the user logged in across a reload or a new tab
(``services.panel_session``); the database session is still checked on every run.
"""

from __future__ import annotations

from pathlib import Path

import streamlit as st

from sbems.services.panel_read import read_user_buildings
from sbems.ui import common

st.set_page_config(page_title="SBEMS control panel", page_icon=":material/apartment:", layout="wide")


url = common.database_url()
user = common.current_user()

if user is None:
    login = [st.Page("views/login.py", title="Log in", icon=":material/login:", default=True)]
    login += [
        st.Page("views/login.py", title="Log in", icon=":material/login:", url_path=Path(path).stem)
        for path, *_ in common.PAGES
    ]
    page = st.navigation(login, position="hidden")
else:
    with common.guard():
        buildings = read_user_buildings(url, user)
    st.session_state[common.BUILDINGS_KEY] = buildings
    with st.sidebar:
        st.text(user.email)
        st.caption(f"Role: {user.role.replace('_', ' ')}")
        if buildings:
            keys = [b.key for b in buildings]
            names = {b.key: f"{b.name} ({b.access_level})" for b in buildings}
            if st.session_state.get(common.BUILDING_KEY) not in keys:
                st.session_state[common.BUILDING_KEY] = keys[0]
            st.selectbox("Building", keys, format_func=names.get, key=common.BUILDING_KEY)
        st.button("Log out", key="logout", on_click=common.log_out, icon=":material/logout:")
    page = st.navigation(
        [
            st.Page(path, title=title, icon=icon, default=(i == 0))
            for i, (path, title, icon, _) in enumerate(common.visible_pages(user.role))
        ]
    )

common.write_cookie()
page.run()
