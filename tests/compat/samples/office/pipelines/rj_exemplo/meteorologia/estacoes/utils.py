# -*- coding: utf-8 -*-
"""
Helpers for the estacoes project.
"""


def parse_reading(station: str) -> dict:
    """
    A fake reading of one station: its number of characters as the temperature.
    """
    return {"station": station, "temperature": 20 + len(station) + int(station[-1])}
