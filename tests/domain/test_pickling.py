"""Every class that crosses to the writer process pickled by its fields comes back equal."""

from __future__ import annotations

import pickle
from dataclasses import dataclass, field

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from convroute.domain import commands, models
from convroute.domain.pickling import by_fields
from convroute.storage import groupcommit

CROSSING = sorted(
    (
        cls
        for module in (commands, models, groupcommit)
        for cls in vars(module).values()
        if isinstance(cls, type)
        and cls.__module__ == module.__name__
        and getattr(cls.__reduce__, "__module__", None) == by_fields.__module__
    ),
    key=lambda cls: cls.__name__,
)


def test_the_commands_and_their_outcomes_are_all_pickled_by_fields() -> None:
    names = {cls.__name__ for cls in CROSSING}
    assert {"SendMessage", "RecordConversion", "Nonce", "Principal", "Applied"} <= names
    assert {"MessageAccepted", "ConversionRecorded", "PurgeNonces", "Submission"} <= names


@pytest.mark.parametrize("cls", CROSSING, ids=lambda cls: cls.__name__)
@settings(max_examples=25, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data())
def test_a_pickled_object_comes_back_equal(cls: type, data: st.DataObject) -> None:
    obj = data.draw(st.builds(cls))
    back = pickle.loads(pickle.dumps(obj, protocol=pickle.HIGHEST_PROTOCOL))  # noqa: S301
    assert type(back) is cls
    # (by repr: an outcome may be an exception, which equals only itself, and a float NaN)
    assert repr(back) == repr(obj)


def test_a_class_its_constructor_cannot_rebuild_is_refused() -> None:
    @dataclass(frozen=True)
    class Hidden:
        a: int
        b: int = field(init=False, default=0)

    @dataclass(frozen=True, kw_only=True)
    class Named:
        a: int

    for cls in (Hidden, Named):
        with pytest.raises(TypeError, match="constructor"):
            by_fields(cls)
    with pytest.raises(TypeError, match="not a dataclass"):
        by_fields(int)
