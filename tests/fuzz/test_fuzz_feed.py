"""The live feed's outside input: the ``--feed HOST:PORT`` text and the receivers' ACK messages."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from monitor.feed import DeliveryError, FeedConfig, FeedConfigError, ack_code
from tests.fuzz.attempt import attempt

HOSTS = st.one_of(st.sampled_from(["127.0.0.1", "[::1]", "localhost", "ehr.clinic.example", "", " ", "a b", "\x00"]),
                  st.text(max_size=20))
PORTS = st.one_of(st.integers(-10, 70000).map(str), st.sampled_from(["", "x", "٣", " 2575 ", "1_0", "2575.0"]),
                  st.text(max_size=6))
TARGETS = st.one_of(st.builds(lambda h, p: f"{h}:{p}", HOSTS, PORTS), st.text(max_size=40))


@given(TARGETS)
def test_feed_target_is_a_usable_address_or_a_feed_config_error(text: str) -> None:
    config, error = attempt(FeedConfig.parse, text, expected=FeedConfigError)
    if error is not None:
        assert str(error)
        return
    assert 1 <= config.port <= 65535
    assert config.host and config.host.isprintable() and not any(c.isspace() for c in config.host)


SEGMENT_NAMES = st.sampled_from(["MSH", "MSA", "ERR", "MSA|", "MS", "msa", "ZZZ"])
FIELDS = st.lists(st.one_of(st.sampled_from(["AA", "AE", "AR", "CA", "42", ""]), st.text(max_size=8)), max_size=4)
SEGMENTS = st.builds(lambda name, sep, fields: name + sep + sep.join(fields), SEGMENT_NAMES,
                     st.sampled_from(["|", "^", "#", "", "\r"]), FIELDS)
REPLIES = st.one_of(st.lists(SEGMENTS, max_size=4).flatmap(
    lambda segs: st.sampled_from(["\r", "\n", "\r\n"]).map(lambda end: end.join(segs))), st.text(max_size=80))


@given(REPLIES, st.sampled_from(["42", "MSG0001", "", "|"]))
def test_any_receiver_reply_gives_an_ack_code_or_a_delivery_error(reply: str, control_id: str) -> None:
    code, error = attempt(ack_code, reply, control_id, expected=DeliveryError)
    if error is not None:
        assert str(error)
        return
    assert isinstance(code, str)
    assert "MSA" in reply
