"""Users take turns in the job queue: one user's long run of jobs does not keep the others waiting."""

from sqmy.app.fairqueue import FairQueue


def test_waiting_users_take_turns_one_job_each_at_a_time():
    jobs: FairQueue[str] = FairQueue(per_owner=1)
    for n in range(3):
        jobs.put("甲", f"甲{n}")
    jobs.put("乙", "乙0")
    jobs.put("丙", "丙0")
    jobs.put("乙", "乙1")
    first, second, third = jobs.get(), jobs.get(), jobs.get()
    assert [first, second, third] == [("甲", "甲0"), ("乙", "乙0"), ("丙", "丙0")]  # one running per user
    jobs.done("甲")
    jobs.done("乙")
    jobs.done("丙")
    order = []
    while len(order) < 3:
        owner, item = jobs.get() or ("", "")
        order.append(item)
        jobs.done(owner)
    assert order == ["甲1", "乙1", "甲2"]  # 甲 had the earliest turn, then 乙; 丙 has nothing left
    jobs.close()
    assert jobs.get() is None
