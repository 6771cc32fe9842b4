"""The guess counter: free mistakes, slower answers, then a pause."""

from __future__ import annotations

from qiaoqiao.mailbox import throttle


def test_a_few_mistakes_are_free_then_answers_slow_then_stop(session, clock):
    key = "code:kiosk:k1"
    delays = []
    for _ in range(throttle.REFUSE_AFTER):
        verdict = throttle.verdict(session=session, key=key, clock=clock)
        assert not verdict.refused
        delays.append(verdict.delay_seconds)
        throttle.record_failure(session=session, key=key, clock=clock)
    assert delays[: throttle.FREE_FAILURES] == [0.0] * throttle.FREE_FAILURES
    assert delays[throttle.FREE_FAILURES :] == sorted(delays[throttle.FREE_FAILURES :]) and delays[-1] > 0
    refused = throttle.verdict(session=session, key=key, clock=clock)
    assert refused.refused and refused.refused_until == clock() + throttle.LOCKOUT
    # Other kiosks and addresses are not affected.
    assert not throttle.verdict(session=session, key="code:kiosk:k2", clock=clock).refused
    clock.advance(minutes=16)
    assert throttle.verdict(session=session, key=key, clock=clock) == throttle.Verdict(None, 0.0)


def test_a_right_answer_clears_the_slate(session, clock):
    key = "code:addr:abc"
    for _ in range(5):
        throttle.record_failure(session=session, key=key, clock=clock)
    assert throttle.verdict(session=session, key=key, clock=clock).delay_seconds > 0
    throttle.record_success(session=session, key=key, clock=clock)
    assert throttle.verdict(session=session, key=key, clock=clock).delay_seconds == 0


def test_old_mistakes_are_forgotten(session, clock):
    key = "code:addr:old"
    for _ in range(6):
        throttle.record_failure(session=session, key=key, clock=clock)
    clock.advance(minutes=20)
    assert throttle.verdict(session=session, key=key, clock=clock).delay_seconds == 0
    throttle.record_failure(session=session, key=key, clock=clock)
    assert throttle.verdict(session=session, key=key, clock=clock).delay_seconds == 0
