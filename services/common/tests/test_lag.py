"""The lag each service publishes itself (services.common.lag): pure bookkeeping, real gauges."""

from prometheus_client import REGISTRY

from services.common.lag import LagReporter, lag_of


def gauge(name: str, **labels) -> float | None:
    return REGISTRY.get_sample_value(name, labels)


def test_lag_is_log_end_minus_applied_and_never_negative():
    assert lag_of(10, 4) == 6
    assert lag_of(10, 12) == 0  # tansu's end offsets are one batch short: applied may pass them


def test_reporter_mirrors_the_gauges_and_forgets_moved_partitions():
    reporter = LagReporter("unit", "stream")
    labels = dict(service="unit", consumer="stream", topic="t", partition="3")
    reporter.record_log_end({("t", 3): 100})
    assert gauge("carecircle_consumer_lag_records", **labels) == 100  # nothing applied yet
    reporter.record_applied("t", 3, 60)
    assert gauge("carecircle_consumer_lag_records", **labels) == 40
    assert gauge("carecircle_consumer_applied_offset", **labels) == 60
    reporter.record_applied("t", 3, 50)  # a re-delivered older record moves nothing back
    assert gauge("carecircle_consumer_applied_offset", **labels) == 60
    reporter.record_applied("t", 3, 130)  # past the last reported end
    assert gauge("carecircle_consumer_lag_records", **labels) == 0
    assert reporter.lag() == {("t", 3): 0}
    reporter.forget([("t", 3)])  # a rebalance moved the partition away: the series disappears
    assert gauge("carecircle_consumer_lag_records", **labels) is None
    assert reporter.lag() == {}
