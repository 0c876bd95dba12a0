"""Loaded by a migrated script run in a test: sends the guide's randomuser.me requests (made with
`requests`, as the guide writes them) to the local stand-in named by COMPAT_RANDOMUSER_URL.

The guide's code stays as written; only the transport of `requests` is redirected to loopback.
"""

import os

_TARGET = os.environ.get("COMPAT_RANDOMUSER_URL")

if _TARGET:
    import requests.adapters

    _send = requests.adapters.HTTPAdapter.send

    def _to_stand_in(self, request, **kwargs):
        prefix = "https://randomuser.me/api/"
        if request.url.startswith(prefix):
            request.url = _TARGET + request.url.removeprefix(prefix)
        return _send(self, request, **kwargs)

    requests.adapters.HTTPAdapter.send = _to_stand_in
