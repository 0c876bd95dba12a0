"""
The Users report work in plain Python, without Prefect: the baseline of `local_run.py`.

Usage: python plain_users_report.py N_USERS API_URL  (writes report.csv in the current folder)
"""

import sys
from io import StringIO

import httpx
import pandas as pd


def users_report(n_users: int, api_url: str, path: str = "report.csv") -> None:
    """Download `n_users` users as CSV, parse them with pandas and save them to `path`."""
    response = httpx.get(
        api_url,
        params={"results": n_users, "format": "csv"},
        timeout=30,
        follow_redirects=True,
    )
    response.raise_for_status()
    dataframe = pd.read_csv(StringIO(response.text), dtype=str, keep_default_na=False)
    dataframe.to_csv(path, index=False)


if __name__ == "__main__":
    users_report(int(sys.argv[1]), sys.argv[2])
