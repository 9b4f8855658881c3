"""shared.db.insert_many: one INSERT ... SELECT FROM unnest per batch stores what an executemany
stored - arrays (quotes and backslashes included), JSON (None as JSON null unless none_as_null),
NULLs, dates - and its ON CONFLICT clause adds or skips as written."""

from __future__ import annotations

import datetime as dt
import uuid

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import ARRAY, JSONB, UUID

from shared.db import any_of, drop_database, ensure_database, insert_many, make_engine, make_sessionmaker
from shared.settings import normalise_async_url, with_database

metadata = sa.MetaData()
rows_t = sa.Table("im_rows", metadata, sa.Column("id", UUID(as_uuid=True), primary_key=True),
                  sa.Column("groups", ARRAY(sa.Text)), sa.Column("body", JSONB), sa.Column("on", sa.Date),
                  sa.Column("n", sa.BigInteger, nullable=False, server_default="0"))


async def test_insert_many_stores_what_executemany_stored_and_honours_its_conflict_clause(pg_server_url) -> None:
    url = with_database(normalise_async_url(pg_server_url), f"t_im_{uuid.uuid4().hex[:8]}")
    await ensure_database(url)
    engine = make_engine(url)
    try:
        async with engine.begin() as conn:
            await conn.run_sync(metadata.create_all)
        maker = make_sessionmaker(engine)
        a, b = uuid.uuid4(), uuid.uuid4()
        odd = ['say "hi"', "back\\slash", "逗号,和{括号}", ""]
        async with maker() as s:
            await insert_many(s, rows_t, [
                {"id": a, "groups": odd, "body": {"k": [1, "二"]}, "on": dt.date(2020, 5, 20), "n": 2},
                {"id": b, "groups": None, "body": None, "on": None, "n": 3}])
            add = 'ON CONFLICT (id) DO UPDATE SET "n" = im_rows."n" + excluded."n"'
            await insert_many(s, rows_t, [{"id": a, "groups": [], "body": {}, "on": None, "n": 5}], conflict=add)
            await insert_many(s, rows_t, [{"id": b, "groups": ["x"], "body": {}, "on": None, "n": 9}])  # skipped
            await s.commit()
            got = {r.id: r for r in await s.execute(sa.select(rows_t).where(any_of(rows_t.c.id, [a, b])))}
            json_null = await s.scalar(sa.text("SELECT jsonb_typeof(body) FROM im_rows WHERE id = :b"), {"b": b})
        assert got[a].groups == odd and got[a].body == {"k": [1, "二"]} and got[a].on == dt.date(2020, 5, 20)
        assert got[a].n == 7  # added by the conflict clause
        assert (got[b].groups, got[b].on, got[b].n) == (None, None, 3) and json_null == "null"
    finally:
        await engine.dispose()
        await drop_database(url)
