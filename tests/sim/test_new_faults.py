"""Hostile-server faults: redirects to another origin, documents without etag, non-JSON 200s."""

from __future__ import annotations

from typing import Any

import pydantic
import pytest

from bulkflow.sim import Faults
from tests.conftest import DEST_FLOW, Api, SimFactory

OTHER = "http://127.0.0.1:9"


async def _api(make_sim: SimFactory, make_api: Any, **faults: Any) -> Api:
    sim = await make_sim(Faults(**faults))
    api: Api = make_api(sim)
    return api


async def test_redirect_points_get_to_the_other_origin(make_sim: SimFactory, make_api: Any) -> None:
    """With ``redirect_rate=1`` a GET answers 307 with the same path on ``redirect_to``."""
    api = await _api(make_sim, make_api, redirect_rate=1.0, redirect_to=OTHER)
    path = f"/flows/{DEST_FLOW}"
    status, _, resp = await api.request("GET", path, allow_redirects=False)
    assert status == 307
    assert resp.headers["Location"] == OTHER + "/data/foundation/flowservice" + path


async def test_redirect_status_and_methods_are_chosen(make_sim: SimFactory, make_api: Any) -> None:
    """``redirect_methods={"PATCH"}`` and status 308: GETs pass, PATCHes are redirected."""
    api = await _api(
        make_sim,
        make_api,
        redirect_rate=1.0,
        redirect_to=OTHER,
        redirect_status=308,
        redirect_methods=frozenset({"PATCH"}),
    )
    doc = await api.get("flows", DEST_FLOW)
    headers = api.headers(**{"If-Match": doc["etag"], "Content-Type": "application/json"})
    path = f"/flows/{DEST_FLOW}"
    status, _, resp = await api.request("PATCH", path, headers, json=[], allow_redirects=False)
    assert status == 308
    assert resp.headers["Location"].startswith(OTHER + "/")


def test_redirect_needs_a_target() -> None:
    """A redirect rate without ``redirect_to`` is refused when the faults are made."""
    with pytest.raises(pydantic.ValidationError, match="redirect_to"):
        Faults(redirect_rate=0.5)


async def test_no_etag_strips_etag_and_version_from_get(
    make_sim: SimFactory, make_api: Any
) -> None:
    """With ``no_etag_rate=1`` a GET serves the document without ``etag`` and ``version``."""
    api = await _api(make_sim, make_api, no_etag_rate=1.0)
    doc = await api.get("flows", DEST_FLOW)
    assert doc["id"] == DEST_FLOW
    assert "etag" not in doc
    assert "version" not in doc


async def test_no_etag_strips_listed_documents(make_sim: SimFactory, make_api: Any) -> None:
    """Listed documents come without ``etag`` and ``version`` too."""
    api = await _api(make_sim, make_api, no_etag_rate=1.0)
    status, body, _ = await api.request("GET", f"/flows?property=id=={DEST_FLOW}")
    assert status == 200
    assert [doc["id"] for doc in body["items"]] == [DEST_FLOW]
    assert not {"etag", "version"} & set(body["items"][0])


async def test_no_etag_leaves_the_store_alone(make_sim: SimFactory) -> None:
    """Only the answer is stripped: the document the simulator holds keeps its etag."""
    sim = await make_sim(Faults(no_etag_rate=1.0))
    doc = sim.doc("flows", DEST_FLOW)
    assert doc is not None
    assert doc["etag"]


async def test_garbage_answers_200_that_is_not_json(make_sim: SimFactory, make_api: Any) -> None:
    """With ``garbage_rate=1`` a request is answered 200 with an HTML body."""
    api = await _api(make_sim, make_api, garbage_rate=1.0)
    async with api.session.get(
        api.sim.base_url + f"/flows/{DEST_FLOW}", headers=api.headers()
    ) as resp:
        assert resp.status == 200
        assert resp.content_type == "text/html"
        assert not (await resp.read()).lstrip().startswith((b"{", b"["))


def test_sim_flags_set_the_new_faults() -> None:
    """``bulkflow sim`` flags reach the redirect, no-etag and garbage faults."""
    from bulkflow.cli.main import build_parser
    from bulkflow.cli.sim import faults_from_args

    args = build_parser().parse_args(
        [
            "sim",
            *("--redirect-rate", "0.5", "--redirect-to", OTHER, "--redirect-status", "302"),
            *("--redirect-methods", "PATCH", "--no-etag-rate", "0.25", "--garbage-rate", "0.1"),
        ]
    )
    faults = faults_from_args(args)
    assert (faults.redirect_rate, faults.redirect_to, faults.redirect_status) == (0.5, OTHER, 302)
    assert faults.redirect_methods == frozenset({"PATCH"})
    assert (faults.no_etag_rate, faults.garbage_rate) == (0.25, 0.1)


def test_invalid_fault_flags_are_input_errors() -> None:
    """``--redirect-rate`` without ``--redirect-to`` is an input error (exit 2), not a crash."""
    from bulkflow.cli.main import build_parser
    from bulkflow.cli.sim import faults_from_args
    from bulkflow.errors import InputError

    args = build_parser().parse_args(["sim", "--redirect-rate", "1"])
    with pytest.raises(InputError, match="redirect_to"):
        faults_from_args(args)
