"""The EXAMPLE Catalog loads at first start; the bureau publishes new versions, never edits one."""

from __future__ import annotations

from pathlib import Path

import pytest

from services.registry.catalog import EXAMPLE_DATA
from services.registry.main import create_app
from tests.conftest import serve
from tests.integration.registry.registry_helpers import auth, outbox_types, publish, scalar

pytestmark = pytest.mark.usefixtures("drop_test_databases")
CSV = {"Content-Type": "text/csv"}


def _relabel(path: Path, version: str) -> str:
    return path.read_text(encoding="utf-8").replace("# version: example-2019.1", f"# version: {version}")


async def test_example_catalog_and_lists_load_once_and_are_published(settings) -> None:
    async with serve(create_app(settings, example_catalog=True)) as reg:
        standards = (await reg.get("/v1/catalog/standards", params={"occupation_code": "6-18-01-01"})).json()
        assert {s["level"] for s in standards} >= {3, 4, 5}
        lists = (await reg.get("/v1/catalog/shortage-lists", params={"year": 2020})).json()
        assert {entry["list_kind"] for entry in lists} == {"market", "provincial_high_skill"}
        types = [t for t, _ in await outbox_types(reg)]
        assert types.count("registry.catalog.standard_published") == await scalar(
            reg, "SELECT count(*) FROM catalog_standards")
        assert "registry.catalog.shortage_list_published" in types
    async with serve(create_app(settings, example_catalog=True)) as again:
        assert await scalar(again, "SELECT count(DISTINCT catalog_version) FROM catalog_standards") == 1


async def test_bureau_uploads_a_new_version_as_csv_and_a_reused_label_is_409(settings) -> None:
    async with serve(create_app(settings)) as reg:
        bureau = await auth(reg, "demo-bureau")
        text = _relabel(EXAMPLE_DATA / "catalog.EXAMPLE.csv", "bureau-2021.1")
        first = await publish(reg, "/v1/catalog/versions", content=text.encode(), headers=CSV)
        assert first.status_code == 201 and first.json()["catalog_version"] == "bureau-2021.1", first.text
        assert first.json()["approved_by"] == "demo-bureau-2"
        again = await reg.post("/v1/catalog/versions", content=text.encode(), headers=bureau | CSV)
        assert again.status_code == 409
        broken = text.replace("6-18-01-01,2015,车工,5,1000", "6-18-01-01,2015,车工,9,1000", 1)
        refused = await reg.post("/v1/catalog/versions", content=broken.replace("bureau-2021.1", "b-2"),
                                 headers=bureau | CSV)
        assert refused.status_code == 422 and refused.json()["errors"][0]["field"] == "level"
        shortage = (EXAMPLE_DATA / "shortage_2021.EXAMPLE.csv").read_bytes()
        assert (await publish(reg, "/v1/catalog/shortage-lists", content=shortage, headers=CSV)).status_code == 201
        assert (await reg.post("/v1/catalog/shortage-lists", content=shortage, headers=bureau | CSV)).status_code == 409
        provincial = (EXAMPLE_DATA / "provincial_high_skill_shortage.EXAMPLE.csv").read_bytes()
        assert (await publish(reg, "/v1/catalog/provincial-lists", content=provincial,
                              headers=CSV)).status_code == 201
        inst = await auth(reg, "demo-institution")
        assert (await reg.post("/v1/catalog/shortage-lists", content=shortage, headers=inst | CSV)).status_code == 403


async def test_an_upload_is_in_force_only_once_a_second_bureau_officer_approves_it(settings) -> None:
    async with serve(create_app(settings)) as reg:
        bureau = await auth(reg, "demo-bureau")
        text = _relabel(EXAMPLE_DATA / "catalog.EXAMPLE.csv", "bureau-2021.2")
        submitted = await reg.post("/v1/catalog/versions", content=text.encode(), headers=bureau | CSV)
        assert submitted.status_code == 202 and submitted.json()["summary"]["catalog_version"] == "bureau-2021.2"
        assert await scalar(reg, "SELECT count(*) FROM catalog_standards WHERE catalog_version = 'bureau-2021.2'") == 0
        assert await scalar(reg, "SELECT count(*) FROM outbox") == 0  # nothing published by the check
        approval = f"/v1/catalog/approvals/{submitted.json()['approval_id']}"
        pending = (await reg.get("/v1/catalog/approvals", headers=bureau)).json()
        assert [p["submitted_by"] for p in pending] == ["demo-bureau"]
        own = await reg.post(approval, headers=bureau)
        assert own.status_code == 409 and "submitter" in own.json()["detail"]
        for who in ("demo-auditor", "demo-security-admin", "demo-district"):
            assert (await reg.post(approval, headers=await auth(reg, who))).status_code == 403, who
        done = await reg.post(approval, headers=await auth(reg, "demo-bureau-2"))
        assert done.status_code == 201 and done.json()["rows"] > 0
        assert await scalar(reg, "SELECT count(*) FROM catalog_standards WHERE catalog_version = 'bureau-2021.2'") > 0
        assert (await reg.post(approval, headers=await auth(reg, "demo-bureau-2"))).status_code == 409


async def test_a_catalog_csv_saved_in_gbk_or_gb18030_is_decoded_and_another_charset_is_named(settings) -> None:
    async with serve(create_app(settings)) as reg:
        bureau = await auth(reg, "demo-bureau")
        text = _relabel(EXAMPLE_DATA / "catalog.EXAMPLE.csv", "gbk-2021.1")
        for label, raw, ctype in (("gbk-2021.1", text.encode("gbk"), "text/csv"),
                                  ("gb18030-2021.1", text.replace("gbk-2021.1", "gb18030-2021.1").encode("gb18030"),
                                   "text/csv; charset=GB18030"),
                                  ("bom-2021.1", "\ufeff".encode() + text.replace("gbk-2021.1", "bom-2021.1").encode(),
                                   "text/csv")):
            r = await reg.post("/v1/catalog/versions", content=raw, headers=bureau | {"content-type": ctype})
            assert r.status_code == 202 and r.json()["summary"]["catalog_version"] == label, r.text
        big5 = await reg.post("/v1/catalog/versions", content=text.encode("gbk"),
                              headers=bureau | {"content-type": "text/csv; charset=big5"})
        assert big5.status_code == 415 and "big5" in big5.json()["detail"]
        garbage = await reg.post("/v1/catalog/versions", content=b"\xff\xfe\x00\x81\x30" * 50,
                                 headers=bureau | CSV)
        assert garbage.status_code == 422 and garbage.json()["errors"][0]["field"] == "encoding"
