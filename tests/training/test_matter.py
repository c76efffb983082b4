"""``sqmy base-encoder --matter``: the views it trains on, and the encoder a site builds and installs for the
similarity index (which then scores with the pairwise model fitted for such an encoder)."""

from __future__ import annotations

import json
import random
from pathlib import Path

from sqmy.app.similar import pairs
from sqmy.app.similar.meaning import open_encoder
from sqmy.training.matter import two_views
from tests.cli.test_cli import sqmy
from tests.utils.tiny_bert import write_tiny_bert

TITLE = "锦江花园电梯费"
TEXT = ("我是城东街道锦江花园的业主。物业通知每户交600元电梯大修费。维修基金里明明有钱。"
        "不交就停门禁卡，请住建局查一查。")


def test_the_two_views_of_an_item_split_its_text_without_repeating_a_sentence():
    seen = set()
    for seed in range(60):
        query, view = two_views(TITLE, TEXT, random.Random(seed))
        assert query and view and query != view
        if query.startswith(TITLE) and not view.startswith(TITLE):  # title and first sentences | the rest
            shared = [s for s in view.split("。") if s and s in query]
            assert not shared, (query, view)
        seen.add("split" if not view.startswith(TITLE) and query.startswith(TITLE) and query != TITLE
                 else "title" if query == TITLE else "short")
    assert seen == {"split", "title", "short"}
    # a one-sentence item without a title still gets two views (a short request against the whole item)
    query, view = two_views("", "路灯坏了半个月", random.Random(0))
    assert query and "路灯坏了半个月" in view


def test_a_site_builds_the_matter_encoder_and_installs_it_for_the_similarity_index(tmp_path, tiny_corpus_dir):
    home = tmp_path / "home"
    base = write_tiny_bert(tmp_path / "student")
    missing = sqmy(home, "base-encoder", "--matter", "--init", tmp_path / "nothing")
    assert missing.returncode != 0 and "config.json" in missing.stderr
    built = sqmy(home, "base-encoder", "--matter", "--init", base, SQMY_CORPUS_DIR=str(tiny_corpus_dir))
    assert built.returncode == 0, built.stderr
    out = Path(json.loads(built.stdout)["path"])
    assert out == home / "encoders" / "student-matter" and (out / "config.json").is_file()
    assert json.loads((out / "student.json").read_text())["kind"] == "matter"
    again = sqmy(home, "base-encoder", "--matter", "--init", base, SQMY_CORPUS_DIR=str(tiny_corpus_dir))
    assert again.returncode == 0 and "已存在" in again.stderr  # built once; --force builds again

    installed = sqmy(home, "index", "--encoder", out)
    assert installed.returncode == 0, installed.stderr
    encoder = open_encoder(home / "similar")
    assert encoder is not None and encoder.kind == "matter"
    assert pairs.model_name(encoder.kind) == "matter" and pairs.model_name("") == "meaning"
