from oslo_messaging_zmq.dedup import Deduplicator


def test_duplicates_within_window():
    dedup = Deduplicator(window=10, max_entries=100)
    assert not dedup.seen("a", now=0)
    assert dedup.seen("a", now=5)
    assert not dedup.seen("b", now=5)
    assert not dedup.seen("a", now=11)  # forgotten after the window


def test_bounded_size():
    dedup = Deduplicator(window=1000, max_entries=100)
    for i in range(1000):
        dedup.seen(str(i), now=0)
    assert len(dedup) <= 100
    assert dedup.seen("999", now=0)
