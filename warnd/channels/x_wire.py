"""tweepy's requests on warnd's one HTTP stack: the adapter mounted on each tweepy client's
session takes the request tweepy built (and requests_oauthlib signed), sends it to the configured
API host with httpx under the `http:` proxy and CA policy, and hands tweepy a requests.Response.

- the host: tweepy hard-codes https://api.twitter.com; the adapter sends the request to
  `api_base` instead and signs it again for the host it really goes to, so the OAuth signature
  stays valid;
- a timeout on every request: tweepy passes none, and a hung connection would block a thread;
- network failures become the requests exceptions tweepy and the X sender know (ConnectionError,
  ConnectTimeout, ReadTimeout, ProxyError), a connection that was never made told apart
  (NotConnected, ConnectTimeout) from one lost with the request sent: only the first cannot
  have posted.
"""

from __future__ import annotations

from typing import Any

import httpx
import requests
from requests.adapters import BaseAdapter
from requests.structures import CaseInsensitiveDict
from requests.utils import get_encoding_from_headers
from requests_oauthlib import OAuth1

from warnd.config.outbound import Outbound

TWEEPY_HOST = "https://api.twitter.com"


class NotConnected(requests.ConnectionError):
    """No connection to the API host was made (refused, unreachable, DNS): nothing was sent."""


class Route(BaseAdapter):
    """Sends tweepy's requests to the configured host, re-signed, with a timeout, over httpx."""

    def __init__(self, base: str, auth: OAuth1, timeout: tuple[float, float], outbound: Outbound) -> None:
        super().__init__()
        self.base = base.rstrip("/")
        self.auth = auth
        self.default_timeout = timeout
        # One account posts one part at a time, and its credential check may run beside it.
        self.http = outbound.client(
            timeout=requests_timeout(timeout),
            limits=httpx.Limits(max_connections=4, max_keepalive_connections=2, keepalive_expiry=60),
        )

    def send(
        self,
        request: requests.PreparedRequest,
        stream: bool = False,
        timeout: Any = None,
        verify: bool | str = True,
        cert: Any = None,
        proxies: Any = None,
    ) -> requests.Response:
        # verify, cert and proxies are requests' own reading of the environment: the outbound
        # policy the client was made with decides those instead.
        url = request.url or ""
        if url.startswith(TWEEPY_HOST) and self.base != TWEEPY_HOST:
            request.url = self.base + url[len(TWEEPY_HOST) :]
            request.headers.pop("Authorization", None)
            request = self.auth(request)
        body = request.body.encode() if isinstance(request.body, str) else request.body
        if body is not None and not isinstance(body, bytes):
            raise requests.RequestException("a streamed request body is not supported", request=request)
        # requests_oauthlib hands the Authorization header over as bytes (decoding=None).
        headers = {k: v.decode("latin-1") if isinstance(v, bytes) else v for k, v in request.headers.items()}
        # What httpx decodes whatever extra codecs happen to be installed for urllib3.
        headers["Accept-Encoding"] = "gzip, deflate"
        try:
            answer = self.http.request(
                request.method or "GET",
                request.url or "",
                headers=headers,
                content=body,
                timeout=requests_timeout(timeout if timeout is not None else self.default_timeout),
            )
        except httpx.ConnectTimeout as e:
            raise requests.ConnectTimeout(str(e), request=request) from None
        except httpx.TimeoutException as e:
            raise requests.ReadTimeout(str(e), request=request) from None
        except httpx.ProxyError as e:
            raise requests.exceptions.ProxyError(str(e), request=request) from None
        except httpx.ConnectError as e:
            raise NotConnected(str(e), request=request) from None
        except httpx.TransportError as e:
            # Refused, reset, TLS refused, the answer cut off: no answer, as with requests.
            raise requests.ConnectionError(str(e), request=request) from None
        except httpx.HTTPError as e:
            raise requests.RequestException(str(e), request=request) from None
        return self._response(request, answer)

    def _response(self, request: requests.PreparedRequest, answer: httpx.Response) -> requests.Response:
        r = requests.Response()
        r.status_code = answer.status_code
        # Repeated headers are joined with ", ", as urllib3 does.
        r.headers = CaseInsensitiveDict(answer.headers.items())
        r._content = answer.content
        r._content_consumed = True
        r.encoding = get_encoding_from_headers(r.headers)
        r.reason = answer.reason_phrase
        r.url = request.url or ""
        r.request = request
        # What requests' build_response sets (an adapter to send a follow-up on, e.g. digest auth).
        r.connection = self  # type: ignore[assignment]
        return r

    def close(self) -> None:
        self.http.close()


def requests_timeout(value: Any) -> httpx.Timeout:
    """requests' timeout (seconds, or (connect, read)) as httpx's; writes and the wait for a
    pooled connection get the read timeout."""
    if isinstance(value, tuple):
        connect, read = value
        return httpx.Timeout(read, connect=connect)
    return httpx.Timeout(value)
