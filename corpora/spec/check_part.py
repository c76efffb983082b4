"""Validate one writer's part file (rounds 1-3): python3 corpora/spec/check_part.py corpora/parts/NAME.jsonl"""
import collections
import json
import pathlib
import sys

SPEC = pathlib.Path(__file__).parent
TAXONOMY = json.loads((SPEC / "taxonomy3.json").read_text())
DEPTS = set(["市发展和改革局", "市经济和信息化局", "市教育局", "市科学技术局", "市公安局", "市民政局", "市司法局", "市财政局", "市人力资源和社会保障局", "市自然资源和规划局", "市生态环境分局", "市住房和城乡建设局", "市交通运输局", "市水利局", "市农业农村局", "市商务局", "市文化和广电旅游体育局", "市卫生健康局", "市退役军人事务局", "市应急管理局", "市市场监督管理局", "市医疗保障局", "市综合行政执法局", "市数据资源管理局", "市信访局", "市税务局", "市消防救援大队", "市供电公司", "市水务集团", "市总工会", "团市委", "市妇联", "市残联", "市科协", "市工商联", "市委宣传部", "市委统战部", "市委组织部", "市纪委市监委", "市人民法院"])
PLACES = set(["城东街道", "城西街道", "城南街道", "城北街道", "江滨街道", "青石镇", "白沙镇", "溪口镇", "桃源镇", "龙潭镇", "梅林镇", "横山镇", "长乐镇", "安平乡"])
GENRES = {"12345工单", "网民留言", "社情民意信息", "政协提案", "短诉求"}
KEYS = ["id", "genre", "title", "text", "topic_path", "lead", "assist"]


def shingles(s, k=5):
    return {s[i:i + k] for i in range(max(1, len(s) - k + 1))}


path = sys.argv[1]
errors, rows = [], []
for n, line in enumerate(open(path, encoding="utf-8"), 1):
    if not line.strip():
        continue
    try:
        r = json.loads(line)
    except Exception as e:
        errors.append(f"line {n}: bad JSON {e}")
        continue
    if list(r) != KEYS:
        errors.append(f"line {n}: keys {list(r)} != {KEYS}")
        continue
    path_ = r["topic_path"]
    if not (2 <= len(path_) <= 3) or path_[0] not in TAXONOMY or path_[1] not in TAXONOMY[path_[0]] or (
            len(path_) == 3 and path_[2] not in TAXONOMY[path_[0]][path_[1]]):
        errors.append(f"line {n}: bad topic_path {r['topic_path']}")
    if r["genre"] not in GENRES:
        errors.append(f"line {n}: bad genre {r['genre']}")
    if r["lead"] not in DEPTS | PLACES:
        errors.append(f"line {n}: bad lead {r['lead']}")
    if len(r["assist"]) > 3 or r["lead"] in r["assist"] or any(a not in DEPTS | PLACES for a in r["assist"]):
        errors.append(f"line {n}: bad assist {r['assist']}")
    if r["genre"] == "短诉求" and len(r["text"]) >= 60:
        errors.append(f"line {n}: 短诉求 text must be < 60 chars ({len(r['text'])})")
    if len(r["text"]) < 15:
        errors.append(f"line {n}: text under 15 chars")
    rows.append(r)
ids = collections.Counter(r["id"] for r in rows)
errors += [f"duplicate id {i}" for i, c in ids.items() if c > 1]
sh = [shingles(r["text"]) for r in rows]
for i in range(len(rows)):
    for j in range(i):
        a, b = sh[i], sh[j]
        if len(a & b) / max(1, len(a | b)) >= 0.5:
            errors.append(f"near-duplicate texts: {rows[i]['id']} ~ {rows[j]['id']}")
print("\n".join(errors) or "OK")
print(f"{len(rows)} items")
print("genres:", dict(collections.Counter(r["genre"] for r in rows)))
print("level1:", dict(collections.Counter(r["topic_path"][0] for r in rows)))
print("level2:", dict(collections.Counter("/".join(r["topic_path"][:2]) for r in rows)))
print("level3:", dict(collections.Counter("/".join(r["topic_path"]) for r in rows if len(r["topic_path"]) == 3)))
leaves = {(a, b, c) for a in TAXONOMY for b in TAXONOMY[a] for c in TAXONOMY[a][b] if c != "其他"}
mine = {r["topic_path"][0] for r in rows}
have = collections.Counter(tuple(r["topic_path"]) for r in rows if len(r["topic_path"]) == 3)
thin = sorted("/".join(x) for x in leaves if x[0] in mine and have[x] < 8)
print(f"leaves of your level-1 topics with under 8 items ({len(thin)}):", ", ".join(thin))
print("leads:", dict(collections.Counter(r["lead"] for r in rows)))
lens = sorted(len(r["text"]) for r in rows)
if lens:
    print("text length min/median/max:", lens[0], lens[len(lens) // 2], lens[-1])
