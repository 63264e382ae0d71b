"""Users (admins): who can log in, with which role and building access."""

from __future__ import annotations

import pandas as pd
import streamlit as st

from sbems.services.panel_read import read_users
from sbems.ui import common

common.require("manage:users")
url = common.database_url()

st.title("Users")
with common.guard():
    users = read_users(url)
st.dataframe(pd.DataFrame(users), hide_index=True, width="stretch", key="users_table")
st.caption("Add or change users from the command line: `sbems users add EMAIL --role ROLE [--building KEY]`.")
