"""Citizens' text (phone and ID numbers in it) never reaches the logs through a database error's message."""

from __future__ import annotations

import pytest
from sqlalchemy import text
from sqlalchemy.exc import OperationalError

from sqmy.app.storage import make_engine

PHONE, ID_NUMBER = "13800138000", "11010519491231002X"


def test_a_failed_statement_does_not_repeat_its_values(tmp_path):
    engine = make_engine(f"sqlite:///{tmp_path / 'sqmy.db'}")
    with pytest.raises(OperationalError) as caught, engine.connect() as conn:
        conn.execute(text("insert into no_such_table values (:text)"), {"text": f"电话{PHONE}，身份证{ID_NUMBER}"})
    message = str(caught.value)
    assert "no_such_table" in message
    assert PHONE not in message and ID_NUMBER not in message
